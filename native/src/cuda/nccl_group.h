// The issue of a whole NCCL group from the issuer thread (nccl_group.cc), for the CUDA backend.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "../runtime.h"

namespace fr::cuda {

// A group whose ncclGroupEnd returned ncclInProgress: NCCL's own thread still connects and launches it, and
// nothing may be issued on its streams or communicators until it settled (pollGroup, settleGroup).
struct GroupInFlight {
  std::vector<StreamImpl*> streams;
  std::vector<CommImpl*> comms;  // sorted, each once
  std::vector<bool> settled;     // per comm
  Status outcome;
  bool inProgress = false;
  size_t calls = 0;
  bool profiled = false;
  std::chrono::steady_clock::time_point started, ended;
  // What its items point to (streams, communicators, buffers), kept until it settled.
  std::shared_ptr<void> keep;
  // Counted as an NCCL call in progress until it settled: NCCL's thread may still run it, and a process that
  // exits meanwhile must end at once (Shutdown in addon.cc) rather than tear the libraries down under it.
  NcclCallScope inNccl;
};

// Issues a group (ncclGroupStart ... ncclGroupEnd) on the calling thread, the issuer. When it is over at once
// (issued, or failed) its outcome goes to the sticky error of every stream it names and the result is null;
// else the group in flight, to be polled. When one of its streams has already failed, NCCL is skipped for all of
// them: a peer left alone in a collective would never finish.
std::unique_ptr<GroupInFlight> startGroup(const CollItem* items, size_t n);

// Asks once whether a group in flight settled; once it has, its streams are told its outcome and the result is
// true. Never waits for NCCL's thread.
bool pollGroup(GroupInFlight& g);

// Waits until a group in flight settled and tells its streams.
void settleGroup(GroupInFlight& g);

// startGroup, then settleGroup where it is in flight.
void runGroup(const CollItem* items, size_t n);

}  // namespace fr::cuda
