#include "gloo_comm.h"

#include <dlfcn.h>

#include <atomic>
#include <cstring>
#include <map>
#include <mutex>

#include "elem.h"

namespace fr::cpu {

namespace {

struct GlooApi {
  int (*abi)(void);
  void* (*connect)(int, int, const char*, const char*, const FrgStore*, int64_t, char*, size_t);
  int (*run)(void*, const FrgOp*, size_t, int64_t, char*, size_t);
  void (*abort)(void*);
  void (*close)(void*);
};

std::once_flag g_loadOnce;
GlooApi g_api{};
std::string g_loadError;

// The plugin sits beside the addon (FAIRRING_GLOO_PLUGIN names another file).
std::string pluginPath() {
  if (const char* p = std::getenv("FAIRRING_GLOO_PLUGIN"); p != nullptr && *p != '\0') return p;
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&pluginPath), &info) == 0 || info.dli_fname == nullptr) return "fairring_gloo.so";
  std::string self = info.dli_fname;
  auto slash = self.rfind('/');
  return (slash == std::string::npos ? std::string() : self.substr(0, slash + 1)) + "fairring_gloo.so";
}

void load() {
  std::string path = pluginPath();
  const std::string how =
      ": the CPU backend reaches other processes through Gloo; install it (Debian/Ubuntu: apt-get install "
      "libgloo-dev) and rebuild the addon (npm rebuild fairring-rx), which then builds fairring_gloo.so";
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    const char* why = dlerror();
    g_loadError = "the Gloo plugin " + path + " could not be loaded (" + (why ? why : "unknown error") + ")" + how;
    return;
  }
  g_api.abi = reinterpret_cast<int (*)(void)>(dlsym(h, "frg_abi"));
  g_api.connect = reinterpret_cast<decltype(g_api.connect)>(dlsym(h, "frg_connect"));
  g_api.run = reinterpret_cast<decltype(g_api.run)>(dlsym(h, "frg_run"));
  g_api.abort = reinterpret_cast<decltype(g_api.abort)>(dlsym(h, "frg_abort"));
  g_api.close = reinterpret_cast<decltype(g_api.close)>(dlsym(h, "frg_close"));
  if (!g_api.abi || !g_api.connect || !g_api.run || !g_api.abort || !g_api.close) {
    g_loadError = "the Gloo plugin " + path + " lacks its entry points" + how;
  } else if (g_api.abi() != FAIRRING_GLOO_ABI) {
    g_loadError = "the Gloo plugin " + path + " was built for another version of the addon" + how;
  }
}

struct GlooComm final : CommImpl {
  void* ctx = nullptr;
  int timeoutMs = 0;
  // Groups run so far: every rank runs the same sequence on a communicator, so it names their transfers.
  uint64_t groups = 0;
  std::mutex m;
  std::string broken;

  ~GlooComm() override {
    if (ctx != nullptr) g_api.close(ctx);
  }
  void abort() override {
    {
      std::lock_guard<std::mutex> lock(m);
      if (broken.empty()) broken = "communicator aborted";
    }
    g_api.abort(ctx);
  }
  std::string asyncError() override {
    std::lock_guard<std::mutex> lock(m);
    return broken;
  }
  Status fail(const std::string& why) {
    std::lock_guard<std::mutex> lock(m);
    if (broken.empty()) broken = why;
    return Status::Fail(broken);
  }
  Status run(std::vector<FrgOp>& ops) {
    {
      std::lock_guard<std::mutex> lock(m);
      if (!broken.empty()) return Status::Fail(broken);
    }
    if (ops.empty()) return Status::Ok();
    char err[512] = {};
    if (g_api.run(ctx, ops.data(), ops.size(), timeoutMs, err, sizeof err) != 0) return fail(err);
    return Status::Ok();
  }
};

// Transfers of one phase of a group: the k-th send to a peer and the k-th receive from it belong together.
// Both ends first swap the byte counts they expect, so that a mismatch (ranks called with different lengths)
// fails on both with the counts named, instead of reaching Gloo, which aborts the process on a message longer
// than the buffer posted for it.
class Phase {
 public:
  Phase(GlooComm& comm, uint64_t base) : comm_(comm), base_(base) {}
  void send(int peer, const void* ptr, size_t bytes) { add(false, peer, const_cast<void*>(ptr), bytes, sent_[peer]++); }
  void recv(int peer, void* ptr, size_t bytes) { add(true, peer, ptr, bytes, received_[peer]++); }

