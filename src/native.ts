// The typed surface of the native addon (native/src). Everything the addon exports is declared here; the rest
// of the package reaches the addon only through this module.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { isMainThread } from 'node:worker_threads';

// The addon's enums, one table each: the name at index i is the addon's code i (native/src/runtime.h lists the
// same names in the same order), and each type is its table's names.
const backendNames = ['cpu', 'cuda'] as const;
const dtypeNames = ['float16', 'bfloat16', 'float32', 'float64', 'int8', 'uint8', 'int32', 'int64'] as const;
const reduceOpNames = ['sum', 'prod', 'max', 'min', 'avg'] as const;
const collectiveKindNames = ['allReduce', 'reduceScatter', 'allGather', 'send', 'recv'] as const;
export type BackendName = (typeof backendNames)[number];
export type DType = (typeof dtypeNames)[number];
export type ReduceOp = (typeof reduceOpNames)[number];
export type CollectiveKind = (typeof collectiveKindNames)[number];
export const backends: readonly BackendName[] = backendNames;
export const dtypes: readonly DType[] = dtypeNames;
export const reduceOps: readonly ReduceOp[] = reduceOpNames;
export const collectiveKinds: readonly CollectiveKind[] = collectiveKindNames;

/** A CPU device (virtual; any ordinal) or a CUDA device. Holds no resources. */
export interface NativeDevice {
  readonly backend: BackendName;
  readonly ordinal: number;
  readonly name: string;
  readonly totalMemory: number;
}

/** Device memory. Offsets and sizes are in bytes. */
export interface NativeBuffer {
  readonly bytes: number;
  readonly closed: boolean;
  /** Idempotent. Work already enqueued keeps the memory alive until it has used it. */
  close(): void;
  /**
   * A host buffer's memory (new Buffer(device, bytes, true)), no copy: readable once the copies into it have
   * completed; it stays allocated while the view lives. TypeError for device memory.
   */
  hostView(): ArrayBuffer;
}

/** A re-recordable event; completion and timing refer to its latest record. */
export interface NativeEvent {
  readonly closed: boolean;
  /** Resolves when the latest record so far completes; rejects with the stream's error if it failed. */
  completion(): Promise<void>;
  isComplete(): boolean;
  /** Milliseconds from this event to `end`; both created with timing, recorded and complete. */
  elapsedMs(end: NativeEvent): number;
  close(): void;
}

/** Result of a device-to-host copy. */
export interface NativeHostBuffer {
  readonly ready: boolean;
  /** A copy of the bytes; throws until the stream has reached the copy. */
  read(): ArrayBuffer;
}

/**
 * An ordered queue of device work. Every method enqueues and returns at once; arguments are checked first
 * (TypeError, RangeError) and nothing is enqueued when they are wrong. A failed operation makes the stream's
 * later operations fail and the events recorded after it reject.
 */
export interface NativeStream {
  readonly closed: boolean;
  copy(dst: NativeBuffer, dstOffset: number, src: NativeBuffer, srcOffset: number, bytes: number): void;
  /** The host bytes are taken at the call, so `src` may be reused at once. */
  copyFromHost(dst: NativeBuffer, dstOffset: number, src: ArrayBufferView): void;
  copyToHost(src: NativeBuffer, srcOffset: number, bytes: number): NativeHostBuffer;
  fill(dst: NativeBuffer, offset: number, count: number, dtype: DType, value: number): void;
  /**
   * dst = op over the inputs, elementwise; dst may alias an input. avg divides the sum once by `divisor`
   * (default inputs.length): the number of contributions the inputs stand for.
   */
  reduce(
    dst: NativeBuffer,
    dstOffset: number,
    inputs: readonly NativeBuffer[],
    inputOffsets: readonly number[],
    count: number,
    dtype: DType,
    op: ReduceOp,
    divisor?: number,
  ): void;
  record(event: NativeEvent): void;
  /** Later work on this stream waits for the event's latest record, on the device: the host never waits. */
  wait(event: NativeEvent): void;
  /** Idempotent; queued work still runs. */
  close(): void;
}

export interface NativeComm {
  readonly rank: number;
  readonly size: number;
  readonly closed: boolean;
  /** Whether an abort is still running (NCCL runs ncclCommAbort off the JS thread; the call returns at once). */
  readonly aborting: boolean;
  /** Fails this communicator's pending and later operations on every rank (in-process) or this rank (NCCL). */
  abort(): void;
  /** A timeout, an abort or an NCCL asynchronous error, or null. */
  asyncError(): string | null;
  close(): void;
}

