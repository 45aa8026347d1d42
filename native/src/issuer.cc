#include "issuer.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "runtime.h"

namespace fr::issuer {

namespace {

struct State {
  std::mutex m;
  std::condition_variable cv;
  std::deque<std::function<void()>> queue;
  std::thread thread;
  bool stop = false;
};

// Never destroyed: a process that exits without environment cleanup must not join or destroy a running thread.
State& g_state = *new State();

void run() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(g_state.m);
      g_state.cv.wait(lock, [] { return g_state.stop || !g_state.queue.empty(); });
      if (g_state.stop) return;
      task = std::move(g_state.queue.front());
      g_state.queue.pop_front();
    }
    task();
  }
}

}  // namespace

void post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(g_state.m);
    if (g_state.stop) return;
    g_state.queue.push_back(std::move(task));
    if (!g_state.thread.joinable()) g_state.thread = std::thread(run);
  }
  g_state.cv.notify_one();
}

void shutdown() {
  std::deque<std::function<void()>> dropped;
  {
    std::lock_guard<std::mutex> lock(g_state.m);
    g_state.stop = true;
  }
  g_state.cv.notify_one();
  if (g_state.thread.joinable()) g_state.thread.join();
  // Dropped outside the lock: their destructors may release device memory.
  std::lock_guard<std::mutex> lock(g_state.m);
  dropped.swap(g_state.queue);
}

}  // namespace fr::issuer
