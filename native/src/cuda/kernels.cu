#include "kernels.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace fr::cuda {

namespace {

constexpr int kThreads = 256;
// A few waves on the largest GPUs; grid-stride loops cover any count with this many blocks.
constexpr size_t kMaxBlocks = 2048;
// Input pointers passed by value: 256 bytes of kernel parameters, no device-side table for the common case.
constexpr size_t kMaxInline = 32;

unsigned blocksFor(size_t work) {
  return static_cast<unsigned>(std::clamp<size_t>((work + kThreads - 1) / kThreads, 1, kMaxBlocks));
}

Status failed(const std::string& what, cudaError_t e) {
  return Status::Fail(what + " failed: " + cudaGetErrorString(e));
}

// Every dtype fills through one byte-pattern kernel: the value is converted on the host exactly as the CPU
// backend converts it, and the body is written with 16-byte stores whatever the element width.
struct FillArgs {
  unsigned char* base;
  size_t bytes;
  size_t head;     // bytes before the first 16-byte boundary
  size_t vectors;  // 16-byte stores after the head
  uint4 vector;    // the pattern as it lies in every 16-byte block of the body
  uint64_t pattern;  // one element's bytes, little-endian
  unsigned width;
};

__global__ void __launch_bounds__(kThreads) fillKernel(FillArgs a) {
  size_t tid = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  uint4* body = reinterpret_cast<uint4*>(a.base + a.head);
  for (size_t i = tid; i < a.vectors; i += stride) body[i] = a.vector;
  size_t tail = a.head + a.vectors * 16;
  size_t edges = a.head + (a.bytes - tail);
  for (size_t i = tid; i < edges; i += stride) {
    size_t at = i < a.head ? i : tail + (i - a.head);
    a.base[at] = static_cast<unsigned char>(a.pattern >> (8 * (at % a.width)));
  }
}

template <class T>
unsigned bytesOf(T v, unsigned char* out) {
  std::memcpy(out, &v, sizeof(T));
  return sizeof(T);
}

// Converts like the CPU backend's fromDouble: through float for the half types, static_cast otherwise.
unsigned patternOf(DType t, double value, unsigned char* out) {
  switch (t) {
    case DType::Float16:
      return bytesOf(__float2half_rn(static_cast<float>(value)), out);
    case DType::BFloat16:
      return bytesOf(__float2bfloat16_rn(static_cast<float>(value)), out);
    case DType::Float32:
      return bytesOf(static_cast<float>(value), out);
    case DType::Float64:
      return bytesOf(value, out);
    case DType::Int8:
      return bytesOf(static_cast<int8_t>(value), out);
    case DType::UInt8:
      return bytesOf(static_cast<uint8_t>(value), out);
    case DType::Int32:
      return bytesOf(static_cast<int32_t>(value), out);
    case DType::Int64:
      return bytesOf(static_cast<int64_t>(value), out);
  }
  return 0;
}

template <class T>
struct Elem {
  using Acc = std::conditional_t<std::is_integral_v<T>, int64_t, T>;
  __device__ static Acc load(T v) { return static_cast<Acc>(v); }
  __device__ static T store(Acc a) {
    if constexpr (std::is_integral_v<T>) {
      return static_cast<T>(static_cast<std::make_unsigned_t<T>>(static_cast<uint64_t>(a)));
    } else {
      return a;
    }
  }
};
template <>
struct Elem<__half> {
  using Acc = float;
  __device__ static Acc load(__half v) { return __half2float(v); }
  __device__ static __half store(Acc a) { return __float2half_rn(a); }
};
template <>
struct Elem<__nv_bfloat16> {
  using Acc = float;
  __device__ static Acc load(__nv_bfloat16 v) { return __bfloat162float(v); }
  __device__ static __nv_bfloat16 store(Acc a) { return __float2bfloat16_rn(a); }
};

// Integer arithmetic goes through uint64 so that overflow wraps instead of being undefined.
struct SumOp {
  template <class A>
  __device__ A operator()(A a, A b) const {
    if constexpr (std::is_integral_v<A>) {
      return static_cast<A>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
    } else {
      return a + b;
    }
  }
};
struct ProdOp {
  template <class A>
  __device__ A operator()(A a, A b) const {
    if constexpr (std::is_integral_v<A>) {
      return static_cast<A>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
    } else {
      return a * b;
    }
  }
};
// max/min exactly as the CPU backend's maxOf/minOf (cpu/elem.h): a NaN loses to any number, two NaNs give the
// second; of two zeros, max takes +0 and min -0 (NCCL's fmaxf/fminf and __hmax/__hmin).
struct MaxOp {
  template <class A>
  __device__ A operator()(A a, A b) const {
    if constexpr (std::is_floating_point_v<A>) {
      if (isnan(a)) return b;
      if (isnan(b)) return a;
      if (a == b) return signbit(a) ? b : a;
    }
    return b > a ? b : a;
  }
};
struct MinOp {
  template <class A>
  __device__ A operator()(A a, A b) const {
    if constexpr (std::is_floating_point_v<A>) {
      if (isnan(a)) return b;
      if (isnan(b)) return a;
      if (a == b) return signbit(a) ? a : b;
    }
    return b < a ? b : a;
  }
};

// A product rounded on its own: never fused with the addition that follows, as in the CPU backend.
__device__ __forceinline__ float mulRounded(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mulRounded(double a, double b) { return __dmul_rn(a, b); }

template <class T>
struct ReduceArgs {
  T* dst;
  const T* inputs[kMaxInline];
  const T* const* table;  // every input, in device memory, when there are more than kMaxInline
  int k;
  uint32_t divisor;
  double scale;  // avg on floats: avgScale(divisor) of the element type, exact in its accumulator
  RedOp op;
  size_t count;
  size_t vectors;  // leading 16-byte groups of elements, read and written whole when every pointer is aligned
};

template <class T>
struct alignas(16) Pack {
  T v[16 / sizeof(T)];
};

template <class T>
__device__ __forceinline__ const T* input(const ReduceArgs<T>& a, int j) {
  return a.table != nullptr ? a.table[j] : a.inputs[j];
}

// Avg on floats pre-multiplies every input by the scale, the product rounded to T (NCCL's PreMulSum).
template <class T>
__device__ __forceinline__ typename Elem<T>::Acc load(const ReduceArgs<T>& a, T v) {
  using E = Elem<T>;
  using Acc = typename E::Acc;
  if constexpr (std::is_integral_v<T>) {
    return E::load(v);
  } else {
    if (a.op != RedOp::Avg) return E::load(v);
    return E::load(E::store(mulRounded(E::load(v), static_cast<Acc>(a.scale))));
  }
}

// Avg on integers divides the sum, wrapped to T, truncating toward zero (NCCL's SumPostDiv).
template <class T, class Acc>
__device__ __forceinline__ T finish(const ReduceArgs<T>& a, Acc acc) {
  using E = Elem<T>;
  if constexpr (std::is_integral_v<T>) {
    if (a.op == RedOp::Avg) {
      return static_cast<T>(static_cast<int64_t>(E::store(acc)) / static_cast<int64_t>(a.divisor));
    }
  }
  return E::store(acc);
}

// Each element is read from every input before it is written, so dst may alias an input.
template <class T, class Op>
__device__ __forceinline__ void reduceAll(const ReduceArgs<T>& a, Op op) {
  using E = Elem<T>;
  using Acc = typename E::Acc;
  constexpr int V = 16 / sizeof(T);
  size_t tid = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t v = tid; v < a.vectors; v += stride) {
    Acc acc[V];
    Pack<T> x = reinterpret_cast<const Pack<T>*>(input(a, 0))[v];
#pragma unroll
    for (int e = 0; e < V; e++) acc[e] = load(a, x.v[e]);
    for (int j = 1; j < a.k; j++) {
      x = reinterpret_cast<const Pack<T>*>(input(a, j))[v];
#pragma unroll
      for (int e = 0; e < V; e++) acc[e] = op(acc[e], load(a, x.v[e]));
    }
#pragma unroll
    for (int e = 0; e < V; e++) x.v[e] = finish(a, acc[e]);
    reinterpret_cast<Pack<T>*>(a.dst)[v] = x;
  }
  for (size_t i = a.vectors * V + tid; i < a.count; i += stride) {
    Acc acc = load(a, input(a, 0)[i]);
    for (int j = 1; j < a.k; j++) acc = op(acc, load(a, input(a, j)[i]));
    a.dst[i] = finish(a, acc);
  }
}

// One kernel per dtype; the op is uniform across the grid, so branching on it once costs nothing.
template <class T>
__global__ void __launch_bounds__(kThreads) reduceKernel(ReduceArgs<T> a) {
  switch (a.op) {
    case RedOp::Sum:
    case RedOp::Avg:
      reduceAll(a, SumOp{});
      break;
    case RedOp::Prod:
      reduceAll(a, ProdOp{});
      break;
    case RedOp::Max:
      reduceAll(a, MaxOp{});
      break;
    case RedOp::Min:
      reduceAll(a, MinOp{});
      break;
  }
}

// 1/n rounded to T through float for the half types, as NCCL builds its ncclAvg scalar (cpu/elem.h avgScale).
template <class T>
double avgScale(uint32_t n) {
  if constexpr (std::is_same_v<T, __half>) {
    return __half2float(__float2half_rn(static_cast<float>(1.0 / n)));
  } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return __bfloat162float(__float2bfloat16_rn(static_cast<float>(1.0 / n)));
  } else if constexpr (std::is_same_v<T, float>) {
    return static_cast<float>(1.0 / n);
  } else {
    return 1.0 / n;
  }
}

