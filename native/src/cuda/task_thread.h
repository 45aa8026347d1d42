// A thread, started on first use, that runs the tasks posted to it one after the other in posting order, for
// work the posting thread must not wait for (frees that wait for the device). Its instances are never destroyed:
// the detached thread may still run a task while the process exits.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "../runtime.h"

namespace fr::cuda {

class TaskThread {
 public:
  // `name` names the thread (nameThread) and must outlive it.
  explicit TaskThread(const char* name) : name_(name) {}

  // Queues task after those posted before it; dropped once stopped. Throws std::system_error, queueing nothing,
  // when the thread cannot be started.
  void post(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(m_);
      if (stopped_) return;
      if (!started_) {
        std::thread([this] { run(); }).detach();
        started_ = true;
      }
      queue_.push_back(std::move(task));
    }
    cv_.notify_one();
  }

  // Environment shutdown, before the libraries the tasks call are torn down at exit: the tasks not yet started
  // are dropped, and the one running is waited for, at most `limit`. Returns whether none is running.
  bool stop(std::chrono::milliseconds limit) {
    std::deque<std::function<void()>> dropped;
    std::unique_lock<std::mutex> lock(m_);
    stopped_ = true;
    dropped.swap(queue_);
    return idle_.wait_for(lock, limit, [this] { return !running_; });
  }

 private:
  void run() {
    nameThread(name_);
    std::unique_lock<std::mutex> lock(m_);
    for (;;) {
      cv_.wait(lock, [this] { return !queue_.empty(); });
      std::function<void()> task = std::move(queue_.front());
      queue_.pop_front();
      running_ = true;
      lock.unlock();
      task();
      task = nullptr;
      lock.lock();
      running_ = false;
      idle_.notify_all();
    }
  }
  const char* name_;
  std::mutex m_;
  std::condition_variable cv_, idle_;
  std::deque<std::function<void()>> queue_;
  bool started_ = false;
  bool stopped_ = false;
  bool running_ = false;
};

}  // namespace fr::cuda
