// Thin typed wrappers the user sees: a Device (one rank's device with its default stream) and a Tensor.
import { firstValueFrom } from 'rxjs';
import { dtypes, type DType, type NativeBuffer, type NativeDevice, type NativeHostBuffer, type NativeStream } from '../native.js';
import { ArgumentError, ClosedError } from '../errors.js';
import { dtypeOf, elementSize, hostArray, type HostArray } from './dtype.js';
import type { Runtime } from './runtime.js';
import { checkOptionsObject, show } from './options.js';

export interface RankPlace {
  /** Global rank. */
  rank: number;
  machine: number;
  /** Device index within its machine. */
  local: number;
}

export class Tensor {
  private released = false;
  private readonly closeHooks: Array<() => void> = [];

  /** `length` elements of `dtype` at the start of `buffer`, memory of `device`; checked (ArgumentError). */
  constructor(
    readonly device: Device,
    readonly buffer: NativeBuffer,
    readonly dtype: DType,
    readonly length: number,
  ) {
    if (!(device instanceof Device)) throw new ArgumentError(`new Tensor(): device must be a Device (one of world.devices), got ${show(device)}`);
    if (!dtypes.includes(dtype)) throw new ArgumentError(`new Tensor(): dtype must be one of ${dtypes.join(', ')}, got ${show(dtype)}`);
    if (!Number.isSafeInteger(length) || length < 0) throw new ArgumentError(`new Tensor(): length must be a non-negative integer, got ${show(length)}`);
    if (buffer === null || typeof buffer !== 'object' || typeof buffer.bytes !== 'number') {
      throw new ArgumentError(`new Tensor(): buffer must be a native Buffer (new native.Buffer(device.native, bytes)), got ${show(buffer)}`);
    }
    const bytes = length * elementSize(dtype);
    if (bytes > buffer.bytes) throw new ArgumentError(`new Tensor(): ${length} x ${dtype} is ${bytes} bytes, more than its buffer's ${buffer.bytes}`);
  }

  get byteLength(): number {
    return this.length * elementSize(this.dtype);
  }

  get closed(): boolean {
    return this.released;
  }

  /** The tensor's contents, after every all-reduce called so far on its device and the stream's other work. */
  download(): Promise<HostArray> {
    return this.device.download(this);
  }

  /** Idempotent; work already enqueued keeps the memory until done. */
  close(): void {
    if (this.released) return;
    this.released = true;
    this.buffer.close();
    for (const hook of this.closeHooks.splice(0)) hook();
  }

  /** Runs `hook` once when the tensor is closed (a world then lets go of the memory it registered). */
  onClose(hook: () => void): void {
    if (this.released) hook();
    else this.closeHooks.push(hook);
  }
}

/** Work a device takes part in that is not over yet; a promise is made only for those who wait for it. */
export interface Underway {
  whenOver(): Promise<void>;
}

export class Device {
  private current: NativeStream;
  /** Streams given up after a failure (their sticky error came from a failed all-reduce); closed with the device. */
  private readonly retired: NativeStream[] = [];
  /** Settles once the retired streams' work enqueued before they were given up is over (or given up on). */
  private retiring: Promise<void> = Promise.resolve();
  /** Tensors whose all-reduce a failure cut short, with why: their contents are undefined. */
  // By memory, not by Tensor: a broadcast runs on views of its tensors' memory.
  private readonly failed = new WeakMap<NativeBuffer, { job: number; cause: Error }>();
  /** All-reduces this device takes part in that are not over yet. */
  private readonly pending = new Set<Underway>();
  private isClosed = false;

  constructor(
    readonly runtime: Runtime,
    readonly native: NativeDevice,
    readonly place: RankPlace,
  ) {
    this.current = new runtime.Stream(native);
  }

  /**
   * The stream uploads, downloads and the caller's own work run on; all-reduces order themselves after it. When
   * the world fails it is replaced by a fresh one (the old one carries the failure's sticky error), so read it
   * anew rather than keeping it.
   */
  get stream(): NativeStream {
    return this.current;
  }

