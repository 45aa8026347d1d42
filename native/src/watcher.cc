#include "watcher.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "queue.h"

namespace fr {

bool eventDone(EventImpl& e, uint64_t target, std::string* error) {
  uint64_t issued;
  {
    std::lock_guard<std::mutex> lock(e.m);
    if (e.issued < target) return false;
    if (e.completed >= target) {
      *error = e.error;
      return true;
    }
    issued = e.issued;
  }
  std::string err;
  bool done = backendFor(e.device->kind).eventQuery(e, &err);
  if (!done && err.empty()) return false;
  std::lock_guard<std::mutex> lock(e.m);
  if (e.completed < issued) e.completed = issued;
  if (!err.empty()) e.error = err;
  *error = e.error;
  return true;
}

namespace {

struct Completion {
  Napi::Promise::Deferred* deferred;
  std::string error;
};

void CallJs(Napi::Env env, Napi::Function, std::nullptr_t*, Completion* c);
using Tsfn = Napi::TypedThreadSafeFunction<std::nullptr_t, Completion, CallJs>;

struct Pending {
  std::shared_ptr<EventImpl> event;
  uint64_t target;
  Napi::Promise::Deferred* deferred;
};

struct State {
  Tsfn tsfn;
  std::thread thread;
  std::mutex m;
  std::condition_variable cv;
  std::vector<Pending> pending;
  bool stop = false;
  // In a wait a device record has to cut short: the one without a deadline (nothing pending, no queue busy), or
  // a sleep of more than 100 µs (no device work seen in the last pass).
  bool idle = false;
  uint64_t kicks = 0;
  size_t outstanding = 0;  // JS thread only
  std::mutex queuesMutex;
  std::vector<std::shared_ptr<QueueCore>> queues;
};

State* g_state = nullptr;

// One pass over the open queues; forgets closed ones.
bool pollQueues(State* s, bool* deviceWork) {
  std::lock_guard<std::mutex> lock(s->queuesMutex);
  s->queues.erase(std::remove_if(s->queues.begin(), s->queues.end(), [](const auto& q) { return q->closed.load(); }),
                  s->queues.end());
  bool progress = false;
  for (const auto& q : s->queues) progress = harvestQueue(*q, deviceWork) || progress;
  return progress;
}

void CallJs(Napi::Env env, Napi::Function, std::nullptr_t*, Completion* c) {
  if (env != nullptr) {
    if (c->error.empty()) {
      c->deferred->Resolve(env.Undefined());
    } else {
      c->deferred->Reject(Napi::Error::New(env, c->error).Value());
    }
    if (g_state != nullptr && --g_state->outstanding == 0) g_state->tsfn.Unref(env);
  }
  delete c->deferred;
  delete c;
}

// Spins briefly after CPU activity (a completion is usually microseconds away), polls device work at growing
// intervals from 20 µs, and sleeps when idle, so an idle watcher costs nothing.
void run(State* s) {
  nameThread("fr-watcher");
  using Clock = std::chrono::steady_clock;
  auto lastProgress = Clock::now();
  auto sleep = std::chrono::microseconds(20);
  std::vector<Pending> mine;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(s->m);
      // Read before testing for queue records: a record issued after the test kicks, and the wait sees it.
      uint64_t seen = s->kicks;
      if (mine.empty() && s->pending.empty() && !anyQueueBusy()) {
        s->idle = true;
        s->cv.wait(lock, [&] { return s->stop || !s->pending.empty() || s->kicks != seen; });
        s->idle = false;
      }
      for (auto& p : s->pending) mine.push_back(std::move(p));
      s->pending.clear();
      if (s->stop) break;
    }
    bool deviceWork = false;
    bool progress = pollQueues(s, &deviceWork);
    for (auto it = mine.begin(); it != mine.end();) {
      std::string error;
      if (eventDone(*it->event, it->target, &error)) {
        s->tsfn.NonBlockingCall(new Completion{it->deferred, std::move(error)});
        it = mine.erase(it);
        progress = true;
      } else {
        deviceWork = deviceWork || it->event->device->kind == BackendKind::Cuda;
        ++it;
      }
    }
    if (mine.empty() && !anyQueueBusy()) continue;
    auto now = Clock::now();
    if (progress) {
      lastProgress = now;
      sleep = std::chrono::microseconds(20);
    }
    // A CPU completion is usually microseconds away: spin a little. CUDA completions are polled with
    // cudaEventQuery, and polling in a tight loop slows the issuer's own driver and NCCL calls: sleep instead.
    if (!deviceWork && now - lastProgress < std::chrono::microseconds(200)) {
      std::this_thread::yield();
      continue;
    }
    std::unique_lock<std::mutex> lock(s->m);
    uint64_t seen = s->kicks;
    // A report asked for while this pass ran (reportAsked, set before its kick): the next pass sends it.
    if (anyReportAsked()) continue;
    // CPU records kick the watcher; CUDA completions are only seen by polling, so cap the sleep. The engine admits
    // a slice only once an earlier one's completion is seen, so a late poll idles the devices: at 2 x 1 on
    // 2 x H200 a cap of 100 µs took 25 MiB buckets from 136 to 117 µs against 1 ms (docs/benchmarks.md, session 12).
    auto cap = deviceWork ? std::chrono::microseconds(100) : std::chrono::microseconds(50000);
    s->idle = !deviceWork;
    s->cv.wait_for(lock, std::min<std::chrono::microseconds>(sleep, cap),
                   [&] { return s->stop || !s->pending.empty() || s->kicks != seen; });
    s->idle = false;
    sleep = std::min<std::chrono::microseconds>(sleep * 2, cap);
  }
  for (auto& p : mine) s->tsfn.NonBlockingCall(new Completion{p.deferred, "runtime shutting down"});
}

}  // namespace

