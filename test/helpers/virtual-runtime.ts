// A device runtime on an RxJS scheduler's virtual time, for marble tests of the engine. It keeps the real
// runtime's ordering and error rules (docs/architecture.md: stream FIFO, latest-record events, device-side
// waits, sticky errors, groups across streams) but computes nothing: each operation only occupies its streams
// for a duration. Everything is decided when work is enqueued, because virtual work never depends on data;
// only what the host can observe (completion, readiness) waits for the scheduler's clock.
import { defer, firstValueFrom, mergeMap, of, throwError, timer, type Observable, type SchedulerLike } from 'rxjs';
import type {
  BackendName,
  CollectiveKind,
  CommMember,
  DType,
  GroupItem,
  NativeBuffer,
  NativeComm,
  NativeDevice,
  NativeEvent,
  NativeHostBuffer,
  NativeStream,
  ReduceOp,
} from '../../src/native.js';
import { elementSize } from '../../src/runtime/dtype.js';
import type { Runtime } from '../../src/runtime/runtime.js';

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
}

export interface VirtualStream extends NativeStream {
  /** Streams are numbered from 0 in creation order, per runtime. */
  readonly id: number;
}

export interface VirtualRuntime extends Runtime {
  Stream: new (device: NativeDevice) => VirtualStream;
  readonly log: VirtualOpRecord[];
  /** Buffers created and not yet closed. */
  liveBuffers(): number;
}

const backends: ReadonlySet<string> = new Set<BackendName>(['cpu', 'cuda']);
const dtypeNames: ReadonlySet<string> = new Set<DType>(['float16', 'bfloat16', 'float32', 'float64', 'int8', 'uint8', 'int32', 'int64']);
const reduceOpNames: ReadonlySet<string> = new Set<ReduceOp>(['sum', 'prod', 'max', 'min', 'avg']);
const collectiveKinds: ReadonlySet<string> = new Set<CollectiveKind>(['allReduce', 'reduceScatter', 'allGather', 'send', 'recv']);

