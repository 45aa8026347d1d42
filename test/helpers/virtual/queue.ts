// The queue: streams, buffers and comms registered under small integers, packed programs decoded into the
// runtime's own operations (so the duration and failure models and the op log see them as usual), and
// completions reported in bulk on the scheduler, one call per instant at which records complete (or reportDelay frames later).
import type { Subscription } from 'rxjs';
import {
  RecordMode,
  type BackendName,
  type GroupItem,
  type NativeBuffer,
  type NativeComm,
  type NativeQueue,
  type NativeStream,
  type QueueProgress,
} from '../../../src/native.js';
import type { BufferState } from './buffers.js';
import type { CommState } from './comms.js';
import type { VirtualContext } from './context.js';
import { deviceLabel, type VirtualDevice } from './device.js';
import { EventHandle } from './events.js';
import { group } from './group.js';
import { decodeProgram, type Program, type ProgramOp, type ProgramScope, type RecordModeCode, type Span } from './program.js';
import type { StreamState } from './streams.js';
import { backendOf, index } from './validation.js';

/** Replays run from one native loop with a uint32 counter. */
const maxIterations = 2 ** 32 - 1;

interface QueueRecord {
  readonly event: EventHandle;
  readonly mode: RecordModeCode;
  /** The paired start of a timing end record. */
  readonly startSeq: number;
}

class QueueStream {
  readonly handle: NativeStream;
  readonly state: StreamState;
  /** Record seq is records[seq - 1]. */
  readonly records: QueueRecord[] = [];
  /** Issued timing start records no timing end has been paired with yet. */
  readonly openStarts = new Set<number>();
  /** Records reported complete. */
  reported = 0;
  /** The first failed record (0: none) and its error ('' when none), once reported. */
  failedFrom = 0;
  error = '';

  constructor(handle: NativeStream, state: StreamState) {
    this.handle = handle;
    this.state = state;
  }
}

interface Registered<H, S> {
  readonly handle: H;
  readonly state: S;
}

/** Where the records of one issue of a program land, and whether its timing records stay timing ones. */
interface Issue {
  /** The seq a wait of the program on (onStream, seq) refers to. */
  seq(onStream: number, seq: number): number;
  readonly timing: boolean;
}

const asSubmitted: Issue = { seq: (_, seq) => seq, timing: true };

export class VirtualQueue implements NativeQueue {
  readonly #ctx: VirtualContext;
  readonly #backend: BackendName;
  readonly #onProgress: QueueProgress;
  readonly #streams: QueueStream[] = [];
  readonly #comms: Registered<NativeComm, CommState>[] = [];
  /** null: a removed buffer's index, free for reuse. */
  readonly #buffers: (Registered<NativeBuffer, BufferState> | null)[] = [];
  /** The report scheduled at each instant at which records complete. */
  readonly #reports = new Map<number, Subscription>();
  readonly #scope: ProgramScope;
  #closed = false;

