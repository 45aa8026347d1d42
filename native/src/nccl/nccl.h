// Run-time binding to libnccl.so.2. The build has no NCCL header and the addon must load on machines without
// NCCL, so the few types and entry points used are declared here (ABI-compatible with nccl.h) and resolved
// with dlopen on first use.
#pragma once

#include <string>

namespace fr::nccl {

struct ncclComm;
using ncclComm_t = ncclComm*;

struct ncclUniqueId {
  char internal[128];
};

enum ncclResult_t : int {
  ncclSuccess = 0,
  ncclUnhandledCudaError = 1,
  ncclSystemError = 2,
  ncclInternalError = 3,
  ncclInvalidArgument = 4,
  ncclInvalidUsage = 5,
  ncclRemoteError = 6,
  ncclInProgress = 7,
  ncclTimeout = 8,
};

enum ncclDataType_t : int {
  ncclInt8 = 0,
  ncclUint8 = 1,
  ncclInt32 = 2,
  ncclInt64 = 4,
  ncclFloat16 = 6,
  ncclFloat32 = 7,
  ncclFloat64 = 8,
  ncclBfloat16 = 9,
};

// Ops made by ncclRedOpCreatePreMulSum are further values of this type, private to their communicator.
enum ncclRedOp_t : int { ncclSum = 0, ncclProd = 1, ncclMax = 2, ncclMin = 3, ncclAvg = 4 };

enum ncclScalarResidence_t : int { ncclScalarDevice = 0, ncclScalarHostImmediate = 1 };

// ncclConfig_t as NCCL 2.14 laid it out: NCCL copies `size` bytes over its defaults and reads only the fields
// that `version` had, so the fields later versions added keep their defaults.
struct ncclConfig_t {
  size_t size;
  unsigned int magic;
  unsigned int version;
  int blocking;
};

// A configuration for communicators that block the calling thread in their calls (blocking = 1), or never do
// (blocking = 0: their calls may return ncclInProgress, and ncclCommGetAsyncError says when they are done).
inline ncclConfig_t commConfig(bool blocking) {
  return ncclConfig_t{sizeof(ncclConfig_t), 0xcafebeef, 21400, blocking ? 1 : 0};
}

// cudaStream_t is a pointer to an opaque driver struct; this file compiles without the CUDA headers.
using CudaStream = void*;

struct Api {
  ncclResult_t (*ncclGetVersion)(int* version);
  ncclResult_t (*ncclGetUniqueId)(ncclUniqueId* uniqueId);
  ncclResult_t (*ncclCommInitRankConfig)(ncclComm_t* comm, int nranks, ncclUniqueId commId, int rank,
                                         ncclConfig_t* config);
  ncclResult_t (*ncclCommFinalize)(ncclComm_t comm);
  ncclResult_t (*ncclCommDestroy)(ncclComm_t comm);
  ncclResult_t (*ncclCommAbort)(ncclComm_t comm);
  ncclResult_t (*ncclCommGetAsyncError)(ncclComm_t comm, ncclResult_t* asyncError);
  const char* (*ncclGetErrorString)(ncclResult_t result);
  const char* (*ncclGetLastError)(ncclComm_t comm);
  ncclResult_t (*ncclGroupStart)();
  ncclResult_t (*ncclGroupEnd)();
  ncclResult_t (*ncclAllReduce)(const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype,
                                ncclRedOp_t op, ncclComm_t comm, CudaStream stream);
  ncclResult_t (*ncclReduceScatter)(const void* sendbuff, void* recvbuff, size_t recvcount, ncclDataType_t datatype,
                                    ncclRedOp_t op, ncclComm_t comm, CudaStream stream);
  ncclResult_t (*ncclAllGather)(const void* sendbuff, void* recvbuff, size_t sendcount, ncclDataType_t datatype,
                                ncclComm_t comm, CudaStream stream);
  ncclResult_t (*ncclSend)(const void* sendbuff, size_t count, ncclDataType_t datatype, int peer, ncclComm_t comm,
                           CudaStream stream);
  ncclResult_t (*ncclRecv)(void* recvbuff, size_t count, ncclDataType_t datatype, int peer, ncclComm_t comm,
                           CudaStream stream);
  // NCCL 2.11 and newer; null when the library lacks them (Library::preMulSumError says why).
  ncclResult_t (*ncclRedOpCreatePreMulSum)(ncclRedOp_t* op, void* scalar, ncclDataType_t datatype,
                                           ncclScalarResidence_t residence, ncclComm_t comm);
  ncclResult_t (*ncclRedOpDestroy)(ncclRedOp_t op, ncclComm_t comm);
};

struct Library {
  bool loaded = false;
  std::string path;   // the file the loader resolved, else the name given to dlopen
  int version = 0;    // ncclGetVersion, e.g. 22803
  std::string error;  // why loading failed
  std::string preMulSumError;  // set when the library has no ncclRedOpCreatePreMulSum / ncclRedOpDestroy
  Api api{};
};

// Loads NCCL once (thread-safe): FAIRRING_NCCL_LIBRARY if set, else libnccl.so.2 from the loader path.
const Library& library();

// "<ncclGetErrorString> (<ncclGetLastError>)", the detail omitted when NCCL has none. Requires a loaded library.
std::string describe(ncclResult_t result, ncclComm_t comm);

}  // namespace fr::nccl
