#include "issuer.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "runtime.h"

namespace fr::issuer {

namespace {

// A task, or an item for a batch runner.
struct Entry {
  std::function<void()> task;
  BatchRunner runner = nullptr;
  std::shared_ptr<void> item;
};

struct State {
  std::mutex m;
  std::condition_variable cv;
  std::deque<Entry> queue;
  std::thread thread;
  bool stop = false;
  // The issuer waits on cv (JS then has to wake it); otherwise it is issuing or spinning and sees work unwoken.
  bool sleeping = false;
  std::atomic<uint64_t> posted{0};
};

// Work comes in bursts (a slice's stages follow each other within microseconds): after the queue runs dry the
// issuer spins this long before it sleeps, so JS rarely pays for a wake.
constexpr auto kSpin = std::chrono::microseconds(100);

// Never destroyed: a process that exits without environment cleanup must not join or destroy a running thread.
State& g_state = *new State();

// Runs what was queued, in order; consecutive items of one runner in one call.
void runAll(std::deque<Entry>& batch, std::vector<std::shared_ptr<void>>& items) {
  for (size_t i = 0; i < batch.size();) {
    BatchRunner runner = batch[i].runner;
    if (runner == nullptr) {
      batch[i++].task();
      continue;
    }
    for (; i < batch.size() && batch[i].runner == runner; i++) items.push_back(std::move(batch[i].item));
    runner(items);
    items.clear();
  }
}

void run() {
  nameThread("fr-issuer");
  std::deque<Entry> batch;
  std::vector<std::shared_ptr<void>> items;
  uint64_t seen = 0;
  for (;;) {
    auto until = std::chrono::steady_clock::now() + kSpin;
    while (g_state.posted.load(std::memory_order_acquire) == seen && std::chrono::steady_clock::now() < until) {
      std::this_thread::yield();
    }
    {
      std::unique_lock<std::mutex> lock(g_state.m);
      g_state.sleeping = true;
      g_state.cv.wait(lock, [] { return g_state.stop || !g_state.queue.empty(); });
      g_state.sleeping = false;
      if (g_state.stop) return;
      batch.swap(g_state.queue);
      seen = g_state.posted.load(std::memory_order_relaxed);
    }
    // In posting order, every task queued so far in one go.
    runAll(batch, items);
    batch.clear();
  }
}

void enqueue(Entry entry) {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(g_state.m);
    if (g_state.stop) return;
    g_state.queue.push_back(std::move(entry));
    g_state.posted.fetch_add(1, std::memory_order_release);
    if (!g_state.thread.joinable()) g_state.thread = std::thread(run);
    wake = g_state.sleeping;
  }
  if (wake) g_state.cv.notify_one();
}

}  // namespace

void post(std::function<void()> task) { enqueue(Entry{std::move(task), nullptr, nullptr}); }

void postBatch(BatchRunner runner, std::shared_ptr<void> item) { enqueue(Entry{nullptr, runner, std::move(item)}); }

void shutdown() {
  std::deque<Entry> dropped;
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
