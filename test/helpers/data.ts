// Fresh random inputs per dtype and float64 (or exact integer) references, computed on the host independently
// of the code under test, by the rules of docs/semantics.md.
import { expect } from 'chai';
import type { DType, ReduceOp } from '../../src/native.js';
import { elementSize, hostArray, isFloat, type HostArray } from '../../src/runtime/dtype.js';
import { bfloat16ToNumber, float16ToNumber, numberToBfloat16, numberToFloat16, readNumber, writeNumber } from './float16.js';

const intRange: Record<string, [number, number]> = {
  int8: [-15, 15],
  uint8: [0, 31],
  int32: [-100000, 100000],
  int64: [-1000000, 1000000],
};

/** n random elements, never all zero: floats in [-1, 1] rounded to the dtype, integers in a range that keeps
 *  sums of 8 ranks in range. `random` (default Math.random) lets processes draw the same values from a seed. */
export function randomArray(dtype: DType, n: number, random: () => number = Math.random): HostArray {
  const a = hostArray(dtype, new ArrayBuffer(n * elementSize(dtype)));
  const range = intRange[dtype];
  for (let i = 0; i < n; i++) {
    let v: number;
    if (range === undefined) {
      v = random() * 2 - 1;
      if (Math.abs(v) < 1e-3) v = 0.5;
    } else {
      v = range[0] + Math.floor(random() * (range[1] - range[0] + 1));
    }
    writeNumber(dtype, a, i, v);
  }
  return a;
}

/** The most ranks whose sum of gridArray values every float dtype holds exactly (bfloat16: 8 significant bits). */
export const EXACT_SUM_RANKS = 16;

/**
 * n random elements whose sums over up to EXACT_SUM_RANKS ranks are exact in the dtype, in any order: floats
 * are nonzero multiples of 1/16 in [-1, 1] (a partial sum is a multiple of 1/16 of at most 16, 256 steps), so a
 * float sum all-reduce has one right answer and a dropped, doubled or misplaced term shows. Integers as
 * randomArray.
 */
export function gridArray(dtype: DType, n: number, random: () => number = Math.random): HostArray {
  if (!isFloat(dtype)) return randomArray(dtype, n, random);
  const a = hostArray(dtype, new ArrayBuffer(n * elementSize(dtype)));
  for (let i = 0; i < n; i++) {
    const step = 1 + Math.floor(random() * 16);
    writeNumber(dtype, a, i, (random() < 0.5 ? -step : step) / 16);
  }
  return a;
}

export function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

const bits: Record<string, number> = { int8: 8, uint8: 8, int32: 32, int64: 64 };

function wrap(dtype: DType, v: bigint): bigint {
  const b = bits[dtype]!;
  return dtype === 'uint8' ? BigInt.asUintN(b, v) : BigInt.asIntN(b, v);
}

/** x rounded to the nearest value of a float dtype, ties to even. */
export function roundTo(dtype: DType, x: number): number {
  switch (dtype) {
    case 'float16':
      return float16ToNumber(numberToFloat16(x));
    case 'bfloat16':
      return bfloat16ToNumber(numberToBfloat16(x));
    case 'float32':
      return Math.fround(x);
    default:
      return x;
  }
}

/** What an average of n contributions multiplies each float by: 1/n rounded to the dtype through float32. */
export function avgScale(dtype: DType, n: number): number {
  return dtype === 'float64' ? 1 / n : roundTo(dtype, Math.fround(1 / n));
}

/** The terms a float reduction combines: the inputs, or for avg each input times avgScale rounded to the dtype. */
export function contributions(dtype: DType, op: ReduceOp, xs: readonly number[]): number[] {
  if (op !== 'avg') return [...xs];
  const s = avgScale(dtype, xs.length);
  return xs.map((x) => roundTo(dtype, x * s));
}

/** max/min as NCCL's fmax/fmin: NaNs are ignored unless every input is NaN; of two zeros max takes +0, min -0. */
export function maxOf(xs: readonly number[]): number {
  const numbers = xs.filter((x) => !Number.isNaN(x));
  return numbers.length === 0 ? NaN : Math.max(...numbers);
}

export function minOf(xs: readonly number[]): number {
  const numbers = xs.filter((x) => !Number.isNaN(x));
  return numbers.length === 0 ? NaN : Math.min(...numbers);
}

/** Elementwise op over inputs: float64 over the rules' terms for floats, exact wrapping integers otherwise. */
export function reference(dtype: DType, op: ReduceOp, inputs: HostArray[], n: number): Array<number | bigint> {
  const out: Array<number | bigint> = [];
  for (let i = 0; i < n; i++) {
    if (isFloat(dtype)) {
      const xs = inputs.map((a) => readNumber(dtype, a, i));
      out.push(combineFloat(dtype, op, xs));
    } else {
      const xs = inputs.map((a) => BigInt(a[i]!));
      out.push(combineInt(dtype, op, xs));
    }
  }
  return out;
}

function combineFloat(dtype: DType, op: ReduceOp, xs: number[]): number {
  switch (op) {
    case 'sum':
    case 'avg':
      return contributions(dtype, op, xs).reduce((a, b) => a + b, 0);
    case 'prod':
      return xs.reduce((a, b) => a * b, 1);
    case 'max':
      return maxOf(xs);
    case 'min':
      return minOf(xs);
  }
}

/** The exact result of an integer reduction: wrapping in the dtype; avg divides the wrapped sum, truncating. */
export function combineInt(dtype: DType, op: ReduceOp, xs: readonly bigint[]): bigint {
  switch (op) {
    case 'sum':
      return wrap(dtype, xs.reduce((a, b) => a + b, 0n));
    case 'avg':
      // BigInt division truncates toward zero.
      return wrap(dtype, xs.reduce((a, b) => a + b, 0n)) / BigInt(xs.length);
    case 'prod':
      return wrap(dtype, xs.reduce((a, b) => a * b, 1n));
    case 'max':
      return xs.reduce((a, b) => (b > a ? b : a));
    case 'min':
      return xs.reduce((a, b) => (b < a ? b : a));
  }
}

const epsilon: Record<string, number> = { float16: 2 ** -10, bfloat16: 2 ** -7, float32: 2 ** -23, float64: 2 ** -52 };

/** Asserts got matches the reference: exactly for integers, max and min, and where `exact` says the data makes
 *  every rounding exact (gridArray's sums); within k rounding steps of the dtype otherwise (a device may round
 *  at every step of a ring). */
export function expectClose(
  dtype: DType,
  op: ReduceOp,
  k: number,
  got: HostArray,
  expected: Array<number | bigint>,
  what: string,
  exactData = false,
): void {
  expect(got.length, `${what}: length`).to.equal(expected.length);
  const exact = exactData || !isFloat(dtype) || op === 'max' || op === 'min';
  const tol = exact ? 0 : epsilon[dtype]! * (k + 2) * 2;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    if (typeof e === 'bigint') {
      const g = BigInt(got[i]!);
      if (g !== e) expect.fail(`${what}: element ${i} is ${g}, expected ${e}`);
      continue;
    }
    const g = readNumber(dtype, got, i);
    // Magnitudes are at most k (sums of values in [-1, 1]); scale the tolerance by that bound.
    const bound = op === 'sum' ? k : 1;
    if (!(Math.abs(g - e) <= tol * bound)) {
      expect.fail(`${what}: element ${i} is ${g}, expected ${e} (tolerance ${tol * bound})`);
    }
  }
}
