// Releases that must never hold up the threads that issue work, and the pinned host blocks device-to-host
// copies land in, kept for reuse. Only compiled with the CUDA toolkit.
//
// cudaFree and cudaFreeHost wait for the whole device, and cudaMallocHost takes driver locks such waits hold.
// Allocating and freeing pinned memory per download (every call check of a multi-process world reads one back)
// put those calls between a rank's issuer and the collectives its peers wait for. Pinned blocks are therefore
// taken from a cache and given back to it; the reaper thread, which nothing waits for, does the frees that
// remain (device memory, blocks the cache does not keep).
#pragma once

#include <cstddef>
#include <functional>

#include "../runtime.h"

namespace fr::cuda {

// Runs release on the reaper thread, after the releases posted before it.
void reap(std::function<void()> release);

// A pinned block of at least `bytes` and an event (no timing) of device `ordinal` to record after the copy into
// it. Issuer thread.
Status pinnedTake(int ordinal, size_t bytes, void** ptr, void** event);

// Gives a block and its event back (any thread). A copy still in flight is waited for on the reaper thread
// before the block can be reused.
void pinnedGive(int ordinal, size_t bytes, void* ptr, void* event);

}  // namespace fr::cuda
