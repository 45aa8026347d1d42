#include "nccl_calls.h"

#include <condition_variable>
#include <mutex>
#include <system_error>
#include <thread>

#include "../runtime.h"
#include "cuda_api.h"

namespace fr::cuda {

std::shared_mutex& g_ncclCalls = *new std::shared_mutex();

namespace {

class Aborter {
 public:
  void waitIdle() {
    std::unique_lock<std::mutex> lock(m_);
    idle_.wait(lock, [this] { return running_ == 0; });
  }

  void post(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(m_);
      running_++;
    }
    try {
      std::thread([this, task] {
        nameThread("fr-nccl-call");
        task();
        finished();
      }).detach();
    } catch (const std::system_error&) {
      task();
      finished();
    }
  }

 private:
  void finished() {
    std::lock_guard<std::mutex> lock(m_);
    if (--running_ == 0) idle_.notify_all();
  }

  std::mutex m_;
  std::condition_variable idle_;
  int running_ = 0;
};

// Never destroyed: its detached threads may still run while the process exits.
Aborter& g_aborter = *new Aborter();

}  // namespace

void postAbort(std::function<void()> task) { g_aborter.post(std::move(task)); }

void waitForAborts() { g_aborter.waitIdle(); }

}  // namespace fr::cuda
