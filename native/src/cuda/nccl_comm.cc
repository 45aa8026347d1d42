// NCCL communicators of the CUDA backend, nonblocking: creation (ncclCommInitRankConfig for this process's
// ranks in one group), abort and destroy, and the issue of a whole group from the issuer thread. NCCL is loaded
// at run time (nccl/nccl.cc). Without the CUDA toolkit at build time only the entry points of cuda_api.h remain.
#include "cuda_api.h"

#ifdef FAIRRING_WITH_CUDA

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "../cpu/elem.h"
#include "../nccl/nccl.h"
#include "cuda_util.h"
#include "group_profile.h"
#include "nccl_calls.h"
#include "nccl_comm.h"

namespace fr::cuda {

namespace {

nccl::ncclDataType_t ncclType(DType t) {
  switch (t) {
    case DType::Float16:
      return nccl::ncclFloat16;
    case DType::BFloat16:
      return nccl::ncclBfloat16;
    case DType::Float32:
      return nccl::ncclFloat32;
    case DType::Float64:
      return nccl::ncclFloat64;
    case DType::Int8:
      return nccl::ncclInt8;
    case DType::UInt8:
      return nccl::ncclUint8;
    case DType::Int32:
      return nccl::ncclInt32;
    case DType::Int64:
      return nccl::ncclInt64;
  }
  return nccl::ncclFloat32;
}

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

bool isFloating(DType t) {
  return t == DType::Float16 || t == DType::BFloat16 || t == DType::Float32 || t == DType::Float64;
}

// The communicator's state (ncclCommGetAsyncError), or that call's own failure: ncclSuccess once its work is
// issued, ncclInProgress while NCCL's thread still works on it, else what failed.
nccl::ncclResult_t commState(const nccl::Api& api, nccl::ncclComm_t comm) {
  nccl::ncclResult_t state = nccl::ncclSuccess;
  nccl::ncclResult_t r = api.ncclCommGetAsyncError(comm, &state);
  return r != nccl::ncclSuccess ? r : state;
}


struct NcclComm final : CommImpl {
  nccl::ncclComm_t comm = nullptr;
  // Set (on the JS thread, or at shutdown) before the abort is posted; the issuer reads it under g_ncclCalls
  // before each call on comm, and never touches comm once it is set.
  std::atomic<bool> aborted{false};
  // True from an abort's start until ncclCommAbort returned (shared with the aborter, which may outlive this).
  std::shared_ptr<std::atomic<bool>> abortRunning = std::make_shared<std::atomic<bool>>(false);
  // Avg on floats: one PreMulSum op per dtype, made on first use by the issuer (under g_ncclCalls).
  std::map<DType, nccl::ncclRedOp_t> averages;
  // The last error asyncError read (JS thread only); once failed, a nonblocking communicator stays failed.
  std::string lastAsyncError;
  // Under g_ncclCalls: a group of it returned ncclInProgress and has not been seen settled. asyncError leaves
  // it alone meanwhile (the issuer leaves the lock between its polls): the call that sees the group settled
  // completes its job, and only the issuer may.
  bool groupInFlight = false;

  // ncclCommAbort can wait for the device (nccl_calls.h), so it runs on the aborter and the caller (JS) goes on;
  // while it runs it counts as an NCCL call in progress (Shutdown in addon.cc). At shutdown too; the shutdown then
  // waits for them (waitForAborts): NCCL must not be torn down under a running abort.
  void abort() override {
    if (aborted.exchange(true)) return;
    nccl::ncclComm_t raw = comm;
    int ordinal = device->ordinal;
    abortRunning->store(true);
    postAbort([raw, ordinal, running = abortRunning, inNccl = std::make_shared<NcclCallScope>()] {
      std::shared_lock<std::shared_mutex> calls(g_ncclCalls);
      selectDevice(ordinal);
      nccl::library().api.ncclCommAbort(raw);
      running->store(false);
    });
  }

  bool aborting() const override { return abortRunning->load(); }

