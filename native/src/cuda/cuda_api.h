// What the rest of the addon needs from the CUDA + NCCL backend. Every function here exists in every build:
// without the CUDA toolkit at build time (FAIRRING_WITH_CUDA undefined) they report that CUDA was not built.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "../runtime.h"

namespace fr::cuda {

struct RuntimeInfo {
  bool built = false;       // compiled with the CUDA toolkit
  int deviceCount = 0;      // 0 when unavailable
  std::string error;        // why there are no devices (no driver, insufficient driver, not built...)
  int driverVersion = 0;    // cudaDriverGetVersion, 0 if unknown
  int runtimeVersion = 0;   // CUDART_VERSION of the statically linked runtime
};
RuntimeInfo runtimeInfo();

// Fills name and total memory of one device; false with *error when the ordinal is not usable.
bool deviceInfo(int ordinal, std::string* name, uint64_t* totalMemory, std::string* error);

struct NcclInfo {
  bool loaded = false;
  int version = 0;          // ncclGetVersion, e.g. 22803
  std::string library;      // the path or soname that was loaded
  std::string error;        // why it could not be loaded
};
// Loads NCCL on first use: FAIRRING_NCCL_LIBRARY if set, else libnccl.so.2 from the loader path.
NcclInfo ncclInfo();

// 128 bytes from ncclGetUniqueId; empty with *error on failure.
std::string ncclUniqueId(std::string* error);

struct Member {
  int rank;
  std::shared_ptr<DeviceImpl> device;
};
// ncclCommInitRankConfig (nonblocking communicators) for every member inside one ncclGroupStart/End (several
// local ranks in one process). Blocks until the communicator is up, or fails after timeoutMs: call it off the
// JS thread.
std::vector<std::shared_ptr<CommImpl>> initComms(const std::string& id, int nranks, const std::vector<Member>& members,
                                                 int timeoutMs, std::string* error);

// Shutdown, after every communicator's abort was asked: returns once every NCCL abort has ended, so that NCCL is
// not torn down under one.
void waitForAborts();

// Shutdown, last: the device and pinned memory frees still queued on the reaper thread are dropped (the process
// ends, and the driver takes the memory back), and the one running is waited for (2 s at most), so that no free
// runs while exit() tears the CUDA runtime down (a SIGSEGV in cudaFree after a natural exit, on 2 x H200).
void stopReaper();

}  // namespace fr::cuda
