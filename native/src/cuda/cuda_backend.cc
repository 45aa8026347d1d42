// The CUDA backend: device memory from cudaMalloc, a non-blocking CUDA stream per runtime stream, CUDA events,
// element-wise kernels and asynchronous copies into pinned host memory. Everything that touches a stream runs
// on the issuer thread (issuer.h); communicators are in nccl_comm.cc, the issue of groups in nccl_group.cc.
// Without the CUDA toolkit at build time only the entry points of cuda_api.h remain, reporting why.
#include "cuda_api.h"

#ifdef FAIRRING_WITH_CUDA

#include <cuda_runtime.h>

#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "../issuer.h"
#include "../nccl/nccl.h"
#include "cuda_util.h"
#include "host_cache.h"
#include "kernels.h"
#include "nccl_group.h"

namespace fr::cuda {

Status selectDevice(int ordinal) {
  thread_local int current = -1;
  if (current == ordinal) return Status::Ok();
  cudaError_t e = cudaSetDevice(ordinal);
  if (e != cudaSuccess) return Status::Fail(failure("cudaSetDevice(" + std::to_string(ordinal) + ")", e));
  current = ordinal;
  return Status::Ok();
}

namespace {

Status onDeviceOf(StreamImpl& s) { return selectDevice(s.device->ordinal); }

cudaEvent_t eventOf(const EventImpl& e) { return static_cast<cudaEvent_t>(e.cudaEvent); }

const char* const kNoEvent = "the CUDA event could not be created (cudaEventCreateWithFlags failed)";

// A zero-byte request still gets a distinct, non-null allocation, as on the CPU backend.
void* allocateWith(DeviceImpl& d, size_t bytes, const char* call, const char* what, cudaError_t (*alloc)(void**, size_t),
                   std::string* error) {
  void* p = nullptr;
  Status st = selectDevice(d.ordinal);
  if (st.ok()) st = check(call, alloc(&p, bytes == 0 ? 1 : bytes));
  if (!st.ok()) {
    *error = "allocating " + std::to_string(bytes) + " " + what + " cuda:" + std::to_string(d.ordinal) + ": " + st.error;
    return nullptr;
  }
  return p;
}

class CudaBackend final : public Backend {
 public:
  void* allocate(DeviceImpl& d, size_t bytes, std::string* error) override {
    return allocateWith(d, bytes, "cudaMalloc", "bytes on", [](void** p, size_t n) { return cudaMalloc(p, n); }, error);
  }

  void release(DeviceImpl& d, void* ptr) override {
    // cudaFree waits for the whole device: never on a thread that issues work (host_cache.h).
    reap([ordinal = d.ordinal, ptr] {
      selectDevice(ordinal);
      cudaFree(ptr);
    });
  }

  // Pinned, so that copies into it run asynchronously on the device's streams. Allocated when a world is built,
  // not per copy.
  void* allocateHost(DeviceImpl& d, size_t bytes, std::string* error) override {
    return allocateWith(d, bytes, "cudaMallocHost", "pinned host bytes for", [](void** p, size_t n) { return cudaMallocHost(p, n); }, error);
  }

  void releaseHost(DeviceImpl&, void* ptr) override {
    reap([ptr] { cudaFreeHost(ptr); });
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

  // Into pinned memory, asynchronously; an event recorded after the copy tells when the bytes are there.
  Status copyToHost(StreamImpl& s, HostData& h, const void* src) override {
    if (h.bytes == 0) {
      h.ready = true;
      return Status::Ok();
    }
    Status st = onDeviceOf(s);
    if (st.ok()) st = pinnedTake(s.device->ordinal, h.bytes, &h.ptr, &h.cudaEvent);
    cudaEvent_t event = static_cast<cudaEvent_t>(h.cudaEvent);
    if (st.ok()) {
      st = check("cudaMemcpyAsync (device to host)",
                 cudaMemcpyAsync(h.ptr, src, h.bytes, cudaMemcpyDeviceToHost, streamOf(s)));
    }
    if (st.ok()) st = check("cudaEventRecord", cudaEventRecord(event, streamOf(s)));
    if (st.ok()) h.issued = true;
    return st;
  }

  bool hostReady(HostData& h) override {
    if (h.ready.load()) return true;
    if (!h.issued.load()) return false;
    if (cudaEventQuery(static_cast<cudaEvent_t>(h.cudaEvent)) != cudaSuccess) return false;
    h.ready = true;
    return true;
  }

  void hostRelease(HostData& h) override {
    if (h.cudaEvent == nullptr && h.ptr == nullptr) return;
    pinnedGive(h.device->ordinal, h.bytes, h.ptr, h.cudaEvent);
    h.cudaEvent = nullptr;
    h.ptr = nullptr;
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
    std::string error;
    e.cudaEvent = rawEventCreate(*e.device, e.timing, &error);
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
    return rawEventQuery(e.cudaEvent, error);
  }

  double elapsedMs(EventImpl& a, EventImpl& b, std::string* error) override {
    if (a.cudaEvent == nullptr || b.cudaEvent == nullptr) {
      *error = kNoEvent;
      return 0;
    }
    return rawElapsedMs(a.cudaEvent, b.cudaEvent, error);
  }

  void* rawEventCreate(DeviceImpl& d, bool timing, std::string* error) override {
    cudaEvent_t event = nullptr;
    Status st = selectDevice(d.ordinal);
    if (st.ok()) {
      st = check("cudaEventCreateWithFlags",
                 cudaEventCreateWithFlags(&event, timing ? cudaEventDefault : cudaEventDisableTiming));
    }
    if (!st.ok()) *error = st.error;
    return event;
  }

  void rawEventDestroy(void* event) override { cudaEventDestroy(static_cast<cudaEvent_t>(event)); }

  Status rawEventRecord(StreamImpl& s, void* event) override {
    Status st = onDeviceOf(s);
    if (!st.ok()) return st;
    return check("cudaEventRecord", cudaEventRecord(static_cast<cudaEvent_t>(event), streamOf(s)));
  }

  Status rawStreamWait(StreamImpl& s, void* event) override {
    Status st = onDeviceOf(s);
    if (!st.ok()) return st;
    return check("cudaStreamWaitEvent", cudaStreamWaitEvent(streamOf(s), static_cast<cudaEvent_t>(event), 0));
  }

  bool rawEventQuery(void* event, std::string* error) override {
    cudaError_t r = cudaEventQuery(static_cast<cudaEvent_t>(event));
    if (r == cudaSuccess) return true;
    if (r != cudaErrorNotReady) *error = failure("cudaEventQuery", r);
    return false;
  }

  double rawElapsedMs(void* start, void* end, std::string* error) override {
    float ms = 0;
    cudaError_t r = cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(start), static_cast<cudaEvent_t>(end));
    if (r != cudaSuccess) {
      *error = failure("cudaEventElapsedTime", r);
      return 0;
    }
    return ms;
  }