  // On the JS thread. On a nonblocking communicator ncclCommGetAsyncError is no mere read (it may complete and
  // free the group job that the issuer's poll or an abort also holds), so it runs only with the NCCL lock held
  // exclusively; while the lock is busy the answer it gave last stands.
  std::string asyncError() override {
    if (aborted.load()) return "communicator aborted";
    std::unique_lock<std::shared_mutex> calls(g_ncclCalls, std::try_to_lock);
    if (!calls.owns_lock() || groupInFlight) return lastAsyncError;
    nccl::ncclResult_t async = nccl::ncclSuccess;
    nccl::ncclResult_t r = nccl::library().api.ncclCommGetAsyncError(comm, &async);
    if (r != nccl::ncclSuccess) {
      lastAsyncError = "ncclCommGetAsyncError failed: " + nccl::describe(r, comm);
    } else if (async != nccl::ncclSuccess && async != nccl::ncclInProgress) {
      lastAsyncError = nccl::describe(async, comm);
    }
    return lastAsyncError;
  }

  // The op an average of `size` contributions of t reduces with: ncclAvg on integers (NCCL's SumPostDiv), on
  // floats a PreMulSum by 1/size rounded to t, the scalar built as the CPU backend builds it (cpu/elem.h).
  Status averageOp(DType t, nccl::ncclRedOp_t* out) {
    if (!isFloating(t)) {
      *out = nccl::ncclAvg;
      return Status::Ok();
    }
    auto found = averages.find(t);
    if (found != averages.end()) {
      *out = found->second;
      return Status::Ok();
    }
    const nccl::Library& lib = nccl::library();
    if (!lib.preMulSumError.empty()) return Status::Fail("avg on " + std::string(dtypeName(t)) + ": " + lib.preMulSumError);
    unsigned char scalar[8] = {};
    uint32_t n = static_cast<uint32_t>(size);
    cpu::dispatchDType(t, [&](auto zero) {
      auto value = cpu::avgScale<decltype(zero)>(n);
      std::memcpy(scalar, &value, sizeof(value));
    });
    nccl::ncclRedOp_t op{};
    nccl::ncclResult_t r =
        lib.api.ncclRedOpCreatePreMulSum(&op, scalar, ncclType(t), nccl::ncclScalarHostImmediate, comm);
    if (r != nccl::ncclSuccess) return Status::Fail("ncclRedOpCreatePreMulSum failed: " + nccl::describe(r, comm));
    averages.emplace(t, op);
    *out = op;
    return Status::Ok();
  }

