// The issue of a whole NCCL group from the issuer thread, for the CUDA backend: its ops resolved, the calls
// between ncclGroupStart and ncclGroupEnd (a part per device, at once, on threads of their own, where it spans
// devices on blocking communicators), and a group that returned ncclInProgress polled until it settled.
// Without the CUDA toolkit at build time only stubs remain (no CUDA queue exists then).
#include "nccl_group.h"

#ifdef FAIRRING_WITH_CUDA

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <system_error>
#include <thread>
#include <tuple>

#include "../nccl/nccl.h"
#include "cuda_util.h"
#include "group_profile.h"
#include "nccl_calls.h"
#include "nccl_comm.h"

namespace fr::cuda {

namespace {

// A group whose ncclGroupEnd returned ncclInProgress (nonblocking communicators): NCCL's own thread still
// connects and launches it, and nothing may be issued on its streams or communicators until it settled.
struct GroupInFlight {
  std::vector<StreamImpl*> streams;
  std::vector<CommImpl*> comms;  // sorted, each once
  std::vector<bool> settled;     // per comm
  Status outcome;
  bool inProgress = false;
  size_t calls = 0;
  bool profiled = false;
  std::chrono::steady_clock::time_point started, ended;
  // Counted as an NCCL call in progress until it settled: NCCL's thread may still run it, and a process that
  // exits meanwhile must end at once (Shutdown in addon.cc) rather than tear the libraries down under it.
  NcclCallScope inNccl;
};

nccl::ncclRedOp_t ncclOp(RedOp op) {
  switch (op) {
    case RedOp::Sum:
      return nccl::ncclSum;
    case RedOp::Prod:
      return nccl::ncclProd;
    case RedOp::Max:
      return nccl::ncclMax;
    case RedOp::Min:
      return nccl::ncclMin;
    case RedOp::Avg:
      return nccl::ncclAvg;
  }
  return nccl::ncclSum;
}

const char* callName(CollKind k) {
  switch (k) {
    case CollKind::AllReduce:
      return "ncclAllReduce";
    case CollKind::ReduceScatter:
      return "ncclReduceScatter";
    case CollKind::AllGather:
      return "ncclAllGather";
    case CollKind::Send:
      return "ncclSend";
    case CollKind::Recv:
      return "ncclRecv";
  }
  return "?";
}

nccl::ncclResult_t issue(const nccl::Api& api, const CollItem& it, nccl::ncclComm_t comm, nccl::ncclRedOp_t op) {
  nccl::CudaStream stream = it.stream->cudaStream;
  nccl::ncclDataType_t type = ncclType(it.dtype);
  // NCCL 2.28.3 drops the last element of a one-rank ncclAvg on floating types for some counts
  // (scripts/probes/nccl-one-rank.mjs, docs/gpu-results.md). With one rank every collective is a copy.
  if (it.comm->size == 1 && it.kind != CollKind::Send && it.kind != CollKind::Recv) {
    if (it.recv == it.send || it.count == 0) return nccl::ncclSuccess;
    if (!selectDevice(it.stream->device->ordinal).ok()) return nccl::ncclUnhandledCudaError;
    cudaError_t e = cudaMemcpyAsync(it.recv, it.send, it.count * dtypeSize(it.dtype), cudaMemcpyDefault,
                                    static_cast<cudaStream_t>(stream));
    return e == cudaSuccess ? nccl::ncclSuccess : nccl::ncclUnhandledCudaError;
  }
  switch (it.kind) {
    case CollKind::AllReduce:
      return api.ncclAllReduce(it.send, it.recv, it.count, type, op, comm, stream);
    case CollKind::ReduceScatter:
      return api.ncclReduceScatter(it.send, it.recv, it.count, type, op, comm, stream);
    case CollKind::AllGather:
      return api.ncclAllGather(it.send, it.recv, it.count, type, comm, stream);
    case CollKind::Send:
      return api.ncclSend(it.send, it.count, type, it.peer, comm, stream);
    case CollKind::Recv:
      return api.ncclRecv(it.recv, it.count, type, it.peer, comm, stream);
  }
  return nccl::ncclInvalidArgument;
}

// Asks each communicator of a group whose ncclGroupEnd returned ncclInProgress (NCCL's own thread connecting the
// peers and launching it) once whether it settled, under `calls`; folds what failed into *outcome. Returns
// whether one is still in progress. A communicator is asked again only while in progress: asked once more after
// it settled, NCCL 2.28 can let go of its group job twice. One aborted meanwhile fails the group and is not
// touched again (an abort ends the group job of every communicator in it).
bool pollOnce(const std::vector<CommImpl*>& comms, std::vector<bool>& settled, Status* outcome) {
  const nccl::Api& api = nccl::library().api;
  bool pending = false;
  for (size_t i = 0; i < comms.size(); i++) {
    NcclComm* c = static_cast<NcclComm*>(comms[i]);
    if (settled[i]) continue;
    if (c->aborted.load()) {
      if (outcome->ok()) *outcome = Status::Fail("communicator aborted (" + rankOf(c->rank, c->size) + ") while its group was in progress");
      continue;
    }
    nccl::ncclResult_t state = nccl::ncclSuccess;
    nccl::ncclResult_t r = api.ncclCommGetAsyncError(c->comm, &state);
    if (r == nccl::ncclSuccess && state == nccl::ncclInProgress) {
      pending = true;
      continue;
    }
    settled[i] = true;
    c->groupInFlight = false;
    if (r != nccl::ncclSuccess) {
      if (outcome->ok()) *outcome = Status::Fail("ncclCommGetAsyncError failed: " + nccl::describe(r, c->comm));
    } else if (state != nccl::ncclSuccess && outcome->ok()) {
      *outcome = Status::Fail("ncclGroupEnd failed (" + rankOf(c->rank, c->size) + "): " + nccl::describe(state, c->comm));
    }
  }
  return pending;
}

// The calls of one communicator in a group as one number (FNV-1a over each call's kind, dtype, op, peer and
// count, in group order): what decides the connections they need.
uint64_t groupShape(const CollItem* begin, const CollItem* end, const CommImpl* comm) {
  uint64_t h = 14695981039346656037ull;
  auto mix = [&](uint64_t v) { h = (h ^ v) * 1099511628211ull; };
  for (const CollItem* p = begin; p != end; ++p) {
    if (p->comm != comm) continue;
    const bool p2p = p->kind == CollKind::Send || p->kind == CollKind::Recv;
    const bool reduces = p->kind == CollKind::AllReduce || p->kind == CollKind::ReduceScatter;
    mix(static_cast<uint64_t>(p->kind));
    mix(static_cast<uint64_t>(p->dtype));
    mix(reduces ? static_cast<uint64_t>(p->op) + 1 : 0);
    mix(p2p ? static_cast<uint64_t>(p->peer) + 1 : 0);
    mix(p->count);
  }
  return h;
}

// "ncclAllReduce (rank 0 of 2, 16 float32)", for messages.
std::string describeItem(const CollItem& it) {
  std::string s = std::string(callName(it.kind)) + " (" + rankOf(it.comm->rank, it.comm->size);
  if (it.kind == CollKind::Send) s += ", to rank " + std::to_string(it.peer);
  if (it.kind == CollKind::Recv) s += ", from rank " + std::to_string(it.peer);
  return s + ", " + std::to_string(it.count) + " " + dtypeName(it.dtype) + ")";
}

constexpr const char* kSidesRule =
    ": its communicators are blocking (every rank is in this process), so each group must hold every rank's side";

}  // namespace

Status checkSides(const CollItem* items, size_t n) {
  // Each item of a blocking communicator as (clique, a, b) and its place in the group: collectives (clique, rank,
  // 0), sends (clique, from, to), receives (clique, from, to). Sorted with the place last, each key's items stay
  // in group order. Called on the JS thread for every group of a CUDA program, so it reuses its vectors and
  // sorts in place (std::stable_sort would take a buffer per call): nothing is allocated once warm.
  struct Side {
    uint64_t clique;
    int a, b;
    size_t place;
    const CollItem* item;
  };
  thread_local std::vector<Side> calls, sends, recvs;
  calls.clear();
  sends.clear();
  recvs.clear();
  for (size_t i = 0; i < n; i++) {
    const CollItem& it = items[i];
    const uint64_t clique = static_cast<const NcclComm&>(*it.comm).clique;
    if (clique == 0) continue;
    if (it.kind == CollKind::Send) {
      sends.push_back({clique, it.comm->rank, it.peer, i, &it});
    } else if (it.kind == CollKind::Recv) {
      recvs.push_back({clique, it.peer, it.comm->rank, i, &it});
    } else {
      calls.push_back({clique, it.comm->rank, 0, i, &it});
    }
  }
  if (calls.empty() && sends.empty() && recvs.empty()) return Status::Ok();
  auto before = [](const Side& x, const Side& y) { return std::tie(x.clique, x.a, x.b) < std::tie(y.clique, y.a, y.b); };
  auto inOrder = [](const Side& x, const Side& y) {
    return std::tie(x.clique, x.a, x.b, x.place) < std::tie(y.clique, y.a, y.b, y.place);
  };
  for (auto* v : {&calls, &sends, &recvs}) std::sort(v->begin(), v->end(), inOrder);
  // The items of one key, [first, last) of a sorted vector.
  auto keyed = [&](const std::vector<Side>& v, uint64_t clique, int a, int b) {
    return std::equal_range(v.begin(), v.end(), Side{clique, a, b, 0, nullptr}, before);
  };
  // Each communicator's ranks against the lowest one in the group.
  for (auto at = calls.begin(); at != calls.end();) {
    const uint64_t clique = at->clique;
    const int low = at->a;
    const auto mine = keyed(calls, clique, low, 0);
    const CollItem& first = *mine.first->item;
    const auto count = static_cast<size_t>(mine.second - mine.first);
    for (int r = 0; r < first.comm->size; r++) {
      if (r == low) continue;
      const auto theirs = keyed(calls, clique, r, 0);
      if (theirs.first == theirs.second) {
        return Status::Fail(describeItem(first) + ": rank " + std::to_string(r) +
                            " of its communicator has no part in the group" + kSidesRule);
      }
      const auto other = static_cast<size_t>(theirs.second - theirs.first);
      for (size_t k = 0; k < std::max(count, other); k++) {
        if (k >= count || k >= other) {
          const CollItem& extra = *(k < count ? mine.first[k] : theirs.first[k]).item;
          return Status::Fail(describeItem(extra) + ": rank " + std::to_string(k < count ? r : low) +
                              " of its communicator has no counterpart in the group" + kSidesRule);
        }
        const CollItem& x = *mine.first[k].item;
        const CollItem& y = *theirs.first[k].item;
        if (x.kind != y.kind || x.count != y.count || x.dtype != y.dtype || x.op != y.op) {
          return Status::Fail(describeItem(x) + " meets " + describeItem(y) + " in the group" + kSidesRule);
        }
      }
    }
    while (at != calls.end() && at->clique == clique) ++at;
  }
  // Every send its receive, in order, of the same count and dtype; then receives beyond their sends.
  for (auto at = sends.cbegin(); at != sends.cend();) {
    const auto out = keyed(sends, at->clique, at->a, at->b);
    const auto in = keyed(recvs, at->clique, at->a, at->b);
    const auto matched = static_cast<size_t>(in.second - in.first);
    for (size_t k = 0; k < static_cast<size_t>(out.second - out.first); k++) {
      const CollItem& x = *out.first[k].item;
      if (k >= matched) {
        return Status::Fail(describeItem(x) + ": rank " + std::to_string(at->b) +
                            " of its communicator has no matching receive in the group" + kSidesRule);
      }
      const CollItem& y = *in.first[k].item;
      if (x.count != y.count || x.dtype != y.dtype) {
        return Status::Fail(describeItem(x) + " meets " + describeItem(y) + " in the group" + kSidesRule);
      }
    }
    at = out.second;
  }
  for (auto at = recvs.cbegin(); at != recvs.cend();) {
    const auto in = keyed(recvs, at->clique, at->a, at->b);
    const auto out = keyed(sends, at->clique, at->a, at->b);
    const auto matched = static_cast<size_t>(out.second - out.first);
    if (static_cast<size_t>(in.second - in.first) > matched) {
      return Status::Fail(describeItem(*in.first[matched].item) + ": rank " + std::to_string(at->a) +
                          " of its communicator has no matching send in the group" + kSidesRule);
    }
    at = in.second;
  }
  return Status::Ok();
}

namespace {

// One device's share of a group on blocking communicators: its items, issued between an ncclGroupStart and an
// ncclGroupEnd of its own, and the first call that failed.
struct Part {
  int ordinal = -1;
  std::vector<size_t> items;  // indices into the group
  Status first;
  bool refused = false;  // failed only because another part did
  std::atomic<bool> done{false};
};

// The parts of one group and where they stand. The parts meet after their calls and before their ncclGroupEnd:
// where any call failed, every part ends its group failed (each adds a call NCCL refuses), so that no rank's side
// is launched without the others. Past that meeting nothing holds them together: a group is split only where no
// call needs a new connection (NcclComm::seenShapes), so a part's ncclGroupEnd launches its calls with no
// exchange with the other parts to wait in.
struct Round {
  const CollItem* group = nullptr;
  const nccl::ncclRedOp_t* ops = nullptr;
  size_t parts = 0;
  std::atomic<size_t> issued{0};
  std::atomic<bool> failed{false};
};

// The device whose parts FAIRRING_TEST_FAIL_PART says to fail before their first call, -1 for none (also for a
// value that is not a whole device ordinal): the one way into the path where a part fails alone, which no real
// failure reaches on demand (test/gpu/parts.test.ts).
int partToFail() {
  static const int ordinal = [] {
    const char* v = std::getenv("FAIRRING_TEST_FAIL_PART");
    if (v == nullptr || *v == '\0') return -1;
    char* end = nullptr;
    const long n = std::strtol(v, &end, 10);
    return *end == '\0' && n >= 0 && n < 1024 ? static_cast<int>(n) : -1;
  }();
  return ordinal;
}

void issuePart(Round& round, Part& part) {
  const nccl::Api& api = nccl::library().api;
  const std::string on = " (cuda:" + std::to_string(part.ordinal) + ")";
  Status device = part.ordinal == partToFail() ? Status::Fail("a failure injected by FAIRRING_TEST_FAIL_PART" + on)
                                               : selectDevice(part.ordinal);
  nccl::ncclResult_t r = api.ncclGroupStart();
  bool started = r == nccl::ncclSuccess;
  if (!device.ok()) {
    part.first = device;
  } else if (!started) {
    part.first = Status::Fail("ncclGroupStart failed" + on + ": " + nccl::describe(r, nullptr));
  }
  for (size_t k = 0; started && part.first.ok() && k < part.items.size(); k++) {
    const CollItem& it = round.group[part.items[k]];
    nccl::ncclComm_t comm = static_cast<NcclComm&>(*it.comm).comm;
    r = issue(api, it, comm, round.ops[part.items[k]]);
    if (r != nccl::ncclSuccess) {
      part.first = Status::Fail(std::string(callName(it.kind)) + " (" + rankOf(it.comm->rank, it.comm->size) + ", " +
                                std::to_string(it.count) + " elements) failed: " + nccl::describe(r, comm));
    }
  }
  if (!part.first.ok()) round.failed.store(true);
  round.issued.fetch_add(1);
  while (round.issued.load() < round.parts) std::this_thread::yield();
  if (!started) return;
  if (round.failed.load()) {
    // A part failed (this one too, maybe before NCCL saw an error: a failed copy of a one-rank collective, or no
    // device): a send to no rank fails this part's group, so that its ncclGroupEnd launches none of its calls.
    const CollItem& it = round.group[part.items[0]];
    api.ncclSend(nullptr, 1, ncclType(it.dtype), -1, static_cast<NcclComm&>(*it.comm).comm, it.stream->cudaStream);
    if (part.first.ok()) {
      part.first = Status::Fail("not issued" + on + ": another device's part of the group failed");
      part.refused = true;
    }
  }
  // Ended even after a failed call: the group state is per thread and must not leak into the next group.
  r = api.ncclGroupEnd();
  if (r != nccl::ncclSuccess && part.first.ok()) part.first = Status::Fail("ncclGroupEnd failed" + on + ": " + nccl::describe(r, nullptr));
}

// A thread that issues one device's part of the issuer's groups, so that the parts of a group on several
// devices run at once (NCCL's group state is per thread, and with blocking communicators each rank's side may
// be issued by a thread of its own, as a process per rank issues its own). Only the issuer hands it work, and
// waits until the part is done before it goes on, so program order holds on every stream; the issuer holds
// the NCCL lock meanwhile. It spins a while after each part (the next group is usually microseconds away),
// then sleeps. Never destroyed: it may still sleep at exit.
class PartThread {
 public:
  explicit PartThread(int ordinal) : thread_([this, ordinal] { run(ordinal); }) { thread_.detach(); }