/** One operation of a group; counts are NCCL's (reduceScatter: per-rank output, allGather: per-rank input). */
export interface GroupItem {
  kind: CollectiveKind;
  stream: NativeStream;
  comm: NativeComm;
  count: number;
  dtype: DType;
  send?: NativeBuffer;
  sendOffset?: number;
  recv?: NativeBuffer;
  recvOffset?: number;
  op?: ReduceOp;
  peer?: number;
}

/**
 * Op codes of the packed programs `NativeQueue.submit` takes. A program is a Float64Array of operations laid
 * end to end; every field is an integer (exact in a double up to 2^53). Layouts, one row per op:
 *
 * | op | fields after the code |
 * |---|---|
 * | wait   (1) | stream, onStream, seq: later work on `stream` waits, on the device, for record `seq` of `onStream` |
 * | record (2) | stream, mode, startSeq: the stream's next record (numbered 1, 2, … per stream, in submit order); |
 * |            | mode 0 plain, 1 a timing start, 2 a timing end paired with record `startSeq` of the same stream |
 * | copy   (3) | stream, dst, dstOffset, src, srcOffset, bytes |
 * | reduce (4) | stream, dtype, redop, count, divisor, dst, dstOffset, k, then k pairs (buffer, offset) |
 * | group  (5) | n, then n items of 11 fields: kind, stream, comm, dtype, redop, count, send, sendOffset, |
 * |            | recv, recvOffset, peer (fields an item's kind does not use are -1) |
 *
 * Streams, buffers and comms are indices from `addStream` / `addBuffer` / `addComm`; dtype, redop and kind are
 * indices into `dtypes`, `reduceOps` and `collectiveKinds`. Offsets and byte counts are bytes; counts are
 * elements, with NCCL's meaning (reduceScatter: per-rank output, allGather: per-rank input).
 */
export const OpCode = { wait: 1, record: 2, copy: 3, reduce: 4, group: 5 } as const;
export type OpCode = (typeof OpCode)[keyof typeof OpCode];
/** Fields per op, the code included (reduce: plus 2 per input; group: plus 11 per item). */
export const opWidth = { wait: 4, record: 4, copy: 7, reduceBase: 9, groupBase: 2, groupItem: 11 } as const;
/** Record modes. */
export const RecordMode = { plain: 0, timingStart: 1, timingEnd: 2 } as const;

/**
 * Completion reports, in bulk, once per watcher pass: `done` holds triples (stream, completed, failedFrom):
 * every record of `stream` up to `completed` has finished; records from `failedFrom` on failed (0: none), with
 * `errors[i]` the message of triple i ('' when none). `timings` holds quadruples (stream, endSeq, ms, startMs):
 * the device time from a timing end record's start record to it, and when the start record was reached, on
 * clockMs()'s clock (CUDA: the device's timer read against the host's clock through an anchor event the watcher
 * records on a stream of its own, exact within a few microseconds, NaN where the anchor took too long; CPU: when
 * the executor reached the record).
 */
export type QueueProgress = (done: Float64Array, errors: readonly string[], timings: Float64Array) => void;

/**
 * The hot path of one world: its streams, buffers and communicators registered once under small integers,
 * and programs of packed operations, each checked as a whole (a RangeError or TypeError naming the op's index,
 * kind and field; nothing is issued when one is wrong) and issued in order with one call. On CUDA every
 * operation is issued from the addon's one issuer thread, in submit order; the JS thread never blocks.
 */
/**
 * The rendezvous store as the addon calls it while Gloo connects: `get` waits for the key (at most timeoutMs);
 * `done(error)` or `done(null, value)` answers.
 */
export type StoreCall = (
  op: 'set' | 'get',
  key: string,
  value: Uint8Array | null,
  timeoutMs: number,
  done: (error: string | null, value?: Uint8Array) => void,
) => void;

export interface RemoteRendezvous {
  /** The address this process's Gloo pairs bind to (the interface that reaches the store). */
  host: string;
  store: StoreCall;
}

export interface NativeQueue {
  readonly closed: boolean;
  addStream(stream: NativeStream): number;
  addComm(comm: NativeComm): number;
  /** Indices of removed buffers are reused. */
  addBuffer(buffer: NativeBuffer): number;
  removeBuffer(index: number): void;
  /** Records issued so far on a stream (the number the next record follows). */
  records(stream: number): number;
  /**
   * How many records of the stream are known complete (failed ones count once a report carried the failure).
   * Below `seq`, onProgress reports the stream once record `seq` completes (a failure is reported at once), and
   * the queue keeps the event loop alive until then; other completions are reported only along with such a report.
   */
  want(stream: number, seq: number): number;
  submit(ops: Float64Array, length: number): void;
  /**
   * The native reference loop: issues `ops[0, length)` `iterations` times from one native loop. Waits on a
   * record the program itself makes are moved to that record's number in the current iteration; a wait on an
   * earlier record of a stream the program records on waits for that stream's last record before the
   * iteration; timing records become plain ones. Checked once, like `submit`. Returns when the program was
   * handed over to be issued (after its check), on the runtime's clock (`clockMs()`).
   */
  replay(ops: Float64Array, length: number, iterations: number): number;
  /** Stops reporting; idempotent. Work already issued still runs. */
  close(): void;
}