  // The last reference may go on any thread (JS, the issuer), so the communicator is released on the aborter,
  // under the NCCL lock like an abort but leaving it between polls: ncclCommFinalize, then ncclCommDestroy once
  // NCCL says its work is over (a kernel whose peer is gone would hold ncclCommDestroy, and with it the lock, for
  // good). One that failed, or fails to finish, or is still finishing at shutdown, is aborted instead.
  ~NcclComm() override {
    if (aborted.load()) return;
    postAbort([raw = comm, ordinal = device->ordinal, ops = std::move(averages),
                    inNccl = std::make_shared<NcclCallScope>()] {
      std::shared_lock<std::shared_mutex> calls(g_ncclCalls);
      selectDevice(ordinal);
      const nccl::Api& api = nccl::library().api;
      nccl::ncclResult_t now = commState(api, raw);
      if (now == nccl::ncclSuccess) {
        for (const auto& [dtype, op] : ops) api.ncclRedOpDestroy(op, raw);
        nccl::ncclResult_t r = api.ncclCommFinalize(raw);
        now = r == nccl::ncclSuccess || r == nccl::ncclInProgress ? commState(api, raw) : r;
      }
      while (now == nccl::ncclInProgress && !g_shuttingDown.load()) {
        calls.unlock();
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        calls.lock();
        now = commState(api, raw);
      }
      if (now == nccl::ncclSuccess) {
        api.ncclCommDestroy(raw);
      } else {
        api.ncclCommAbort(raw);
      }
    });
  }
};

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

std::string rankOf(int rank, int size) { return "rank " + std::to_string(rank) + " of " + std::to_string(size); }

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

// A group the shutdown cut short did not succeed.
void cutShort(Status* outcome) {
  if (outcome->ok()) *outcome = Status::Fail("the runtime shut down while a group was in progress");
}

// Polls a group in progress until every communicator settled (also after one failed: a later call on one still
// in progress would fail it for good), spinning the first 200 us (a group usually takes tens) and then sleeping
// 50 us between polls. `calls` is left between polls so that aborts get in.
void waitReady(const std::vector<CommImpl*>& comms, std::vector<bool>& settled, Status* outcome,
               std::unique_lock<std::shared_mutex>& calls) {
  const auto start = std::chrono::steady_clock::now();
  while (pollOnce(comms, settled, outcome)) {
    if (g_shuttingDown.load()) {
      cutShort(outcome);
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

// Issues a whole group from the calling thread, as NCCL requires of ncclGroupStart ... ncclGroupEnd. Returns
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

std::unique_ptr<GroupInFlight> startGroup(const CollItem* items, size_t n) {
  auto g = std::make_unique<GroupInFlight>();
  g->calls = n;
  g->profiled = profile::enabled();
  for (size_t i = 0; i < n; i++) {
    if (std::find(g->streams.begin(), g->streams.end(), items[i].stream) == g->streams.end()) {
      g->streams.push_back(items[i].stream);
    }
  }
  for (StreamImpl* s : g->streams) {
    if (!s->error.empty()) {
      g->outcome = Status::Fail("skipped: a stream on cuda:" + std::to_string(s->device->ordinal) +
                                " had already failed (" + s->error + ")");
      break;
    }
  }
  if (g->outcome.ok()) g->outcome = issueGroup(items, n, g.get());
  if (g->inProgress) return g;
  finish(*g);
  return nullptr;
}

bool pollGroup(GroupInFlight& g) {
  std::unique_lock<std::shared_mutex> calls(g_ncclCalls);
  if (pollOnce(g.comms, g.settled, &g.outcome)) {
    if (!g_shuttingDown.load()) return false;
    cutShort(&g.outcome);
  }
  finish(g);
  return true;
}

void settleGroup(GroupInFlight& g) {
  {
    std::unique_lock<std::shared_mutex> calls(g_ncclCalls);
    waitReady(g.comms, g.settled, &g.outcome, calls);
  }
  finish(g);
}

void runGroup(const CollItem* items, size_t n) {
  std::unique_ptr<GroupInFlight> g = startGroup(items, n);
  if (g) settleGroup(*g);
}

NcclInfo ncclInfo() {
  const nccl::Library& lib = nccl::library();
  NcclInfo info;
  info.loaded = lib.loaded;
  info.version = lib.version;
  info.library = lib.path;
  info.error = lib.error;
  return info;
}

std::string ncclUniqueId(std::string* error) {
  const nccl::Library& lib = nccl::library();
  if (!lib.loaded) {
    *error = "NCCL not available: " + lib.error;
    return {};
  }
  nccl::ncclUniqueId id{};
  nccl::ncclResult_t r = lib.api.ncclGetUniqueId(&id);
  if (r != nccl::ncclSuccess) {
    *error = "ncclGetUniqueId failed: " + nccl::describe(r, nullptr);
    return {};
  }
  return std::string(id.internal, sizeof(id.internal));
}

std::vector<std::shared_ptr<CommImpl>> initComms(const std::string& id, int nranks, const std::vector<Member>& members,
                                                 int timeoutMs, std::string* error) {
  const nccl::Library& lib = nccl::library();
  if (!lib.loaded) {
    *error = "NCCL not available: " + lib.error;
    return {};
  }
  nccl::ncclUniqueId uid{};
  if (id.size() != sizeof(uid.internal)) {
    *error = "an NCCL unique id has " + std::to_string(sizeof(uid.internal)) + " bytes, got " +
             std::to_string(id.size());
    return {};
  }
  std::memcpy(uid.internal, id.data(), sizeof(uid.internal));
  // Devices are checked before the group: a member left out of it would leave the others waiting for a rank
  // that never joins.
  for (const auto& mem : members) {
    Status st = selectDevice(mem.device->ordinal);
    if (!st.ok()) {
      *error = "rank " + std::to_string(mem.rank) + ": " + st.error;
      return {};
    }
  }
  const nccl::Api& api = lib.api;
  NcclCallScope inNccl;
  if (NcclCallScope::exiting()) {
    *error = "the process is exiting";
    return {};
  }
  std::vector<nccl::ncclComm_t> raw(members.size(), nullptr);
  std::string failed;
  auto rankOn = [&](size_t i) {
    return rankOf(members[i].rank, nranks) + " on cuda:" + std::to_string(members[i].device->ordinal);
  };
  {
    std::unique_lock<std::shared_mutex> calls(g_ncclCalls);
    nccl::ncclResult_t r = api.ncclGroupStart();
    if (r != nccl::ncclSuccess) {
      *error = "ncclGroupStart failed: " + nccl::describe(r, nullptr);
      return {};
    }
    // Blocking where every rank is one of these members: no peer can vanish while the issuer waits inside a
    // call, and a blocking group costs the issuer half what a nonblocking one does (NCCL 2.28 runs every group
    // of a nonblocking communicator on a thread it creates for it). Nonblocking where a peer lives in another
    // process (docs/engine.md, "Nonblocking communicators and aborts").
    nccl::ncclConfig_t config = nccl::commConfig(members.size() == static_cast<size_t>(nranks));
    for (size_t i = 0; i < members.size() && failed.empty(); i++) {
      selectDevice(members[i].device->ordinal);
      r = api.ncclCommInitRankConfig(&raw[i], nranks, uid, members[i].rank, &config);
      if (r != nccl::ncclSuccess && r != nccl::ncclInProgress) {
        failed = "ncclCommInitRankConfig (" + rankOn(i) + ") failed: " + nccl::describe(r, nullptr);
      }
    }
    // A failed call inside the group makes ncclGroupEnd clean up instead of initialising the rest.
    r = api.ncclGroupEnd();
    if (r != nccl::ncclSuccess && r != nccl::ncclInProgress && failed.empty()) {
      failed = "ncclGroupEnd (ncclCommInitRankConfig) failed: " + nccl::describe(r, nullptr);
    }
  }
  // The communicators connect on NCCL's threads: wait for them here (a worker thread), up to timeoutMs.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  for (size_t i = 0; i < raw.size() && failed.empty(); i++) {
    if (raw[i] == nullptr) continue;
    for (;;) {
      nccl::ncclResult_t state = commState(api, raw[i]);
      if (state == nccl::ncclSuccess) break;
      if (state != nccl::ncclInProgress) {
        failed = "ncclCommInitRankConfig (" + rankOn(i) + ") failed: " + nccl::describe(state, raw[i]);
        break;
      }
      if (g_shuttingDown.load()) {
        failed = "communicator init stopped: the runtime shut down";
        break;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        failed = "communicator init timed out after " + std::to_string(timeoutMs) + " ms (" + rankOn(i) +
                 "): a rank did not join, or setting up took longer";
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  if (!failed.empty()) {
    std::shared_lock<std::shared_mutex> calls(g_ncclCalls);
    for (size_t i = 0; i < raw.size(); i++) {
      if (raw[i] == nullptr) continue;
      selectDevice(members[i].device->ordinal);
      api.ncclCommAbort(raw[i]);
    }
    *error = failed;
    return {};
  }
  // NCCL is initialised now: the process's exit must not run its teardown under its proxy threads.
  endAtExit(ExitPoint::Nccl);
  std::vector<std::shared_ptr<CommImpl>> comms;
  for (size_t i = 0; i < members.size(); i++) {
    auto c = std::make_shared<NcclComm>();
    c->device = members[i].device;
    c->rank = members[i].rank;
    c->size = nranks;
    c->comm = raw[i];
    comms.push_back(std::move(c));
  }
  return comms;
}

}  // namespace fr::cuda

#else  // !FAIRRING_WITH_CUDA

#include "nccl_comm.h"

namespace fr::cuda {

namespace {
const char* const kNotBuilt = "built without CUDA";
}  // namespace

NcclInfo ncclInfo() {
  NcclInfo info;
  info.error = kNotBuilt;
  return info;
}

std::string ncclUniqueId(std::string* error) {
  *error = kNotBuilt;
  return {};
}

std::vector<std::shared_ptr<CommImpl>> initComms(const std::string&, int, const std::vector<Member>&, int,
                                                 std::string* error) {
  *error = kNotBuilt;
  return {};
}

// No CUDA queue exists without CUDA; these only keep the CUDA issue path linking.
std::unique_ptr<GroupInFlight> startGroup(const CollItem* items, size_t n) {
  for (size_t i = 0; i < n; i++) applyStatus(*items[i].stream, Status::Fail(kNotBuilt), "group");
  return nullptr;
}

bool pollGroup(GroupInFlight&) { return true; }

void settleGroup(GroupInFlight&) {}

}  // namespace fr::cuda

#endif  // FAIRRING_WITH_CUDA
