// FAIRRING_NCCL_PROFILE=1: the host time of every NCCL group the issuer runs, summed up and written to stderr
// at process exit: groups and their calls, how many returned ncclInProgress, the time inside ncclGroupStart ...
// ncclGroupEnd (mean, max) and until every communicator of the group settled (50th, 90th and 99th percentile,
// max), and the programs the issuer found queued together (what merged groups draw on).
// FAIRRING_NCCL_PROFILE_LOG=<file> also writes every group and batch there at exit, one CSV line each (kind,
// start and duration in microseconds from the first, calls or programs), for a timeline of the issuer.
// For the host-cost profiles of docs/benchmarks.md; off, it costs one branch per group and per batch.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace fr::cuda::profile {

using Clock = std::chrono::steady_clock;

// Whether FAIRRING_NCCL_PROFILE=1 or FAIRRING_NCCL_PROFILE_LOG was set when the process first asked.
bool enabled();

// One group of `items` calls, on the issuer, begun (ncclGroupStart) at `start`: nanoseconds from then to
// ncclGroupEnd's return and until the group settled (equal where ncclGroupEnd did not return ncclInProgress).
void group(Clock::time_point start, uint64_t endNs, uint64_t settledNs, bool inProgress, size_t items);

// Writes the report now, where the process is about to end without its atexit handlers (std::_Exit); once.
void reportNow();

// One batch of a queue's programs that the issuer found queued together and planned as one, on the issuer,
// from `start` to now.
void batch(Clock::time_point start, size_t programs);

}  // namespace fr::cuda::profile