namespace {

// Counts a record for the watcher's next wait; wakes it always, or (onlyIdle) only from a wait that a device
// record has to cut short.
void kick(bool onlyIdle) {
  State* s = g_state;
  if (s == nullptr) return;
  bool wake;
  {
    std::lock_guard<std::mutex> lock(s->m);
    s->kicks++;
    wake = !onlyIdle || s->idle;
  }
  if (wake) s->cv.notify_one();
}

}  // namespace

void kickWatchers() { kick(false); }

void noteDeviceRecord() { kick(true); }

void watchQueue(std::shared_ptr<QueueCore> q) {
  std::lock_guard<std::mutex> lock(g_state->queuesMutex);
  g_state->queues.push_back(std::move(q));
}

namespace {

// Whether an open queue passes the test.
bool anyOpenQueue(bool (*test)(const QueueCore&)) {
  State* s = g_state;
  std::lock_guard<std::mutex> lock(s->queuesMutex);
  for (const auto& q : s->queues) {
    if (!q->closed.load() && test(*q)) return true;
  }
  return false;
}

}  // namespace

bool anyQueueBusy() {
  return anyOpenQueue([](const QueueCore& q) { return q.unharvested.load() != 0 || q.reportAsked.load(); });
}

bool anyReportAsked() {
  return anyOpenQueue([](const QueueCore& q) { return q.reportAsked.load(); });
}

void Watcher::Start(Napi::Env env) {
  g_state = new State();
  g_state->tsfn = Tsfn::New(env, "fairring-rx event watcher", 0, 1);
  g_state->tsfn.Unref(env);
  g_state->thread = std::thread(run, g_state);
}

void Watcher::Stop() {
  State* s = g_state;
  if (s == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(s->m);
    s->stop = true;
  }
  s->cv.notify_all();
  s->thread.join();
  s->tsfn.Release();
  g_state = nullptr;
  delete s;
}

void Watcher::Watch(Napi::Env env, std::shared_ptr<EventImpl> event, uint64_t target,
                    Napi::Promise::Deferred deferred) {
  State* s = g_state;
  if (s->outstanding++ == 0) s->tsfn.Ref(env);
  {
    std::lock_guard<std::mutex> lock(s->m);
    s->pending.push_back(Pending{std::move(event), target, new Napi::Promise::Deferred(deferred)});
  }
  s->cv.notify_one();
}

}  // namespace fr
