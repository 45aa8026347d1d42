// Module registration, per-environment state and shutdown. One Node environment per process drives the
// runtime: its threads (the CPU executor, the CUDA issuer, the watcher) are process-wide.
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "cuda/cuda_api.h"
#include "cpu/gloo_comm.h"
#include "handles.h"
#include "issuer.h"
#include "watcher.h"

// libuv's default loop, exported by Node (the Node-API headers do not include uv.h): the main thread's.
extern "C" uv_loop_s* uv_default_loop(void);

namespace fr {

namespace {
std::atomic<bool> g_loaded{false};
}

AddonData& addonData(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

uint64_t toIndex(const Napi::Value& v, const std::string& name) {
  if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), name + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d != std::floor(d) || d > 9007199254740991.0) {
    throw Napi::RangeError::New(v.Env(), name + " must be a non-negative safe integer, got " + v.ToString().Utf8Value());
  }
  return static_cast<uint64_t>(d);
}

DType toDType(const Napi::Value& v, const std::string& name) {
  DType t;
  if (!v.IsString() || !parseDType(v.As<Napi::String>(), &t)) {
    throw Napi::TypeError::New(v.Env(), name + " must be one of " + namesOf(kDTypes));
  }
  return t;
}

RedOp toRedOp(const Napi::Value& v, const std::string& name) {
  RedOp op;
  if (!v.IsString() || !parseRedOp(v.As<Napi::String>(), &op)) {
    throw Napi::TypeError::New(v.Env(), name + " must be one of " + namesOf(kRedOps));
  }
  return op;
}

std::string deviceLabel(const DeviceImpl& d) { return std::string(backendName(d.kind)) + ":" + std::to_string(d.ordinal); }

void throwClosed(Napi::Env env, const char* what) { throw Napi::TypeError::New(env, std::string(what) + " is closed"); }

namespace {

// info() -> what this build and machine offer: backends, CUDA devices, driver/runtime and NCCL versions, or why not.
Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto out = Napi::Object::New(env);
  cuda::RuntimeInfo rt = cuda::runtimeInfo();
  auto c = Napi::Object::New(env);
  c.Set("built", rt.built);
  c.Set("deviceCount", rt.deviceCount);
  c.Set("driverVersion", rt.driverVersion);
  c.Set("runtimeVersion", rt.runtimeVersion);
  c.Set("error", rt.error.empty() ? env.Null() : Napi::String::New(env, rt.error));
  auto devices = Napi::Array::New(env);
  for (int i = 0; i < rt.deviceCount; i++) {
    std::string name, error;
    uint64_t total = 0;
    auto d = Napi::Object::New(env);
    d.Set("ordinal", i);
    if (cuda::deviceInfo(i, &name, &total, &error)) {
      d.Set("name", name);
      d.Set("totalMemory", static_cast<double>(total));
    } else {
      d.Set("error", error);
    }
    devices.Set(static_cast<uint32_t>(i), d);
  }
  c.Set("devices", devices);
  out.Set("cuda", c);
  cuda::NcclInfo n = cuda::ncclInfo();
  auto nc = Napi::Object::New(env);
  nc.Set("loaded", n.loaded);
  nc.Set("version", n.version);
  nc.Set("library", n.library.empty() ? env.Null() : Napi::String::New(env, n.library));
  nc.Set("error", n.error.empty() ? env.Null() : Napi::String::New(env, n.error));
  out.Set("nccl", nc);
  auto gl = Napi::Object::New(env);
  std::string glooError = cpu::glooAvailable();
  gl.Set("available", Napi::Boolean::New(env, glooError.empty()));
  gl.Set("error", glooError.empty() ? env.Null() : Napi::String::New(env, glooError));
  out.Set("gloo", gl);
  auto backends = Napi::Array::New(env);
  backends.Set(0u, "cpu");
  if (rt.deviceCount > 0 && n.loaded) backends.Set(1u, "cuda");
  out.Set("backends", backends);
  return out;
}

// threadCpuMs() -> the calling thread's CPU time in milliseconds (user and system): the JS thread's own CPU for
// `bench`, which Node's process.cpuUsage() gives only for the whole process.
Napi::Value ThreadCpuMs(const Napi::CallbackInfo& info) {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return Napi::Number::New(info.Env(), static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6);
}