  constructor(ctx: VirtualContext, backend: BackendName, onProgress: QueueProgress) {
    this.#ctx = ctx;
    this.#backend = backendOf(backend, 'backend');
    if (typeof onProgress !== 'function') throw new TypeError('onProgress must be a function');
    this.#onProgress = onProgress;
    this.#scope = {
      stream: (i) => this.#streams[i]?.state,
      buffer: (i) => this.#buffers[i]?.state,
      comm: (i) => this.#comms[i]?.state,
      streams: () => this.#streams.length,
      records: (s) => this.#stream(s).records.length,
      isOpenStart: (s, seq) => this.#stream(s).openStarts.has(seq),
    };
  }

  get closed(): boolean {
    return this.#closed;
  }

  addStream(stream: NativeStream): number {
    this.#live();
    const state = this.#ctx.streams.get(stream, 'stream');
    this.#onBackend(state.device, 'stream');
    return this.#streams.push(new QueueStream(stream, state)) - 1;
  }

  addComm(comm: NativeComm): number {
    this.#live();
    const state = this.#ctx.comms.get(comm, 'comm');
    this.#onBackend(state.device, 'comm');
    return this.#comms.push({ handle: comm, state }) - 1;
  }

  addBuffer(buffer: NativeBuffer): number {
    this.#live();
    const state = this.#ctx.buffers.get(buffer, 'buffer');
    this.#onBackend(state.device, 'buffer');
    const free = this.#buffers.indexOf(null);
    const at = free === -1 ? this.#buffers.length : free;
    this.#buffers[at] = { handle: buffer, state };
    return at;
  }

  removeBuffer(i: number): void {
    this.#live();
    this.#buffer(index(i, 'index'));
    this.#buffers[i] = null;
  }

  records(stream: number): number {
    this.#live();
    return this.#stream(index(stream, 'stream')).records.length;
  }

  /** What JS has been told already: this queue reports every completion, asked for or not. */
  want(stream: number, seq: number): number {
    this.#live();
    const s = this.#stream(index(stream, 'stream'));
    const n = index(seq, 'seq');
    if (n === 0 || n > s.records.length) throw new RangeError(`seq ${n} is not a record of stream ${stream} (${s.records.length} submitted)`);
    return s.reported;
  }

  submit(ops: Float64Array, length: number): void {
    this.#live();
    const program = decodeProgram(ops, length, this.#scope);
    for (const op of program.ops) this.#issue(op, asSubmitted);
  }

  replay(ops: Float64Array, length: number, iterations: number): number {
    this.#live();
    index(iterations, 'iterations');
    if (iterations === 0 || iterations > maxIterations) {
      throw new RangeError(`iterations must be between 1 and 2^32-1, got ${iterations}`);
    }
    const program = decodeProgram(ops, length, this.#scope);
    const base = new Map(this.#streams.map((s, i) => [i, s.records.length]));
    for (let iteration = 0; iteration < iterations; iteration++) {
      const issue = replayed(program, base, iteration);
      for (const op of program.ops) this.#issue(op, issue);
    }
    return this.#ctx.now();
  }

  close(): void {
    this.#closed = true;
    for (const report of this.#reports.values()) report.unsubscribe();
    this.#reports.clear();
  }

  #live(): void {
    if (this.#closed) throw new TypeError('Queue is closed');
  }

  #onBackend(device: VirtualDevice, name: string): void {
    if (device.backend !== this.#backend) {
      throw new TypeError(`${name} lives on ${deviceLabel(device)}, not on a ${this.#backend} device like this queue`);
    }
  }

  #stream(i: number): QueueStream {
    const s = this.#streams[i];
    if (s === undefined) throw new RangeError(`stream ${i} is not registered`);
    return s;
  }

  #buffer(i: number): NativeBuffer {
    const b = this.#buffers[i];
    if (b === undefined || b === null) throw new RangeError(`buffer ${i} is not registered`);
    return b.handle;
  }

  #comm(i: number): NativeComm {
    const c = this.#comms[i];
    if (c === undefined) throw new RangeError(`comm ${i} is not registered`);
    return c.handle;
  }

  #span(span: Span | null): { buffer: NativeBuffer; offset: number } | null {
    return span === null ? null : { buffer: this.#buffer(span.buffer), offset: span.offset };
  }

  #issue(op: ProgramOp, issue: Issue): void {
    switch (op.kind) {
      case 'wait': {
        const on = this.#stream(op.onStream).records[issue.seq(op.onStream, op.seq) - 1];
        if (on === undefined) throw new RangeError(`record ${op.seq} of stream ${op.onStream} was never issued`);
        this.#stream(op.stream).handle.wait(on.event);
        return;
      }
      case 'record':
        this.#record(this.#stream(op.stream), issue.timing ? op.mode : RecordMode.plain, op.startSeq);
        return;
      case 'copy':
        this.#stream(op.stream).handle.copy(
          this.#buffer(op.dst.buffer),
          op.dst.offset,
          this.#buffer(op.src.buffer),
          op.src.offset,
          op.bytes,
        );
        return;
      case 'reduce':
        this.#stream(op.stream).handle.reduce(
          this.#buffer(op.dst.buffer),
          op.dst.offset,
          op.inputs.map((input) => this.#buffer(input.buffer)),
          op.inputs.map((input) => input.offset),
          op.count,
          op.dtype,
          op.op,
          op.divisor,
        );
        return;
      case 'group':
        group(
          this.#ctx,
          op.items.map((item): GroupItem => {
            const send = this.#span(item.send);
            const recv = this.#span(item.recv);
            return {
              kind: item.kind,
              stream: this.#stream(item.stream).handle,
              comm: this.#comm(item.comm),
              count: item.count,
              dtype: item.dtype,
              ...(send === null ? {} : { send: send.buffer, sendOffset: send.offset }),
              ...(recv === null ? {} : { recv: recv.buffer, recvOffset: recv.offset }),
              ...(item.op === null ? {} : { op: item.op }),
              ...(item.peer === null ? {} : { peer: item.peer }),
            };
          }),
        );
        return;
    }
  }

  #record(s: QueueStream, mode: RecordModeCode, startSeq: number): void {
    const event = new EventHandle(this.#ctx, s.state.device, mode !== RecordMode.plain);
    s.handle.record(event);
    s.records.push({ event, mode, startSeq });
    if (mode === RecordMode.timingStart) s.openStarts.add(s.records.length);
    if (mode === RecordMode.timingEnd) s.openStarts.delete(startSeq);
    const time = event.latest.time + this.#ctx.model.reportDelay;
    if (!this.#reports.has(time)) {
      this.#reports.set(time, this.#ctx.scheduler.schedule(() => this.#report(time), time - this.#ctx.now()));
    }
  }

  /** Reports every stream whose records completed by `reportDelay` frames ago and are not yet reported, in one call. */
  #report(time: number): void {
    this.#reports.delete(time);
    const now = this.#ctx.now() - this.#ctx.model.reportDelay;
    const done: number[] = [];
    const errors: string[] = [];
    const timings: number[] = [];
    this.#streams.forEach((s, i) => {
      const from = s.reported;
      for (let next = s.records[s.reported]; next !== undefined && next.event.latest.time <= now; next = s.records[s.reported]) {
        s.reported++;
        const { error, time: end } = next.event.latest;
        if (error !== null && s.failedFrom === 0) {
          s.failedFrom = s.reported;
          s.error = error;
        }
        const start = next.mode === RecordMode.timingEnd ? s.records[next.startSeq - 1]?.event.latest : undefined;
        if (start !== undefined && start.error === null && error === null) timings.push(i, s.reported, end - start.time, start.time);
      }
      if (s.reported === from) return;
      done.push(i, s.reported, s.failedFrom);
      errors.push(s.error);
    });
    if (done.length > 0) this.#onProgress(Float64Array.from(done), errors, Float64Array.from(timings));
  }
}

/**
 * Iteration `iteration` of a replay: waits on the program's own records move to this iteration's records; a wait
 * on an earlier record of a stream the program records on waits for that stream's last record before the iteration.
 */
function replayed(program: Program, base: ReadonlyMap<number, number>, iteration: number): Issue {
  return {
    seq: (onStream, seq) => {
      const before = base.get(onStream) ?? 0;
      const step = program.records.get(onStream) ?? 0;
      if (step === 0) return seq;
      return (seq > before ? seq : before) + iteration * step;
    },
    timing: false,
  };
}
