// The CUDA backend: device memory from cudaMalloc, a non-blocking CUDA stream per runtime stream (created and
// driven on that stream's worker thread), CUDA events, element-wise kernels, and NCCL loaded at run time.
// Without the CUDA toolkit at build time only the entry points of cuda_api.h remain, reporting why.
#include "cuda_api.h"

#ifdef FAIRRING_WITH_CUDA

#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "../nccl/nccl.h"
#include "kernels.h"

namespace fr::cuda {

namespace {

std::string failure(const std::string& call, cudaError_t e) { return call + " failed: " + cudaGetErrorString(e); }

Status check(const std::string& call, cudaError_t e) {
  return e == cudaSuccess ? Status::Ok() : Status::Fail(failure(call, e));
}

Status selectDevice(int ordinal) {
  return check("cudaSetDevice(" + std::to_string(ordinal) + ")", cudaSetDevice(ordinal));
}

// Stream operations select the stream's device every time: the worker may meanwhile have run a release or a
// communicator teardown for another device (the last task holding a Memory or a comm destroys it there).
Status onDeviceOf(StreamImpl& s) { return selectDevice(s.device->ordinal); }

cudaStream_t streamOf(const StreamImpl& s) { return static_cast<cudaStream_t>(s.cudaStream); }
cudaEvent_t eventOf(const EventImpl& e) { return static_cast<cudaEvent_t>(e.cudaEvent); }

const char* const kNoEvent = "the CUDA event could not be created (cudaEventCreateWithFlags failed)";

// Waits until the stream has no pending work. Polls rather than blocking in the driver so that a kernel that
// never finishes (a collective whose peer died) cannot keep the worker from exiting at shutdown.
Status drain(cudaStream_t stream) {
  auto start = std::chrono::steady_clock::now();
  for (;;) {
    cudaError_t e = cudaStreamQuery(stream);
    if (e == cudaSuccess) return Status::Ok();
    if (e != cudaErrorNotReady) return Status::Fail(failure("cudaStreamQuery", e));
    if (g_shuttingDown.load()) return Status::Fail("runtime shutting down");
    if (std::chrono::steady_clock::now() - start < std::chrono::microseconds(200)) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
}

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

struct NcclComm final : CommImpl {
  nccl::ncclComm_t comm = nullptr;
  std::atomic<bool> aborted{false};
  // Held while a worker issues calls on `comm`. An abort takes it when it is free, so that no issue starts
  // between a worker's check of `aborted` and its calls; when a worker holds it, that worker may be blocked
  // inside NCCL on a peer that never comes, and ncclCommAbort from another thread is NCCL's way to free it.
  std::mutex use;

  void abort() override {
    std::unique_lock<std::mutex> lock(use, std::try_to_lock);
    if (aborted.exchange(true)) return;
    cudaSetDevice(device->ordinal);
    nccl::library().api.ncclCommAbort(comm);
  }

  std::string asyncError() override {
    if (aborted.load()) return "communicator aborted";
    nccl::ncclResult_t async = nccl::ncclSuccess;
    nccl::ncclResult_t r = nccl::library().api.ncclCommGetAsyncError(comm, &async);
    if (r != nccl::ncclSuccess) return "ncclCommGetAsyncError failed: " + nccl::describe(r, comm);
    if (async == nccl::ncclSuccess || async == nccl::ncclInProgress) return {};
    return nccl::describe(async, comm);
  }

  ~NcclComm() override {
    if (aborted.load()) return;
    cudaSetDevice(device->ordinal);
    nccl::library().api.ncclCommDestroy(comm);
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

nccl::ncclResult_t issue(const nccl::Api& api, const CollItem& it, nccl::ncclComm_t comm) {
  nccl::CudaStream stream = it.stream->cudaStream;
  nccl::ncclDataType_t type = ncclType(it.dtype);
  // NCCL 2.28.3 drops the last element of a one-rank ncclAvg on floating types for some counts
  // (scripts/probes/nccl-one-rank.mjs, docs/gpu-results.md). With one rank every collective is a copy.
  if (it.comm->size == 1 && it.kind != CollKind::Send && it.kind != CollKind::Recv) {
    if (it.recvPtr() == it.sendPtr() || it.count == 0) return nccl::ncclSuccess;
    cudaError_t e = cudaMemcpyAsync(it.recvPtr(), it.sendPtr(), it.count * dtypeSize(it.dtype), cudaMemcpyDefault,
                                    static_cast<cudaStream_t>(stream));
    return e == cudaSuccess ? nccl::ncclSuccess : nccl::ncclUnhandledCudaError;
  }
  switch (it.kind) {
    case CollKind::AllReduce:
      return api.ncclAllReduce(it.sendPtr(), it.recvPtr(), it.count, type, ncclOp(it.op), comm, stream);
    case CollKind::ReduceScatter:
      return api.ncclReduceScatter(it.sendPtr(), it.recvPtr(), it.count, type, ncclOp(it.op), comm, stream);
    case CollKind::AllGather:
      return api.ncclAllGather(it.sendPtr(), it.recvPtr(), it.count, type, comm, stream);
    case CollKind::Send:
      return api.ncclSend(it.sendPtr(), it.count, type, it.peer, comm, stream);
    case CollKind::Recv:
      return api.ncclRecv(it.recvPtr(), it.count, type, it.peer, comm, stream);
  }
  return nccl::ncclInvalidArgument;
}

// Issues a whole group from the calling thread, as NCCL requires of ncclGroupStart ... ncclGroupEnd.
// A comm exists only when NCCL loaded, so the library needs no check here.
Status issueGroup(const std::vector<CollItem>& items) {
  // Locked in address order, so two groups sharing communicators cannot deadlock.
  std::vector<NcclComm*> comms;
  for (const auto& it : items) comms.push_back(static_cast<NcclComm*>(it.comm.get()));
  std::sort(comms.begin(), comms.end());
  comms.erase(std::unique(comms.begin(), comms.end()), comms.end());
  std::vector<std::unique_lock<std::mutex>> locks;
  for (NcclComm* c : comms) locks.emplace_back(c->use);
  for (const auto& it : items) {
    if (static_cast<NcclComm&>(*it.comm).aborted.load()) {
      return Status::Fail(std::string(callName(it.kind)) + " on rank " + std::to_string(it.comm->rank) +
                          ": communicator aborted");
    }
  }
  const nccl::Api& api = nccl::library().api;
  nccl::ncclResult_t r = api.ncclGroupStart();
  if (r != nccl::ncclSuccess) return Status::Fail("ncclGroupStart failed: " + nccl::describe(r, nullptr));
  Status first;
  for (const auto& it : items) {
    nccl::ncclComm_t comm = static_cast<NcclComm&>(*it.comm).comm;
    r = issue(api, it, comm);
    if (r != nccl::ncclSuccess && first.ok()) {
      first = Status::Fail(std::string(callName(it.kind)) + " (rank " + std::to_string(it.comm->rank) + " of " +
                           std::to_string(it.comm->size) + ", " + std::to_string(it.count) +
                           " elements) failed: " + nccl::describe(r, comm));
    }
  }
  // Ended even after a failed call: the group state is per thread and must not leak into the next group.
  r = api.ncclGroupEnd();
  if (r != nccl::ncclSuccess && first.ok()) first = Status::Fail("ncclGroupEnd failed: " + nccl::describe(r, nullptr));
  return first;
}

// One group across several streams: each stream's worker arrives in its own queue order, the last one issues
// the group for all, and every participant takes the result into its own stream.
struct Rendezvous {
  std::vector<CollItem> items;
  size_t participants = 0;

  std::mutex m;
  std::condition_variable cv;
  size_t arrived = 0;
  bool done = false;
  std::string refusal;  // a participant had already failed: NCCL is skipped for everyone
  Status result;

  void arrive(StreamImpl& st) {
    std::unique_lock<std::mutex> lock(m);
    if (!st.error.empty() && refusal.empty()) {
      refusal = "skipped: a stream on cuda:" + std::to_string(st.device->ordinal) + " had already failed (" +
                st.error + ")";
    }
    if (++arrived == participants) {
      Status outcome = Status::Fail(refusal);
      if (refusal.empty()) {
        lock.unlock();
        outcome = issueGroup(items);
        lock.lock();
      }
      result = outcome;
      done = true;
      cv.notify_all();
    } else if (!waitInterruptible(lock, cv, [&] { return done; })) {
      lock.unlock();
      applyStatus(st, Status::Fail("runtime shutting down"), "group");
      return;
    }
    Status outcome = result;
    lock.unlock();
    applyStatus(st, outcome, "group");
  }
};

class CudaBackend final : public Backend {
 public:
  void* allocate(DeviceImpl& d, size_t bytes, std::string* error) override {
    void* p = nullptr;
    Status st = selectDevice(d.ordinal);
    // A zero-byte request still gets a distinct, non-null allocation, as on the CPU backend.
    if (st.ok()) st = check("cudaMalloc", cudaMalloc(&p, bytes == 0 ? 1 : bytes));
    if (!st.ok()) {
      *error = "allocating " + std::to_string(bytes) + " bytes on cuda:" + std::to_string(d.ordinal) + ": " + st.error;
      return nullptr;
    }
    return p;
  }

  void release(DeviceImpl& d, void* ptr) override {
    cudaSetDevice(d.ordinal);
    cudaFree(ptr);
  }

  void streamCreate(StreamImpl& s) override {
    cudaStream_t stream = nullptr;
    Status st = onDeviceOf(s);
    if (st.ok()) st = check("cudaStreamCreateWithFlags", cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    s.cudaStream = stream;
    applyStatus(s, st, "stream create");
  }

  // cudaStreamDestroy returns at once and frees the stream when its work is done, so shutdown never waits here.
  void streamDestroy(StreamImpl& s) override {
    if (s.cudaStream != nullptr) cudaStreamDestroy(streamOf(s));
    s.cudaStream = nullptr;
  }

  Status copy(StreamImpl& s, void* dst, const void* src, size_t bytes) override {
    if (bytes == 0 || dst == src) return Status::Ok();
    Status st = onDeviceOf(s);
    if (!st.ok()) return st;
    auto d = reinterpret_cast<uintptr_t>(dst);
    auto from = reinterpret_cast<uintptr_t>(src);
    if (d < from + bytes && from < d + bytes) return overlappingCopy(s, dst, src, bytes);
    // cudaMemcpyDefault lets unified addressing find the devices, so copies between GPUs work too.
    return check("cudaMemcpyAsync (device to device)",
                 cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, streamOf(s)));
  }

  // The host buffer is pageable: the call returns once it has been staged, so the caller may free it after.
  Status copyFromHost(StreamImpl& s, void* dst, const void* host, size_t bytes) override {
    if (bytes == 0) return Status::Ok();
    Status st = onDeviceOf(s);
    if (!st.ok()) return st;
    return check("cudaMemcpyAsync (host to device)",
                 cudaMemcpyAsync(dst, host, bytes, cudaMemcpyHostToDevice, streamOf(s)));
  }

  // Complete on return: the caller marks the host buffer ready right after.
  Status copyToHost(StreamImpl& s, void* host, const void* src, size_t bytes) override {
    if (bytes == 0) return Status::Ok();
    Status st = onDeviceOf(s);
    if (st.ok()) st = drain(streamOf(s));
    if (st.ok()) {
      st = check("cudaMemcpyAsync (device to host)",
                 cudaMemcpyAsync(host, src, bytes, cudaMemcpyDeviceToHost, streamOf(s)));
    }
    if (st.ok()) st = check("cudaStreamSynchronize", cudaStreamSynchronize(streamOf(s)));
    return st;
  }

  Status fill(StreamImpl& s, void* dst, size_t count, DType t, double value) override {
    Status st = onDeviceOf(s);
    if (!st.ok()) return st;
    return launchFill(dst, count, t, value, streamOf(s));
  }

  Status reduce(StreamImpl& s, void* dst, const std::vector<const void*>& srcs, size_t count, DType t,
                RedOp op, uint32_t divisor) override {
    Status st = onDeviceOf(s);
    if (!st.ok()) return st;
    return launchReduce(dst, srcs, count, t, op, divisor, streamOf(s));
  }

  Status record(StreamImpl& s, EventImpl& e) override {
    if (e.cudaEvent == nullptr) return Status::Fail(kNoEvent);
    Status st = onDeviceOf(s);
    if (!st.ok()) return st;
    return check("cudaEventRecord", cudaEventRecord(eventOf(e), streamOf(s)));
  }

  Status wait(StreamImpl& s, EventImpl& e) override {
    if (e.cudaEvent == nullptr) return Status::Fail(kNoEvent);
    Status st = onDeviceOf(s);
    if (!st.ok()) return st;
    return check("cudaStreamWaitEvent", cudaStreamWaitEvent(streamOf(s), eventOf(e), 0));
  }

  // A failure leaves cudaEvent null; record and wait then fail on it.
  void eventCreate(EventImpl& e) override {
    cudaEvent_t event = nullptr;
    if (cudaSetDevice(e.device->ordinal) == cudaSuccess &&
        cudaEventCreateWithFlags(&event, e.timing ? cudaEventDefault : cudaEventDisableTiming) == cudaSuccess) {
      e.cudaEvent = event;
    }
  }

  void eventDestroy(EventImpl& e) override {
    if (e.cudaEvent != nullptr) cudaEventDestroy(eventOf(e));
    e.cudaEvent = nullptr;
  }

  bool eventQuery(EventImpl& e, std::string* error) override {
    if (e.cudaEvent == nullptr) {
      *error = kNoEvent;
      return false;
    }
    cudaError_t r = cudaEventQuery(eventOf(e));
    if (r == cudaSuccess) return true;
    if (r != cudaErrorNotReady) *error = failure("cudaEventQuery", r);
    return false;
  }

  double elapsedMs(EventImpl& a, EventImpl& b, std::string* error) override {
    if (a.cudaEvent == nullptr || b.cudaEvent == nullptr) {
      *error = kNoEvent;
      return 0;
    }
    float ms = 0;
    cudaError_t r = cudaEventElapsedTime(&ms, eventOf(a), eventOf(b));
    if (r != cudaSuccess) {
      *error = failure("cudaEventElapsedTime", r);
      return 0;
    }
    return ms;
  }

  void enqueueGroup(std::vector<CollItem> items) override {
    std::vector<std::shared_ptr<StreamImpl>> streams;
    for (const auto& it : items) {
      bool seen = false;
      for (const auto& s : streams) seen = seen || s == it.stream;
      if (!seen) streams.push_back(it.stream);
    }
    auto r = std::make_shared<Rendezvous>();
    r->items = std::move(items);
    r->participants = streams.size();
    for (const auto& s : streams) s->enqueue([r](StreamImpl& st) { r->arrive(st); });
  }

 private:
  // cudaMemcpy is undefined for overlapping ranges; going through a stream-ordered temporary gives memmove's
  // result, as the CPU backend does.
  static Status overlappingCopy(StreamImpl& s, void* dst, const void* src, size_t bytes) {
    void* temp = nullptr;
    Status st = check("cudaMallocAsync (overlapping copy)", cudaMallocAsync(&temp, bytes, streamOf(s)));
    if (!st.ok()) return st;
    st = check("cudaMemcpyAsync (overlapping copy)",
               cudaMemcpyAsync(temp, src, bytes, cudaMemcpyDeviceToDevice, streamOf(s)));
    if (st.ok()) {
      st = check("cudaMemcpyAsync (overlapping copy)",
                 cudaMemcpyAsync(dst, temp, bytes, cudaMemcpyDeviceToDevice, streamOf(s)));
    }
    Status freed = check("cudaFreeAsync (overlapping copy)", cudaFreeAsync(temp, streamOf(s)));
    return st.ok() ? freed : st;
  }
};

}  // namespace

RuntimeInfo runtimeInfo() {
  RuntimeInfo info;
  info.built = true;
  info.runtimeVersion = CUDART_VERSION;
  if (cudaDriverGetVersion(&info.driverVersion) != cudaSuccess) info.driverVersion = 0;
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    // Not a sticky error: clear it so that it does not surface from a later, unrelated call on this thread.
    cudaGetLastError();
    info.error = std::string("no CUDA devices: ") + cudaGetErrorString(e);
    return info;
  }
  info.deviceCount = count;
  if (count == 0) info.error = "no CUDA devices";
  return info;
}

bool deviceInfo(int ordinal, std::string* name, uint64_t* totalMemory, std::string* error) {
  cudaDeviceProp prop{};
  cudaError_t e = cudaGetDeviceProperties(&prop, ordinal);
  if (e != cudaSuccess) {
    *error = failure("cudaGetDeviceProperties(" + std::to_string(ordinal) + ")", e);
    return false;
  }
  *name = prop.name;
  *totalMemory = prop.totalGlobalMem;
  return true;
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
                                                 std::string* error) {
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
  // Devices are checked before the group: a member left out of it would leave ncclGroupEnd waiting for a rank
  // that never joins.
  for (const auto& mem : members) {
    Status st = selectDevice(mem.device->ordinal);
    if (!st.ok()) {
      *error = "rank " + std::to_string(mem.rank) + ": " + st.error;
      return {};
    }
  }
  const nccl::Api& api = lib.api;
  nccl::ncclResult_t r = api.ncclGroupStart();
  if (r != nccl::ncclSuccess) {
    *error = "ncclGroupStart failed: " + nccl::describe(r, nullptr);
    return {};
  }
  std::vector<nccl::ncclComm_t> raw(members.size(), nullptr);
  std::string failed;
  for (size_t i = 0; i < members.size() && failed.empty(); i++) {
    const Member& mem = members[i];
    cudaSetDevice(mem.device->ordinal);
    r = api.ncclCommInitRank(&raw[i], nranks, uid, mem.rank);
    if (r != nccl::ncclSuccess) {
      failed = "ncclCommInitRank (rank " + std::to_string(mem.rank) + " of " + std::to_string(nranks) + " on cuda:" +
               std::to_string(mem.device->ordinal) + ") failed: " + nccl::describe(r, nullptr);
    }
  }
  // A failed call inside the group makes ncclGroupEnd clean up instead of initialising the rest.
  r = api.ncclGroupEnd();
  if (r != nccl::ncclSuccess && failed.empty()) {
    failed = "ncclGroupEnd (ncclCommInitRank) failed: " + nccl::describe(r, nullptr);
  }
  if (!failed.empty()) {
    for (nccl::ncclComm_t c : raw) {
      if (c != nullptr) api.ncclCommAbort(c);
    }
    *error = failed;
    return {};
  }
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

namespace fr {
Backend* cudaBackend() {
  static cuda::CudaBackend backend;
  return &backend;
}
}  // namespace fr

#else  // !FAIRRING_WITH_CUDA

namespace fr::cuda {

namespace {
const char* const kNotBuilt = "built without CUDA";
}  // namespace

RuntimeInfo runtimeInfo() {
  RuntimeInfo info;
  info.error = kNotBuilt;
  return info;
}

bool deviceInfo(int, std::string*, uint64_t*, std::string* error) {
  *error = kNotBuilt;
  return false;
}

NcclInfo ncclInfo() {
  NcclInfo info;
  info.error = kNotBuilt;
  return info;
}

std::string ncclUniqueId(std::string* error) {
  *error = kNotBuilt;
  return {};
}

std::vector<std::shared_ptr<CommImpl>> initComms(const std::string&, int, const std::vector<Member>&,
                                                 std::string* error) {
  *error = kNotBuilt;
  return {};
}

}  // namespace fr::cuda

namespace fr {
Backend* cudaBackend() { return nullptr; }
}  // namespace fr

#endif  // FAIRRING_WITH_CUDA
