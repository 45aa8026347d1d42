// Packs operations into the Float64Array a Queue takes in one native call, and numbers records per stream
// exactly as the Queue does. Each stage commits what it packed as one unit; the units go to the Queue together
// in one call when the program is flushed: by the engine at the end of each JS turn that enqueued work (a job
// submitted, a completion report handled), else in a microtask. Anything that reads the Queue's view of a record
// flushes first. The array is reused: packing allocates nothing once it has grown to the largest batch.
import { OpCode, RecordMode, opWidth, collectiveKinds, dtypes, reduceOps, type CollectiveKind, type DType, type NativeQueue, type ReduceOp } from '../native.js';

const dtypeCode = new Map<DType, number>(dtypes.map((d, i) => [d, i]));
const redopCode = new Map<ReduceOp, number>(reduceOps.map((o, i) => [o, i]));
const kindCode = new Map<CollectiveKind, number>(collectiveKinds.map((k, i) => [k, i]));

/** What `endCapture` returns: the ops submitted while capturing, and each stream's record count before them. */
export interface Capture {
  ops: Float64Array;
  recordedBefore: readonly number[];
}

/** A record of a stream: stream index and record number (from 1). */
export interface Mark {
  stream: number;
  seq: number;
}

/**
 * Makes the error a unit's refusal is reported with, from what the Queue threw and the subject the unit was
 * committed with (a StageError naming the slice, say).
 */
export type Describe = (cause: unknown, subject: unknown) => Error;

/** Where the records of units the Queue never got begin: per stream, the first record number that will not exist. */
export type Abandoned = ReadonlyMap<number, number>;

export class Program {
  private ops = new Float64Array(256);
  private length = 0;
  private groupAt = -1;
  /** Ops [0, committed) are whole units, waiting for the next flush; the rest is a unit being packed. */
  private committed = 0;
  /** End offset, error maker and subject of each committed unit, in order. */
  private readonly unitEnds: number[] = [];
  private readonly unitDescribe: Array<Describe | undefined> = [];
  private readonly unitSubject: unknown[] = [];
  /** Committed units waiting for the flush: the first `units` entries of the three arrays above (reused). */
  private units = 0;
  private flushQueued = false;
  private readonly flushTask = (): void => {
    this.flushQueued = false;
    this.flush();
  };
  /** Set once the Queue refused a unit: the program takes no more work. */
  private refusal: Error | null = null;
  /** After a refusal: per stream, the first record number that never reached the Queue. */
  private readonly abandoned = new Map<number, number>();
  /**
   * Told once when the Queue refuses a unit at a flush: the unit's error, and the records that will never exist
   * (the refused unit's and those after it, which were dropped). Units before it were issued.
   */
  onRefused: ((error: Error, abandoned: Abandoned) => void) | null = null;
  /** Records issued per stream index, as the Queue counts them. */
  private readonly recorded: number[] = [];
  /** While capturing, every submitted op is also kept here (the native reference loop replays it). */
  private captured: number[] | null = null;
  /** The record counts when the capture began. */
  private capturedFrom: number[] = [];

  constructor(private readonly queue: NativeQueue) {}

  /** Registers a stream and starts its record count where the Queue's is. */
  track(stream: number): void {
    this.flush();
    this.recorded[stream] = this.queue.records(stream);
  }

  /** The Queue's `want`, after a flush: the record must have reached the Queue (0 for one that never will). */
  want(stream: number, seq: number): number {
    this.flush();
    if (seq >= (this.abandoned.get(stream) ?? Infinity)) return 0;
    return this.queue.want(stream, seq);
  }

  /** Whether the Queue is closed: it takes no program and answers no `want`. */
  get queueClosed(): boolean {
    return this.queue.closed;
  }

  recordsOf(stream: number): number {
    return this.recorded[stream] ?? 0;
  }

  wait(stream: number, on: Mark): void {
    const o = this.reserve(4);
    o[this.length] = OpCode.wait;
    o[this.length + 1] = stream;
    o[this.length + 2] = on.stream;
    o[this.length + 3] = on.seq;
    this.length += 4;
  }

  /** The stream's next record; `start` pairs a timing end with its timing start. */
  record(stream: number, mode: number = RecordMode.plain, start = 0): number {
    const o = this.reserve(4);
    o[this.length] = OpCode.record;
    o[this.length + 1] = stream;
    o[this.length + 2] = mode;
    o[this.length + 3] = start;
    this.length += 4;
    const seq = (this.recorded[stream] ?? 0) + 1;
    this.recorded[stream] = seq;
    return seq;
  }