// Arguments are typed, but the engine under test may still pass a wrong value at run time; checking `unknown`
// keeps the virtual runtime as strict as the native one.
function index(v: unknown, name: string): number {
  if (typeof v !== 'number') throw new TypeError(`${name} must be a number`);
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${name} must be a non-negative safe integer, got ${v}`);
  return v;
}

function backendOf(v: unknown, name: string): BackendName {
  if (typeof v !== 'string' || !backends.has(v)) throw new TypeError(`${name} must be 'cpu' or 'cuda'`);
  return v as BackendName;
}

function dtypeOf(v: unknown, name: string): DType {
  if (typeof v !== 'string' || !dtypeNames.has(v)) throw new TypeError(`${name} must be one of ${[...dtypeNames].join(', ')}`);
  return v as DType;
}

function reduceOpOf(v: unknown, name: string): ReduceOp {
  if (typeof v !== 'string' || !reduceOpNames.has(v)) throw new TypeError(`${name} must be one of ${[...reduceOpNames].join(', ')}`);
  return v as ReduceOp;
}

function aligned(offset: number, dtype: DType, name: string): void {
  if (offset % elementSize(dtype) !== 0) {
    throw new RangeError(`${name} offset ${offset} is not a multiple of the element size ${elementSize(dtype)}`);
  }
}

class VirtualDevice implements NativeDevice {
  readonly backend: BackendName;
  readonly ordinal: number;
  readonly name: string;
  readonly totalMemory = 2 ** 40;

  constructor(backend: BackendName, ordinal: number) {
    this.backend = backendOf(backend, 'backend');
    this.ordinal = index(ordinal, 'ordinal');
    this.name = `virtual:${this.ordinal}`;
  }
}

function deviceOf(v: unknown, name: string): VirtualDevice {
  if (!(v instanceof VirtualDevice)) throw new TypeError(`${name} must be a Device`);
  return v;
}

function sameDevice(a: VirtualDevice, b: VirtualDevice): boolean {
  return a.backend === b.backend && a.ordinal === b.ordinal;
}

function label(d: VirtualDevice): string {
  return `${d.backend}:${d.ordinal}`;
}

interface BufferState {
  readonly device: VirtualDevice;
  readonly bytes: number;
  closed: boolean;
}

interface StreamState {
  readonly id: number;
  readonly device: VirtualDevice;
  /** When the work enqueued so far, and the waits since, are done. */
  busyUntil: number;
  error: string | null;
  closed: boolean;
}

/** One record of an event: when it completes and the error it carries, both fixed when it is enqueued. */
interface EventRecord {
  readonly time: number;
  readonly error: string | null;
}

interface EventState {
  readonly device: VirtualDevice;
  readonly timing: boolean;
  record: EventRecord | null;
  closed: boolean;
}

/**
 * The ranks of one initComms call share an abort, as the in-process communicator does. An abort fails only
 * groups enqueued after it: the outcome of earlier ones was fixed when they were enqueued.
 */
interface CommGroup {
  error: string | null;
}

interface CommState {
  readonly device: VirtualDevice;
  readonly rank: number;
  readonly size: number;
  readonly group: CommGroup;
  closed: boolean;
}

export function createVirtualRuntime(scheduler: SchedulerLike, options: VirtualRuntimeOptions = {}): VirtualRuntime {
  const log: VirtualOpRecord[] = [];
  const live = new Set<NativeBuffer>();
  const buffers = new WeakMap<object, BufferState>();
  const streams = new WeakMap<object, StreamState>();
  const events = new WeakMap<object, EventState>();
  const comms = new WeakMap<object, CommState>();
  let nextStream = 0;
  let nextUniqueId = 0;

  function lookup<S extends { closed: boolean }>(map: WeakMap<object, S>, v: unknown, name: string, type: string): S {
    const state = typeof v === 'object' && v !== null ? map.get(v) : undefined;
    if (state === undefined) throw new TypeError(`${name} must be a ${type} of this runtime`);
    if (state.closed) throw new TypeError(`${type} is closed`);
    return state;
  }

  /** Checks that [offset, offset + bytes) lies inside the buffer and that the buffer lives on `device`. */
  function view(v: unknown, device: VirtualDevice, offset: number, bytes: number, name: string): void {
    const b = lookup(buffers, v, name, 'Buffer');
    if (!sameDevice(b.device, device)) throw new TypeError(`${name} lives on ${label(b.device)}, not on ${label(device)}`);
    if (offset > b.bytes || bytes > b.bytes - offset) {
      throw new RangeError(`${name}: bytes [${offset}, ${offset + bytes}) out of range of a ${b.bytes}-byte buffer`);
    }
  }

  function readyAt(s: StreamState): number {
    return Math.max(scheduler.now(), s.busyUntil);
  }

  function durationOf(op: VirtualOp): number {
    const d = options.duration?.(op) ?? 1;
    if (!(d >= 0 && Number.isFinite(d))) throw new RangeError(`duration of ${op.kind} must be a finite non-negative number, got ${d}`);
    return d;
  }

  function append(op: VirtualOp, start: number, end: number, error: string | null): void {
    log.push({
      kind: op.kind,
      device: op.device,
      stream: op.stream,
      start,
      end,
      ...(op.label === undefined ? {} : { label: op.label }),
      ...(error === null ? {} : { error }),
    });
  }

  /** Runs one single-stream operation; returns its end, or null when it was skipped or failed. */
  function enqueue(s: StreamState, op: VirtualOp): number | null {
    const start = readyAt(s);
    if (s.error !== null) {
      append(op, start, start, s.error);
      return null;
    }
    const end = start + durationOf(op);
    const failure = options.fail?.(op) ?? null;
    s.busyUntil = end;
    if (failure !== null) s.error = `${op.kind}: ${failure}`;
    append(op, start, end, s.error);
    return failure === null ? end : null;
  }

  function opOn(s: StreamState, kind: VirtualOpKind, bytes: number): VirtualOp {
    return { kind, device: s.device.ordinal, stream: s.id, bytes };
  }

  function completion(event: NativeEvent): Observable<void> {
    return defer(() => {
      const record = lookup(events, event, 'event', 'Event').record;
      if (record === null) return of(undefined);
      const { time, error } = record;
      const outcome = error === null ? of(undefined) : throwError(() => new Error(error));
      const delay = time - scheduler.now();
      return delay <= 0 ? outcome : timer(delay, scheduler).pipe(mergeMap(() => outcome));
    });
  }

  class HostBufferHandle implements NativeHostBuffer {
    readonly #bytes: number;
    readonly #readyAt: number | null;

    constructor(bytes: number, readyAt: number | null) {
      this.#bytes = bytes;
      this.#readyAt = readyAt;
    }

    get ready(): boolean {
      return this.#readyAt !== null && scheduler.now() >= this.#readyAt;
    }

    read(): ArrayBuffer {
      if (!this.ready) throw new Error('HostBuffer read before its copy completed');
      return new ArrayBuffer(this.#bytes);
    }
  }

  class BufferHandle implements NativeBuffer {
    readonly bytes: number;
    readonly #state: BufferState;

    constructor(device: NativeDevice, bytes: number) {
      this.#state = { device: deviceOf(device, 'device'), bytes: index(bytes, 'bytes'), closed: false };
      this.bytes = this.#state.bytes;
      buffers.set(this, this.#state);
      live.add(this);
    }

    get closed(): boolean {
      return this.#state.closed;
    }

    close(): void {
      this.#state.closed = true;
      live.delete(this);
    }
  }

  class StreamHandle implements VirtualStream {
    readonly #state: StreamState;

    constructor(device: NativeDevice) {
      this.#state = { id: nextStream++, device: deviceOf(device, 'device'), busyUntil: 0, error: null, closed: false };
      streams.set(this, this.#state);
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
      view(dst, s.device, dstOffset, bytes, 'dst');
      view(src, s.device, srcOffset, bytes, 'src');
      enqueue(s, opOn(s, 'copy', bytes));
    }

    copyFromHost(dst: NativeBuffer, dstOffset: number, src: ArrayBufferView): void {
      const s = this.#live();
      index(dstOffset, 'dstOffset');
      if (!ArrayBuffer.isView(src)) throw new TypeError('src must be a TypedArray or DataView');
      view(dst, s.device, dstOffset, src.byteLength, 'dst');
      enqueue(s, opOn(s, 'copyFromHost', src.byteLength));
    }

    copyToHost(src: NativeBuffer, srcOffset: number, bytes: number): NativeHostBuffer {
      const s = this.#live();
      index(srcOffset, 'srcOffset');
      index(bytes, 'bytes');
      view(src, s.device, srcOffset, bytes, 'src');
      return new HostBufferHandle(bytes, enqueue(s, opOn(s, 'copyToHost', bytes)));
    }

    fill(dst: NativeBuffer, offset: number, count: number, dtype: DType, value: number): void {
      const s = this.#live();
      index(offset, 'offset');
      index(count, 'count');
      dtypeOf(dtype, 'dtype');
      if (typeof value !== 'number') throw new TypeError('value must be a number');
      aligned(offset, dtype, 'dst');
      const bytes = count * elementSize(dtype);
      view(dst, s.device, offset, bytes, 'dst');
      enqueue(s, opOn(s, 'fill', bytes));
    }

    reduce(
      dst: NativeBuffer,
      dstOffset: number,
      inputs: readonly NativeBuffer[],
      inputOffsets: readonly number[],
      count: number,
      dtype: DType,
      op: ReduceOp,
    ): void {
      const s = this.#live();
      index(dstOffset, 'dstOffset');
      if (!Array.isArray(inputs) || !Array.isArray(inputOffsets)) throw new TypeError('inputs and inputOffsets must be arrays');
      if (inputs.length === 0) throw new RangeError('reduce needs at least one input');
      if (inputs.length !== inputOffsets.length) throw new RangeError('inputs and inputOffsets differ in length');
      index(count, 'count');
      dtypeOf(dtype, 'dtype');
      reduceOpOf(op, 'op');
      const bytes = count * elementSize(dtype);
      aligned(dstOffset, dtype, 'dst');
      view(dst, s.device, dstOffset, bytes, 'dst');
      inputs.forEach((input, i) => {
        const off = index(inputOffsets[i], `inputOffsets[${i}]`);
        aligned(off, dtype, `inputs[${i}]`);
        view(input, s.device, off, bytes, `inputs[${i}]`);
      });
      enqueue(s, opOn(s, 'reduce', bytes));
    }

    record(event: NativeEvent): void {
      const s = this.#live();
      const e = lookup(events, event, 'event', 'Event');
      if (!sameDevice(e.device, s.device)) {
        throw new TypeError(`event of ${label(e.device)} recorded on a stream of ${label(s.device)}`);
      }
      e.record = { time: readyAt(s), error: s.error };
    }

    wait(event: NativeEvent): void {
      const s = this.#live();
      const e = lookup(events, event, 'event', 'Event');
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

  function completedAt(record: EventRecord | null): number {
    if (record === null || record.time > scheduler.now()) throw new Error('elapsedMs needs both events recorded and complete');
    if (record.error !== null) throw new Error(`elapsedMs of a failed event: ${record.error}`);
    return record.time;
  }

  class EventHandle implements NativeEvent {
    readonly #state: EventState;

    constructor(device: NativeDevice, timing?: boolean) {
      if (timing !== undefined && typeof timing !== 'boolean') throw new TypeError('timing must be a boolean');
      this.#state = { device: deviceOf(device, 'device'), timing: timing ?? false, record: null, closed: false };
      events.set(this, this.#state);
    }

    get closed(): boolean {
      return this.#state.closed;
    }

    completion(): Promise<void> {
      lookup(events, this, 'event', 'Event');
      return firstValueFrom(completion(this));
    }

    isComplete(): boolean {
      const record = lookup(events, this, 'event', 'Event').record;
      return record === null || record.time <= scheduler.now();
    }

    elapsedMs(end: NativeEvent): number {
      const a = lookup(events, this, 'event', 'Event');
      const b = lookup(events, end, 'end', 'Event');
      if (!a.timing || !b.timing) throw new TypeError('elapsedMs needs two events created with timing');
      if (!sameDevice(a.device, b.device)) throw new TypeError('elapsedMs needs two events of one device');
      return completedAt(b.record) - completedAt(a.record);
    }

    close(): void {
      this.#state.closed = true;
    }
  }

  class CommHandle implements NativeComm {
    readonly rank: number;
    readonly size: number;
    readonly #state: CommState;

    constructor(state: CommState) {
      this.#state = state;
      this.rank = state.rank;
      this.size = state.size;
      comms.set(this, state);
    }

    get closed(): boolean {
      return this.#state.closed;
    }

    abort(): void {
      if (!this.#state.closed) this.#state.group.error ??= 'communicator aborted';
    }

    asyncError(): string | null {
      return lookup(comms, this, 'comm', 'Comm').group.error;
    }

    close(): void {
      this.#state.closed = true;
    }
  }

  /** Validates one item like the native group() and returns its stream and its largest per-rank message. */
  function checkItem(item: GroupItem, name: string): { stream: StreamState; comm: CommState; bytes: number } {
    if (typeof item !== 'object' || item === null) throw new TypeError(`${name} must be an object`);
    const kind: unknown = item.kind;
    if (typeof kind !== 'string' || !collectiveKinds.has(kind)) {
      throw new TypeError(`${name}.kind must be one of ${[...collectiveKinds].join(', ')}`);
    }
    const stream = lookup(streams, item.stream, `${name}.stream`, 'Stream');
    const comm = lookup(comms, item.comm, `${name}.comm`, 'Comm');
    const count = index(item.count, `${name}.count`);
    const dtype = dtypeOf(item.dtype, `${name}.dtype`);
    if (!sameDevice(comm.device, stream.device)) {
      throw new TypeError(`${name}: comm rank lives on ${label(comm.device)}, stream on ${label(stream.device)}`);
    }
    const esz = elementSize(dtype);
    const sendBytes = count * esz * (item.kind === 'reduceScatter' ? comm.size : 1);
    const recvBytes = count * esz * (item.kind === 'allGather' ? comm.size : 1);
    if (item.kind === 'allReduce' || item.kind === 'reduceScatter') reduceOpOf(item.op, `${name}.op`);
    if (item.kind === 'send' || item.kind === 'recv') {
      const peer = index(item.peer, `${name}.peer`);
      if (peer >= comm.size) throw new RangeError(`${name}.peer ${peer} is not below the comm size ${comm.size}`);
    }
    const side = (buffer: NativeBuffer | undefined, offset: number | undefined, bytes: number, field: string): void => {
      const off = offset === undefined ? 0 : index(offset, `${name}.${field}Offset`);
      if (off % esz !== 0) throw new RangeError(`${name}.${field} offset is not a multiple of the element size`);
      view(buffer, stream.device, off, bytes, `${name}.${field}`);
    };
    if (item.kind !== 'recv') side(item.send, item.sendOffset, sendBytes, 'send');
    if (item.kind !== 'send') side(item.recv, item.recvOffset, recvBytes, 'recv');
    const bytes = item.kind === 'send' ? sendBytes : item.kind === 'recv' ? recvBytes : Math.max(sendBytes, recvBytes);
    return { stream, comm, bytes };
  }

  function group(items: readonly GroupItem[]): void {
    if (!Array.isArray(items)) throw new TypeError('items must be an array');
    const checked = items.map((item, i) => checkItem(item, `items[${i}]`));
    const first = checked[0];
    if (first === undefined) return;
    if (checked.some((c) => c.stream.device.backend !== first.stream.device.backend)) {
      throw new TypeError('a group cannot mix cpu and cuda items');
    }
    const participants = [...new Set(checked.map((c) => c.stream))];
    const kinds = [...new Set(items.map((item) => item.kind))];
    const op: VirtualOp = {
      kind: 'group',
      device: first.stream.device.ordinal,
      stream: first.stream.id,
      items,
      bytes: Math.max(...checked.map((c) => c.bytes)),
      label: kinds.join('+'),
    };
    // Every participant waits at the rendezvous for the last one to reach the group in its queue.
    const start = Math.max(...participants.map(readyAt));
    const failed = participants.find((s) => s.error !== null);
    if (failed !== undefined && failed.error !== null) {
      // As on CUDA: once one participant has failed, the collective is skipped for everyone.
      const refusal = `group: skipped: a stream on ${label(failed.device)} had already failed (${failed.error})`;
      for (const s of participants) {
        s.busyUntil = start;
        s.error ??= refusal;
      }
      append(op, start, start, refusal);
      return;
    }
    const end = start + durationOf(op);
    const aborted = checked.find((c) => c.comm.group.error !== null)?.comm.group.error ?? null;
    const failure = aborted ?? options.fail?.(op) ?? null;
    const error = failure === null ? null : `group: ${failure}`;
    for (const s of participants) {
      s.busyUntil = end;
      s.error = error;
    }
    append(op, start, end, error);
  }

  function initComms(
    backend: BackendName,
    id: Uint8Array,
    nranks: number,
    members: readonly CommMember[],
    timeoutMs: number,
  ): Promise<NativeComm[]> {
    backendOf(backend, 'backend');
    if (!(id instanceof Uint8Array) || id.length !== 128) throw new TypeError('id must be the 128-byte Uint8Array from uniqueId()');
    index(nranks, 'nranks');
    if (nranks === 0 || nranks > 65536) throw new RangeError('nranks must be between 1 and 65536');
    if (!Array.isArray(members) || members.length === 0) throw new TypeError('members must be a non-empty array of {rank, device}');
    index(timeoutMs, 'timeoutMs');
    if (timeoutMs === 0 || timeoutMs > 86400000) throw new RangeError('timeoutMs must be between 1 and 86400000');
    const shared: CommGroup = { error: null };
    const ranks = new Set<number>();
    const devices = new Set<number>();
    const created = members.map((m, i) => {
      const name = `members[${i}]`;
      if (typeof m !== 'object' || m === null) throw new TypeError(`${name} must be {rank, device}`);
      const rank = index(m.rank, `${name}.rank`);
      if (rank >= nranks) throw new RangeError(`${name}.rank ${rank} is not below nranks ${nranks}`);
      const device = deviceOf(m.device, `${name}.device`);
      if (device.backend !== backend) throw new TypeError(`${name}.device is not a ${backend} device`);
      if (ranks.has(rank)) throw new RangeError(`rank ${rank} appears twice`);
      if (devices.has(device.ordinal)) throw new RangeError(`two ranks of one communicator on ${label(device)}`);
      ranks.add(rank);
      devices.add(device.ordinal);
      return { device, rank, size: nranks, group: shared, closed: false };
    });
    return Promise.resolve(created.map((state) => new CommHandle(state)));
  }

  function uniqueId(backend: BackendName): Uint8Array {
    backendOf(backend, 'backend');
    const id = new Uint8Array(128);
    new DataView(id.buffer).setFloat64(0, nextUniqueId++);
    return id;
  }

  return {
    Device: VirtualDevice,
    Buffer: BufferHandle,
    Stream: StreamHandle,
    Event: EventHandle,
    group,
    initComms,
    uniqueId,
    completion,
    now: () => scheduler.now(),
    log,
    liveBuffers: () => live.size,
  };
}
