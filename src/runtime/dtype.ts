// Element types on the host: which TypedArray carries each dtype, and which dtype an uploaded array is.
import { types } from 'node:util';
import type { DType } from '../native.js';
import { ArgumentError } from '../errors.js';
import { show } from './options.js';

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
 * Each dtype on the host: the TypedArray that carries it (16-bit floats as their raw bits), V8's own test for
 * that type (true for an array made in another realm, a vm context or a test runner's sandbox, too, and not
 * fooled by a Symbol.toStringTag), and whether it is a floating-point type. One table for element sizes, host
 * arrays, the dtype of an upload, the rules that depend on floating point, and the messages naming what is
 * accepted.
 */
const hostTypes: Readonly<Record<DType, { array: HostArrayType; is: (value: unknown) => boolean; float: boolean }>> = {
  float16: { array: Uint16Array, is: types.isUint16Array, float: true },
  bfloat16: { array: Uint16Array, is: types.isUint16Array, float: true },
  float32: { array: Float32Array, is: types.isFloat32Array, float: true },
  float64: { array: Float64Array, is: types.isFloat64Array, float: true },
  int8: { array: Int8Array, is: types.isInt8Array, float: false },
  uint8: { array: Uint8Array, is: types.isUint8Array, float: false },
  int32: { array: Int32Array, is: types.isInt32Array, float: false },
  int64: { array: BigInt64Array, is: types.isBigInt64Array, float: false },
};
const tableDTypes = Object.keys(hostTypes) as DType[];

export function elementSize(dtype: DType): number {
  return hostTypes[dtype].array.BYTES_PER_ELEMENT;
}

export function isFloat(dtype: DType): boolean {
  return hostTypes[dtype].float;
}

/** A host array of `length` elements of dtype over a fresh or given ArrayBuffer. */
export function hostArray(dtype: DType, buffer: ArrayBuffer, byteOffset = 0, length?: number): HostArray {
  return new hostTypes[dtype].array(buffer, byteOffset, length ?? (buffer.byteLength - byteOffset) / elementSize(dtype));
}

/** The dtypes carried by a Uint16Array, named with upload(data, { dtype }). */
const uint16DTypes = tableDTypes.filter((d) => hostTypes[d].array === Uint16Array);
const uint16Names = uint16DTypes.map((d) => `'${d}'`);

/** The dtypes whose TypedArray says which they are, in the table's order. */
const ownTypeDTypes = tableDTypes.filter((d) => !uint16DTypes.includes(d));

const supported = `${ownTypeDTypes.map((d) => hostTypes[d].array.name).join(', ')}, or Uint16Array with { dtype: ${uint16Names.join(' | ')} }`;

/**
 * The dtype a TypedArray carries; 16-bit floats come as Uint16Array and need it named. Anything else (another
 * TypedArray, a DataView, a plain array, a hint that is not float16/bfloat16 or that comes with another array)
 * is an ArgumentError naming what was given and what is accepted.
 */
export function dtypeOf(array: unknown, hint?: unknown): DType {
  if (hint !== undefined && !uint16DTypes.includes(hint as DType)) {
    throw new ArgumentError(`dtype must be ${uint16Names.join(' or ')} (the dtypes a Uint16Array carries), got ${show(hint)}; other dtypes follow from the array's type: ${supported}`);
  }
  if (hint !== undefined && !types.isUint16Array(array)) {
    throw new ArgumentError(`dtype '${String(hint)}' is given only with a Uint16Array (its raw 16-bit values), got ${show(array)}; drop the dtype option or pass a Uint16Array`);
  }
  for (const dtype of ownTypeDTypes) {
    if (hostTypes[dtype].is(array)) return dtype;
  }
  if (types.isUint16Array(array)) {
    if (hint === undefined) {
      throw new ArgumentError(`a Uint16Array carries ${uint16DTypes.join(' or ')} values: pass { dtype: ${uint16Names.join(' | ')} }`);
    }
    return hint as DType;
  }
  throw new ArgumentError(`data must be a ${supported}; got ${show(array)}`);
}
