// The CUDA backend's NCCL communicator (nccl_comm.cc) as the issue of groups (nccl_group.cc) uses it: its raw
// communicator, its abort flag, the ops it made. Built only with the CUDA toolkit.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../nccl/nccl.h"
#include "../runtime.h"

namespace fr::cuda {

nccl::ncclDataType_t ncclType(DType t);

// "rank r of n", for messages.
std::string rankOf(int rank, int size);

struct NcclComm final : CommImpl {
  nccl::ncclComm_t comm = nullptr;
  // Set (on the JS thread, or at shutdown) before the abort is posted; the issuer reads it under g_ncclCalls
  // before each call on comm, and never touches comm once it is set.
  std::atomic<bool> aborted{false};
  // True from an abort's start until ncclCommAbort returned (shared with the aborter, which may outlive this).
  std::shared_ptr<std::atomic<bool>> abortRunning = std::make_shared<std::atomic<bool>>(false);
  // Avg on floats: one PreMulSum op per dtype, made on first use by the issuer (under g_ncclCalls).
  std::map<DType, nccl::ncclRedOp_t> averages;
  // The last error asyncError read (JS thread only); once failed, a nonblocking communicator stays failed.
  std::string lastAsyncError;
  // Under g_ncclCalls: a group of it returned ncclInProgress and has not been seen settled. asyncError leaves
  // it alone meanwhile (the issuer leaves the lock between its polls): the call that sees the group settled
  // completes its job, and only the issuer may.
  bool groupInFlight = false;
  // Nonzero where every rank of it was made by one initComms call (so it is blocking): the same number for all
  // of them. A group on such communicators must hold every rank's side (checkSides, nccl_group.cc).
  uint64_t clique = 0;
  // Issuer only: what its calls in a group issued whole (that returned) looked like, one number per group
  // (groupShape, nccl_group.cc), at most kSeenShapes of them. NCCL connects lazily (a peer on the first send to
  // it, an algorithm's channels on their first use, the algorithm picked from the sizes of a group's calls
  // together), so only calls shaped as before need no connection inside ncclGroupEnd, where a device's part
  // failing alone would leave the others waiting: a group that spans devices goes a part per device only where
  // each communicator's calls in it have a seen shape (nccl_group.cc, issueParts).
  static constexpr size_t kSeenShapes = 64;
  std::vector<uint64_t> seenShapes;

  void abort() override;
  bool aborting() const override;
  std::string asyncError() override;
  // The op an average of `size` contributions of t reduces with (on the issuer, under g_ncclCalls).
  Status averageOp(DType t, nccl::ncclRedOp_t* out);
  ~NcclComm() override;
};

}  // namespace fr::cuda
