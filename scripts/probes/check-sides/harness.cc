// Differential test: the rewritten checkSides against the one before it (std::map), on random groups.
#include "cuda/nccl_group.cc"

#include <map>
#include <random>
#include <cstdio>

namespace fr {
const char* dtypeName(DType t) { return t == DType::Float32 ? "float32" : "other"; }
}  // namespace fr
namespace fr::cuda {
std::string rankOf(int rank, int size) { return "rank " + std::to_string(rank) + " of " + std::to_string(size); }
void NcclComm::abort() {}
bool NcclComm::aborting() const { return false; }
std::string NcclComm::asyncError() { return ""; }
NcclComm::~NcclComm() {}
#include "old.inc"  // the checkSides of the revision given to check-sides.sh, renamed
}  // namespace fr::cuda

using namespace fr;
using namespace fr::cuda;

int main() {
  std::mt19937 rng(12345);
  // Cliques 1 and 2 of sizes 2 and 3, and a nonblocking comm of size 2 (clique 0).
  std::vector<std::unique_ptr<NcclComm>> comms;
  auto make = [&](uint64_t clique, int size) {
    for (int r = 0; r < size; r++) {
      auto c = std::make_unique<NcclComm>();
      c->clique = clique;
      c->rank = r;
      c->size = size;
      comms.push_back(std::move(c));
    }
  };
  make(1, 2);
  make(2, 3);
  make(0, 2);
  size_t same = 0, refusals = 0, trials = 300000;
  std::map<std::string, size_t> kinds;
  for (size_t t = 0; t < trials; t++) {
    std::vector<CollItem> items;
    size_t n = 1 + rng() % 8;
    bool complete = rng() % 3 == 0;
    if (complete) {
      // A well-formed group: every rank of a clique the same collectives, sends with receives.
      NcclComm* base = comms[rng() % 2 == 0 ? 0 : 2].get();
      int size = base->size;
      size_t k = 1 + rng() % 3;
      for (size_t j = 0; j < k; j++) {
        CollKind kind = static_cast<CollKind>(rng() % 3);
        size_t count = 1 + rng() % 3;
        for (int r = 0; r < size; r++) {
          CollItem it;
          it.comm = (base == comms[0].get() ? comms[r] : comms[2 + r]).get();
          it.kind = kind;
          it.count = count;
          items.push_back(it);
        }
      }
      if (rng() % 2) std::shuffle(items.begin(), items.end(), rng);
    } else {
      for (size_t j = 0; j < n; j++) {
        CollItem it;
        it.comm = comms[rng() % comms.size()].get();
        it.kind = static_cast<CollKind>(rng() % 5);
        it.count = 1 + rng() % 2;
        it.dtype = rng() % 4 == 0 ? DType::Float16 : DType::Float32;
        it.op = rng() % 4 == 0 ? RedOp::Max : RedOp::Sum;
        it.peer = static_cast<int>(rng() % it.comm->size);
        items.push_back(it);
      }
    }
    Status a = checkSides(items.data(), items.size());
    Status b = oldCheckSides(items.data(), items.size());
    if (a.ok() == b.ok() && a.error == b.error) {
      same++;
    } else {
      std::printf("differ at trial %zu:\n new: %s\n old: %s\n", t, a.error.c_str(), b.error.c_str());
      return 1;
    }
    if (!a.ok()) {
      refusals++;
      std::string e = a.error;
      for (const char* k : {"no part", "no counterpart", "meets", "no matching receive", "no matching send"}) {
        if (e.find(k) != std::string::npos) {
          kinds[k]++;
          break;
        }
      }
    }
  }
  std::printf("%zu of %zu groups: the same verdict and message (%zu refused)\n", same, trials, refusals);
  for (const auto& [k, v] : kinds) std::printf("  %s: %zu\n", k.c_str(), v);
  return 0;
}
