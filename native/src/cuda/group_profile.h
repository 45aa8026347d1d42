// FAIRRING_NCCL_PROFILE=1: the host time of every NCCL group the issuer runs, summed up and written to stderr
// at process exit: groups and their calls, how many returned ncclInProgress, the time inside ncclGroupStart ...
// ncclGroupEnd (mean, max) and until every communicator of the group settled (50th, 90th and 99th percentile,
// max), and the programs the issuer found queued together (what merged groups draw on).
// For the host-cost profiles of docs/benchmarks.md; off, it costs one branch per group and per batch.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fr::cuda::profile {

// Whether FAIRRING_NCCL_PROFILE=1 was set when the process first asked.
bool enabled();

// One group of `items` calls, on the issuer: nanoseconds from ncclGroupStart to ncclGroupEnd's return and from
// ncclGroupStart until the group settled (equal where ncclGroupEnd did not return ncclInProgress).
void group(uint64_t endNs, uint64_t settledNs, bool inProgress, size_t items);

// One batch of a queue's programs that the issuer found queued together and planned as one, on the issuer.
void batch(size_t programs);

}  // namespace fr::cuda::profile
