#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <set>

#include "cpu/cpu_comm.h"
#include "cpu/gloo_comm.h"
#include "cuda/cuda_api.h"
#include "cuda/nccl_group.h"
#include "handles.h"

namespace fr {

namespace {

std::mutex g_commsMutex;
std::vector<std::weak_ptr<CommImpl>> g_comms;

void registerComm(const std::shared_ptr<CommImpl>& c) {
  std::lock_guard<std::mutex> lock(g_commsMutex);
  g_comms.erase(std::remove_if(g_comms.begin(), g_comms.end(), [](const auto& w) { return w.expired(); }),
                g_comms.end());
  g_comms.push_back(c);
}

BackendKind toBackend(const Napi::Value& v) {
  if (v.IsString()) {
    std::string s = v.As<Napi::String>();
    if (s == "cpu") return BackendKind::Cpu;
    if (s == "cuda") return BackendKind::Cuda;
  }
  throw Napi::TypeError::New(v.Env(), "backend must be 'cpu' or 'cuda'");
}

// One request of a Gloo rendezvous to the JS store, made from the worker thread and answered on the JS thread.
struct StoreRequest {
  bool isSet = false;
  std::string key;
  std::string value;
  int64_t timeoutMs = 0;
  std::mutex m;
  std::condition_variable cv;
  bool answered = false;
  std::string error;
};

// The JS store, `store(op, key, value, timeoutMs, done)`, as the C callbacks the Gloo plugin calls (plugin_api.h).
// Every request of one initComms ends by the init's own deadline (its timeoutMs from when its worker starts,
// as Gloo's own, plus a second for the store's answer to come back), whatever the store does: a set gets what is
// left of it, a get the smaller of that and what the plugin asks; past the deadline a request fails at once.
class StoreBridge {
 public:
  StoreBridge(Napi::Env env, Napi::Function store, int64_t timeoutMs)
      : tsfn_(Napi::ThreadSafeFunction::New(env, store, "fairring-rx:store", 0, 1)), timeoutMs_(timeoutMs) {}
  // On the worker thread, as the init starts.
  void start() { deadline_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs_); }
  void release() { tsfn_.Release(); }
  FrgStore callbacks() { return FrgStore{this, &StoreBridge::Set, &StoreBridge::Get}; }

 private:
  static int Set(void* user, const char* key, const char* data, size_t bytes, char* err, size_t errlen) {
    auto r = std::make_shared<StoreRequest>();
    r->isSet = true;
    r->key = key;
    r->value.assign(data, bytes);
    auto* bridge = static_cast<StoreBridge*>(user);
    r->timeoutMs = bridge->leftMs();
    return bridge->call(r, err, errlen);
  }
  static int Get(void* user, const char* key, int64_t timeoutMs, char** data, size_t* bytes, char* err, size_t errlen) {
    auto r = std::make_shared<StoreRequest>();
    r->key = key;
    auto* bridge = static_cast<StoreBridge*>(user);
    r->timeoutMs = std::min(timeoutMs, bridge->leftMs());
    int rc = bridge->call(r, err, errlen);
    if (rc != 0) return rc;
    *bytes = r->value.size();
    *data = static_cast<char*>(std::malloc(std::max<size_t>(1, r->value.size())));
    std::memcpy(*data, r->value.data(), r->value.size());
    return 0;
  }
  int call(const std::shared_ptr<StoreRequest>& r, char* err, size_t errlen) {
    auto fail = [&](const std::string& why) {
      std::snprintf(err, errlen, "%s", why.c_str());
      return 1;
    };
    if (r->timeoutMs <= 0) {
      return fail("communicator init timed out after " + std::to_string(timeoutMs_) + " ms before the store answered " + r->key);
    }
    auto* held = new std::shared_ptr<StoreRequest>(r);
    napi_status st = tsfn_.BlockingCall(held, [](Napi::Env env, Napi::Function fn, std::shared_ptr<StoreRequest>* p) {
      std::shared_ptr<StoreRequest> req = *p;
      delete p;
      auto answer = [req](const std::string& error, const std::string* value) {
        std::lock_guard<std::mutex> lock(req->m);
        req->error = error;
        if (value != nullptr) req->value = *value;
        req->answered = true;
        req->cv.notify_all();
      };
      try {
        auto done = Napi::Function::New(env, [req, answer](const Napi::CallbackInfo& info) {
          if (!info[0].IsNull() && !info[0].IsUndefined()) {
            answer(info[0].ToString().Utf8Value(), nullptr);
          } else if (info[1].IsTypedArray()) {
            auto v = info[1].As<Napi::Uint8Array>();
            std::string value(reinterpret_cast<const char*>(v.Data()), v.ByteLength());
            answer("", &value);
          } else {
            answer("", nullptr);
          }
        });
        Napi::Value value = env.Null();
        if (req->isSet) {
          auto v = Napi::Uint8Array::New(env, req->value.size());
          std::memcpy(v.Data(), req->value.data(), req->value.size());
          value = v;
        }
        fn.Call({Napi::String::New(env, req->isSet ? "set" : "get"), Napi::String::New(env, req->key), value,
                 Napi::Number::New(env, static_cast<double>(req->timeoutMs)), done});
      } catch (const Napi::Error& e) {
        answer(e.Message(), nullptr);
      }
    });
    if (st != napi_ok) {
      delete held;
      return fail("the store is unreachable (the process is shutting down)");
    }
    std::unique_lock<std::mutex> lock(r->m);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(r->timeoutMs) + kAnswerGrace;
    if (!waitInterruptible(lock, r->cv, [&] { return r->answered; }, deadline)) {
      return fail("no answer from the store for " + r->key);
    }
    return r->error.empty() ? 0 : fail(r->error);
  }

