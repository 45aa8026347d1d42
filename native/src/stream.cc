#include <cmath>
#include <cstring>

#include "handles.h"

namespace fr {

Napi::Function Stream::Init(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "Stream",
                                    {
                                        InstanceMethod<&Stream::Copy>("copy"),
                                        InstanceMethod<&Stream::CopyFromHost>("copyFromHost"),
                                        InstanceMethod<&Stream::CopyToHost>("copyToHost"),
                                        InstanceMethod<&Stream::Fill>("fill"),
                                        InstanceMethod<&Stream::Reduce>("reduce"),
                                        InstanceMethod<&Stream::Record>("record"),
                                        InstanceMethod<&Stream::Wait>("wait"),
                                        InstanceMethod<&Stream::Close>("close"),
                                    });
  defineGetter<Stream, &Stream::Closed>(ctor, "closed");
  return ctor;
}

Stream* Stream::From(const Napi::Value& v, const std::string& name) {
  return unwrapArg<Stream>(v, name, "Stream");
}

// new Stream(device)
Stream::Stream(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Stream>(info) {
  tagHandle<Stream>(info);
  Device* device = Device::From(info[0], "device");
  impl_ = std::make_shared<StreamImpl>();
  impl_->device = device->impl;
  impl_->start();
}

Stream::~Stream() {
  if (impl_) impl_->close();
}

std::shared_ptr<StreamImpl> Stream::live(Napi::Env env) {
  if (!impl_) throwClosed(env, "Stream");
  return impl_;
}

namespace {
void checkAligned(Napi::Env env, uint64_t offset, DType t, const std::string& name) {
  if (offset % dtypeSize(t) != 0) {
    throw Napi::RangeError::New(env, name + " offset " + std::to_string(offset) + " is not a multiple of the element size " +
                                         std::to_string(dtypeSize(t)));
  }
}
}  // namespace

// copy(dst, dstOffset, src, srcOffset, bytes): device to device on this stream's device.
Napi::Value Stream::Copy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto s = live(env);
  Buffer* dst = Buffer::From(info[0], "dst");
  uint64_t dstOffset = toIndex(info[1], "dstOffset");
  Buffer* src = Buffer::From(info[2], "src");
  uint64_t srcOffset = toIndex(info[3], "srcOffset");
  uint64_t bytes = toIndex(info[4], "bytes");
  auto d = dst->view(env, *s->device, dstOffset, bytes, "dst");
  auto r = src->view(env, *s->device, srcOffset, bytes, "src");
  s->enqueue([d, dstOffset, r, srcOffset, bytes](StreamImpl& st) {
    if (!st.error.empty() || bytes == 0) return;
    applyStatus(st,
                backendFor(st.device->kind)
                    .copy(st, static_cast<char*>(d->ptr) + dstOffset, static_cast<char*>(r->ptr) + srcOffset, bytes),
                "copy");
  });
  return env.Undefined();
}

// copyFromHost(dst, dstOffset, src: ArrayBufferView): the host bytes are taken now, so src may change at once.
Napi::Value Stream::CopyFromHost(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto s = live(env);
  Buffer* dst = Buffer::From(info[0], "dst");
  uint64_t dstOffset = toIndex(info[1], "dstOffset");
  if (!info[2].IsTypedArray() && !info[2].IsDataView()) throw Napi::TypeError::New(env, "src must be a TypedArray or DataView");
  // The view's own data pointer (already at its offset): its buffer may be a SharedArrayBuffer, which
  // Napi::ArrayBuffer refuses.
  void* raw = nullptr;
  size_t bytes = 0;
  napi_status status;
  if (info[2].IsTypedArray()) {
    status = napi_get_typedarray_info(env, info[2], nullptr, nullptr, &raw, nullptr, nullptr);
    bytes = info[2].As<Napi::TypedArray>().ByteLength();
  } else {
    status = napi_get_dataview_info(env, info[2], &bytes, &raw, nullptr, nullptr);
  }
  if (status != napi_ok) throw Napi::TypeError::New(env, "src: its memory cannot be read");
  const char* data = static_cast<const char*>(raw);
  auto d = dst->view(env, *s->device, dstOffset, bytes, "dst");
  auto host = std::make_shared<std::vector<char>>(data, data + bytes);
  s->enqueue([d, dstOffset, host](StreamImpl& st) {
    if (!st.error.empty() || host->empty()) return;
    applyStatus(st,
                backendFor(st.device->kind)
                    .copyFromHost(st, static_cast<char*>(d->ptr) + dstOffset, host->data(), host->size()),
                "copyFromHost");
  });
  return env.Undefined();
}