  Status run() {
    if (transfers_.empty()) return Status::Ok();
    std::vector<FrgOp> sizes;
    std::vector<uint64_t> theirs(transfers_.size());
    for (size_t i = 0; i < transfers_.size(); i++) {
      Transfer& t = transfers_[i];
      // Slot 4k: the sender's count; 4k+1: the receiver's.
      uint64_t mine = base_ + 4 * t.k + (t.recv ? 1 : 0), other = base_ + 4 * t.k + (t.recv ? 0 : 1);
      sizes.push_back(FrgOp{0, t.peer, &t.bytes, sizeof t.bytes, mine});
      sizes.push_back(FrgOp{1, t.peer, &theirs[i], sizeof theirs[i], other});
    }
    Status st = comm_.run(sizes);
    if (!st.ok()) return st;
    for (size_t i = 0; i < transfers_.size(); i++) {
      const Transfer& t = transfers_[i];
      if (theirs[i] == t.bytes) continue;
      int from = t.recv ? t.peer : comm_.rank, to = t.recv ? comm_.rank : t.peer;
      uint64_t sent = t.recv ? theirs[i] : t.bytes, expected = t.recv ? t.bytes : theirs[i];
      return comm_.fail("rank " + std::to_string(from) + " sends " + std::to_string(sent) + " bytes where rank " +
                        std::to_string(to) + " expects " + std::to_string(expected) +
                        " (were the ranks called with different lengths or dtypes?)");
    }
    std::vector<FrgOp> data;
    for (const Transfer& t : transfers_) {
      if (t.bytes > 0) data.push_back(FrgOp{t.recv ? 1 : 0, t.peer, t.ptr, static_cast<size_t>(t.bytes), base_ + 4 * t.k + 2});
    }
    return comm_.run(data);
  }

 private:
  struct Transfer {
    bool recv;
    int peer;
    void* ptr;
    uint64_t bytes;
    uint64_t k;
  };
  void add(bool recv, int peer, void* ptr, size_t bytes, uint64_t k) { transfers_.push_back(Transfer{recv, peer, ptr, bytes, k}); }
  GlooComm& comm_;
  uint64_t base_;
  std::map<int, uint64_t> sent_, received_;
  std::vector<Transfer> transfers_;
};

// Elements [begin, end) of block b when count elements are cut into n blocks.
size_t blockStart(size_t count, int n, int b) { return count / n * b + std::min<size_t>(b, count % n); }

// reduceScatter (equal blocks of `count`) or allReduce (the blocks allReduce's count cuts into): every rank
// reduces its own block from every rank's input, in rank order, as the in-process communicator does.
Status reduceOwnBlock(GlooComm& c, uint64_t& slot, const CollItem& it, size_t blockBegin, size_t blockCount,
                      const std::vector<size_t>& begins, const std::vector<size_t>& counts, std::vector<char>* out) {
  size_t esz = dtypeSize(it.dtype);
  const char* send = static_cast<const char*>(it.send);
  std::vector<std::vector<char>> from(c.size);
  Phase phase(c, slot);
  slot += 1 << 16;
  for (int p = 0; p < c.size; p++) {
    if (p == c.rank) continue;
    phase.send(p, send + begins[p] * esz, counts[p] * esz);
    from[p].resize(blockCount * esz);
    phase.recv(p, from[p].data(), blockCount * esz);
  }
  Status st = phase.run();
  if (!st.ok()) return st;
  std::vector<const void*> inputs(c.size);
  for (int p = 0; p < c.size; p++) inputs[p] = p == c.rank ? send + blockBegin * esz : from[p].data();
  out->resize(blockCount * esz);
  reduceBytes(out->data(), inputs, blockCount, it.dtype, it.op, static_cast<uint32_t>(c.size));
  return Status::Ok();
}

Status collective(GlooComm& c, uint64_t& slot, const CollItem& it) {
  size_t esz = dtypeSize(it.dtype);
  int n = c.size, me = c.rank;
  if (it.kind == CollKind::AllGather) {
    size_t bytes = it.count * esz;
    char* recv = static_cast<char*>(it.recv);
    Phase phase(c, slot);
    slot += 1 << 16;
    for (int p = 0; p < n; p++) {
      if (p == me) continue;
      phase.send(p, it.send, bytes);
      phase.recv(p, recv + p * bytes, bytes);
    }
    if (it.send != recv + me * bytes) std::memmove(recv + me * bytes, it.send, bytes);
    return phase.run();
  }
  std::vector<size_t> begins(n), counts(n);
  size_t total = it.kind == CollKind::ReduceScatter ? it.count * n : it.count;
  for (int p = 0; p < n; p++) {
    begins[p] = blockStart(total, n, p);
    counts[p] = blockStart(total, n, p + 1) - begins[p];
  }
  std::vector<char> mine;
  Status st = reduceOwnBlock(c, slot, it, begins[me], counts[me], begins, counts, &mine);
  if (!st.ok()) return st;
  if (it.kind == CollKind::ReduceScatter) {
    std::memcpy(it.recv, mine.data(), mine.size());
    return Status::Ok();
  }
  char* recv = static_cast<char*>(it.recv);
  Phase phase(c, slot);
  slot += 1 << 16;
  for (int p = 0; p < n; p++) {
    if (p == me) continue;
    phase.send(p, mine.data(), mine.size());
    phase.recv(p, recv + begins[p] * esz, counts[p] * esz);
  }
  std::memcpy(recv + begins[me] * esz, mine.data(), mine.size());
  return phase.run();
}

}  // namespace

