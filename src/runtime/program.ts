// Packs the operations of one stage (for every local rank) into the Float64Array a Queue takes in one native
// call, and numbers records per stream exactly as the Queue does. The array is reused: packing allocates
// nothing once it has grown to the largest stage.
import { OpCode, RecordMode, opWidth, collectiveKinds, dtypes, reduceOps, type CollectiveKind, type DType, type NativeQueue, type ReduceOp } from '../native.js';

const dtypeCode = new Map<DType, number>(dtypes.map((d, i) => [d, i]));
const redopCode = new Map<ReduceOp, number>(reduceOps.map((o, i) => [o, i]));
const kindCode = new Map<CollectiveKind, number>(collectiveKinds.map((k, i) => [k, i]));

/** A record of a stream: stream index and record number (from 1). */
export interface Mark {
  stream: number;
  seq: number;
}

export class Program {
  private ops = new Float64Array(256);
  private length = 0;
  private groupAt = -1;
  /** Records issued per stream index, as the Queue counts them. */
  private readonly recorded: number[] = [];
  /** While capturing, every submitted op is also kept here (the native reference loop replays it). */
  private captured: number[] | null = null;

  constructor(private readonly queue: NativeQueue) {}

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
    if (this.ops[this.groupAt + 1] === 0) this.length = this.groupAt;
    this.groupAt = -1;
  }

  /** Hands the packed ops to the Queue in one call. */
  submit(): void {
    if (this.length === 0) return;
    const n = this.length;
    this.length = 0;
    try {
      this.queue.submit(this.ops, n);
    } catch (e) {
      // Nothing was issued: the records this program numbered do not exist.
      this.resync();
      throw e;
    }
    if (this.captured) for (let i = 0; i < n; i++) this.captured.push(this.ops[i]!);
  }

  /** Whether submitted ops are being kept for the native reference loop. */
  get capturing(): boolean {
    return this.captured !== null;
  }

  /** Drops ops packed since the last submit (a stage that threw while packing), and their record numbers. */
  discard(): void {
    for (let at = 0; at < this.length; at += widthAt(this.ops, at)) {
      if (this.ops[at] === OpCode.record) this.recorded[this.ops[at + 1]!]!--;
    }
    this.length = 0;
    this.groupAt = -1;
  }

  /** Starts keeping every submitted op; `endCapture` returns them. */
  beginCapture(): void {
    this.captured = [];
  }

  endCapture(): Float64Array {
    const out = Float64Array.from(this.captured ?? []);
    this.captured = null;
    return out;
  }

  /** Replays a captured program `iterations` times natively; record counts follow. */
  replay(program: Float64Array, iterations: number): Mark[] {
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

  private resync(): void {
    this.recorded.forEach((_, stream) => (this.recorded[stream] = this.queue.records(stream)));
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