  // What is left of the init's timeout; 0 or less once it is over.
  int64_t leftMs() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - std::chrono::steady_clock::now()).count();
  }

  static constexpr std::chrono::milliseconds kAnswerGrace{1000};
  Napi::ThreadSafeFunction tsfn_;
  int64_t timeoutMs_;
  std::chrono::steady_clock::time_point deadline_;
};

class InitWorker : public Napi::AsyncWorker {
 public:
  InitWorker(Napi::Env env, BackendKind kind, std::string id, int nranks, std::vector<cpu::Member> members,
             int timeoutMs, std::string host, std::unique_ptr<StoreBridge> bridge)
      : Napi::AsyncWorker(env, "fairring-rx:initComms"),
        deferred_(Napi::Promise::Deferred::New(env)),
        kind_(kind),
        id_(std::move(id)),
        nranks_(nranks),
        members_(std::move(members)),
        timeoutMs_(timeoutMs),
        host_(std::move(host)),
        bridge_(std::move(bridge)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  // An in-process CPU communicator's members join at the call, on the JS thread; Execute only waits for the rest.
  void joinNow() {
    if (kind_ == BackendKind::Cpu && !bridge_) joined_ = cpu::joinComms(id_, nranks_, members_, timeoutMs_);
  }

  void Execute() override {
    std::string error;
    if (kind_ == BackendKind::Cpu && bridge_) {
      bridge_->start();
      FrgStore store = bridge_->callbacks();
      auto c = cpu::initGlooComm(id_, nranks_, members_[0].rank, members_[0].device, timeoutMs_, host_, store, &error);
      if (c) comms_.push_back(c);
    } else if (kind_ == BackendKind::Cpu) {
      comms_ = cpu::awaitComms(joined_, timeoutMs_, &error);
      // Let the group go here: a call that retries the id after this one's failure must not find it.
      joined_ = cpu::Joined{};
    } else {
      std::vector<cuda::Member> members;
      for (const auto& m : members_) members.push_back(cuda::Member{m.rank, m.device});
      comms_ = cuda::initComms(id_, nranks_, members, timeoutMs_, &error);
    }
    if (!error.empty()) SetError(error);
  }
  void OnOK() override {
    if (bridge_) bridge_->release();
    Napi::Env env = Env();
    auto out = Napi::Array::New(env, comms_.size());
    for (uint32_t i = 0; i < comms_.size(); i++) {
      registerComm(comms_[i]);
      out.Set(i, Comm::Wrap(env, comms_[i]));
    }
    deferred_.Resolve(out);
  }
  void OnError(const Napi::Error& e) override {
    if (bridge_) bridge_->release();
    deferred_.Reject(Napi::Error::New(Env(), "initComms: " + e.Message()).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  BackendKind kind_;
  std::string id_;
  int nranks_;
  std::vector<cpu::Member> members_;
  int timeoutMs_;
  std::string host_;
  std::unique_ptr<StoreBridge> bridge_;
  cpu::Joined joined_;
  std::vector<std::shared_ptr<CommImpl>> comms_;
};

}  // namespace

void abortAllComms() {
  std::lock_guard<std::mutex> lock(g_commsMutex);
  for (auto& w : g_comms) {
    if (auto c = w.lock()) c->abort();
  }
  g_comms.clear();
}

// uniqueId(backend) -> Uint8Array(128)
Napi::Value UniqueId(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BackendKind kind = toBackend(info[0]);
  std::string id;
  if (kind == BackendKind::Cpu) {
    id = cpu::newUniqueId();
  } else {
    std::string error;
    id = cuda::ncclUniqueId(&error);
    if (!error.empty()) throw Napi::Error::New(env, "uniqueId: " + error);
  }
  auto out = Napi::Uint8Array::New(env, id.size());
  std::memcpy(out.Data(), id.data(), id.size());
  return out;
}

// initComms(backend, id: Uint8Array, nranks, members: {rank, device}[], timeoutMs, remote?) -> Promise<Comm[]>
// All members are created in one group, so one process can drive several ranks of one communicator. Ranks in
// other processes: NCCL needs only the id; the CPU backend connects through Gloo, for which `remote` gives this
// process's address ({host}) and the store ({store(op, key, value, timeoutMs, done)}), with one member.
Napi::Value InitComms(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BackendKind kind = toBackend(info[0]);
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      info[1].As<Napi::Uint8Array>().ElementLength() != 128) {
    throw Napi::TypeError::New(env, "id must be the 128-byte Uint8Array from uniqueId()");
  }
  auto idArr = info[1].As<Napi::Uint8Array>();
  std::string id(reinterpret_cast<const char*>(idArr.Data()), 128);
  uint64_t nranks = toIndex(info[2], "nranks");
  if (nranks == 0 || nranks > 65536) throw Napi::RangeError::New(env, "nranks must be between 1 and 65536");
  if (!info[3].IsArray() || info[3].As<Napi::Array>().Length() == 0) {
    throw Napi::TypeError::New(env, "members must be a non-empty array of {rank, device}");
  }
  uint64_t timeoutMs = toIndex(info[4], "timeoutMs");
  if (timeoutMs == 0 || timeoutMs > 86400000) throw Napi::RangeError::New(env, "timeoutMs must be between 1 and 86400000");
  auto arr = info[3].As<Napi::Array>();
  std::vector<cpu::Member> members;
  std::set<uint64_t> ranks;
  std::set<int> devices;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    std::string name = "members[" + std::to_string(i) + "]";
    if (!arr.Get(i).IsObject()) throw Napi::TypeError::New(env, name + " must be {rank, device}");
    auto m = arr.Get(i).As<Napi::Object>();
    uint64_t rank = toIndex(m.Get("rank"), name + ".rank");
    if (rank >= nranks) {
      throw Napi::RangeError::New(env, name + ".rank " + std::to_string(rank) + " is not below nranks " + std::to_string(nranks));
    }
    Device* d = Device::From(m.Get("device"), name + ".device");
    if (d->impl->kind != kind) throw Napi::TypeError::New(env, name + ".device is not a " + backendName(kind) + " device");
    if (!ranks.insert(rank).second) throw Napi::RangeError::New(env, "rank " + std::to_string(rank) + " appears twice");
    if (!devices.insert(d->impl->ordinal).second) {
      throw Napi::RangeError::New(env, "two ranks of one communicator on " + deviceLabel(*d->impl));
    }
    members.push_back(cpu::Member{static_cast<int>(rank), d->impl});
  }
  std::string host;
  std::unique_ptr<StoreBridge> bridge;
  if (!info[5].IsUndefined() && !info[5].IsNull()) {
    if (!info[5].IsObject()) throw Napi::TypeError::New(env, "remote must be {host, store} or undefined");
    auto remote = info[5].As<Napi::Object>();
    if (!remote.Get("host").IsString()) throw Napi::TypeError::New(env, "remote.host must be a string (this process's address)");
    if (!remote.Get("store").IsFunction()) throw Napi::TypeError::New(env, "remote.store must be a function (op, key, value, timeoutMs, done)");
    if (kind == BackendKind::Cpu) {
      if (members.size() != 1) throw Napi::RangeError::New(env, "a communicator across processes has one member per process on the cpu backend");
      if (std::string why = cpu::glooAvailable(); !why.empty()) throw Napi::Error::New(env, "initComms: " + why);
      host = remote.Get("host").As<Napi::String>();
      bridge = std::make_unique<StoreBridge>(env, remote.Get("store").As<Napi::Function>(), static_cast<int64_t>(timeoutMs));
    }
  }
  auto* worker = new InitWorker(env, kind, std::move(id), static_cast<int>(nranks), std::move(members),
                                static_cast<int>(timeoutMs), std::move(host), std::move(bridge));
  auto promise = worker->Promise();
  worker->joinNow();
  worker->Queue();
  return promise;
}

