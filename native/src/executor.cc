#include "executor.h"

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <string>
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

// Steps one stream runs in a row before the others get their turn: a stream JS keeps busy must not hold up the
// rest (a peer rank's part of a collective, a download, another stage).
constexpr int kTurn = 8;

// Executor thread only: set while it looks at the waiting steps once more after a pass in which nothing moved.
bool g_quiet = false;

// Runs up to `turn` of s's steps, stopping at one that waits. Returns whether any step finished or got further.
// A step that throws fails its stream instead of the process.
bool drain(StreamImpl& s, int turn) {
  bool progress = false;
  for (int n = 0; n < turn; n++) {
    Step* head;
    {
      std::lock_guard<std::mutex> lock(g_state.m);
      if (g_state.stop || s.steps.empty()) return progress;
      // A deque's elements stay where they are while others are appended.
      head = &s.steps.front();
    }
    StepResult r;
    try {
      r = (*head)(s);
    } catch (const std::exception& e) {
      if (s.error.empty()) s.error = std::string("step failed: ") + e.what();
      r = StepResult::Done;
    }
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
  return progress;
}

// One pass over the streams with steps, each taking its turn. Returns whether anything moved, including posts
// and kicks that came meanwhile. The list is taken again only after posts (a stream may have become active).
// Plain pointers: a stream leaves the active list only on this thread, between passes, and taking the list
// then moves no reference count that the JS thread's posts move too.
bool pass(std::vector<StreamImpl*>& streams) {
  {
    std::lock_guard<std::mutex> lock(g_state.m);
    if (g_state.moved || streams.empty()) {
      streams.clear();
      for (const auto& s : g_state.active) streams.push_back(s.get());
    }
    g_state.moved = false;
  }
  bool progress = false;
  for (StreamImpl* s : streams) progress = drain(*s, kTurn) || progress;
  std::lock_guard<std::mutex> lock(g_state.m);
  return progress || g_state.moved;
}

void run() {
  nameThread("fr-executor");
  std::vector<StreamImpl*> streams;
  for (;;) {
    // Taken again by the next pass: streams leave the active list here.
    streams.clear();
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
    }
    // Passes until nothing moves (a finished step may unblock a stream looked at earlier, and streams posted to
    // meanwhile join the next pass); then one more, in which waits past their deadline may give up.
    while (pass(streams)) {
    }
    {
      // Work posted since that pass is looked at first, in ordinary passes.
      std::lock_guard<std::mutex> lock(g_state.m);
      if (g_state.moved) continue;
    }
    g_quiet = true;
    bool gaveUp = pass(streams);
    g_quiet = false;
    if (gaveUp) {
      std::lock_guard<std::mutex> lock(g_state.m);
      g_state.moved = true;
    }
  }
}

void startThread() {
  if (!g_state.thread.joinable()) g_state.thread = std::thread(run);
}

}  // namespace

bool quiet() { return g_quiet; }

void post(const std::shared_ptr<StreamImpl>& s, Step step) {
  std::vector<std::pair<std::shared_ptr<StreamImpl>, Step>> one;
  one.emplace_back(s, std::move(step));
  postAll(one);
}

void postAll(std::vector<std::pair<std::shared_ptr<StreamImpl>, Step>>& steps) {
  bool notify;
  {
    std::lock_guard<std::mutex> lock(g_state.m);
    if (g_state.stop) return;
    for (auto& [s, step] : steps) {
      s->steps.push_back(std::move(step));
      if (!s->active) {
        s->active = true;
        g_state.active.push_back(s);
      }
    }
    g_state.moved = true;
    notify = g_state.sleeping;
    startThread();
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
