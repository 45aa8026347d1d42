// Host element types and their accumulators: half precision types are computed in float and rounded once,
// integers wrap like the device's fixed-width arithmetic. The reduction rules are those of docs/semantics.md.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "../runtime.h"

namespace fr::cpu {

struct Half {
  uint16_t bits;
};
struct BFloat16 {
  uint16_t bits;
};

inline float halfToFloat(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {
      // Subnormal: normalise into a float exponent.
      int e = -1;
      do {
        e++;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      bits = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline uint16_t floatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) return sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0u);
  if (absx >= 0x477ff000u) return sign | 0x7c00u;  // rounds to or above 65520: infinity
  if (absx < 0x38800000u) {
    // Result is subnormal or zero: scale so that the half's subnormal ulp (2^-24) lands on an integer.
    float a;
    std::memcpy(&a, &absx, 4);
    float scaled = a * 16777216.0f;  // 2^24
    uint32_t r = static_cast<uint32_t>(std::nearbyint(scaled));
    return sign | static_cast<uint16_t>(r);
  }
  uint32_t mant = absx & 0x7fffffu;
  uint32_t exp = (absx >> 23) - 127 + 15;
  uint32_t half = (exp << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) half++;
  return sign | static_cast<uint16_t>(half);
}

inline float bf16ToFloat(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline uint16_t floatToBf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  uint32_t lsb = (x >> 16) & 1u;
  x += 0x7fffu + lsb;
  return static_cast<uint16_t>(x >> 16);
}

template <class T>
struct Elem {
  using Acc = std::conditional_t<std::is_integral_v<T>, int64_t, T>;
  static Acc load(T v) { return static_cast<Acc>(v); }
  static T store(Acc a) {
    if constexpr (std::is_integral_v<T>) {
      return static_cast<T>(static_cast<std::make_unsigned_t<T>>(static_cast<uint64_t>(a)));
    } else {
      return a;
    }
  }
};
template <>
struct Elem<Half> {
  using Acc = float;
  static Acc load(Half v) { return halfToFloat(v.bits); }
  static Half store(Acc a) { return Half{floatToHalf(a)}; }
};
template <>
struct Elem<BFloat16> {
  using Acc = float;
  static Acc load(BFloat16 v) { return bf16ToFloat(v.bits); }
  static BFloat16 store(Acc a) { return BFloat16{floatToBf16(a)}; }
};

// max/min as NCCL's fmax/fmin and __hmax/__hmin: a NaN loses to any number and two NaNs give a NaN (the
// second); of two zeros, max takes +0 and min -0. The CUDA reduce kernel (cuda/kernels.cu) has the same code.
template <class Acc>
inline Acc maxOf(Acc a, Acc b) {
  if constexpr (std::is_floating_point_v<Acc>) {
    if (std::isnan(a)) return b;
    if (std::isnan(b)) return a;
    if (a == b) return std::signbit(a) ? b : a;
  }
  return b > a ? b : a;
}
template <class Acc>
inline Acc minOf(Acc a, Acc b) {
  if constexpr (std::is_floating_point_v<Acc>) {
    if (std::isnan(a)) return b;
    if (std::isnan(b)) return a;
    if (a == b) return std::signbit(a) ? a : b;
  }
  return b < a ? b : a;
}

template <class Acc>
inline Acc combine(RedOp op, Acc a, Acc b) {
  switch (op) {
    case RedOp::Sum:
    case RedOp::Avg:
      if constexpr (std::is_integral_v<Acc>) {
        return static_cast<Acc>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
      } else {
        return a + b;
      }
    case RedOp::Prod:
      if constexpr (std::is_integral_v<Acc>) {
        return static_cast<Acc>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
      } else {
        return a * b;
      }
    case RedOp::Max:
      return maxOf(a, b);
    case RedOp::Min:
      return minOf(a, b);
  }
  return a;
}

// The factor an average of n floating contributions pre-multiplies each of them by: 1/n rounded to T, through
// float for the half types, as NCCL builds its ncclAvg scalar.
template <class T>
inline T avgScale(uint32_t n) {
  if constexpr (std::is_same_v<T, double>) {
    return 1.0 / n;
  } else {
    return Elem<T>::store(static_cast<float>(1.0 / n));
  }
}

template <class F>
decltype(auto) dispatchDType(DType t, F&& f) {
  switch (t) {
    case DType::Float16:
      return f(Half{});
    case DType::BFloat16:
      return f(BFloat16{});
    case DType::Float32:
      return f(float{});
    case DType::Float64:
      return f(double{});
    case DType::Int8:
      return f(int8_t{});
    case DType::UInt8:
      return f(uint8_t{});
    case DType::Int32:
      return f(int32_t{});
    case DType::Int64:
      return f(int64_t{});
  }
  return f(float{});
}

// out[i] = op over k of inputs[k][i]; out may alias any input. Avg stands for `divisor` contributions: on floats
// every input is first multiplied by avgScale(divisor), the product rounded to T (NCCL's PreMulSum), on integers
// the sum wraps in T and is then divided, truncating toward zero (NCCL's SumPostDiv).
template <class T>
void reduceInto(T* out, const T* const* inputs, size_t k, size_t count, RedOp op, uint32_t divisor) {
  using E = Elem<T>;
  using Acc = typename E::Acc;
  constexpr bool floating = !std::is_integral_v<T>;
  const bool preMul = floating && op == RedOp::Avg;
  const Acc scale = preMul ? E::load(avgScale<T>(divisor)) : Acc{};
  auto in = [&](size_t j, size_t i) { return preMul ? E::load(E::store(E::load(inputs[j][i]) * scale)) : E::load(inputs[j][i]); };
  for (size_t i = 0; i < count; i++) {
    Acc acc = in(0, i);
    for (size_t j = 1; j < k; j++) acc = combine(op, acc, in(j, i));
    if constexpr (floating) {
      out[i] = E::store(acc);
    } else {
      out[i] = op == RedOp::Avg ? static_cast<T>(static_cast<int64_t>(E::store(acc)) / static_cast<int64_t>(divisor))
                                 : E::store(acc);
    }
  }
}

void reduceBytes(void* out, const std::vector<const void*>& inputs, size_t count, DType t, RedOp op, uint32_t divisor);

}  // namespace fr::cpu
