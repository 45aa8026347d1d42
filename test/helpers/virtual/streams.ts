// Streams: FIFO queues of work on one device with a sticky error. An operation starts when the stream is free
// and the waits before it are satisfied, and occupies the stream for the duration the model gives it.
import type { DType, NativeBuffer, NativeDevice, NativeEvent, NativeHostBuffer, NativeStream, ReduceOp } from '../../../src/native.js';
import { elementSize } from '../../../src/runtime/dtype.js';
import { HostBufferHandle, view } from './buffers.js';
import type { VirtualContext } from './context.js';
import { deviceLabel, deviceOf, sameDevice, type VirtualDevice } from './device.js';
import type { VirtualOp, VirtualOpKind } from './model.js';
import { aligned, divisorOf, dtypeOf, index, reduceOpOf } from './validation.js';

export interface VirtualStream extends NativeStream {
  /** Streams are numbered from 0 in creation order, per runtime. */
  readonly id: number;
}

export interface StreamState {
  readonly id: number;
  readonly device: VirtualDevice;
  /** When the work enqueued so far, and the waits since, are done. */
  busyUntil: number;
  error: string | null;
  closed: boolean;
}

/** When work enqueued now on the stream starts. */
export function readyAt(ctx: VirtualContext, s: StreamState): number {
  return Math.max(ctx.now(), s.busyUntil);
}

/** Runs one single-stream operation; returns its end, or null when it was skipped or failed. */
function enqueue(ctx: VirtualContext, s: StreamState, op: VirtualOp): number | null {
  const start = readyAt(ctx, s);
  if (s.error !== null) {
    ctx.model.append(op, start, start, s.error);
    return null;
  }
  const end = start + ctx.model.duration(op);
  const failure = ctx.model.failure(op);
  s.busyUntil = end;
  if (failure !== null) s.error = `${op.kind}: ${failure}`;
  ctx.model.append(op, start, end, s.error);
  return failure === null ? end : null;
}

function opOn(s: StreamState, kind: VirtualOpKind, bytes: number): VirtualOp {
  return { kind, device: s.device.ordinal, stream: s.id, bytes };
}

export class StreamHandle implements VirtualStream {
  readonly #ctx: VirtualContext;
  readonly #state: StreamState;

  constructor(ctx: VirtualContext, device: NativeDevice) {
    this.#ctx = ctx;
    this.#state = { id: ctx.nextStreamId(), device: deviceOf(device, 'device'), busyUntil: 0, error: null, closed: false };
    ctx.streams.add(this, this.#state);
  }

  get id(): number {
    return this.#state.id;
  }

  get closed(): boolean {
    return this.#state.closed;
  }

  #live(): StreamState {
    if (this.#state.closed) throw new TypeError('Stream is closed');
    return this.#state;
  }

  copy(dst: NativeBuffer, dstOffset: number, src: NativeBuffer, srcOffset: number, bytes: number): void {
    const s = this.#live();
    index(dstOffset, 'dstOffset');
    index(srcOffset, 'srcOffset');
    index(bytes, 'bytes');
    view(this.#ctx, dst, s.device, dstOffset, bytes, 'dst');
    view(this.#ctx, src, s.device, srcOffset, bytes, 'src');
    enqueue(this.#ctx, s, opOn(s, 'copy', bytes));
  }

  copyFromHost(dst: NativeBuffer, dstOffset: number, src: ArrayBufferView): void {
    const s = this.#live();
    index(dstOffset, 'dstOffset');
    if (!ArrayBuffer.isView(src)) throw new TypeError('src must be a TypedArray or DataView');
    view(this.#ctx, dst, s.device, dstOffset, src.byteLength, 'dst');
    enqueue(this.#ctx, s, opOn(s, 'copyFromHost', src.byteLength));
  }

  copyToHost(src: NativeBuffer, srcOffset: number, bytes: number): NativeHostBuffer {
    const s = this.#live();
    index(srcOffset, 'srcOffset');
    index(bytes, 'bytes');
    view(this.#ctx, src, s.device, srcOffset, bytes, 'src');
    return new HostBufferHandle(this.#ctx, bytes, enqueue(this.#ctx, s, opOn(s, 'copyToHost', bytes)));
  }

  fill(dst: NativeBuffer, offset: number, count: number, dtype: DType, value: number): void {
    const s = this.#live();
    index(offset, 'offset');
    index(count, 'count');
    dtypeOf(dtype, 'dtype');
    if (typeof value !== 'number') throw new TypeError('value must be a number');
    aligned(offset, dtype, 'dst');
    const bytes = count * elementSize(dtype);
    view(this.#ctx, dst, s.device, offset, bytes, 'dst');
    enqueue(this.#ctx, s, opOn(s, 'fill', bytes));
  }

  reduce(
    dst: NativeBuffer,
    dstOffset: number,
    inputs: readonly NativeBuffer[],
    inputOffsets: readonly number[],
    count: number,
    dtype: DType,
    op: ReduceOp,
    divisor?: number,
  ): void {
    const s = this.#live();
    index(dstOffset, 'dstOffset');
    if (!Array.isArray(inputs) || !Array.isArray(inputOffsets)) throw new TypeError('inputs and inputOffsets must be arrays');
    if (inputs.length === 0) throw new RangeError('reduce needs at least one input');
    if (inputs.length !== inputOffsets.length) throw new RangeError('inputs and inputOffsets differ in length');
    index(count, 'count');
    dtypeOf(dtype, 'dtype');
    reduceOpOf(op, 'op');
    if (divisor !== undefined) divisorOf(divisor, 'divisor');
    const bytes = count * elementSize(dtype);
    aligned(dstOffset, dtype, 'dst');
    view(this.#ctx, dst, s.device, dstOffset, bytes, 'dst');
    inputs.forEach((input, i) => {
      const off = index(inputOffsets[i], `inputOffsets[${i}]`);
      aligned(off, dtype, `inputs[${i}]`);
      view(this.#ctx, input, s.device, off, bytes, `inputs[${i}]`);
    });
    enqueue(this.#ctx, s, opOn(s, 'reduce', bytes));
  }

  record(event: NativeEvent): void {
    const s = this.#live();
    const e = this.#ctx.events.get(event, 'event');
    if (!sameDevice(e.device, s.device)) {
      throw new TypeError(`event of ${deviceLabel(e.device)} recorded on a stream of ${deviceLabel(s.device)}`);
    }
    e.record = { time: readyAt(this.#ctx, s), error: s.error };
  }

  wait(event: NativeEvent): void {
    const s = this.#live();
    const e = this.#ctx.events.get(event, 'event');
    if (e.device.backend !== s.device.backend) {
      throw new TypeError(`a ${s.device.backend} stream cannot wait on a ${e.device.backend} event`);
    }
    if (e.record === null) return;
    // Raising busyUntil also delays later records, as on CUDA: a record after a wait completes after the
    // waited-on record.
    s.busyUntil = Math.max(s.busyUntil, e.record.time);
    if (s.error === null && e.record.error !== null) s.error = `waited on a failed event: ${e.record.error}`;
  }

  close(): void {
    this.#state.closed = true;
  }
}
