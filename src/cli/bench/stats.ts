// Median and spread of repeated runs, and ratios of paired runs.

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values');
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function spread(values: readonly number[]): Spread {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

/**
 * a[i] / b[i] over the pairs i, as median and spread: runs i of a and b ran next to each other, so each pair
 * saw the same host.
 */
export function pairedRatio(a: readonly number[], b: readonly number[]): Spread {
  if (a.length !== b.length) throw new RangeError(`pairedRatio: ${a.length} runs against ${b.length}`);
  return spread(a.map((x, i) => x / b[i]!));
}
