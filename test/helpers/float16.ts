// The host side of the 16-bit float dtypes for the tests' references: float16 and bfloat16 values to and from
// their raw bits (round to nearest even, as the devices do), and element access by dtype over any host array.
import type { DType } from '../../src/native.js';
import type { HostArray } from '../../src/runtime/dtype.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function float16ToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Round to nearest even, as the device does. */
export function numberToFloat16(value: number): number {
  if (Number.isNaN(value)) return 0x7e00;
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const a = Math.abs(value);
  if (a >= 65520) return sign | 0x7c00;
  if (a < 2 ** -14) {
    // Subnormal: units of 2^-24, ties to even.
    return sign | roundHalfEven(a * 2 ** 24);
  }
  let exp = Math.floor(Math.log2(a));
  if (2 ** exp > a) exp--;
  if (2 ** (exp + 1) <= a) exp++;
  const mant = roundHalfEven((a / 2 ** exp - 1) * 1024);
  return sign | (mant === 1024 ? ((exp + 16) << 10) : (((exp + 15) << 10) | mant));
}

function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

export function bfloat16ToNumber(h: number): number {
  u32[0] = h << 16;
  return f32[0]!;
}

/** Round to nearest even from the float32 nearest to value. */
export function numberToBfloat16(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x40) & 0xffff;
  const lsb = (x >>> 16) & 1;
  return ((x + 0x7fff + lsb) >>> 16) & 0xffff;
}

/** Element i of a host array as a number (16-bit floats decoded). */
export function readNumber(dtype: DType, array: HostArray, i: number): number {
  const v = array[i]!;
  if (dtype === 'float16') return float16ToNumber(v as number);
  if (dtype === 'bfloat16') return bfloat16ToNumber(v as number);
  return Number(v);
}

/** Stores a number as element i (16-bit floats encoded, int64 through BigInt). */
export function writeNumber(dtype: DType, array: HostArray, i: number, value: number): void {
  if (dtype === 'float16') (array as Uint16Array)[i] = numberToFloat16(value);
  else if (dtype === 'bfloat16') (array as Uint16Array)[i] = numberToBfloat16(value);
  else if (dtype === 'int64') (array as BigInt64Array)[i] = BigInt(Math.trunc(value));
  else (array as Exclude<HostArray, BigInt64Array>)[i] = value;
}
