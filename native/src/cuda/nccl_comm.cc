// NCCL communicators of the CUDA backend: creation (ncclCommInitRankConfig for this process's ranks in one
// group; blocking where every rank is in the process, else nonblocking), abort and release. The issue of groups
// on them is in nccl_group.cc. NCCL is loaded at run time (nccl/nccl.cc). Without the CUDA toolkit at build time
// only the entry points of cuda_api.h remain.
#include "cuda_api.h"

#ifdef FAIRRING_WITH_CUDA

#include <chrono>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "../cpu/elem.h"
#include "cuda_util.h"
#include "nccl_calls.h"
#include "nccl_comm.h"

namespace fr::cuda {

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

std::string rankOf(int rank, int size) { return "rank " + std::to_string(rank) + " of " + std::to_string(size); }

namespace {

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

}  // namespace

// ncclCommAbort can wait for the device (nccl_calls.h), so it runs on the aborter and the caller (JS) goes on;
// while it runs it counts as an NCCL call in progress (Shutdown in addon.cc). At shutdown too; the shutdown then
// waits for them (waitForAborts): NCCL must not be torn down under a running abort.
void NcclComm::abort() {
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

bool NcclComm::aborting() const { return abortRunning->load(); }

// On the JS thread. On a nonblocking communicator ncclCommGetAsyncError is no mere read (it may complete and
// free the group job that the issuer's poll or an abort also holds), so it runs only with the NCCL lock held
// exclusively; while the lock is busy the answer it gave last stands.
std::string NcclComm::asyncError() {
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
Status NcclComm::averageOp(DType t, nccl::ncclRedOp_t* out) {
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
NcclComm::~NcclComm() {
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
    // call, and a blocking group is over when ncclGroupEnd returns (NCCL 2.28 runs every group of a nonblocking
    // communicator on a thread it creates for it, and such a group settled 87 µs after its start at the median,
    // a blocking one 30). Nonblocking where a peer lives in another process (docs/engine.md, "Nonblocking
    // communicators and aborts").
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
      if (stopping()) {
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
    // An exiting process ends without them (after an uncaught error Node waits for this thread first).
    if (NcclCallScope::exiting()) {
      *error = failed;
      return {};
    }
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
  static std::atomic<uint64_t> cliques{0};
  const uint64_t clique = members.size() == static_cast<size_t>(nranks) ? cliques.fetch_add(1) + 1 : 0;
  std::vector<std::shared_ptr<CommImpl>> comms;
  for (size_t i = 0; i < members.size(); i++) {
    auto c = std::make_shared<NcclComm>();
    c->clique = clique;
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

}  // namespace fr::cuda

#endif  // FAIRRING_WITH_CUDA
