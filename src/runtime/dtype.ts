// Element types on the host: which TypedArray carries each dtype, and the 16-bit float encodings.
import type { DType } from '../native.js';
import { ArgumentError } from '../errors.js';

export type HostArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int32Array
  | BigInt64Array
  | Uint16Array;

interface HostArrayType {
  new (buffer: ArrayBuffer, byteOffset: number, length: number): HostArray;
  readonly BYTES_PER_ELEMENT: number;
  readonly name: string;
}

/**
 * The TypedArray that carries each dtype on the host (16-bit floats as their raw bits): one table for element
 * sizes, host arrays, the dtype of an upload and the messages naming what is accepted.
 */
const hostArrayTypes: Readonly<Record<DType, HostArrayType>> = {
  float16: Uint16Array,
  bfloat16: Uint16Array,
  float32: Float32Array,
  float64: Float64Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int32: Int32Array,
  int64: BigInt64Array,
};

export function elementSize(dtype: DType): number {
  return hostArrayTypes[dtype].BYTES_PER_ELEMENT;
}

export function isFloat(dtype: DType): boolean {
  return dtype === 'float16' || dtype === 'bfloat16' || dtype === 'float32' || dtype === 'float64';
}

/** A host array of `length` elements of dtype over a fresh or given ArrayBuffer. */
export function hostArray(dtype: DType, buffer: ArrayBuffer, byteOffset = 0, length?: number): HostArray {
  return new hostArrayTypes[dtype](buffer, byteOffset, length ?? (buffer.byteLength - byteOffset) / elementSize(dtype));
}

/** The dtypes carried by a Uint16Array, named with upload(data, { dtype }). */
export const uint16DTypes: readonly DType[] = ['float16', 'bfloat16'];

/** The dtypes whose TypedArray says which they are, in the table's order. */
const ownTypeDTypes = (Object.keys(hostArrayTypes) as DType[]).filter((d) => !uint16DTypes.includes(d));

const supported = `${ownTypeDTypes.map((d) => hostArrayTypes[d].name).join(', ')}, or Uint16Array with { dtype: 'float16' | 'bfloat16' }`;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object' || typeof value === 'function') return (value as object).constructor?.name ?? typeof value;
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/**
 * The dtype a TypedArray carries; 16-bit floats come as Uint16Array and need it named. Anything else (another
 * TypedArray, a DataView, a plain array, a hint that is not float16/bfloat16 or that comes with another array)
 * is an ArgumentError naming what was given and what is accepted.
 */
export function dtypeOf(array: unknown, hint?: unknown): DType {
  if (hint !== undefined && !uint16DTypes.includes(hint as DType)) {
    throw new ArgumentError(`dtype must be 'float16' or 'bfloat16' (the dtypes a Uint16Array carries), got ${describe(hint)}; other dtypes follow from the array's type: ${supported}`);
  }
  if (hint !== undefined && !(array instanceof Uint16Array)) {
    throw new ArgumentError(`dtype '${String(hint)}' is given only with a Uint16Array (its raw 16-bit values), got a ${describe(array)}; drop the dtype option or pass a Uint16Array`);
  }
  for (const dtype of ownTypeDTypes) {
    if (array instanceof hostArrayTypes[dtype]) return dtype;
  }
  if (array instanceof Uint16Array) {
    if (hint === undefined) {
      throw new ArgumentError("a Uint16Array carries float16 or bfloat16 values: pass { dtype: 'float16' | 'bfloat16' }");
    }
    return hint as DType;
  }
  throw new ArgumentError(`data must be a ${supported}; got ${describe(array)}`);
}

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