namespace {

CollKind toKind(const Napi::Value& v, const std::string& name) {
  CollKind k;
  if (v.IsString() && parseCollKind(v.As<Napi::String>(), &k)) return k;
  throw Napi::TypeError::New(v.Env(), name + " must be one of " + namesOf(kCollKinds));
}

}  // namespace

// group(items): one ncclGroupStart/End. Each item: {kind, stream, comm, send?, sendOffset?, recv?, recvOffset?,
// count, dtype, op?, peer?}; counts as NCCL's (reduceScatter: recvcount, allGather: sendcount).
Napi::Value Group(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) throw Napi::TypeError::New(env, "items must be an array");
  auto arr = info[0].As<Napi::Array>();
  std::vector<CollItem> items;
  auto keep = std::make_shared<std::vector<std::shared_ptr<const void>>>();
  std::optional<BackendKind> kind;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    std::string name = "items[" + std::to_string(i) + "]";
    if (!arr.Get(i).IsObject()) throw Napi::TypeError::New(env, name + " must be an object");
    auto o = arr.Get(i).As<Napi::Object>();
    CollItem it;
    it.kind = toKind(o.Get("kind"), name + ".kind");
    auto stream = Stream::From(o.Get("stream"), name + ".stream")->live(env);
    auto comm = Comm::From(o.Get("comm"), name + ".comm")->live(env);
    it.stream = stream.get();
    it.comm = comm.get();
    keep->push_back(stream);
    keep->push_back(comm);
    it.count = toIndex(o.Get("count"), name + ".count");
    it.dtype = toDType(o.Get("dtype"), name + ".dtype");
    const DeviceImpl& dev = *it.stream->device;
    if (it.comm->device->kind != dev.kind || it.comm->device->ordinal != dev.ordinal) {
      throw Napi::TypeError::New(env, name + ": comm rank lives on " + deviceLabel(*it.comm->device) + ", stream on " +
                                          deviceLabel(dev));
    }
    if (kind && *kind != dev.kind) throw Napi::TypeError::New(env, "a group cannot mix cpu and cuda items");
    kind = dev.kind;
    size_t esz = dtypeSize(it.dtype);
    uint64_t n = static_cast<uint64_t>(it.comm->size);
    uint64_t sendBytes = it.count * esz, recvBytes = it.count * esz;
    if (it.kind == CollKind::ReduceScatter) sendBytes *= n;
    if (it.kind == CollKind::AllGather) recvBytes *= n;
    bool reduces = it.kind == CollKind::AllReduce || it.kind == CollKind::ReduceScatter;
    it.op = reduces ? toRedOp(o.Get("op"), name + ".op") : RedOp::Sum;
    if (it.kind == CollKind::Send || it.kind == CollKind::Recv) {
      uint64_t peer = toIndex(o.Get("peer"), name + ".peer");
      if (peer >= n) throw Napi::RangeError::New(env, name + ".peer " + std::to_string(peer) + " is not below the comm size " + std::to_string(n));
      it.peer = static_cast<int>(peer);
    }
    auto viewOf = [&](const char* key, const char* offKey, uint64_t bytes) -> char* {
      std::string field = name + "." + key;
      Buffer* b = Buffer::From(o.Get(key), field);
      Napi::Value ov = o.Get(offKey);
      uint64_t off = ov.IsUndefined() ? 0 : toIndex(ov, name + "." + offKey);
      if (off % esz != 0) throw Napi::RangeError::New(env, field + " offset is not a multiple of the element size");
      auto mem = b->view(env, dev, off, bytes, field);
      keep->push_back(mem);
      return static_cast<char*>(mem->ptr) + off;
    };
    if (it.kind != CollKind::Recv) it.send = viewOf("send", "sendOffset", sendBytes);
    if (it.kind != CollKind::Send) it.recv = viewOf("recv", "recvOffset", recvBytes);
    items.push_back(it);
  }
  if (items.empty()) return env.Undefined();
  if (*kind == BackendKind::Cuda) {
    Status sides = cuda::checkSides(items.data(), items.size());
    if (!sides.ok()) throw Napi::RangeError::New(env, sides.error);
  }
  backendFor(*kind).enqueueGroup(std::move(items), std::move(keep));
  return env.Undefined();
}