  get rank(): number {
    return this.place.rank;
  }

  /** True once close() was called (by world.close()): the device takes no more work. */
  get closed(): boolean {
    return this.isClosed;
  }

  /**
   * A new tensor holding a copy of `data`: a Float32Array, Float64Array, Int8Array, Uint8Array, Int32Array,
   * BigInt64Array, or a Uint16Array of 16-bit floats with `{ dtype: 'float16' | 'bfloat16' }`.
   */
  async upload(data: ArrayBufferView, options: { dtype?: 'float16' | 'bfloat16' } = {}): Promise<Tensor> {
    this.checkOpen('upload');
    checkOptionsObject('upload', options, ['dtype'], { example: "{ dtype: 'float16' }", only: "dtype: 'float16' | 'bfloat16'" });
    const dtype = dtypeOf(data, options.dtype);
    // Read once, now: the caller may reuse, resize or detach `data` as soon as the copy below is issued.
    const byteLength = data.byteLength;
    const buffer = this.closedAsClosedError('upload', () => new this.runtime.Buffer(this.native, byteLength));
    // While an all-reduce is under way, a failure can leave this copy behind its failed wait on the old stream;
    // it is then redone on the fresh one, from a copy of the data, since the caller may reuse `data` at once.
    const source = this.pending.size === 0 ? data : new Uint8Array(data.buffer, data.byteOffset, byteLength).slice();
    try {
      await this.onStream('upload', (s) => s.copyFromHost(buffer, 0, source));
      return new Tensor(this, buffer, dtype, byteLength / elementSize(dtype));
    } catch (e) {
      buffer.close();
      throw e;
    }
  }

  /**
   * Counts an all-reduce until it is over. This device's stream is ordered after an all-reduce only once its
   * last slice has been enqueued, which backpressure can delay; downloads wait for that.
   */
  track(job: Underway): void {
    this.pending.add(job);
  }

  /** The all-reduce `track` counted is over. */
  untrack(job: Underway): void {
    this.pending.delete(job);
  }

  /**
   * The tensor's contents. Rejects with a ClosedError when the tensor, the device or the world is closed, or when
   * an all-reduce of this tensor was cut short by a failure of the world (its contents are then undefined).
   */
  async download(tensor: Tensor): Promise<HostArray> {
    this.checkDownload(tensor);
    await Promise.all(Array.from(this.pending, (job) => job.whenOver()));
    await this.retiring;
    this.checkDownload(tensor);
    let host!: NativeHostBuffer;
    await this.onStream('download', (s) => {
      host = s.copyToHost(tensor.buffer, 0, tensor.byteLength);
    });
    return hostArray(tensor.dtype, host.read());
  }

  /** Resolves once everything enqueued on this device's stream so far has completed. */
  async sync(): Promise<void> {
    this.checkOpen('sync');
    await this.retiring;
    await this.syncOn(this.current, 'sync');
  }

  /**
   * The world failed: the all-reduces `failedJobs` names were cut short, so their tensors' contents are undefined
   * and their downloads reject from now on; and this device's stream, which they ordered after their last slices,
   * carries (or will carry) their sticky error, so uploads and downloads move to a fresh stream. Work enqueued on
   * the old stream before its failed wait still runs, and later uploads, downloads and syncs wait for it on the
   * host (for at most `settleMs`); the old stream is closed with the device. Called by the world.
   */
  renew(failedJobs: ReadonlyArray<{ id: number; tensors: readonly Tensor[] }>, cause: Error, settleMs: number): void {
    for (const job of failedJobs) {
      for (const t of job.tensors) if (t.device === this && !this.failed.has(t.buffer)) this.failed.set(t.buffer, { job: job.id, cause });
    }
    if (this.isClosed || this.current.closed) return;
    const old = this.current;
    this.current = new this.runtime.Stream(this.native);
    this.retired.push(old);
    const before = this.retiring;
    const drained = this.syncOn(old, 'sync').catch(() => undefined);
    let timer: ReturnType<typeof setTimeout> | undefined;
    // The bound must not keep the process alive by itself.
    const bounded = new Promise<void>((resolve) => (timer = setTimeout(resolve, settleMs)));
    (timer as { unref?: () => void } | undefined)?.unref?.();
    this.retiring = Promise.all([before, Promise.race([drained, bounded])]).then(() => clearTimeout(timer));
  }

