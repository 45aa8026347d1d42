// Host element types and their accumulators: half precision types are computed in float and rounded once,
// integers wrap like the device's fixed-width arithmetic.
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
      return b > a ? b : a;
    case RedOp::Min:
      return b < a ? b : a;
  }
  return a;
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

// out[i] = op over k of inputs[k][i]; out may alias any input. Avg divides the sum by divisor once (integers
// truncate toward zero).
template <class T>
void reduceInto(T* out, const T* const* inputs, size_t k, size_t count, RedOp op, uint32_t divisor) {
  using E = Elem<T>;
  using Acc = typename E::Acc;
  for (size_t i = 0; i < count; i++) {
    Acc acc = E::load(inputs[0][i]);
    for (size_t j = 1; j < k; j++) acc = combine(op, acc, E::load(inputs[j][i]));
    if (op == RedOp::Avg) acc = static_cast<Acc>(acc / static_cast<Acc>(divisor));
    out[i] = E::store(acc);
  }
}

void reduceBytes(void* out, const std::vector<const void*>& inputs, size_t count, DType t, RedOp op, uint32_t divisor);

}  // namespace fr::cpu
