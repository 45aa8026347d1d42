// The issue of a whole NCCL group from the issuer thread (nccl_group.cc), for the CUDA backend.
#pragma once

#include <cstddef>

#include "../runtime.h"

namespace fr::cuda {

// On blocking communicators (every rank made by one initComms call, so in this process) a group must hold every
// rank's side: the k-th collective of each rank of a communicator the same call (kind, count, dtype, op), and
// every send its receive, in order. A side left out would hold the issuer inside a blocking ncclGroupEnd while
// NCCL connects the ranks (a communicator's first use) and the NCCL lock with it, so that no abort could run;
// once connected, the lonely kernel would spin on the device until an abort. The Queue's parse and group()
// refuse such a group on the JS thread, before anything is issued. Nonblocking communicators (a peer in another
// process) are not checked. Returns the refusal, naming the call, the rank and the side missing.
Status checkSides(const CollItem* items, size_t n);

// Issues a group (ncclGroupStart ... ncclGroupEnd) from the calling thread, the issuer (where it spans devices
// on blocking communicators and each communicator's calls are shaped as in a group it issued whole before, a
// part per device at once: the first on the issuer, the others on their devices' part threads; a part that
// fails fails the others before their ncclGroupEnd), and returns once it is over: issued (a blocking
// communicator's ncclGroupEnd returned; a nonblocking one's communicators polled until NCCL's own thread
// launched it), or failed. Its outcome goes to the sticky error of every stream it names. When one of its streams
// has already failed, NCCL is skipped for all of them: a peer left alone in a collective would never finish. Its
// sides were checked when it was submitted (checkSides).
void runGroup(const CollItem* items, size_t n);

}  // namespace fr::cuda
