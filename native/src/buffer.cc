#include "handles.h"

namespace fr {

Napi::Function Buffer::Init(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "Buffer",
                                    {
                                        InstanceMethod<&Buffer::Close>("close"),
                                        InstanceMethod<&Buffer::HostView>("hostView"),
                                    });
  defineGetter<Buffer, &Buffer::Closed>(ctor, "closed");
  return ctor;
}

Buffer* Buffer::From(const Napi::Value& v, const std::string& name) {
  return unwrapArg<Buffer>(v, name, "Buffer");
}

// new Buffer(device, bytes, host = false): uninitialised device memory; with host, host memory the device's
// streams copy into and out of (pinned on CUDA), which hostView() shows to JS.
Buffer::Buffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Buffer>(info) {
  tagHandle<Buffer>(info);
  Napi::Env env = info.Env();
  Device* device = Device::From(info[0], "device");
  uint64_t bytes = toIndex(info[1], "bytes");
  if (!info[2].IsUndefined() && !info[2].IsBoolean()) throw Napi::TypeError::New(env, "host must be a boolean");
  bool host = info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value();
  std::string error;
  Backend& backend = backendFor(device->impl->kind);
  void* ptr = host ? backend.allocateHost(*device->impl, bytes, &error) : backend.allocate(*device->impl, bytes, &error);
  if (ptr == nullptr) throw Napi::Error::New(env, "allocating " + std::to_string(bytes) + " bytes on " + deviceLabel(*device->impl) + ": " + error);
  mem_ = std::make_shared<Memory>();
  mem_->device = device->impl;
  mem_->ptr = ptr;
  mem_->bytes = bytes;
  mem_->host = host;
  info.This().As<Napi::Object>().DefineProperty(
      Napi::PropertyDescriptor::Value("bytes", Napi::Number::New(env, static_cast<double>(bytes)), napi_enumerable));
}

std::shared_ptr<Memory> Buffer::memory(Napi::Env env) {
  if (!mem_) throwClosed(env, "Buffer");
  return mem_;
}

std::shared_ptr<Memory> Buffer::view(Napi::Env env, const DeviceImpl& device, uint64_t offset, uint64_t bytes,
                                     const std::string& name) {
  auto mem = memory(env);
  if (mem->device->kind != device.kind || mem->device->ordinal != device.ordinal) {
    throw Napi::TypeError::New(env, name + " lives on " + deviceLabel(*mem->device) + ", not on " + deviceLabel(device));
  }
  if (offset > mem->bytes || bytes > mem->bytes - offset) {
    throw Napi::RangeError::New(env, name + ": bytes [" + std::to_string(offset) + ", " + std::to_string(offset + bytes) +
                                         ") out of range of a " + std::to_string(mem->bytes) + "-byte buffer");
  }
  return mem;
}

Napi::Value Buffer::Close(const Napi::CallbackInfo& info) {
  mem_.reset();
  return info.Env().Undefined();
}


// hostView() -> ArrayBuffer over a host buffer's memory, no copy; the memory lives as long as the view does.
// Reading it is meaningful once the copies into it have completed.
Napi::Value Buffer::HostView(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto mem = memory(env);
  if (!mem->host) throw Napi::TypeError::New(env, "hostView() needs a host buffer (new Buffer(device, bytes, true))");
  auto* keep = new std::shared_ptr<Memory>(mem);
  return Napi::ArrayBuffer::New(env, mem->ptr, mem->bytes, [](Napi::Env, void*, std::shared_ptr<Memory>* k) { delete k; }, keep);
}

Napi::Value Buffer::Closed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), mem_ == nullptr); }

}  // namespace fr
