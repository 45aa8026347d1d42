#include <unistd.h>

#include <limits>

#include "cuda/cuda_api.h"
#include "handles.h"

namespace fr {

Napi::Function Device::Init(Napi::Env env) {
  return DefineClass(env, "Device", {});
}

Device* Device::From(const Napi::Value& v, const std::string& name) {
  return unwrapArg<Device>(v, name, "Device");
}

// new Device(backend: 'cpu' | 'cuda', ordinal)
Device::Device(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Device>(info) {
  tagHandle<Device>(info);
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "backend must be 'cpu' or 'cuda'");
  std::string backend = info[0].As<Napi::String>();
  uint64_t ordinal = toIndex(info[1], "ordinal");
  if (ordinal > static_cast<uint64_t>(std::numeric_limits<int>::max())) {
    throw Napi::RangeError::New(env, "ordinal must be at most " + std::to_string(std::numeric_limits<int>::max()) + ", got " +
                                         std::to_string(ordinal));
  }
  impl = std::make_shared<DeviceImpl>();
  impl->ordinal = static_cast<int>(ordinal);
  if (backend == "cpu") {
    impl->kind = BackendKind::Cpu;
    impl->name = "cpu:" + std::to_string(ordinal);
    impl->totalMemory = static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  } else if (backend == "cuda") {
    cuda::RuntimeInfo rt = cuda::runtimeInfo();
    if (rt.deviceCount == 0) throw Napi::Error::New(env, "CUDA backend unavailable: " + rt.error);
    if (ordinal >= static_cast<uint64_t>(rt.deviceCount)) {
      throw Napi::RangeError::New(env, "CUDA device " + std::to_string(ordinal) + " does not exist: " +
                                           std::to_string(rt.deviceCount) + " device(s) present");
    }
    impl->kind = BackendKind::Cuda;
    std::string error;
    if (!cuda::deviceInfo(impl->ordinal, &impl->name, &impl->totalMemory, &error)) {
      throw Napi::Error::New(env, "CUDA device " + std::to_string(ordinal) + ": " + error);
    }
    // The CUDA runtime is initialised now: the process's exit must not run its teardown under the addon's
    // threads.
    endAtExit(ExitPoint::CudaRuntime);
  } else {
    throw Napi::TypeError::New(env, "backend must be 'cpu' or 'cuda', got '" + backend + "'");
  }
  Napi::Object self = info.This().As<Napi::Object>();
  self.DefineProperties({
      Napi::PropertyDescriptor::Value("backend", Napi::String::New(env, backend), napi_enumerable),
      Napi::PropertyDescriptor::Value("ordinal", Napi::Number::New(env, impl->ordinal), napi_enumerable),
      Napi::PropertyDescriptor::Value("name", Napi::String::New(env, impl->name), napi_enumerable),
      Napi::PropertyDescriptor::Value("totalMemory", Napi::Number::New(env, static_cast<double>(impl->totalMemory)),
                                      napi_enumerable),
  });
}

}  // namespace fr
