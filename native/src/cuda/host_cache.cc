#include "host_cache.h"

#ifdef FAIRRING_WITH_CUDA

#include <cstdio>
#include <map>
#include <mutex>
#include <vector>

#include "cuda_api.h"
#include "cuda_util.h"
#include "task_thread.h"

namespace fr::cuda {

namespace {

// Blocks of at most kLargest bytes are kept, kKept bytes in all; sizes are rounded up to a power of two from
// kSmallest, so a block serves every request of its class.
constexpr size_t kSmallest = 4096;
constexpr size_t kLargest = size_t{64} << 20;
constexpr size_t kKept = size_t{256} << 20;

size_t classOf(size_t bytes) {
  size_t c = kSmallest;
  while (c < bytes) c <<= 1;
  return c;
}

struct Cache {
  std::mutex m;
  std::map<size_t, std::vector<void*>> blocks;
  std::map<int, std::vector<void*>> events;
  size_t kept = 0;
};

// Never destroyed: the reaper's detached thread and late releases may use them while the process exits. The
// reaper runs the frees no thread that issues work may wait for.
TaskThread& g_reaper = *new TaskThread("fr-reaper");
Cache& g_cache = *new Cache();

// Back into the cache once the copy is over (the caller made sure of that).
void keep(int ordinal, size_t bytes, void* ptr, void* event) {
  size_t c = classOf(bytes);
  bool freeBlock = false;
  {
    std::lock_guard<std::mutex> lock(g_cache.m);
    if (event != nullptr) g_cache.events[ordinal].push_back(event);
    if (ptr != nullptr) {
      if (c <= kLargest && g_cache.kept + c <= kKept) {
        g_cache.blocks[c].push_back(ptr);
        g_cache.kept += c;
      } else {
        freeBlock = true;
      }
    }
  }
  if (freeBlock) g_reaper.post([ptr] { cudaFreeHost(ptr); });
}

}  // namespace

void reap(std::function<void()> release) { g_reaper.post(std::move(release)); }

void stopReaper() {
  if (!g_reaper.stop(std::chrono::seconds(2))) {
    std::fprintf(stderr, "fairring-rx: a device memory release was still running 2 s into the shutdown\n");
  }
}

Status pinnedTake(int ordinal, size_t bytes, void** ptr, void** event) {
  size_t c = classOf(bytes);
  *ptr = nullptr;
  *event = nullptr;
  {
    std::lock_guard<std::mutex> lock(g_cache.m);
    auto b = g_cache.blocks.find(c);
    if (b != g_cache.blocks.end() && !b->second.empty()) {
      *ptr = b->second.back();
      b->second.pop_back();
      g_cache.kept -= c;
    }
    auto& events = g_cache.events[ordinal];
    if (!events.empty()) {
      *event = events.back();
      events.pop_back();
    }
  }
  Status st = Status::Ok();
  if (*ptr == nullptr) st = check("cudaMallocHost", cudaMallocHost(ptr, c));
  if (st.ok() && *event == nullptr) {
    cudaEvent_t e = nullptr;
    st = check("cudaEventCreateWithFlags", cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    *event = e;
  }
  return st;
}

void pinnedGive(int ordinal, size_t bytes, void* ptr, void* event) {
  if (event != nullptr && cudaEventQuery(static_cast<cudaEvent_t>(event)) == cudaErrorNotReady) {
    g_reaper.post([ordinal, bytes, ptr, event] {
      cudaEventSynchronize(static_cast<cudaEvent_t>(event));
      keep(ordinal, bytes, ptr, event);
    });
    return;
  }
  keep(ordinal, bytes, ptr, event);
}

}  // namespace fr::cuda

#endif