  copy(stream: number, dst: number, dstOffset: number, src: number, srcOffset: number, bytes: number): void {
    if (bytes === 0) return;
    const o = this.reserve(7);
    const at = this.length;
    o[at] = OpCode.copy;
    o[at + 1] = stream;
    o[at + 2] = dst;
    o[at + 3] = dstOffset;
    o[at + 4] = src;
    o[at + 5] = srcOffset;
    o[at + 6] = bytes;
    this.length += 7;
  }

  /** dst = op over k inputs given as (buffer, offset) pairs. */
  reduce(stream: number, dtype: DType, op: ReduceOp, count: number, divisor: number, dst: number, dstOffset: number, inputs: readonly number[]): void {
    if (count === 0) return;
    const k = inputs.length / 2;
    const o = this.reserve(9 + inputs.length);
    const at = this.length;
    o[at] = OpCode.reduce;
    o[at + 1] = stream;
    o[at + 2] = dtypeCode.get(dtype)!;
    o[at + 3] = redopCode.get(op)!;
    o[at + 4] = count;
    o[at + 5] = divisor;
    o[at + 6] = dst;
    o[at + 7] = dstOffset;
    o[at + 8] = k;
    for (let i = 0; i < inputs.length; i++) o[at + 9 + i] = inputs[i]!;
    this.length += 9 + inputs.length;
  }

  /** Opens a group; items follow; `endGroup` closes it (and drops it when it got no item). */
  beginGroup(): void {
    const o = this.reserve(2);
    this.groupAt = this.length;
    o[this.length] = OpCode.group;
    o[this.length + 1] = 0;
    this.length += 2;
  }

  /** One item of the open group; -1 for fields the kind does not use. Empty items are left out. */
  item(kind: CollectiveKind, stream: number, comm: number, dtype: DType, op: ReduceOp | null, count: number, send: number, sendOffset: number, recv: number, recvOffset: number, peer: number): void {
    if (count === 0) return;
    const o = this.reserve(11);
    const at = this.length;
    o[at] = kindCode.get(kind)!;
    o[at + 1] = stream;
    o[at + 2] = comm;
    o[at + 3] = dtypeCode.get(dtype)!;
    o[at + 4] = op === null ? -1 : redopCode.get(op)!;
    o[at + 5] = count;
    o[at + 6] = send;
    o[at + 7] = sendOffset;
    o[at + 8] = recv;
    o[at + 9] = recvOffset;
    o[at + 10] = peer;
    this.length += 11;
    this.ops[this.groupAt + 1]!++;
  }

  endGroup(): void {
    if (this.groupAt < 0) return;
    if (this.ops[this.groupAt + 1] === 0) this.length = this.groupAt;
    this.groupAt = -1;
  }

