// Element-wise kernels of the CUDA backend, launched on a caller's stream. The results match the CPU backend
// (cpu/elem.h) bit for bit, NaN payloads aside: half types are computed in float and rounded once, integers wrap
// in their own width; the rules are those of docs/semantics.md.
#pragma once

#include <cuda_runtime_api.h>

#include <vector>

#include "../runtime.h"

namespace fr::cuda {

// dst[0..count) = value converted to t as the CPU backend converts it.
Status launchFill(void* dst, size_t count, DType t, double value, cudaStream_t stream);

// dst[i] = op over srcs[k][i]; dst may alias any input. Avg stands for `divisor` contributions: floats are each
// multiplied by 1/divisor rounded to t before the sum, integers sum (wrapping) and then divide, truncating.
// More inputs than fit in the kernel's parameters go through a small stream-ordered table in device memory.
Status launchReduce(void* dst, const std::vector<const void*>& srcs, size_t count, DType t, RedOp op, uint32_t divisor,
                    cudaStream_t stream);

}  // namespace fr::cuda
