// The CPU backend: device memory is host memory, every operation runs on the CPU executor (executor.h).
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>

#include "cpu_comm.h"
#include "elem.h"

namespace fr::cpu {

void reduceBytes(void* out, const std::vector<const void*>& inputs, size_t count, DType t, RedOp op, uint32_t divisor) {
  dispatchDType(t, [&](auto tag) {
    using T = decltype(tag);
    std::vector<const T*> typed(inputs.size());
    for (size_t i = 0; i < inputs.size(); i++) typed[i] = static_cast<const T*>(inputs[i]);
    reduceInto(static_cast<T*>(out), typed.data(), typed.size(), count, op, divisor);
  });
}

namespace {

template <class T>
T fromDouble(double v) {
  if constexpr (std::is_same_v<T, Half>) {
    return Half{floatToHalf(static_cast<float>(v))};
  } else if constexpr (std::is_same_v<T, BFloat16>) {
    return BFloat16{floatToBf16(static_cast<float>(v))};
  } else {
    return static_cast<T>(v);
  }
}

class CpuBackend;

// One stream's part of a group, as an executor step. Members go in reverse order: the progress (which joins a
// Gloo group's thread) before the items and what they point into.
struct GroupStep {
  CpuBackend* backend;
  KeepAlive keep;
  std::vector<CollItem> part;
  GroupProgress progress;
  StepResult operator()(StreamImpl&);
};

class CpuBackend final : public Backend {
 public:
  void* allocate(DeviceImpl&, size_t bytes, std::string* error) override {
    size_t rounded = ((bytes + 63) / 64) * 64;
    void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
    if (p == nullptr) *error = "out of host memory";
    return p;
  }
  void release(DeviceImpl&, void* ptr) override { std::free(ptr); }
  void* allocateHost(DeviceImpl& d, size_t bytes, std::string* error) override { return allocate(d, bytes, error); }
  void releaseHost(DeviceImpl& d, void* ptr) override { release(d, ptr); }
  void streamCreate(StreamImpl&) override {}
  void streamDestroy(StreamImpl&) override {}
  Status copy(StreamImpl&, void* dst, const void* src, size_t bytes) override {
    std::memmove(dst, src, bytes);
    return Status::Ok();
  }
  Status copyFromHost(StreamImpl&, void* dst, const void* host, size_t bytes) override {
    std::memcpy(dst, host, bytes);
    return Status::Ok();
  }
  Status copyToHost(StreamImpl&, HostData& h, const void* src) override {
    if (h.bytes > 0) {
      h.ptr = std::malloc(h.bytes);
      if (h.ptr == nullptr) return Status::Fail("out of host memory allocating " + std::to_string(h.bytes) + " bytes");
      std::memcpy(h.ptr, src, h.bytes);
    }
    h.issued = true;
    h.ready = true;
    return Status::Ok();
  }
  bool hostReady(HostData& h) override { return h.ready.load(); }
  void hostRelease(HostData& h) override { std::free(h.ptr); }
  Status fill(StreamImpl&, void* dst, size_t count, DType t, double value) override {
    dispatchDType(t, [&](auto tag) {
      using T = decltype(tag);
      T v = fromDouble<T>(value);
      T* out = static_cast<T*>(dst);
      for (size_t i = 0; i < count; i++) out[i] = v;
    });
    return Status::Ok();
  }
  Status reduce(StreamImpl&, void* dst, const std::vector<const void*>& srcs, size_t count, DType t,
                RedOp op, uint32_t divisor) override {
    reduceBytes(dst, srcs, count, t, op, divisor);
    return Status::Ok();
  }
  Status record(StreamImpl&, EventImpl&) override { return Status::Ok(); }
  // Records complete when issued, and the generic wait already waited for the issue.
  Status wait(StreamImpl&, EventImpl&) override { return Status::Ok(); }
  void eventCreate(EventImpl&) override {}
  void eventDestroy(EventImpl&) override {}
  bool eventQuery(EventImpl&, std::string*) override { return true; }
  double elapsedMs(EventImpl& a, EventImpl& b, std::string*) override { return b.cpuTimeMs - a.cpuTimeMs; }
  void* rawEventCreate(DeviceImpl&, bool, std::string* error) override {
    *error = "the CPU backend has no device events";
    return nullptr;
  }
  void rawEventDestroy(void*) override {}
  Status rawEventRecord(StreamImpl&, void*) override { return Status::Ok(); }
  Status rawStreamWait(StreamImpl&, void*) override { return Status::Ok(); }
  bool rawEventQuery(void*, std::string*) override { return true; }
  double rawElapsedMs(void*, void*, std::string* error) override {
    *error = "the CPU backend has no device events";
    return 0;
  }
  bool rawAnchor(DeviceImpl&, void**, double*, double*, std::string* error) override {
    *error = "the CPU backend has no device events";
    return false;
  }

  // Each stream runs its own rank's part of the group.
  void enqueueGroup(std::vector<CollItem> items, KeepAlive keep) override {
    std::map<StreamImpl*, std::vector<CollItem>> perStream;
    std::vector<StreamImpl*> order;
    for (auto& it : items) {
      auto& list = perStream[it.stream];
      if (list.empty()) order.push_back(it.stream);
      list.push_back(it);
    }
    for (StreamImpl* s : order) {
      s->enqueueStep(GroupStep{this, keep, std::move(perStream[s]), GroupProgress()});
    }
  }

  bool stepGroup(const CollItem* items, size_t n, GroupProgress& progress) override {
    StreamImpl& st = *items[0].stream;
    if (progress.phase == 0 && !st.error.empty()) return true;
    if (!stepRankGroup(items, n, progress)) return false;
    applyStatus(st, progress.first, "group");
    return true;
  }
};

StepResult GroupStep::operator()(StreamImpl&) {
  uint64_t from = progress.mark();
  if (backend->stepGroup(part.data(), part.size(), progress)) return StepResult::Done;
  return progress.mark() != from ? StepResult::Advanced : StepResult::Waiting;
}

}  // namespace
}  // namespace fr::cpu

namespace fr {
// Never destroyed: the executor may still run steps while the process exits.
Backend& cpuBackend() {
  static auto* backend = new cpu::CpuBackend();
  return *backend;
}
}  // namespace fr