  /**
   * Ends a unit: the ops packed since the last commit reach the Queue with the next flush, in order. `describe`
   * turns what the Queue throws if it refuses them (and `subject`) into the error reported. Throws the earlier
   * refusal, and drops the unit, once the Queue has refused one.
   */
  commit(describe?: Describe, subject?: unknown): void {
    if (this.refusal !== null) {
      this.discard();
      throw this.refusal;
    }
    if (this.length === this.committed) return;
    this.committed = this.length;
    this.unitEnds[this.units] = this.length;
    this.unitDescribe[this.units] = describe;
    this.unitSubject[this.units] = subject;
    this.units++;
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flushTask);
    }
  }

  /** Hands every committed unit to the Queue in one call. Never throws: a refusal goes to `onRefused`. */
  flush(): void {
    const n = this.committed;
    if (n === 0) return;
    try {
      this.queue.submit(this.ops, n);
      this.keep(0, n);
    } catch (e) {
      this.refused(e);
      return;
    }
    this.consume(n);
  }

  /** The Queue refused the batch: issue unit by unit up to the one it refuses, drop that one and the rest. */
  private refused(batchError: unknown): void {
    let start = 0;
    let error: Error = batchError instanceof Error ? batchError : new Error(String(batchError));
    for (let u = 0; u < this.units; u++) {
      const end = this.unitEnds[u]!;
      try {
        this.queue.submit(this.ops.subarray(start, end), end - start);
        this.keep(start, end);
        start = end;
      } catch (e) {
        error = this.unitDescribe[u]?.(e, this.unitSubject[u]) ?? (e instanceof Error ? e : new Error(String(e)));
        break;
      }
    }
    // The records of what is dropped (the refused unit on, with any unit being packed) will never exist.
    const dropped = new Map<number, number>();
    for (let at = start; at < this.length; at += widthAt(this.ops, at)) {
      if (this.ops[at] === OpCode.record) dropped.set(this.ops[at + 1]!, (dropped.get(this.ops[at + 1]!) ?? 0) + 1);
    }
    for (const [stream, n] of dropped) this.abandoned.set(stream, this.recorded[stream]! - n + 1);
    this.refusal = error;
    this.length = this.committed = 0;
    this.groupAt = -1;
    this.forgetUnits();
    this.onRefused?.(error, this.abandoned);
  }

  /** Drops the first n (flushed) ops, keeping a unit still being packed. */
  private consume(n: number): void {
    if (this.length > n) this.ops.copyWithin(0, n, this.length);
    this.length -= n;
    if (this.groupAt >= 0) this.groupAt -= n;
    this.committed = 0;
    this.forgetUnits();
  }

  /** Drops the committed units' bookkeeping (their subjects too, which may hold slices). */
  private forgetUnits(): void {
    this.unitDescribe.fill(undefined, 0, this.units);
    this.unitSubject.fill(undefined, 0, this.units);
    this.units = 0;
  }

  private keep(start: number, end: number): void {
    if (this.captured) for (let i = start; i < end; i++) this.captured.push(this.ops[i]!);
  }

  /** Whether submitted ops are being kept for the native reference loop. */
  get capturing(): boolean {
    return this.captured !== null;
  }

  /** Drops ops packed since the last commit (a stage that threw while packing), and their record numbers. */
  discard(): void {
    for (let at = this.committed; at < this.length; at += widthAt(this.ops, at)) {
      if (this.ops[at] === OpCode.record) this.recorded[this.ops[at + 1]!]!--;
    }
    this.length = this.committed;
    this.groupAt = -1;
  }

  /** Starts keeping every submitted op; `endCapture` returns them. */
  beginCapture(): void {
    this.flush();
    this.captured = [];
    this.capturedFrom = [...this.recorded];
  }

  endCapture(): Capture {
    this.flush();
    const out = { ops: Float64Array.from(this.captured ?? []), recordedBefore: this.capturedFrom };
    this.captured = null;
    return out;
  }

  /**
   * Replays a captured program `iterations` times natively; record counts follow. Its waits on its own records
   * are renumbered to the replay's first iteration (the Queue moves them on per iteration); a wait on a record
   * made before the capture waits, in each iteration, for that stream's last record before it (the Queue's rule).
   * Returns each stream's last record and when the Queue handed the program over to be issued (runtime clock).
   */
  replay(capture: Capture, iterations: number): { last: Mark[]; handedOverMs: number } {
    this.flush();
    if (this.refusal !== null) throw this.refusal;
    const program = Float64Array.from(capture.ops);
    const perIteration = new Map<number, number>();
    for (let at = 0; at < program.length; at += widthAt(program, at)) {
      if (program[at] === OpCode.record) perIteration.set(program[at + 1]!, (perIteration.get(program[at + 1]!) ?? 0) + 1);
      if (program[at] !== OpCode.wait) continue;
      const on = program[at + 2]!;
      const before = capture.recordedBefore[on] ?? 0;
      if (program[at + 3]! > before) program[at + 3] = program[at + 3]! - before + (this.recorded[on] ?? 0);
    }
    const handedOverMs = this.queue.replay(program, program.length, iterations);
    const last: Mark[] = [];
    for (const [stream, n] of perIteration) {
      this.recorded[stream] = (this.recorded[stream] ?? 0) + n * iterations;
      last.push({ stream, seq: this.recorded[stream]! });
    }
    return { last, handedOverMs };
  }

  private reserve(n: number): Float64Array {
    // After a refusal nothing more is packed: a stage packing then fails with it (and discards what it packed).
    if (this.refusal !== null) throw this.refusal;
    if (this.length + n > this.ops.length) {
      const grown = new Float64Array(Math.max(this.ops.length * 2, this.length + n));
      grown.set(this.ops.subarray(0, this.length));
      this.ops = grown;
    }
    return this.ops;
  }
}

/** Fields of the op starting at `at`, its code included. */
function widthAt(ops: Float64Array, at: number): number {
  switch (ops[at]) {
    case OpCode.wait:
      return opWidth.wait;
    case OpCode.record:
      return opWidth.record;
    case OpCode.copy:
      return opWidth.copy;
    case OpCode.reduce:
      return opWidth.reduceBase + 2 * ops[at + 8]!;
    case OpCode.group:
      return opWidth.groupBase + opWidth.groupItem * ops[at + 1]!;
    default:
      throw new RangeError(`ops[${at}]: unknown op code ${ops[at]}`);
  }
}
