// Link stubs for the checkSides differential test: nothing here is reached by checkSides.
#include <cstdlib>
#include <shared_mutex>
#include "cuda/cuda_util.h"
#include "cuda/group_profile.h"
#include "cuda/nccl_calls.h"
#include "cuda/nccl_comm.h"
namespace fr {
std::atomic<bool> g_shuttingDown{false};
std::atomic<int> g_ncclCallsInFlight{0};
std::atomic<bool> g_exiting{false};
void applyStatus(StreamImpl&, const Status&, const char*) { std::abort(); }
size_t dtypeSize(DType) { std::abort(); }
namespace nccl {
const Library& library() { std::abort(); }
std::string describe(ncclResult_t, ncclComm_t) { std::abort(); }
}  // namespace nccl
namespace cuda {
std::shared_mutex& g_ncclCalls = *new std::shared_mutex;
Status NcclComm::averageOp(DType, nccl::ncclRedOp_t*) { std::abort(); }
nccl::ncclDataType_t ncclType(DType) { std::abort(); }
Status selectDevice(int) { std::abort(); }
namespace profile {
bool enabled() { return false; }
void group(Clock::time_point, uint64_t, uint64_t, bool, size_t) {}
}  // namespace profile
}  // namespace cuda
}  // namespace fr