std::string glooAvailable() {
  std::call_once(g_loadOnce, load);
  return g_loadError;
}

bool isGlooComm(const CommImpl* comm) { return dynamic_cast<const GlooComm*>(comm) != nullptr; }

std::shared_ptr<CommImpl> initGlooComm(const std::string& id, int nranks, int rank, std::shared_ptr<DeviceImpl> device,
                                       int timeoutMs, const std::string& host, const FrgStore& store,
                                       std::string* error) {
  if (std::string why = glooAvailable(); !why.empty()) {
    *error = why;
    return nullptr;
  }
  static const char* hex = "0123456789abcdef";
  std::string prefix = "gloo/";
  for (size_t i = 0; i < 16 && i < id.size(); i++) {
    prefix += hex[(static_cast<unsigned char>(id[i]) >> 4) & 15];
    prefix += hex[static_cast<unsigned char>(id[i]) & 15];
  }
  prefix += "/";
  char err[512] = {};
  void* ctx = g_api.connect(rank, nranks, host.c_str(), prefix.c_str(), &store, timeoutMs, err, sizeof err);
  if (ctx == nullptr) {
    *error = std::string("connecting rank ") + std::to_string(rank) + " of " + std::to_string(nranks) +
             " through Gloo failed: " + err;
    return nullptr;
  }
  auto c = std::make_shared<GlooComm>();
  c->ctx = ctx;
  c->device = std::move(device);
  c->rank = rank;
  c->size = nranks;
  c->timeoutMs = timeoutMs;
  return c;
}

Status runGlooGroup(const CollItem* items, size_t n) {
  auto* comm = dynamic_cast<GlooComm*>(items[0].comm);
  for (size_t i = 1; i < n; i++) {
    if (items[i].comm != items[0].comm) {
      return Status::Fail("a group's items on one stream must share one communicator across processes");
    }
  }
  uint64_t slot = comm->groups++ << 32;
  // Copies to this rank itself read every source before any transfer writes, and land after.
  std::vector<std::pair<const CollItem*, std::vector<char>>> selfSends;
  std::vector<const CollItem*> selfRecvs;
  Phase p2p(*comm, slot);
  slot += 1 << 16;
  for (size_t i = 0; i < n; i++) {
    const CollItem& it = items[i];
    size_t bytes = it.count * dtypeSize(it.dtype);
    if (it.kind == CollKind::Send) {
      if (it.peer == comm->rank) {
        const char* src = static_cast<const char*>(it.send);
        selfSends.emplace_back(&it, std::vector<char>(src, src + bytes));
      } else {
        p2p.send(it.peer, it.send, bytes);
      }
    } else if (it.kind == CollKind::Recv) {
      if (it.peer == comm->rank) {
        selfRecvs.push_back(&it);
      } else {
        p2p.recv(it.peer, it.recv, bytes);
      }
    }
  }
  if (selfSends.size() != selfRecvs.size()) {
    return comm->fail("rank " + std::to_string(comm->rank) + " sends itself " + std::to_string(selfSends.size()) +
                      " message(s) but receives " + std::to_string(selfRecvs.size()));
  }
  Status st = p2p.run();
  if (!st.ok()) return st;
  for (size_t k = 0; k < selfSends.size(); k++) {
    const CollItem& to = *selfRecvs[k];
    const auto& data = selfSends[k].second;
    if (data.size() != to.count * dtypeSize(to.dtype)) {
      return comm->fail("rank " + std::to_string(comm->rank) + " sent itself " + std::to_string(data.size()) +
                        " bytes where it expected " + std::to_string(to.count * dtypeSize(to.dtype)));
    }
    std::memcpy(to.recv, data.data(), data.size());
  }
  for (size_t i = 0; i < n; i++) {
    const CollItem& it = items[i];
    if (it.kind == CollKind::Send || it.kind == CollKind::Recv) continue;
    st = collective(*comm, slot, it);
    if (!st.ok()) return st;
  }
  return Status::Ok();
}

}  // namespace fr::cpu
