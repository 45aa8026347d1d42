// Element-wise kernels of the CUDA backend, launched on a caller's stream. The results match the CPU backend
// (cpu/elem.h): half types are computed in float and rounded once, integers accumulate in int64 and wrap.
#pragma once

#include <cuda_runtime_api.h>

#include <vector>

#include "../runtime.h"

namespace fr::cuda {

// dst[0..count) = value converted to t as the CPU backend converts it.
Status launchFill(void* dst, size_t count, DType t, double value, cudaStream_t stream);

// dst[i] = op over srcs[k][i]; dst may alias any input. Avg divides the sum once by divisor.
// More inputs than fit in the kernel's parameters go through a small stream-ordered table in device memory.
Status launchReduce(void* dst, const std::vector<const void*>& srcs, size_t count, DType t, RedOp op, uint32_t divisor,
                    cudaStream_t stream);

}  // namespace fr::cuda
