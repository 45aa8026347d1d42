// Backend-neutral parts of the runtime: name tables, stream task dispatch (the CPU executor, the CUDA issuer),
// and cross-stream records and waits of Event handles.
#include "runtime.h"

#include <fcntl.h>
#include <pthread.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "cuda/group_profile.h"
#include "executor.h"
#include "issuer.h"

namespace fr {

std::atomic<bool> g_shuttingDown{false};
std::atomic<int> g_ncclCallsInFlight{0};
std::atomic<bool> g_exiting{false};
std::atomic<int> g_exitStatus{0};

namespace {

void endNow(int status, void*) { endProcess(status); }

}  // namespace

void endProcess(int status) {
  g_exiting = true;
  cuda::profile::reportNow();
  std::fflush(nullptr);
  // What Node's own exit would undo and _Exit skips: libuv leaves the standard descriptors nonblocking, and a
  // terminal or pipe shared with the parent (the shell) keeps that flag after this process is gone.
  for (int fd = 0; fd <= 2; fd++) {
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0 && (flags & O_NONBLOCK) != 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  }
  std::_Exit(status);
}

void endAtExit(ExitPoint when) {
#ifdef __GLIBC__
  static std::once_flag cudaRuntime, nccl;
  std::call_once(when == ExitPoint::CudaRuntime ? cudaRuntime : nccl, [] { on_exit(endNow, nullptr); });
#else
  (void)when;
#endif
}

size_t dtypeSize(DType t) {
  switch (t) {
    case DType::Float16:
    case DType::BFloat16:
      return 2;
    case DType::Float32:
    case DType::Int32:
      return 4;
    case DType::Float64:
    case DType::Int64:
      return 8;
    case DType::Int8:
    case DType::UInt8:
      return 1;
  }
  return 0;
}

namespace {

// Each name table lists its enum in declaration order: a packed program's codes are the ordinals.
template <class E, size_t N>
constexpr bool inOrder(const std::pair<const char*, E> (&table)[N]) {
  for (size_t i = 0; i < N; i++) {
    if (static_cast<size_t>(table[i].second) != i) return false;
  }
  return true;
}
static_assert(inOrder(kDTypes) && inOrder(kRedOps) && inOrder(kCollKinds), "a name table out of its enum's order");

template <class E, size_t N>
bool parseName(const std::pair<const char*, E> (&table)[N], const std::string& s, E* out) {
  for (const auto& [name, value] : table) {
    if (s == name) {
      *out = value;
      return true;
    }
  }
  return false;
}

template <class E, size_t N>
const char* nameOf(const std::pair<const char*, E> (&table)[N], E v) {
  for (const auto& [name, value] : table) {
    if (value == v) return name;
  }
  return "?";
}

}  // namespace

bool parseDType(const std::string& s, DType* out) { return parseName(kDTypes, s, out); }
bool parseRedOp(const std::string& s, RedOp* out) { return parseName(kRedOps, s, out); }
bool parseCollKind(const std::string& s, CollKind* out) { return parseName(kCollKinds, s, out); }
const char* dtypeName(DType t) { return nameOf(kDTypes, t); }
const char* collKindName(CollKind k) { return nameOf(kCollKinds, k); }

const char* backendName(BackendKind k) { return k == BackendKind::Cpu ? "cpu" : "cuda"; }

Backend& backendFor(BackendKind k) {
  if (k == BackendKind::Cpu) return cpuBackend();
  // A CUDA device handle can only exist when the CUDA backend was built and found devices.
  return *cudaBackend();
}

Memory::~Memory() {
  if (ptr == nullptr) return;
  if (host) {
    backendFor(device->kind).releaseHost(*device, ptr);
  } else {
    backendFor(device->kind).release(*device, ptr);
  }
}

EventImpl::~EventImpl() { backendFor(device->kind).eventDestroy(*this); }

HostData::~HostData() { backendFor(device->kind).hostRelease(*this); }

void applyStatus(StreamImpl& s, const Status& st, const char* what) {
  if (!st.ok() && s.error.empty()) s.error = std::string(what) + ": " + st.error;
}

void StreamImpl::start() {
  if (device->kind == BackendKind::Cuda) {
    issuer::post([self = shared_from_this()] { cudaBackend()->streamCreate(*self); });
    return;
  }
  cpuBackend().streamCreate(*this);
}

void StreamImpl::enqueue(Task t) {
  if (device->kind == BackendKind::Cuda) {
    issuer::post([self = shared_from_this(), t = std::move(t)] { t(*self); });
    return;
  }
  executor::post(shared_from_this(), [t = std::move(t)](StreamImpl& st) {
    t(st);
    return StepResult::Done;
  });
}

void StreamImpl::enqueueStep(Step s) { executor::post(shared_from_this(), std::move(s)); }

void StreamImpl::close() {
  if (closed.exchange(true)) return;
  if (device->kind == BackendKind::Cuda) {
    issuer::post([self = shared_from_this()] { cudaBackend()->streamDestroy(*self); });
    return;
  }
  enqueue([](StreamImpl& st) { cpuBackend().streamDestroy(st); });
}

void enqueueRecord(const std::shared_ptr<StreamImpl>& s, const std::shared_ptr<EventImpl>& e) {
  {
    std::lock_guard<std::mutex> lock(e->m);
    e->enqueued++;
  }
  s->enqueue([e](StreamImpl& st) {
    Backend& backend = backendFor(st.device->kind);
    std::string err = st.error;
    if (err.empty()) {
      Status r = backend.record(st, *e);
      if (!r.ok()) err = "record: " + r.error;
    }
    {
      std::lock_guard<std::mutex> lock(e->m);
      e->issued++;
      e->error = err;
      // On the CPU a record runs after everything before it on the stream has run, so it is complete now.
      if (st.device->kind == BackendKind::Cpu || !err.empty()) {
        e->completed = e->issued;
        e->cpuTimeMs = steadyClockMs();
      }
    }
    kickWatchers();
  });
}

void enqueueWait(const std::shared_ptr<StreamImpl>& s, const std::shared_ptr<EventImpl>& e) {
  uint64_t target;
  {
    std::lock_guard<std::mutex> lock(e->m);
    target = e->enqueued;
  }
  if (target == 0) return;  // like CUDA: waiting on a never-recorded event is a no-op
  auto step = [e, target](StreamImpl& st) {
    if (!st.error.empty()) return StepResult::Done;
    {
      // CPU: the record may be behind other work of its own stream. CUDA: the issuer issued it before this task
      // (program order), so it has been reached.
      std::lock_guard<std::mutex> lock(e->m);
      if (e->issued < target) return StepResult::Waiting;
      if (!e->error.empty()) {
        st.error = "waited on a failed event: " + e->error;
        return StepResult::Done;
      }
    }
    applyStatus(st, backendFor(st.device->kind).wait(st, *e), "wait");
    return StepResult::Done;
  };
  if (s->device->kind == BackendKind::Cpu) {
    s->enqueueStep(step);
  } else {
    // Always Done on CUDA: the issuer issued the record before this task.
    s->enqueue([step](StreamImpl& st) { step(st); });
  }
}

void shutdownStreams() { executor::shutdown(); }

void nameThread(const char* name) { pthread_setname_np(pthread_self(), name); }

}  // namespace fr