  /** Idempotent; later upload(), download() and sync() reject with a ClosedError. */
  close(): void {
    this.isClosed = true;
    // Every stream is closed even if one refuses; the first refusal is reported after.
    let error: unknown = null;
    for (const s of [this.current, ...this.retired.splice(0)]) {
      try {
        s.close();
      } catch (e) {
        error ??= e;
      }
    }
    if (error !== null) throw error;
  }

  private checkDownload(tensor: Tensor): void {
    if (!(tensor instanceof Tensor)) throw new ArgumentError('download takes a Tensor this device uploaded');
    if (tensor.device !== this) {
      throw new ArgumentError(`the tensor lives on rank ${tensor.device.rank}, not on this device (rank ${this.rank}): call tensor.download()`);
    }
    if (tensor.closed) throw new ClosedError(`the tensor (rank ${this.rank}) is closed: download before tensor.close()`);
    if (tensor.buffer.closed) throw new ClosedError(`the tensor's memory (rank ${this.rank}) was closed (tensor.buffer.close()): download before closing it`);
    this.checkOpen('download');
    const failed = this.failed.get(tensor.buffer);
    if (failed !== undefined) {
      throw new ClosedError(
        `the tensor (rank ${this.rank}) was part of all-reduce #${failed.job}, which failed, so its contents are undefined ` +
          `(${failed.cause.message}): upload its data again, to a new world`,
        { cause: failed.cause },
      );
    }
  }

  /**
   * Enqueues `enqueue` on the current stream and waits for it. If the work failed because that stream was given up
   * (renew: an all-reduce under way failed and its wait came before this work), it is done once more on the fresh
   * stream.
   */
  private async onStream(what: string, enqueue: (s: NativeStream) => void): Promise<void> {
    const s = this.current;
    this.closedAsClosedError(what, () => enqueue(s));
    try {
      await this.syncOn(s, what);
    } catch (e) {
      // The stream's failure can reach us before the engine's: hear the all-reduces under way out first.
      if (s === this.current && this.pending.size > 0) await Promise.allSettled(Array.from(this.pending, (job) => job.whenOver()));
      if (s === this.current || this.isClosed) throw e;
      await this.retiring;
      this.checkOpen(what);
      const fresh = this.current;
      this.closedAsClosedError(what, () => enqueue(fresh));
      await this.syncOn(fresh, what);
    }
  }

  private async syncOn(stream: NativeStream, what: string): Promise<void> {
    const event = this.closedAsClosedError(what, () => new this.runtime.Event(this.native));
    try {
      this.closedAsClosedError(what, () => stream.record(event));
      await firstValueFrom(this.runtime.completion(event), { defaultValue: undefined });
    } finally {
      event.close();
    }
  }

  private closedMessage(what: string): string {
    return `${what} on device rank ${this.rank} after it was closed (world.close() closes its devices): download results before closing the world, or create a new world`;
  }

  private checkOpen(what: string): void {
    if (this.isClosed || this.stream.closed) throw new ClosedError(this.closedMessage(what));
  }

  /** A native call that fails because the stream was closed meanwhile is a ClosedError, not the addon's TypeError. */
  private closedAsClosedError<T>(what: string, call: () => T): T {
    try {
      return call();
    } catch (e) {
      if (this.isClosed || this.stream.closed) throw new ClosedError(this.closedMessage(what), { cause: e });
      throw e;
    }
  }
}
