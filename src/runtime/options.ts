// The one check of a call's options object, shared by every call that takes one: it must be an object, and
// name only options the call takes. Errors name the call, the stray names and what the call takes.
import { ArgumentError } from '../errors.js';

export interface OptionsShape {
  /** An options object the call takes, shown when `options` is not an object: `{ op: 'sum' }`. */
  example: string;
  /** What to add when these names were given (a hint on where such an option belongs). */
  hint?(unknown: readonly string[]): string;
  /** How to show the one option of a call that takes a single one, when its name alone says too little. */
  only?: string;
}

/** Throws an ArgumentError unless `options` is an object whose keys (undefined values aside) are all in `allowed`. */
export function checkOptionsObject(call: string, options: unknown, allowed: readonly string[], shape: OptionsShape): asserts options is object {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ArgumentError(`${call} takes an options object such as ${shape.example}, got ${show(options)}`);
  }
  const given = options as Record<string, unknown>;
  const stray = (k: string): boolean => !allowed.includes(k) && given[k] !== undefined;
  let any = false;
  for (const k in given) if (Object.hasOwn(given, k) && stray(k)) any = true;
  if (!any) return;
  const unknown = Object.keys(given).filter(stray);
  const takes = allowed.length === 1 ? `its only option is ${shape.only ?? allowed[0]!}` : `its options: ${allowed.join(', ')}`;
  throw new ArgumentError(`${call} takes no option ${unknown.map((k) => `'${k}'`).join(', ')} (${takes})${shape.hint?.(unknown) ?? ''}`);
}

/**
 * A value as an error message shows it: strings quoted (the first 64 characters), arrays element by element (the
 * first 8), objects by their class.
 */
export function show(v: unknown): string {
  if (typeof v === 'string') return v.length > 64 ? `${JSON.stringify(v.slice(0, 64))}… (${v.length} characters)` : JSON.stringify(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (Array.isArray(v)) {
    const shown = v.slice(0, 8).map(show).join(', ');
    return v.length > 8 ? `[${shown}, … (${v.length} elements)]` : `[${shown}]`;
  }
  if (v === null || (typeof v !== 'object' && typeof v !== 'function')) return String(v);
  if (typeof v === 'function') return `function ${v.name || '(anonymous)'}`;
  // An object of another realm or with no prototype names no constructor of ours: say what it is.
  return (v as { constructor?: { name?: string } }).constructor?.name ?? 'object (no prototype)';
}
