#include "handles.h"

namespace fr {

Napi::Function Buffer::Init(Napi::Env env) {
  return DefineClass(env, "Buffer",
                     {
                         InstanceMethod<&Buffer::Close>("close"),
                         InstanceAccessor<&Buffer::Closed>("closed"),
                     });
}

Buffer* Buffer::From(const Napi::Value& v, const std::string& name) {
  return unwrapArg<Buffer>(v, addonData(v.Env()).buffer, name, "Buffer");
}

// new Buffer(device, bytes): uninitialised device memory.
Buffer::Buffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Buffer>(info) {
  Napi::Env env = info.Env();
  Device* device = Device::From(info[0], "device");
  uint64_t bytes = toIndex(info[1], "bytes");
  std::string error;
  void* ptr = backendFor(device->impl->kind).allocate(*device->impl, bytes, &error);
  if (ptr == nullptr) throw Napi::Error::New(env, "allocating " + std::to_string(bytes) + " bytes on " + deviceLabel(*device->impl) + ": " + error);
  mem_ = std::make_shared<Memory>();
  mem_->device = device->impl;
  mem_->ptr = ptr;
  mem_->bytes = bytes;
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


Napi::Value Buffer::Closed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), mem_ == nullptr); }

}  // namespace fr
