// A thread, started on first use, that runs the tasks posted to it one after the other in posting order, for
// work the posting thread must not wait for (frees that wait for the device). Its instances are never destroyed:
// the detached thread may still run a task while the process exits.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace fr::cuda {

class TaskThread {
 public:
  // Queues task after those posted before it. Throws std::system_error, queueing nothing, when the thread cannot
  // be started.
  void post(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(m_);
      if (!started_) {
        std::thread([this] { run(); }).detach();
        started_ = true;
      }
      queue_.push_back(std::move(task));
    }
    cv_.notify_one();
  }

 private:
  void run() {
    for (;;) {
      std::deque<std::function<void()>> batch;
      {
        std::unique_lock<std::mutex> lock(m_);
        cv_.wait(lock, [this] { return !queue_.empty(); });
        batch.swap(queue_);
      }
      for (auto& task : batch) task();
    }
  }
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool started_ = false;
};

}  // namespace fr::cuda
