// What orders NCCL calls between threads, for the CUDA backend's communicators (nccl_comm.cc) and groups
// (nccl_group.cc): the NCCL lock, and the aborter that runs communicator aborts and releases. Plain C++, built
// with or without CUDA.
#pragma once

#include <functional>
#include <shared_mutex>

namespace fr::cuda {

// Held by the issuer (exclusively) around every NCCL call it makes on a communicator, or has a part thread make
// for it while it waits (nccl_group.cc, issueParts), and by each abort or
// release (shared) around ncclCommAbort and its kin: an abort never runs while the issuer is inside NCCL, and
// aborts run at once. Aborts run beside a group being issued crashed the process (SIGSEGV in ncclGroupEnd on
// the issuer: survivors of the CUDA vanishing-rank job, 2 x H200, NCCL 2.28). Where a peer lives in another
// process communicators are nonblocking, so the issuer is never inside NCCL for long: a group returns
// ncclInProgress while NCCL's own thread connects and launches it, and the issuer polls it, leaving the lock
// between polls. With blocking communicators there, a group could hold the issuer, and so every abort, for good:
// the vanishing-rank job's survivors hung, the issuer inside ncclGroupEnd and every abort waiting for this lock
// (docs/engine.md). Where every rank is in the process they are blocking: every rank's side of each group is
// issued at once (by the issuer, or a part per device by it and the part threads), and a group spans threads
// only where no call needs a new connection, since a side failing alone there could leave another waiting inside
// the call.
// Never destroyed: detached aborts and the issuer may still take it while the process exits.
extern std::shared_mutex& g_ncclCalls;

// Runs task (an abort or a release) on a thread of its own, beside every other one posted, and returns at once;
// with no thread to be had, runs it here rather than not at all. ncclCommAbort of one communicator can wait for
// the device, where a kernel of another communicator waits for a peer that never comes until that communicator
// is aborted too (NCCL 2.28: the CUDA failure test's process waited for good when aborts ran one after the
// other, or clique by clique).
void postAbort(std::function<void()> task);

}  // namespace fr::cuda
