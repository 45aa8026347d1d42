// Small helpers shared by the CUDA backend's files: error strings, the cached current device, handle casts.
// Only compiled with the CUDA toolkit.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "../runtime.h"

namespace fr::cuda {

inline std::string failure(const std::string& call, cudaError_t e) { return call + " failed: " + cudaGetErrorString(e); }

inline Status check(const char* call, cudaError_t e) {
  return e == cudaSuccess ? Status::Ok() : Status::Fail(failure(call, e));
}

// cudaSetDevice, skipped when this thread already selected the device. Every device switch in the backend
// goes through here so that the cache stays true.
Status selectDevice(int ordinal);

inline cudaStream_t streamOf(const StreamImpl& s) { return static_cast<cudaStream_t>(s.cudaStream); }

}  // namespace fr::cuda
