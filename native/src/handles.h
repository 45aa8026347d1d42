// Node-API wrappers of the runtime handles (one .cc per handle) and the argument checks they share. Every
// check runs on the JS thread before anything is enqueued: wrong types throw TypeError, bad sizes RangeError.
#pragma once

#include <napi.h>

#include <memory>
#include <string>

#include "executor.h"
#include "queue.h"
#include "runtime.h"

namespace fr {

// The constructors the addon calls itself (Comm::Wrap, HostBuffer::Wrap): kept alive for the environment.
struct AddonData {
  Napi::FunctionReference hostBuffer, comm;
};
AddonData& addonData(Napi::Env env);

uint64_t toIndex(const Napi::Value& v, const std::string& name);
DType toDType(const Napi::Value& v, const std::string& name);
RedOp toRedOp(const Napi::Value& v, const std::string& name);
std::string deviceLabel(const DeviceImpl& d);
[[noreturn]] void throwClosed(Napi::Env env, const char* what);

// Each handle class's type tag, set by its constructor on the object it wraps (tagHandle). An argument is unwrapped
// as a handle only with its class's tag: the prototype chain is JavaScript's to change, and a Device constructed
// with Buffer's prototype (Reflect.construct) or a Proxy of a handle passes instanceof while wrapping another
// C++ object, or none.
template <class W>
struct HandleTag;

template <class W>
void tagHandle(const Napi::CallbackInfo& info) {
  info.This().As<Napi::Object>().TypeTag(&HandleTag<W>::value);
}

// A getter on the class's prototype that checks its receiver's tag before unwrapping it. V8 refuses a method
// called on another class's object ("Illegal invocation"), but calls a getter (Buffer's `closed` on a Device,
// say) with whatever object it is given, and node-addon-api's InstanceAccessor unwraps that as this class first.
template <class W, Napi::Value (W::*Get)(const Napi::CallbackInfo&)>
Napi::Value checkedGetter(const Napi::CallbackInfo& info) {
  if (!info.This().IsObject() || !info.This().As<Napi::Object>().CheckTypeTag(&HandleTag<W>::value)) {
    throw Napi::TypeError::New(info.Env(), "Illegal invocation");
  }
  return (W::Unwrap(info.This().As<Napi::Object>())->*Get)(info);
}

template <class W, Napi::Value (W::*Get)(const Napi::CallbackInfo&)>
void defineGetter(const Napi::Function& ctor, const char* name) {
  ctor.Get("prototype").As<Napi::Object>().DefineProperty(Napi::PropertyDescriptor::Accessor<checkedGetter<W, Get>>(name));
}

template <class W>
W* unwrapArg(const Napi::Value& v, const std::string& name, const char* type) {
  if (!v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&HandleTag<W>::value)) {
    throw Napi::TypeError::New(v.Env(), name + " must be a " + type);
  }
  return W::Unwrap(v.As<Napi::Object>());
}

class Device : public Napi::ObjectWrap<Device> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Device(const Napi::CallbackInfo& info);
  std::shared_ptr<DeviceImpl> impl;
  static Device* From(const Napi::Value& v, const std::string& name);
};

class Buffer : public Napi::ObjectWrap<Buffer> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Buffer(const Napi::CallbackInfo& info);
  static Buffer* From(const Napi::Value& v, const std::string& name);
  // The live allocation; throws when closed.
  std::shared_ptr<Memory> memory(Napi::Env env);
  // Checks that [offset, offset + bytes) lies inside and that the buffer lives on `device`.
  std::shared_ptr<Memory> view(Napi::Env env, const DeviceImpl& device, uint64_t offset, uint64_t bytes,
                               const std::string& name);

 private:
  Napi::Value Closed(const Napi::CallbackInfo& info);
  Napi::Value HostView(const Napi::CallbackInfo& info);
  std::shared_ptr<Memory> mem_;
  Napi::Value Close(const Napi::CallbackInfo& info);
};

class Event : public Napi::ObjectWrap<Event> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Event(const Napi::CallbackInfo& info);
  static Event* From(const Napi::Value& v, const std::string& name);
  std::shared_ptr<EventImpl> live(Napi::Env env);

 private:
  Napi::Value Closed(const Napi::CallbackInfo& info);
  std::shared_ptr<EventImpl> impl_;
  Napi::Value Completion(const Napi::CallbackInfo& info);
  Napi::Value IsComplete(const Napi::CallbackInfo& info);
  Napi::Value ElapsedMs(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
};

class HostBuffer : public Napi::ObjectWrap<HostBuffer> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit HostBuffer(const Napi::CallbackInfo& info);
  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<HostData> data);

 private:
  Napi::Value Ready(const Napi::CallbackInfo& info);
  std::shared_ptr<HostData> data_;
  Napi::Value Read(const Napi::CallbackInfo& info);
};

