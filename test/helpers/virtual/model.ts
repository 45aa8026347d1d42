// The models the tests plug in (how long an operation takes, whether it fails) and the log of every operation
// as it was scheduled.
import type { GroupItem } from '../../../src/native.js';

export type VirtualOpKind = 'copy' | 'copyFromHost' | 'copyToHost' | 'fill' | 'reduce' | 'group';

/** An operation as the duration and failure models see it. */
export interface VirtualOp {
  kind: VirtualOpKind;
  /** Device ordinal; for a group, that of its first item. */
  device: number;
  /** Stream id; for a group, that of its first item. */
  stream: number;
  /** The group's items, only for 'group'. */
  items?: readonly GroupItem[];
  /** Bytes moved or written; for a group, the largest per-rank message (an input or output of one item). */
  bytes: number;
  /** For a group, its collective kinds in order of appearance joined by '+', e.g. 'allReduce' or 'send+recv'. */
  label?: string;
}

/** One enqueued operation, in enqueue order. Skipped operations take no time and carry the stream's error. */
export interface VirtualOpRecord {
  kind: VirtualOpKind;
  device: number;
  stream: number;
  start: number;
  end: number;
  label?: string;
  error?: string;
}

export interface VirtualRuntimeOptions {
  /** Virtual milliseconds (frames under TestScheduler.run) the operation takes; 1 when left out. */
  duration?: (op: VirtualOp) => number;
  /** A message makes the operation fail, setting the sticky error `<kind>: <message>` on its streams. */
  fail?: (op: VirtualOp) => string | null;
  /**
   * Frames between a queue record completing on the device and the host's report of it (the watcher's poll,
   * the wake-up of the JS thread); 0 when left out. The device goes on meanwhile.
   */
  reportDelay?: number;
}

export class OpModel {
  readonly log: VirtualOpRecord[] = [];
  /** Frames from a record's completion to its report. */
  readonly reportDelay: number;
  readonly #options: VirtualRuntimeOptions;

  constructor(options: VirtualRuntimeOptions) {
    this.#options = options;
    const d = options.reportDelay ?? 0;
    if (!(Number.isInteger(d) && d >= 0)) throw new RangeError(`reportDelay must be a non-negative integer of frames, got ${d}`);
    this.reportDelay = d;
  }

  duration(op: VirtualOp): number {
    const d = this.#options.duration?.(op) ?? 1;
    if (!(d >= 0 && Number.isFinite(d))) throw new RangeError(`duration of ${op.kind} must be a finite non-negative number, got ${d}`);
    return d;
  }

  failure(op: VirtualOp): string | null {
    return this.#options.fail?.(op) ?? null;
  }

  append(op: VirtualOp, start: number, end: number, error: string | null): void {
    this.log.push({
      kind: op.kind,
      device: op.device,
      stream: op.stream,
      start,
      end,
      ...(op.label === undefined ? {} : { label: op.label }),
      ...(error === null ? {} : { error }),
    });
  }
}
