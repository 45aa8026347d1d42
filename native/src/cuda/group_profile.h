// FAIRRING_NCCL_PROFILE=1: the host time of every NCCL group the issuer runs, summed up and written to stderr
// at process exit as one line: groups, how many returned ncclInProgress, the mean and the largest time inside
// ncclGroupStart ... ncclGroupEnd and until every communicator of the group settled, and a histogram of the
// latter. For the host-cost profiles of docs/benchmarks.md; off, it costs one branch per group.
#pragma once

#include <cstdint>

namespace fr::cuda::profile {

// Whether FAIRRING_NCCL_PROFILE=1 was set when the process first asked.
bool enabled();

// One group, on the issuer: nanoseconds from ncclGroupStart to ncclGroupEnd's return and from ncclGroupStart
// until the group settled (equal where ncclGroupEnd did not return ncclInProgress).
void group(uint64_t endNs, uint64_t settledNs, bool inProgress);

}  // namespace fr::cuda::profile