class Stream : public Napi::ObjectWrap<Stream> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Stream(const Napi::CallbackInfo& info);
  ~Stream() override;
  static Stream* From(const Napi::Value& v, const std::string& name);
  std::shared_ptr<StreamImpl> live(Napi::Env env);

 private:
  Napi::Value Closed(const Napi::CallbackInfo& info);
  std::shared_ptr<StreamImpl> impl_;
  Napi::Value Copy(const Napi::CallbackInfo& info);
  Napi::Value CopyFromHost(const Napi::CallbackInfo& info);
  Napi::Value CopyToHost(const Napi::CallbackInfo& info);
  Napi::Value Fill(const Napi::CallbackInfo& info);
  Napi::Value Reduce(const Napi::CallbackInfo& info);
  Napi::Value Record(const Napi::CallbackInfo& info);
  Napi::Value Wait(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
};

class Comm : public Napi::ObjectWrap<Comm> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Comm(const Napi::CallbackInfo& info);
  static Comm* From(const Napi::Value& v, const std::string& name);
  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<CommImpl> impl);
  std::shared_ptr<CommImpl> live(Napi::Env env);

 private:
  Napi::Value Closed(const Napi::CallbackInfo& info);
  Napi::Value Aborting(const Napi::CallbackInfo& info);
  std::shared_ptr<CommImpl> impl_;
  Napi::Value Abort(const Napi::CallbackInfo& info);
  Napi::Value AsyncError(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
};

// A world's hot path: registered handles under small integers and packed programs (queue.cc).
class Queue : public Napi::ObjectWrap<Queue> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Queue(const Napi::CallbackInfo& info);
  ~Queue() override;

 private:
  struct Parsed;
  Napi::Value Closed(const Napi::CallbackInfo& info);
  Napi::Value AddStream(const Napi::CallbackInfo& info);
  Napi::Value AddComm(const Napi::CallbackInfo& info);
  Napi::Value AddBuffer(const Napi::CallbackInfo& info);
  Napi::Value RemoveBuffer(const Napi::CallbackInfo& info);
  Napi::Value Records(const Napi::CallbackInfo& info);
  Napi::Value Want(const Napi::CallbackInfo& info);
  Napi::Value Submit(const Napi::CallbackInfo& info);
  Napi::Value Replay(const Napi::CallbackInfo& info);
  Napi::Value Plan(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  void checkOpen(Napi::Env env) const;
  void checkBackend(Napi::Env env, const DeviceImpl& d, const char* what) const;
  void check(const Napi::CallbackInfo& info, bool replay, Parsed& parsed);
  // Checks and issues ops; a replay returns the steady clock (ms) at the hand-over, after the check.
  double run(const Napi::CallbackInfo& info, uint64_t iterations, bool replay);
  void parse(Napi::Env env, const double* f, size_t length, bool replay, Parsed& out);
  void issue(const Parsed& parsed, uint64_t iterations);
  void closeNow();
  static void envGone(void* core);

  std::shared_ptr<QueueCore> core_;
  std::shared_ptr<Generation> gen_;
  std::vector<std::shared_ptr<Memory>> buffers_;
  std::vector<uint32_t> freeBuffers_;
  // Scratch, reused by every submit so that the hot path allocates only what it hands on.
  std::unique_ptr<Parsed> parsed_;   // the program being checked
  std::vector<uint64_t> recs_;       // records per stream as the program being checked goes
  std::vector<int32_t> partOf_;      // CPU: the part of each stream, -1 for none
  std::vector<uint32_t> partStreams_;  // CPU: the stream of each part
  std::vector<uint32_t> groupStreams_;  // CPU: the streams of a group's items
  std::vector<std::pair<uint32_t, CpuProgram::Entry>> tagged_;  // CPU: entries with their part, in program order
  std::vector<executor::Posting> steps_;  // CPU: one per part
};

// Module functions implemented in comm.cc.
Napi::Value UniqueId(const Napi::CallbackInfo& info);
Napi::Value InitComms(const Napi::CallbackInfo& info);
Napi::Value Group(const Napi::CallbackInfo& info);
// Aborts every communicator still open (environment shutdown).
void abortAllComms();

// Type tags of the handles (HandleTag above), one per class.
template <> struct HandleTag<Device> { static constexpr napi_type_tag value{0x6661697272696e67, 0x01}; };
template <> struct HandleTag<Buffer> { static constexpr napi_type_tag value{0x6661697272696e67, 0x02}; };
template <> struct HandleTag<Event> { static constexpr napi_type_tag value{0x6661697272696e67, 0x03}; };
template <> struct HandleTag<Stream> { static constexpr napi_type_tag value{0x6661697272696e67, 0x04}; };
template <> struct HandleTag<Comm> { static constexpr napi_type_tag value{0x6661697272696e67, 0x05}; };
template <> struct HandleTag<Queue> { static constexpr napi_type_tag value{0x6661697272696e67, 0x06}; };
template <> struct HandleTag<HostBuffer> { static constexpr napi_type_tag value{0x6661697272696e67, 0x07}; };

}  // namespace fr