  bool rawAnchor(DeviceImpl& d, void** event, double* hostMs, double* spreadMs, std::string* error) override {
    std::lock_guard<std::mutex> lock(anchorM_);
    Anchor& a = anchors_[d.ordinal];
    Status st = selectDevice(d.ordinal);
    if (st.ok() && a.stream == nullptr) {
      st = check("cudaStreamCreateWithFlags (clock anchor)", cudaStreamCreateWithFlags(&a.stream, cudaStreamNonBlocking));
    }
    if (st.ok() && a.event == nullptr) {
      st = check("cudaEventCreateWithFlags (clock anchor)", cudaEventCreateWithFlags(&a.event, cudaEventDefault));
    }
    // Up to a few tries, until one is narrow (the event keeps the last one's record); each waits for its record
    // by polling, at most kAnchorWaitMs: a stream that shares a hardware queue with busy ones may not run the
    // record at once, and the watcher must not wait long.
    double spread = 0;
    for (int attempt = 0; attempt == 0 || (attempt < kAnchorTries && spread > kAnchorGoodSpreadMs); attempt++) {
      if (!st.ok()) break;
      const double before = steadyClockMs();
      st = check("cudaEventRecord (clock anchor)", cudaEventRecord(a.event, a.stream));
      cudaError_t q = cudaErrorNotReady;
      double after = before;
      while (st.ok() && q == cudaErrorNotReady && after - before < kAnchorWaitMs) {
        q = cudaEventQuery(a.event);
        after = steadyClockMs();
      }
      if (!st.ok()) break;
      if (q != cudaSuccess) {
        st = q == cudaErrorNotReady ? Status::Fail("the clock anchor's record did not complete within 1 ms")
                                    : check("cudaEventQuery (clock anchor)", q);
        break;
      }
      spread = after - before;
      *hostMs = (before + after) / 2;
    }
    if (!st.ok()) {
      *error = st.error;
      return false;
    }
    *event = a.event;
    *spreadMs = spread;
    return true;
  }

  // The whole group is one issuer task, in program order with everything else; where it spans devices on
  // blocking communicators whose calls are shaped as in a group issued whole before, a part per device at once,
  // the first on the issuer and the others on their devices' part threads (nccl_group.cc).
  void enqueueGroup(std::vector<CollItem> items, KeepAlive keep) override {
    issuer::post([items = std::move(items), keep = std::move(keep)] { cuda::runGroup(items.data(), items.size()); });
  }

  bool stepGroup(const CollItem* items, size_t n, GroupProgress&) override {
    cuda::runGroup(items, n);
    return true;
  }

 private:
  // Per device ordinal, created on first use and kept for the process's life (destroying them at exit could
  // run after the CUDA runtime's own teardown).
  struct Anchor {
    cudaStream_t stream = nullptr;
    cudaEvent_t event = nullptr;
  };
  std::mutex anchorM_;
  std::unordered_map<int, Anchor> anchors_;
  static constexpr int kAnchorTries = 4;
  static constexpr double kAnchorWaitMs = 1;
  static constexpr double kAnchorGoodSpreadMs = 0.01;

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
    // Without libcuda the runtime calls the missing driver too old, and reports version 0.
    auto version = [](int v) { return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10); };
    if (e == cudaErrorInsufficientDriver && info.driverVersion == 0) {
      info.error = "no NVIDIA driver found (libcuda.so.1 is not there to load): install the NVIDIA driver";
    } else if (e == cudaErrorInsufficientDriver) {
      info.error = "the NVIDIA driver supports CUDA " + version(info.driverVersion) + ", older than the CUDA " +
                   version(info.runtimeVersion) + " runtime this addon was built with: update the driver, or rebuild " +
                   "the addon with a toolkit the driver supports";
    } else {
      info.error = std::string("no CUDA devices: ") + cudaGetErrorString(e);
    }
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

}  // namespace fr::cuda

namespace fr {
// Never destroyed: the issuer and the watcher may still call it while the process exits.
Backend* cudaBackend() {
  static auto* backend = new cuda::CudaBackend();
  return backend;
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

void stopReaper() {}

}  // namespace fr::cuda

namespace fr {
Backend* cudaBackend() { return nullptr; }
}  // namespace fr

#endif  // FAIRRING_WITH_CUDA