/** The addon's Queue, which can also show how its CUDA issuer orders a program. */
export interface AddonQueue extends NativeQueue {
  /**
   * How the CUDA issuer issues `ops[0, length)` when it gets that program alone (with `iterations`, 1 to 1000:
   * replayed that many times), checked as `submit` (or `replay`) checks it and not issued: op ordinals
   * (iteration · ops + op, 0 = the first op) in issue order, one array per single op or merged NCCL group.
   */
  plan(ops: Float64Array, length: number, iterations?: number): number[][];
}

export interface CommMember {
  rank: number;
  device: NativeDevice;
}

export interface NativeInfo {
  backends: BackendName[];
  cuda: {
    built: boolean;
    deviceCount: number;
    driverVersion: number;
    runtimeVersion: number;
    error: string | null;
    devices: Array<{ ordinal: number; name?: string; totalMemory?: number; error?: string }>;
  };
  nccl: { loaded: boolean; version: number; library: string | null; error: string | null };
  /** The Gloo plugin, which the CPU backend needs across processes (connect()). */
  gloo: { available: boolean; error: string | null };
}

export interface NativeAddon {
  Device: new (backend: BackendName, ordinal: number) => NativeDevice;
  /** Device memory; with `host`, host memory the device's streams copy into and out of (pinned on CUDA). */
  Buffer: new (device: NativeDevice, bytes: number, host?: boolean) => NativeBuffer;
  Stream: new (device: NativeDevice) => NativeStream;
  Event: new (device: NativeDevice, timing?: boolean) => NativeEvent;
  /**
   * `mergeGroups` (1 to 256, default 1): how many NCCL groups of sends and receives only (of any size) the CUDA
   * issuer may merge into one when several slices' programs reach it together. Only for a world whose
   * every rank is in this process (there one thread issues every rank's work, so every rank sees one order), and
   * only for programs whose group ops are whole: every send's receive in the same group op, as the engine packs them.
   */
  Queue: new (backend: BackendName, onProgress: QueueProgress, mergeGroups?: number) => AddonQueue;
  info(): NativeInfo;
  /** 128 bytes naming a new communicator; hand it to every rank. */
  uniqueId(backend: BackendName): Uint8Array;
  /**
   * Creates this process's members of a communicator in one group; resolves once every rank has joined. With
   * ranks in other processes, NCCL needs only the shared id; the CPU backend connects one member per process
   * through Gloo, for which `remote` gives this process's address and the rendezvous store.
   */
  initComms(
    backend: BackendName,
    id: Uint8Array,
    nranks: number,
    members: readonly CommMember[],
    timeoutMs: number,
    remote?: RemoteRendezvous,
  ): Promise<NativeComm[]>;
  /** One ncclGroupStart/End over items that may span several local ranks, streams and comms. */
  group(items: readonly GroupItem[]): void;
  /** Ends the process at once with the code, its output flushed (process.exit() once CUDA communicators exist). */
  exitNow(code: number): never;
  /** The calling thread's CPU time (user and system), in milliseconds. */
  threadCpuMs(): number;
  /**
   * The host's monotonic clock in milliseconds (CLOCK_MONOTONIC: performance.now()'s clock from another origin):
   * the clock of the starts in a Queue's timings.
   */
  clockMs(): number;
}

const here = path.dirname(fileURLToPath(import.meta.url));
/** Where the built addon lives, relative to the package root (dist/src/native.js is two levels below it). */
const addonPath = path.resolve(here, '..', '..', 'native', 'build', 'Release', 'fairring.node');

/**
 * The addon is the process's: its threads, its exit handling (which may end the whole process at once) and its
 * one Node.js environment. A worker thread would take all of that down with it, so it is refused there.
 */
function load(): NativeAddon {
  if (!isMainThread) {
    throw new Error('fairring-rx: load it on the main thread, not in a worker thread: the native addon runs one environment per process and ends the whole process at exit');
  }
  return createRequire(import.meta.url)(addonPath) as NativeAddon;
}

export const native: NativeAddon = load();
