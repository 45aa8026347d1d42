// Packs the operations of the stages (for every local rank) into the Float64Array a Queue takes in one native
// call, and numbers records per stream exactly as the Queue does. Stages submit segments; the segments of one
// turn of the event loop (every stage of every slice admitted in it) go to the Queue together, in order, in one
// call. The array is reused: packing allocates nothing once it has grown to the largest batch.
import { OpCode, RecordMode, opWidth, collectiveKinds, dtypes, reduceOps, type CollectiveKind, type DType, type NativeQueue, type ReduceOp } from '../native.js';

const dtypeCode = new Map<DType, number>(dtypes.map((d, i) => [d, i]));
const redopCode = new Map<ReduceOp, number>(reduceOps.map((o, i) => [o, i]));
const kindCode = new Map<CollectiveKind, number>(collectiveKinds.map((k, i) => [k, i]));

/** A record of a stream: stream index and record number (from 1). */
export interface Mark {
  stream: number;
  seq: number;
}

/** Records a Queue call refused: they were numbered but never issued. */
export interface LostRecords<T> {
  error: unknown;
  /** The tag of the segment holding the op the Queue named, if it named one. */
  tag: T | null;
  ranges: Array<{ stream: number; from: number; to: number }>;
}

export class Program<T = unknown> {
  private ops = new Float64Array(256);
  private length = 0;
  private groupAt = -1;
  /** Ops (not fields) packed so far, and where each submitted segment starts, with its tag. */
  private count = 0;
  private segmentAt = 0;
  private segmentOp = 0;
  private readonly segments: Array<{ op: number; tag: T }> = [];
  private scheduled = false;
  /** Records issued per stream index, as the Queue counts them. */
  private readonly recorded: number[] = [];
  /** While capturing, every submitted op is also kept here (the native reference loop replays it). */
  private captured: number[] | null = null;

  constructor(
    private readonly queue: NativeQueue,
    /** Runs the flush soon, once (a microtask in production, the test scheduler in marble tests). */
    private readonly defer: (flush: () => void) => void,
    private readonly onLost: (lost: LostRecords<T>) => void,
  ) {}

  /** Registers a stream and starts its record count where the Queue's is. */
  track(stream: number): void {
    this.recorded[stream] = this.queue.records(stream);
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
    this.count++;
  }

  /** The stream's next record; `start` pairs a timing end with its timing start. */
  record(stream: number, mode: number = RecordMode.plain, start = 0): number {
    const o = this.reserve(4);
    o[this.length] = OpCode.record;
    o[this.length + 1] = stream;
    o[this.length + 2] = mode;
    o[this.length + 3] = start;
    this.length += 4;
    this.count++;
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
    this.count++;
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
    this.count++;
  }

  /** Opens a group; items follow; `endGroup` closes it (and drops it when it got no item). */
  beginGroup(): void {
    const o = this.reserve(2);
    this.groupAt = this.length;
    o[this.length] = OpCode.group;
    o[this.length + 1] = 0;
    this.length += 2;
    this.count++;
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
    if (this.ops[this.groupAt + 1] === 0) {
      this.length = this.groupAt;
      this.count--;
    }
    this.groupAt = -1;
  }

  /** Ends a segment (a stage's ops for every local rank); it goes to the Queue with the rest of this turn's. */
  submit(tag: T): void {
    if (this.length === this.segmentAt) return;
    this.segments.push({ op: this.segmentOp, tag });
    this.segmentAt = this.length;
    this.segmentOp = this.count;
    if (this.scheduled) return;
    this.scheduled = true;
    this.defer(() => this.flush());
  }

  /**
   * Hands every submitted segment to the Queue in one call. A refused call issues nothing: its records are
   * reported lost, with the tag of the segment the Queue's message points at.
   */
  flush(): void {
    this.scheduled = false;
    this.discard();
    const n = this.length;
    const segments = this.segments.splice(0);
    this.length = this.count = this.segmentAt = this.segmentOp = 0;
    if (n === 0) return;
    try {
      this.queue.submit(this.ops, n);
      if (this.captured) for (let i = 0; i < n; i++) this.captured.push(this.ops[i]!);
    } catch (e) {
      const ordinal = /^ops\[(\d+)\]/.exec(e instanceof Error ? e.message : '');
      const at = ordinal === null ? -1 : Number(ordinal[1]);
      const hit = segments.filter((seg) => seg.op <= at).at(-1);
      this.onLost({ error: e, tag: hit?.tag ?? null, ranges: this.resync() });
    }
  }

  /** Drops ops packed since the last segment (a stage that threw while packing), and their record numbers. */
  discard(): void {
    for (let at = this.segmentAt; at < this.length; at += widthAt(this.ops, at)) {
      if (this.ops[at] === OpCode.record) this.recorded[this.ops[at + 1]!]!--;
    }
    this.length = this.segmentAt;
    this.count = this.segmentOp;
    this.groupAt = -1;
  }

  /** Whether submitted ops are being kept for the native reference loop. */
  get capturing(): boolean {
    return this.captured !== null;
  }

  /** Starts keeping every submitted op; `endCapture` returns them. */
  beginCapture(): void {
    this.captured = [];
  }

  endCapture(): Float64Array {
    this.flush();
    const out = Float64Array.from(this.captured ?? []);
    this.captured = null;
    return out;
  }

  /** Replays a captured program `iterations` times natively; record counts follow. */
  replay(program: Float64Array, iterations: number): Mark[] {
    this.flush();
    const perIteration = new Map<number, number>();
    for (let at = 0; at < program.length; ) {
      const code = program[at]!;
      if (code === OpCode.record) perIteration.set(program[at + 1]!, (perIteration.get(program[at + 1]!) ?? 0) + 1);
      at += widthAt(program, at);
    }
    this.queue.replay(program, program.length, iterations);
    const last: Mark[] = [];
    for (const [stream, n] of perIteration) {
      this.recorded[stream] = (this.recorded[stream] ?? 0) + n * iterations;
      last.push({ stream, seq: this.recorded[stream]! });
    }
    return last;
  }

  /** Record counts back to the Queue's; returns the records that were numbered and never issued. */
  private resync(): LostRecords<T>['ranges'] {
    const lost: LostRecords<T>['ranges'] = [];
    this.recorded.forEach((n, stream) => {
      const issued = this.queue.records(stream);
      if (n > issued) lost.push({ stream, from: issued + 1, to: n });
      this.recorded[stream] = issued;
    });
    return lost;
  }

  private reserve(n: number): Float64Array {
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