// copyToHost(src, srcOffset, bytes) -> HostBuffer, readable once a later record on this stream completes.
Napi::Value Stream::CopyToHost(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto s = live(env);
  Buffer* src = Buffer::From(info[0], "src");
  uint64_t srcOffset = toIndex(info[1], "srcOffset");
  uint64_t bytes = toIndex(info[2], "bytes");
  auto r = src->view(env, *s->device, srcOffset, bytes, "src");
  auto host = std::make_shared<HostData>();
  host->device = s->device;
  host->bytes = bytes;
  s->enqueue([r, srcOffset, host](StreamImpl& st) {
    if (!st.error.empty()) return;
    applyStatus(st, backendFor(st.device->kind).copyToHost(st, *host, static_cast<char*>(r->ptr) + srcOffset),
                "copyToHost");
  });
  return HostBuffer::Wrap(env, host);
}

namespace {

// An integer dtype takes a value only where converting it is defined: an integer (or one with a fraction, cut
// toward zero) within the dtype's range. Floating-point dtypes take any number (rounded, or infinite). The
// message shows the value as JS wrote it, as toIndex's do.
void checkFillValue(const Napi::Value& v, DType t, double value) {
  double lo = 0, hi = 0;  // the range [lo, hi): hi is the first value past it, exact in a double
  switch (t) {
    case DType::Int8: lo = -128.0, hi = 128.0; break;
    case DType::UInt8: lo = 0.0, hi = 256.0; break;
    case DType::Int32: lo = -2147483648.0, hi = 2147483648.0; break;
    case DType::Int64: lo = -9223372036854775808.0, hi = 9223372036854775808.0; break;
    default: return;
  }
  double cut = std::trunc(value);
  if (!(cut >= lo && cut < hi)) {
    throw Napi::RangeError::New(v.Env(), "value " + v.ToString().Utf8Value() + " does not fit " + dtypeName(t));
  }
}

}  // namespace

// fill(dst, offset, count, dtype, value)
Napi::Value Stream::Fill(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto s = live(env);
  Buffer* dst = Buffer::From(info[0], "dst");
  uint64_t offset = toIndex(info[1], "offset");
  uint64_t count = toIndex(info[2], "count");
  DType t = toDType(info[3], "dtype");
  if (!info[4].IsNumber()) throw Napi::TypeError::New(env, "value must be a number");
  double value = info[4].As<Napi::Number>().DoubleValue();
  checkFillValue(info[4], t, value);
  checkAligned(env, offset, t, "dst");
  auto d = dst->view(env, *s->device, offset, count * dtypeSize(t), "dst");
  s->enqueue([d, offset, count, t, value](StreamImpl& st) {
    if (!st.error.empty() || count == 0) return;
    applyStatus(st, backendFor(st.device->kind).fill(st, static_cast<char*>(d->ptr) + offset, count, t, value), "fill");
  });
  return env.Undefined();
}

