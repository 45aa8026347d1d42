// The issue of a whole NCCL group from the issuer thread, for the CUDA backend: its ops resolved, the calls
// between ncclGroupStart and ncclGroupEnd, and a group that returned ncclInProgress polled until it settled.
// Without the CUDA toolkit at build time only stubs remain (no CUDA queue exists then).
#include "nccl_group.h"

#ifdef FAIRRING_WITH_CUDA

#include <algorithm>
#include <chrono>
#include <mutex>
#include <shared_mutex>
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
