#include "executor.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace fr::executor {

namespace {

// What other threads share with the executor thread: posted steps wait in the inbox, and only the executor
// thread moves them to their streams' FIFOs, so a post writes one list and none of the streams' state.
struct State {
  std::mutex m;
  std::condition_variable cv;
  std::vector<Posting> inbox;
  std::thread thread;
  std::atomic<bool> stop{false};  // set under m
  bool sleeping = false;
  bool moved = false;  // a step was posted or kicked since the executor last looked
};

// How often waiting steps are looked at again when nothing moves: their deadlines (communicator timeouts) are
// noticed within this.
constexpr auto kPoll = std::chrono::milliseconds(10);

// Never destroyed: a process that exits without environment cleanup must not join or destroy a running thread.
State& g_state = *new State();

// Executor thread only (and shutdown, once it has stopped): the streams with steps, and the inbox as taken.
std::vector<std::shared_ptr<StreamImpl>>& g_active = *new std::vector<std::shared_ptr<StreamImpl>>();
std::vector<Posting>& g_taken = *new std::vector<Posting>();

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
    if (g_state.stop.load(std::memory_order_relaxed) || s.steps.empty()) return progress;
    StepResult r;
    try {
      r = s.steps.front()(s);
    } catch (const std::exception& e) {
      if (s.error.empty()) s.error = std::string("step failed: ") + e.what();
      r = StepResult::Done;
    }
    if (r != StepResult::Done) return progress || r == StepResult::Advanced;
    progress = true;
    s.steps.pop_front();
  }
  return progress;
}

// Moves what was posted to the streams' FIFOs.
void distribute() {
  {
    std::lock_guard<std::mutex> lock(g_state.m);
    g_taken.swap(g_state.inbox);
    g_state.moved = false;
  }
  for (Posting& p : g_taken) {
    StreamImpl& s = *p.stream;
    s.steps.push_back(std::move(p.step));
    if (!s.active) {
      s.active = true;
      g_active.push_back(std::move(p.stream));
    }
  }
  g_taken.clear();
}

// One pass over the streams with steps, each taking its turn. Returns whether anything moved, including posts
// and kicks that came meanwhile.
bool pass() {
  distribute();
  bool progress = false;
  for (const auto& s : g_active) progress = drain(*s, kTurn) || progress;
  std::lock_guard<std::mutex> lock(g_state.m);
  return progress || g_state.moved;
}

void run() {
  nameThread("fr-executor");
  for (;;) {
    g_active.erase(std::remove_if(g_active.begin(), g_active.end(),
                                  [](const auto& s) {
                                    if (!s->steps.empty()) return false;
                                    s->active = false;
                                    return true;
                                  }),
                   g_active.end());
    {
      std::unique_lock<std::mutex> lock(g_state.m);
      if (!g_state.moved && !g_state.stop) {
        g_state.sleeping = true;
        if (g_active.empty()) {
          g_state.cv.wait(lock, [] { return g_state.stop || g_state.moved; });
        } else {
          g_state.cv.wait_for(lock, kPoll, [] { return g_state.stop || g_state.moved; });
        }
        g_state.sleeping = false;
      }
      if (g_state.stop) return;
    }
    // Passes until nothing moves (a finished step may unblock a stream looked at earlier, and steps posted
    // meanwhile join the next pass); then one more, in which waits past their deadline may give up.
    while (pass()) {
    }
    {
      // Work posted since that pass is looked at first, in ordinary passes.
      std::lock_guard<std::mutex> lock(g_state.m);
      if (g_state.moved) continue;
    }
    g_quiet = true;
    bool gaveUp = pass();
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
  std::vector<Posting> one;
  one.push_back(Posting{s, std::move(step)});
  postAll(one);
}

bool postAll(std::vector<Posting>& steps) {
  bool notify;
  {
    std::lock_guard<std::mutex> lock(g_state.m);
    if (g_state.stop) return false;
    startThread();
    if (g_state.inbox.empty()) {
      g_state.inbox.swap(steps);
    } else {
      // Reserved first: the moves that follow cannot throw, so a post is all or nothing.
      g_state.inbox.reserve(g_state.inbox.size() + steps.size());
      for (Posting& p : steps) g_state.inbox.push_back(std::move(p));
    }
    g_state.moved = true;
    notify = g_state.sleeping;
  }
  if (notify) g_state.cv.notify_one();
  return true;
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
  // The thread is gone: its lists are this thread's now. Destroyed outside the lock: the steps' captures may
  // release memory.
  std::vector<std::deque<Step>> dropped;
  for (auto& s : g_active) dropped.push_back(std::move(s->steps));
  g_active.clear();
  g_taken.clear();
  std::vector<Posting> posted;
  {
    std::lock_guard<std::mutex> lock(g_state.m);
    posted.swap(g_state.inbox);
  }
  dropped.clear();
}

}  // namespace fr::executor
