// Parsers for option values. Each throws commander's InvalidArgumentError saying what it wanted; commander
// prefixes the option's name and the value given.
import { InvalidArgumentError } from 'commander';

const units: Readonly<Record<string, number>> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30 };

/** The value as a whole number (decimal digits only), NaN otherwise. */
function whole(value: string): number {
  return /^\d+$/.test(value) ? Number(value) : NaN;
}

export function positiveInt(value: string): number {
  const n = whole(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('Must be a positive integer.');
  return n;
}

/** A parser of whole numbers from `lo` to `hi`. */
export function intIn(lo: number, hi: number): (value: string) => number {
  return (value) => {
    const n = whole(value);
    if (!Number.isSafeInteger(n) || n < lo || n > hi) throw new InvalidArgumentError(`Must be an integer from ${lo} to ${hi}.`);
    return n;
  };
}

export function nonNegativeInt(value: string): number {
  const n = whole(value);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError('Must be an integer, 0 or more.');
  return n;
}

/** Bytes: a whole number of bytes or a number with a binary unit, as in 4096, 64K, 64KiB, 25MiB, 1GiB. */
export function size(value: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMG]?)(?:i?B)?$/i.exec(value);
  const bytes = m ? Number(m[1]) * units[m[2]!.toUpperCase()]! : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    throw new InvalidArgumentError('Must be a positive whole number of bytes, such as 4096, 64KiB, 25MiB or 1GiB.');
  }
  return bytes;
}

/** `LO..HI`, both powers of two: every power of two from LO to HI. */
export function sizeRange(value: string): number[] {
  const parts = value.split('..');
  if (parts.length !== 2) throw new InvalidArgumentError('Must be a range LO..HI, such as 4KiB..1GiB.');
  const [lo, hi] = parts.map(size) as [number, number];
  if (!isPowerOfTwo(lo) || !isPowerOfTwo(hi)) throw new InvalidArgumentError('Both ends must be powers of two.');
  if (lo > hi) throw new InvalidArgumentError('LO must not exceed HI.');
  const sizes: number[] = [];
  for (let s = lo; s <= hi; s *= 2) sizes.push(s);
  return sizes;
}

/** A comma-separated list of distinct names from `table`. */
export function listOf(table: readonly string[]): (value: string) => string[] {
  return (value) => {
    const names = value.split(',').map((s) => s.trim());
    const unknown = names.filter((n) => !table.includes(n));
    if (unknown.length > 0) throw new InvalidArgumentError(`Unknown: ${unknown.join(', ')}. Known: ${table.join(', ')}.`);
    if (new Set(names).size !== names.length) throw new InvalidArgumentError('A name is listed twice.');
    return names;
  };
}

function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && 2 ** Math.round(Math.log2(n)) === n;
}

/** Formats bytes with the largest binary unit that divides them: 4 KiB, 25 MiB, 1000 B. */
export function formatSize(bytes: number): string {
  for (const [unit, scale] of [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]] as const) {
    if (bytes >= scale && bytes % scale === 0) return `${bytes / scale} ${unit}`;
  }
  return bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(2)} MiB` : `${bytes} B`;
}