Napi::Function Comm::Init(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "Comm",
                                    {
                                        InstanceMethod<&Comm::Abort>("abort"),
                                        InstanceMethod<&Comm::AsyncError>("asyncError"),
                                        InstanceMethod<&Comm::Close>("close"),
                                    });
  defineGetter<Comm, &Comm::Closed>(ctor, "closed");
  defineGetter<Comm, &Comm::Aborting>(ctor, "aborting");
  return ctor;
}

Comm* Comm::From(const Napi::Value& v, const std::string& name) {
  return unwrapArg<Comm>(v, name, "Comm");
}

Comm::Comm(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Comm>(info) {
  tagHandle<Comm>(info);
  Napi::Env env = info.Env();
  if (!info[0].IsExternal()) throw Napi::TypeError::New(env, "Comm is created by initComms()");
  impl_ = *info[0].As<Napi::External<std::shared_ptr<CommImpl>>>().Data();
  info.This().As<Napi::Object>().DefineProperties({
      Napi::PropertyDescriptor::Value("rank", Napi::Number::New(env, impl_->rank), napi_enumerable),
      Napi::PropertyDescriptor::Value("size", Napi::Number::New(env, impl_->size), napi_enumerable),
  });
}

Napi::Object Comm::Wrap(Napi::Env env, std::shared_ptr<CommImpl> impl) {
  std::shared_ptr<CommImpl> holder = std::move(impl);
  return addonData(env).comm.New({Napi::External<std::shared_ptr<CommImpl>>::New(env, &holder)});
}

std::shared_ptr<CommImpl> Comm::live(Napi::Env env) {
  if (!impl_) throwClosed(env, "Comm");
  return impl_;
}

Napi::Value Comm::Abort(const Napi::CallbackInfo& info) {
  if (impl_) impl_->abort();
  return info.Env().Undefined();
}

// The communicator's asynchronous error (a timeout, an abort, an NCCL failure), or null.
Napi::Value Comm::AsyncError(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string e = live(env)->asyncError();
  return e.empty() ? env.Null() : Napi::String::New(env, e);
}

// Releases this rank's communicator once the work already enqueued on it no longer needs it.
Napi::Value Comm::Close(const Napi::CallbackInfo& info) {
  impl_.reset();
  return info.Env().Undefined();
}


Napi::Value Comm::Closed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), impl_ == nullptr); }

// Whether an abort of this communicator is still running (NCCL: off the JS thread).
Napi::Value Comm::Aborting(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), impl_ != nullptr && impl_->aborting());
}

}  // namespace fr
