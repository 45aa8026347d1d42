#include "executor.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace fr::executor {

namespace {

struct State {
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::shared_ptr<StreamImpl>> active;  // streams with steps
  std::thread thread;
  bool stop = false;
  bool sleeping = false;
  bool moved = false;  // a step was posted or kicked since the executor last looked
};

// How often waiting steps are looked at again when nothing moves: their deadlines (communicator timeouts) are
// noticed within this.
constexpr auto kPoll = std::chrono::milliseconds(10);

// Never destroyed: a process that exits without environment cleanup must not join or destroy a running thread.
State& g_state = *new State();

// Runs s's steps until one waits or none is left. Returns whether any step finished or got further.
bool drain(StreamImpl& s) {
  bool progress = false;
  for (;;) {
    Step* head;
    {
      std::lock_guard<std::mutex> lock(g_state.m);
      if (g_state.stop || s.steps.empty()) return progress;
      // A deque's elements stay where they are while others are appended.
      head = &s.steps.front();
    }
    StepResult r = (*head)(s);
    if (r != StepResult::Done) return progress || r == StepResult::Advanced;
    progress = true;
    // Destroyed outside the lock: a step's captures may release memory.
    Step done;
    {
      std::lock_guard<std::mutex> lock(g_state.m);
      done = std::move(s.steps.front());
      s.steps.pop_front();
    }
  }
}

void run() {
  std::vector<std::shared_ptr<StreamImpl>> streams;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(g_state.m);
      for (auto it = g_state.active.begin(); it != g_state.active.end();) {
        if ((*it)->steps.empty()) {
          (*it)->active = false;
          it = g_state.active.erase(it);
        } else {
          ++it;
        }
      }
      if (!g_state.moved && !g_state.stop) {
        g_state.sleeping = true;
        if (g_state.active.empty()) {
          g_state.cv.wait(lock, [] { return g_state.stop || g_state.moved; });
        } else {
          g_state.cv.wait_for(lock, kPoll, [] { return g_state.stop || g_state.moved; });
        }
        g_state.sleeping = false;
      }
      if (g_state.stop) return;
      g_state.moved = false;
      streams = g_state.active;
    }
    // Passes until nothing moves: a finished step may unblock one of a stream looked at earlier.
    bool progress = true;
    while (progress) {
      progress = false;
      for (auto& s : streams) progress = drain(*s) || progress;
    }
    streams.clear();
  }
}

void wake() {
  if (!g_state.thread.joinable()) g_state.thread = std::thread(run);
}

}  // namespace

void post(const std::shared_ptr<StreamImpl>& s, Step step) {
  bool notify;
  {
    std::lock_guard<std::mutex> lock(g_state.m);
    if (g_state.stop) return;
    s->steps.push_back(std::move(step));
    if (!s->active) {
      s->active = true;
      g_state.active.push_back(s);
    }
    g_state.moved = true;
    notify = g_state.sleeping;
    wake();
  }
  if (notify) g_state.cv.notify_one();
}

void kick() {
  bool notify;
  {
    std::lock_guard<std::mutex> lock(g_state.m);
    g_state.moved = true;
    notify = g_state.sleeping;
  }
  if (notify) g_state.cv.notify_one();
}

void shutdown() {
  {
    std::lock_guard<std::mutex> lock(g_state.m);
    g_state.stop = true;
  }
  g_state.cv.notify_one();
  if (g_state.thread.joinable()) g_state.thread.join();
  std::vector<std::deque<Step>> dropped;
  {
    std::lock_guard<std::mutex> lock(g_state.m);
    for (auto& s : g_state.active) dropped.push_back(std::move(s->steps));
    g_state.active.clear();
  }
  // Destroyed outside the lock: the steps' captures may release memory.
  dropped.clear();
}

}  // namespace fr::executor
