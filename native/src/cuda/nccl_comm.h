// NCCL communicators of the CUDA backend and the issue of a whole group from the issuer thread.
#pragma once

#include "../runtime.h"

namespace fr::cuda {

// Issues a group (ncclGroupStart ... ncclGroupEnd) on the calling thread, the issuer, and applies its outcome
// to the sticky error of every stream it names. When one of those streams has already failed, NCCL is skipped
// for all of them: a peer left alone in a collective would never finish.
void runGroup(const CollItem* items, size_t n);

}  // namespace fr::cuda
