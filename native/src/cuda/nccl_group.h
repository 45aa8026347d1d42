// The issue of a whole NCCL group from the issuer thread (nccl_group.cc), for the CUDA backend.
#pragma once

#include <cstddef>

#include "../runtime.h"

namespace fr::cuda {

// Issues a group (ncclGroupStart ... ncclGroupEnd) on the calling thread, the issuer, and returns once it is
// over: issued (a blocking communicator's ncclGroupEnd returned; a nonblocking one's communicators polled until
// NCCL's own thread launched it), or failed. Its outcome goes to the sticky error of every stream it names. When
// one of its streams has already failed, NCCL is skipped for all of them: a peer left alone in a collective would
// never finish.
void runGroup(const CollItem* items, size_t n);

}  // namespace fr::cuda