template <class T>
Status reduceTyped(void* dst, const std::vector<const void*>& srcs, size_t count, RedOp op, uint32_t divisor,
                   cudaStream_t stream) {
  constexpr size_t V = 16 / sizeof(T);
  ReduceArgs<T> a{};
  a.dst = static_cast<T*>(dst);
  a.k = static_cast<int>(srcs.size());
  a.divisor = divisor;
  if constexpr (!std::is_integral_v<T>) a.scale = avgScale<T>(divisor);
  a.op = op;
  a.count = count;
  uintptr_t addressBits = reinterpret_cast<uintptr_t>(dst);
  for (const void* p : srcs) addressBits |= reinterpret_cast<uintptr_t>(p);
  a.vectors = addressBits % 16 == 0 ? count / V : 0;

  // Folding chunks of inputs through dst would round half types more than once and divide an integer average
  // more than once; one pass over a device-side pointer table keeps the CPU's results.
  void* table = nullptr;
  if (srcs.size() <= kMaxInline) {
    for (size_t j = 0; j < srcs.size(); j++) a.inputs[j] = static_cast<const T*>(srcs[j]);
  } else {
    size_t bytes = srcs.size() * sizeof(void*);
    cudaError_t e = cudaMallocAsync(&table, bytes, stream);
    if (e != cudaSuccess) return failed("cudaMallocAsync of the reduce input table", e);
    // From pageable memory the copy is staged before it returns, so srcs may go away afterwards.
    e = cudaMemcpyAsync(table, srcs.data(), bytes, cudaMemcpyHostToDevice, stream);
    if (e != cudaSuccess) {
      cudaFreeAsync(table, stream);
      return failed("cudaMemcpyAsync of the reduce input table", e);
    }
    a.table = static_cast<const T* const*>(table);
  }

  size_t work = a.vectors + (count - a.vectors * V);
  void* args[] = {&a};
  // cudaLaunchKernel reports this launch's own error; cudaGetLastError could return one left by an earlier
  // call on this thread.
  cudaError_t launched = cudaLaunchKernel(reinterpret_cast<const void*>(&reduceKernel<T>), dim3(blocksFor(work)),
                                          dim3(kThreads), args, 0, stream);
  if (table != nullptr) {
    cudaError_t freed = cudaFreeAsync(table, stream);
    if (launched == cudaSuccess && freed != cudaSuccess) {
      return failed("cudaFreeAsync of the reduce input table", freed);
    }
  }
  if (launched != cudaSuccess) return failed("reduce kernel launch", launched);
  return Status::Ok();
}

}  // namespace