  // On the issuer: starts part on this thread.
  void start(Round* round, Part* part) {
    round_ = round;
    job_.store(part, std::memory_order_release);
    std::lock_guard<std::mutex> lock(m_);
    if (sleeping_) cv_.notify_one();
  }

 private:
  static constexpr auto kSpin = std::chrono::microseconds(200);

  void run(int ordinal) {
    nameThread(("fr-nccl-" + std::to_string(ordinal)).c_str());
    for (;;) {
      Part* part = nullptr;
      const auto until = std::chrono::steady_clock::now() + kSpin;
      while ((part = job_.load(std::memory_order_acquire)) == nullptr && std::chrono::steady_clock::now() < until) {
        std::this_thread::yield();
      }
      if (part == nullptr) {
        std::unique_lock<std::mutex> lock(m_);
        sleeping_ = true;
        cv_.wait(lock, [&] { return (part = job_.load(std::memory_order_acquire)) != nullptr; });
        sleeping_ = false;
      }
      job_.store(nullptr, std::memory_order_relaxed);
      issuePart(*round_, *part);
      part->done.store(true, std::memory_order_release);
    }
  }

  Round* round_ = nullptr;  // written before job_ is released
  std::atomic<Part*> job_{nullptr};
  std::mutex m_;
  std::condition_variable cv_;
  bool sleeping_ = false;
  std::thread thread_;
};

// The part thread of a device, made on first use (issuer thread only); null when no thread could be made.
PartThread* partThread(int ordinal) {
  static std::vector<PartThread*>& threads = *new std::vector<PartThread*>();
  if (static_cast<size_t>(ordinal) >= threads.size()) threads.resize(ordinal + 1, nullptr);
  if (threads[ordinal] == nullptr) {
    try {
      threads[ordinal] = new PartThread(ordinal);
    } catch (const std::system_error&) {
      return nullptr;
    }
  }
  return threads[ordinal];
}

// Issues a group on blocking communicators that spans several devices a part per device, every part but the
// first on its device's part thread and the first here, all at once; returns false, issuing nothing, where a
// part thread could not be made. Each part keeps the group's order of communicator cliques (NCCL before 2.26
// joins a thread's communicators in the order of its calls, and two threads joining two cliques in opposite
// orders would wait for each other). *out: the first failure, in part order.
bool issueParts(const CollItem* begin, size_t n, const nccl::ncclRedOp_t* ops, int firstOrdinal, Status* out) {
  thread_local std::vector<std::unique_ptr<Part>> parts;
  thread_local std::vector<uint64_t> cliques;
  thread_local std::vector<size_t> cliqueRank;
  size_t used = 0;
  auto partOf = [&](int ordinal) -> Part& {
    for (size_t k = 0; k < used; k++) {
      if (parts[k]->ordinal == ordinal) return *parts[k];
    }
    if (used == parts.size()) parts.push_back(std::make_unique<Part>());
    Part& p = *parts[used++];
    p.ordinal = ordinal;
    p.items.clear();
    p.first = Status::Ok();
    p.refused = false;
    p.done.store(false, std::memory_order_relaxed);
    return p;
  };
  partOf(firstOrdinal);
  cliques.clear();
  cliqueRank.assign(n, 0);
  for (size_t i = 0; i < n; i++) {
    const uint64_t clique = static_cast<const NcclComm&>(*begin[i].comm).clique;
    auto at = std::find(cliques.begin(), cliques.end(), clique);
    cliqueRank[i] = static_cast<size_t>(at - cliques.begin());
    if (at == cliques.end()) cliques.push_back(clique);
    partOf(begin[i].stream->device->ordinal).items.push_back(i);
  }
  for (size_t k = 1; k < used; k++) {
    if (partThread(parts[k]->ordinal) == nullptr) return false;
  }
  for (size_t k = 0; k < used; k++) {
    std::stable_sort(parts[k]->items.begin(), parts[k]->items.end(), [&](size_t x, size_t y) { return cliqueRank[x] < cliqueRank[y]; });
  }
  Round round;
  round.group = begin;
  round.ops = ops;
  round.parts = used;
  for (size_t k = 1; k < used; k++) partThread(parts[k]->ordinal)->start(&round, parts[k].get());
  issuePart(round, *parts[0]);
  for (size_t k = 1; k < used; k++) {
    while (!parts[k]->done.load(std::memory_order_acquire)) std::this_thread::yield();
  }
  // The first part that failed of itself: the others only say that it did.
  *out = Status::Ok();
  for (size_t k = 0; k < used && out->ok(); k++) {
    if (!parts[k]->refused) *out = parts[k]->first;
  }
  return true;
}

// Polls a group in progress until every communicator settled (also after one failed: a later call on one still
// in progress would fail it for good), spinning the first 200 us (a group usually takes tens) and then sleeping
// 50 us between polls. `calls` is left between polls so that aborts get in.
void waitReady(const std::vector<CommImpl*>& comms, std::vector<bool>& settled, Status* outcome,
               std::unique_lock<std::shared_mutex>& calls) {
  const auto start = std::chrono::steady_clock::now();
  while (pollOnce(comms, settled, outcome)) {
    if (g_shuttingDown.load()) {
      // A group the shutdown cut short did not succeed.
      if (outcome->ok()) *outcome = Status::Fail("the runtime shut down while a group was in progress");
      return;
    }
    calls.unlock();
    if (std::chrono::steady_clock::now() - start < std::chrono::microseconds(200)) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    calls.lock();
  }
}

// Issues a whole group from the calling thread (or, spanning devices on blocking communicators whose calls are
// shaped as before, a part per device: the first here, the others on their devices' part threads, this thread
// waiting for them), as NCCL requires of ncclGroupStart ... ncclGroupEnd: each on one thread. Returns
// what failed; where ncclGroupEnd returned ncclInProgress, g->inProgress is set and the group is polled later
// (g->comms, g->settled). A comm exists only when NCCL loaded, so the library needs no check here.
Status issueGroup(const CollItem* begin, size_t n, GroupInFlight* g) {
  // Counted from before any NCCL call of the group (a PreMulSum op is made below), and not started once the
  // process is exiting.
  NcclCallScope inNccl;
  if (NcclCallScope::exiting()) return Status::Fail("the process is exiting");
  const CollItem* end = begin + n;
  std::vector<CommImpl*>& comms = g->comms;
  for (const CollItem* it = begin; it != end; ++it) comms.push_back(it->comm);
  std::sort(comms.begin(), comms.end());
  comms.erase(std::unique(comms.begin(), comms.end()), comms.end());
  std::unique_lock<std::shared_mutex> calls(g_ncclCalls);
  for (const CollItem* p = begin; p != end; ++p) {
    const CollItem& it = *p;
    if (static_cast<NcclComm&>(*it.comm).aborted.load()) {
      return Status::Fail(std::string(callName(it.kind)) + " on rank " + std::to_string(it.comm->rank) +
                          ": communicator aborted");
    }
  }
  // Ops are resolved before the group: a PreMulSum op is made outside of it.
  std::vector<nccl::ncclRedOp_t> ops(n, nccl::ncclSum);
  for (size_t i = 0; i < n; i++) {
    const CollItem& it = begin[i];
    if (it.kind != CollKind::AllReduce && it.kind != CollKind::ReduceScatter) continue;
    if (it.op != RedOp::Avg || it.comm->size == 1) {
      ops[i] = ncclOp(it.op);
      continue;
    }
    Status st = static_cast<NcclComm&>(*it.comm).averageOp(it.dtype, &ops[i]);
    if (!st.ok()) {
      return Status::Fail(std::string(callName(it.kind)) + " on rank " + std::to_string(it.comm->rank) + ": " +
                          st.error);
    }
  }
  const nccl::Api& api = nccl::library().api;
  g->started = g->profiled ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
  // On blocking communicators each device's part goes at once, from a thread of its own: one thread issuing
  // every rank's side took 1.7-1.9x a thread per rank at 2 x 1 on 64 KiB buckets (issuer-threads.cu). Only where
  // each communicator's calls are shaped as in a group it issued whole before: a call that needs a connection
  // makes it inside ncclGroupEnd, where a part failing alone would leave the others waiting for it.
  const int firstOrdinal = begin->stream->device->ordinal;
  const bool spread = std::any_of(begin, end, [&](const CollItem& it) { return it.stream->device->ordinal != firstOrdinal; });
  const bool seen = spread && std::all_of(comms.begin(), comms.end(), [&](const CommImpl* c) {
    const NcclComm& comm = static_cast<const NcclComm&>(*c);
    const auto& shapes = comm.seenShapes;
    return comm.clique != 0 && std::find(shapes.begin(), shapes.end(), groupShape(begin, end, c)) != shapes.end();
  });
  Status parted;
  if (seen && issueParts(begin, n, ops.data(), firstOrdinal, &parted)) {
    if (g->profiled) g->ended = std::chrono::steady_clock::now();
    return parted;
  }
  nccl::ncclResult_t r = api.ncclGroupStart();
  if (r != nccl::ncclSuccess) return Status::Fail("ncclGroupStart failed: " + nccl::describe(r, nullptr));
  Status first;
  for (size_t i = 0; i < n; i++) {
    const CollItem& it = begin[i];
    nccl::ncclComm_t comm = static_cast<NcclComm&>(*it.comm).comm;
    r = issue(api, it, comm, ops[i]);
    if (r != nccl::ncclSuccess && r != nccl::ncclInProgress && first.ok()) {
      first = Status::Fail(std::string(callName(it.kind)) + " (" + rankOf(it.comm->rank, it.comm->size) + ", " +
                           std::to_string(it.count) + " elements) failed: " + nccl::describe(r, comm));
    }
  }
  // Ended even after a failed call: the group state is per thread and must not leak into the next group.
  r = api.ncclGroupEnd();
  if (g->profiled) g->ended = std::chrono::steady_clock::now();
  if (r == nccl::ncclInProgress) {
    g->inProgress = true;
    g->settled.assign(comms.size(), false);
    for (CommImpl* c : comms) static_cast<NcclComm*>(c)->groupInFlight = true;
  } else if (r != nccl::ncclSuccess && first.ok()) {
    first = Status::Fail("ncclGroupEnd failed: " + nccl::describe(r, nullptr));
  } else if (r == nccl::ncclSuccess && first.ok()) {
    for (CommImpl* c : comms) {
      if (!spread || static_cast<NcclComm*>(c)->clique == 0) continue;
      std::vector<uint64_t>& shapes = static_cast<NcclComm*>(c)->seenShapes;
      const uint64_t shape = groupShape(begin, end, c);
      if (shapes.size() < NcclComm::kSeenShapes && std::find(shapes.begin(), shapes.end(), shape) == shapes.end()) {
        shapes.push_back(shape);
      }
    }
  }
  return first;
}

// Tells the group's streams its outcome, and the profile its times.
void finish(GroupInFlight& g) {
  for (StreamImpl* s : g.streams) applyStatus(*s, g.outcome, "group");
  if (g.profiled) {
    auto ns = [&](std::chrono::steady_clock::time_point t) {
      return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t - g.started).count());
    };
    profile::group(g.started, ns(g.ended), ns(std::chrono::steady_clock::now()), g.inProgress, g.calls);
  }
}

}  // namespace

