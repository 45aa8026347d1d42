#include "handles.h"
#include "watcher.h"

namespace fr {

Napi::Function Event::Init(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "Event",
                                    {
                                        InstanceMethod<&Event::Completion>("completion"),
                                        InstanceMethod<&Event::IsComplete>("isComplete"),
                                        InstanceMethod<&Event::ElapsedMs>("elapsedMs"),
                                        InstanceMethod<&Event::Close>("close"),
                                    });
  defineGetter<Event, &Event::Closed>(ctor, "closed");
  return ctor;
}

Event* Event::From(const Napi::Value& v, const std::string& name) {
  return unwrapArg<Event>(v, name, "Event");
}

// new Event(device, timing = false)
Event::Event(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Event>(info) {
  tagHandle<Event>(info);
  Device* device = Device::From(info[0], "device");
  if (!info[1].IsUndefined() && !info[1].IsBoolean()) throw Napi::TypeError::New(info.Env(), "timing must be a boolean");
  impl_ = std::make_shared<EventImpl>();
  impl_->device = device->impl;
  impl_->timing = info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
  backendFor(device->impl->kind).eventCreate(*impl_);
}

std::shared_ptr<EventImpl> Event::live(Napi::Env env) {
  if (!impl_) throwClosed(env, "Event");
  return impl_;
}

// Resolves when the latest record enqueued so far completes (at once if never recorded).
Napi::Value Event::Completion(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto e = live(env);
  uint64_t target;
  {
    std::lock_guard<std::mutex> lock(e->m);
    target = e->enqueued;
  }
  auto deferred = Napi::Promise::Deferred::New(env);
  std::string error;
  if (target == 0 || eventDone(*e, target, &error)) {
    if (error.empty()) {
      deferred.Resolve(env.Undefined());
    } else {
      deferred.Reject(Napi::Error::New(env, error).Value());
    }
  } else {
    Watcher::Watch(env, e, target, deferred);
  }
  return deferred.Promise();
}

Napi::Value Event::IsComplete(const Napi::CallbackInfo& info) {
  auto e = live(info.Env());
  uint64_t target;
  {
    std::lock_guard<std::mutex> lock(e->m);
    target = e->enqueued;
  }
  std::string error;
  return Napi::Boolean::New(info.Env(), target == 0 || eventDone(*e, target, &error));
}

// Milliseconds from this event's latest record to end's; both must be complete and created with timing.
Napi::Value Event::ElapsedMs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto a = live(env);
  auto b = Event::From(info[0], "end")->live(env);
  if (!a->timing || !b->timing) throw Napi::TypeError::New(env, "elapsedMs needs two events created with timing");
  if (a->device->kind != b->device->kind || a->device->ordinal != b->device->ordinal) {
    throw Napi::TypeError::New(env, "elapsedMs needs two events of one device");
  }
  for (auto* e : {a.get(), b.get()}) {
    std::lock_guard<std::mutex> lock(e->m);
    if (e->enqueued == 0 || e->completed < e->enqueued) {
      throw Napi::Error::New(env, "elapsedMs needs both events recorded and complete");
    }
    if (!e->error.empty()) throw Napi::Error::New(env, "elapsedMs of a failed event: " + e->error);
  }
  std::string error;
  double ms = backendFor(a->device->kind).elapsedMs(*a, *b, &error);
  if (!error.empty()) throw Napi::Error::New(env, "elapsedMs: " + error);
  return Napi::Number::New(env, ms);
}

Napi::Value Event::Close(const Napi::CallbackInfo& info) {
  impl_.reset();
  return info.Env().Undefined();
}


Napi::Value Event::Closed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), impl_ == nullptr); }

}  // namespace fr