Status launchFill(void* dst, size_t count, DType t, double value, cudaStream_t stream) {
  if (count == 0) return Status::Ok();
  FillArgs a{};
  unsigned char element[8] = {};
  a.width = patternOf(t, value, element);
  std::memcpy(&a.pattern, element, sizeof(element));
  a.base = static_cast<unsigned char*>(dst);
  a.bytes = count * a.width;
  a.head = std::min<size_t>(a.bytes, (16 - reinterpret_cast<uintptr_t>(dst) % 16) % 16);
  a.vectors = (a.bytes - a.head) / 16;
  // The byte at offset x from dst is pattern[x % width]; 16 is a multiple of every width, so each 16-byte block
  // of the body holds the same bytes.
  unsigned char block[16];
  for (size_t b = 0; b < 16; b++) block[b] = element[(a.head + b) % a.width];
  std::memcpy(&a.vector, block, 16);
  void* args[] = {&a};
  cudaError_t e = cudaLaunchKernel(reinterpret_cast<const void*>(&fillKernel), dim3(blocksFor(a.vectors + 32)),
                                   dim3(kThreads), args, 0, stream);
  if (e != cudaSuccess) return failed("fill kernel launch", e);
  return Status::Ok();
}

Status launchReduce(void* dst, const std::vector<const void*>& srcs, size_t count, DType t, RedOp op, uint32_t divisor,
                    cudaStream_t stream) {
  if (count == 0) return Status::Ok();
  if (srcs.empty()) return Status::Fail("reduce needs at least one input");
  switch (t) {
    case DType::Float16:
      return reduceTyped<__half>(dst, srcs, count, op, divisor, stream);
    case DType::BFloat16:
      return reduceTyped<__nv_bfloat16>(dst, srcs, count, op, divisor, stream);
    case DType::Float32:
      return reduceTyped<float>(dst, srcs, count, op, divisor, stream);
    case DType::Float64:
      return reduceTyped<double>(dst, srcs, count, op, divisor, stream);
    case DType::Int8:
      return reduceTyped<int8_t>(dst, srcs, count, op, divisor, stream);
    case DType::UInt8:
      return reduceTyped<uint8_t>(dst, srcs, count, op, divisor, stream);
    case DType::Int32:
      return reduceTyped<int32_t>(dst, srcs, count, op, divisor, stream);
    case DType::Int64:
      return reduceTyped<int64_t>(dst, srcs, count, op, divisor, stream);
  }
  return Status::Fail("reduce: unknown dtype");
}

}  // namespace fr::cuda