void runGroup(const CollItem* items, size_t n) {
  GroupInFlight g;
  g.calls = n;
  g.profiled = profile::enabled();
  for (size_t i = 0; i < n; i++) {
    if (std::find(g.streams.begin(), g.streams.end(), items[i].stream) == g.streams.end()) {
      g.streams.push_back(items[i].stream);
    }
  }
  for (StreamImpl* s : g.streams) {
    if (!s->error.empty()) {
      g.outcome = Status::Fail("skipped: a stream on cuda:" + std::to_string(s->device->ordinal) +
                               " had already failed (" + s->error + ")");
      break;
    }
  }
  if (g.outcome.ok()) g.outcome = issueGroup(items, n, &g);
  if (g.inProgress) {
    std::unique_lock<std::shared_mutex> calls(g_ncclCalls);
    waitReady(g.comms, g.settled, &g.outcome, calls);
  }
  finish(g);
}

}  // namespace fr::cuda

#else  // !FAIRRING_WITH_CUDA

namespace fr::cuda {

// No CUDA queue exists without CUDA; these only keep the CUDA issue path linking.
Status checkSides(const CollItem*, size_t) { return Status::Ok(); }

void runGroup(const CollItem* items, size_t n) {
  for (size_t i = 0; i < n; i++) applyStatus(*items[i].stream, Status::Fail("built without CUDA"), "group");
}

}  // namespace fr::cuda

#endif  // FAIRRING_WITH_CUDA
