// The CPU backend: device memory is host memory, every operation runs on the stream's worker thread.
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

class CpuBackend final : public Backend {
 public:
  void* allocate(DeviceImpl&, size_t bytes, std::string* error) override {
    size_t rounded = ((bytes + 63) / 64) * 64;
    void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
    if (p == nullptr) *error = "out of host memory allocating " + std::to_string(bytes) + " bytes";
    return p;
  }
  void release(DeviceImpl&, void* ptr) override { std::free(ptr); }
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
  Status copyToHost(StreamImpl&, void* host, const void* src, size_t bytes) override {
    std::memcpy(host, src, bytes);
    return Status::Ok();
  }
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

  void enqueueGroup(std::vector<CollItem> items) override {
    std::map<StreamImpl*, std::vector<CollItem>> perStream;
    std::vector<std::shared_ptr<StreamImpl>> order;
    for (auto& it : items) {
      auto& list = perStream[it.stream.get()];
      if (list.empty()) order.push_back(it.stream);
      list.push_back(std::move(it));
    }
    for (auto& s : order) {
      s->enqueue([part = std::move(perStream[s.get()])](StreamImpl& st) {
        if (!st.error.empty()) return;
        applyStatus(st, runRankGroup(part), "group");
      });
    }
  }
};

}  // namespace
}  // namespace fr::cpu

namespace fr {
Backend& cpuBackend() {
  static cpu::CpuBackend backend;
  return backend;
}
}  // namespace fr