// clockMs() -> the host's monotonic clock in milliseconds (steadyClockMs): the clock of the queue timings' starts.
Napi::Value ClockMs(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), steadyClockMs()); }

// noteExit(code), the process's 'exit' listener (added when the addon loads): records the exit code for the
// shutdown below, and from then on no NCCL call starts (NcclCallScope::exiting). It ends nothing itself: after an
// uncaught error Node prints the error after the 'exit' listeners, and then exit() ends the process (endAtExit).
Napi::Value NoteExit(const Napi::CallbackInfo& info) {
  if (info[0].IsNumber()) g_exitStatus = info[0].As<Napi::Number>().Int32Value();
  g_exiting = true;
  return info.Env().Undefined();
}

// exitNow(code), from process.exit() once CUDA communicators exist, after every 'exit' listener: process.exit()
// skips the environment's cleanup, so the issuer, the watcher and NCCL's own threads would go on running while
// the libraries tear down at exit (a launched collective's proxy thread among them). The process ends at once
// instead, its output flushed and the NCCL profile's report written.
Napi::Value ExitNow(const Napi::CallbackInfo& info) {
  endProcess(info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 1);
}

// Communicators are aborted first so that a Gloo group's thread or the issuer blocked in a collective returns.
// While an NCCL call is in progress (the issuer inside ncclGroupEnd for a peer that never comes, a group still in
// flight), neither aborting its communicator nor the libraries' teardown at exit is safe (both crashed inside
// NCCL), and nothing can be released: the process ends at once with the exit code the 'exit' listener saw.
void Shutdown(void*) {
  g_exiting = true;
  if (g_ncclCallsInFlight.load() > 0) endProcess(g_exitStatus.load());
  g_shuttingDown = true;
  abortAllComms();
  cuda::waitForAborts();
  shutdownStreams();
  issuer::shutdown();
  Watcher::Stop();
  cuda::stopReaper();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // The runtime's threads (executor, issuer, watcher) report to the one environment that loaded the addon, and
  // only the main thread's lives as long as they do: a worker's is torn down under them (terminate() waited out
  // a pending rendezvous, then aborted the process when its result was delivered).
  uv_loop_s* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop != uv_default_loop()) {
    throw Napi::Error::New(env, "fairring-rx: the native addon runs on the main thread only, not in a worker thread");
  }
  if (g_loaded.exchange(true)) {
    throw Napi::Error::New(env, "fairring-rx: the native addon supports one Node.js environment per process");
  }
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);
  auto add = [&](const char* name, Napi::Function ctor) {
    exports.Set(name, ctor);
    return ctor;
  };
  add("Device", Device::Init(env));
  add("Buffer", Buffer::Init(env));
  add("Stream", Stream::Init(env));
  add("Event", Event::Init(env));
  data->hostBuffer = Napi::Persistent(add("HostBuffer", HostBuffer::Init(env)));
  data->comm = Napi::Persistent(add("Comm", Comm::Init(env)));
  add("Queue", Queue::Init(env));
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("uniqueId", Napi::Function::New(env, UniqueId, "uniqueId"));
  exports.Set("initComms", Napi::Function::New(env, InitComms, "initComms"));
  exports.Set("group", Napi::Function::New(env, Group, "group"));
  exports.Set("exitNow", Napi::Function::New(env, ExitNow, "exitNow"));
  exports.Set("threadCpuMs", Napi::Function::New(env, ThreadCpuMs, "threadCpuMs"));
  exports.Set("clockMs", Napi::Function::New(env, ClockMs, "clockMs"));
  Watcher::Start(env);
  auto process = env.Global().Get("process").As<Napi::Object>();
  auto noteExit = Napi::Function::New(env, NoteExit, "noteExit");
  process.Get("on").As<Napi::Function>().Call(process, {Napi::String::New(env, "exit"), noteExit});
  napi_add_env_cleanup_hook(env, Shutdown, nullptr);
  return exports;
}

}  // namespace
}  // namespace fr

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return fr::Init(env, exports); }
NODE_API_MODULE(fairring, InitModule)