// reduce(dst, dstOffset, inputs: Buffer[], inputOffsets: number[], count, dtype, op, divisor = inputs.length):
// dst = op over inputs; avg divides the sum by divisor.
Napi::Value Stream::Reduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto s = live(env);
  Buffer* dst = Buffer::From(info[0], "dst");
  uint64_t dstOffset = toIndex(info[1], "dstOffset");
  if (!info[2].IsArray() || !info[3].IsArray()) throw Napi::TypeError::New(env, "inputs and inputOffsets must be arrays");
  auto inputs = info[2].As<Napi::Array>();
  auto offsets = info[3].As<Napi::Array>();
  if (inputs.Length() == 0) throw Napi::RangeError::New(env, "reduce needs at least one input");
  if (inputs.Length() != offsets.Length()) {
    throw Napi::RangeError::New(env, "inputs and inputOffsets differ in length");
  }
  uint64_t count = toIndex(info[4], "count");
  DType t = toDType(info[5], "dtype");
  RedOp op = toRedOp(info[6], "op");
  uint64_t divisor = info[7].IsUndefined() ? inputs.Length() : toIndex(info[7], "divisor");
  if (divisor == 0 || divisor > 0xffffffffu) throw Napi::RangeError::New(env, "divisor must be between 1 and 2^32-1");
  uint64_t bytes = count * dtypeSize(t);
  checkAligned(env, dstOffset, t, "dst");
  auto d = dst->view(env, *s->device, dstOffset, bytes, "dst");
  std::vector<std::pair<std::shared_ptr<Memory>, uint64_t>> srcs;
  for (uint32_t i = 0; i < inputs.Length(); i++) {
    std::string name = "inputs[" + std::to_string(i) + "]";
    Buffer* b = Buffer::From(inputs.Get(i), name);
    uint64_t off = toIndex(offsets.Get(i), "inputOffsets[" + std::to_string(i) + "]");
    checkAligned(env, off, t, name);
    srcs.emplace_back(b->view(env, *s->device, off, bytes, name), off);
  }
  s->enqueue([d, dstOffset, srcs = std::move(srcs), count, t, op, divisor](StreamImpl& st) {
    if (!st.error.empty() || count == 0) return;
    std::vector<const void*> ptrs;
    ptrs.reserve(srcs.size());
    for (const auto& [mem, off] : srcs) ptrs.push_back(static_cast<const char*>(mem->ptr) + off);
    applyStatus(st,
                backendFor(st.device->kind)
                    .reduce(st, static_cast<char*>(d->ptr) + dstOffset, ptrs, count, t, op, static_cast<uint32_t>(divisor)),
                "reduce");
  });
  return env.Undefined();
}

Napi::Value Stream::Record(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto s = live(env);
  auto e = Event::From(info[0], "event")->live(env);
  if (e->device->kind != s->device->kind || e->device->ordinal != s->device->ordinal) {
    throw Napi::TypeError::New(env, "event of " + deviceLabel(*e->device) + " recorded on a stream of " + deviceLabel(*s->device));
  }
  enqueueRecord(s, e);
  return env.Undefined();
}

// wait(event): later work on this stream starts after the event's latest record, without blocking the host.
Napi::Value Stream::Wait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto s = live(env);
  auto e = Event::From(info[0], "event")->live(env);
  if (e->device->kind != s->device->kind) {
    throw Napi::TypeError::New(env, "a " + std::string(backendName(s->device->kind)) + " stream cannot wait on a " +
                                        backendName(e->device->kind) + " event");
  }
  enqueueWait(s, e);
  return env.Undefined();
}

// Queued work still runs.
Napi::Value Stream::Close(const Napi::CallbackInfo& info) {
  if (impl_) {
    impl_->close();
    impl_.reset();
  }
  return info.Env().Undefined();
}

Napi::Function HostBuffer::Init(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "HostBuffer",
                                    {
                                        InstanceMethod<&HostBuffer::Read>("read"),
                                    });
  defineGetter<HostBuffer, &HostBuffer::Ready>(ctor, "ready");
  return ctor;
}

HostBuffer::HostBuffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<HostBuffer>(info) {
  tagHandle<HostBuffer>(info);
  if (!info[0].IsExternal()) throw Napi::TypeError::New(info.Env(), "HostBuffer is created by Stream.copyToHost");
  data_ = *info[0].As<Napi::External<std::shared_ptr<HostData>>>().Data();
}

Napi::Object HostBuffer::Wrap(Napi::Env env, std::shared_ptr<HostData> data) {
  std::shared_ptr<HostData> holder = std::move(data);
  return addonData(env).hostBuffer.New({Napi::External<std::shared_ptr<HostData>>::New(env, &holder)});
}

// A copy of the bytes as a new ArrayBuffer; throws until the copy has completed.
Napi::Value HostBuffer::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!backendFor(data_->device->kind).hostReady(*data_)) {
    throw Napi::Error::New(env, "HostBuffer read before its copy completed");
  }
  auto ab = Napi::ArrayBuffer::New(env, data_->bytes);
  if (data_->bytes > 0) std::memcpy(ab.Data(), data_->ptr, data_->bytes);
  return ab;
}


Napi::Value Stream::Closed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), impl_ == nullptr); }


Napi::Value HostBuffer::Ready(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), backendFor(data_->device->kind).hostReady(*data_));
}

}  // namespace fr
