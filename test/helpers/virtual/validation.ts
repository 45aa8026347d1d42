// Checks of the arguments the engine passes at run time. Arguments are typed, but the engine under test may
// still pass a wrong value; checking `unknown` keeps the virtual runtime as strict as the native one.
import { dtypes, reduceOps, type BackendName, type DType, type ReduceOp } from '../../../src/native.js';
import { elementSize } from '../../../src/runtime/dtype.js';

const backends: readonly BackendName[] = ['cpu', 'cuda'];

export function index(v: unknown, name: string): number {
  if (typeof v !== 'number') throw new TypeError(`${name} must be a number`);
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${name} must be a non-negative safe integer, got ${v}`);
  return v;
}

export function backendOf(v: unknown, name: string): BackendName {
  const found = backends.find((b) => b === v);
  if (found === undefined) throw new TypeError(`${name} must be 'cpu' or 'cuda'`);
  return found;
}

export function dtypeOf(v: unknown, name: string): DType {
  const found = dtypes.find((d) => d === v);
  if (found === undefined) throw new TypeError(`${name} must be one of ${dtypes.join(', ')}`);
  return found;
}

export function reduceOpOf(v: unknown, name: string): ReduceOp {
  const found = reduceOps.find((op) => op === v);
  if (found === undefined) throw new TypeError(`${name} must be one of ${reduceOps.join(', ')}`);
  return found;
}

/** The largest divisor the native reduce takes (it is a uint32 there). */
export const maxDivisor = 2 ** 32 - 1;

export function divisorOf(v: unknown, name: string): number {
  const divisor = index(v, name);
  if (divisor === 0 || divisor > maxDivisor) throw new RangeError(`${name} must be between 1 and 2^32-1, got ${divisor}`);
  return divisor;
}

export function aligned(offset: number, dtype: DType, name: string): void {
  if (offset % elementSize(dtype) !== 0) {
    throw new RangeError(`${name} offset ${offset} is not a multiple of the element size ${elementSize(dtype)}`);
  }
}
