// Thin typed wrappers the user sees: a Device (one rank's device with its default stream) and a Tensor.
import { firstValueFrom } from 'rxjs';
import type { DType, NativeBuffer, NativeDevice, NativeStream } from '../native.js';
import { ArgumentError, ClosedError } from '../engine/errors.js';
import { dtypeOf, elementSize, hostArray, type HostArray } from './dtype.js';
import type { Runtime } from './runtime.js';

export interface RankPlace {
  /** Global rank. */
  rank: number;
  machine: number;
  /** Device index within its machine. */
  local: number;
}

export class Tensor {
  private released = false;

  constructor(
    readonly device: Device,
    readonly buffer: NativeBuffer,
    readonly dtype: DType,
    readonly length: number,
  ) {}

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
    this.released = true;
    this.buffer.close();
  }
}

export class Device {
  /** The stream uploads, downloads and the caller's own work run on; all-reduces order themselves after it. */
  readonly stream: NativeStream;
  /** All-reduces this device takes part in that are not over yet. */
  private readonly pending = new Set<Promise<void>>();
  private isClosed = false;

  constructor(
    readonly runtime: Runtime,
    readonly native: NativeDevice,
    readonly place: RankPlace,
  ) {
    this.stream = new runtime.Stream(native);
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
    if (options === null || typeof options !== 'object') {
      throw new ArgumentError(`upload options must be an object such as { dtype: 'float16' }, got ${String(options)}`);
    }
    const unknown = Object.keys(options).filter((k) => k !== 'dtype' && (options as Record<string, unknown>)[k] !== undefined);
    if (unknown.length > 0) throw new ArgumentError(`upload takes no option ${unknown.map((k) => `'${k}'`).join(', ')} (its only option is dtype: 'float16' | 'bfloat16')`);
    const dtype = dtypeOf(data, options.dtype);
    const buffer = this.closedAsClosedError('upload', () => new this.runtime.Buffer(this.native, data.byteLength));
    try {
      this.closedAsClosedError('upload', () => this.stream.copyFromHost(buffer, 0, data));
      await this.sync();
    } catch (e) {
      buffer.close();
      throw e;
    }
    return new Tensor(this, buffer, dtype, data.byteLength / elementSize(dtype));
  }

  /**
   * Counts an all-reduce until it is over. This device's stream is ordered after an all-reduce only once its
   * last slice has been enqueued, which backpressure can delay; downloads wait for that.
   */
  track(job: Promise<void>): void {
    this.pending.add(job);
    void job.then(() => this.pending.delete(job));
  }

  async download(tensor: Tensor): Promise<HostArray> {
    if (tensor.closed) throw new ClosedError(`the tensor (rank ${this.rank}) is closed: download before tensor.close()`);
    this.checkOpen('download');
    await Promise.all([...this.pending]);
    if (tensor.closed) throw new ClosedError(`the tensor (rank ${this.rank}) is closed: download before tensor.close()`);
    this.checkOpen('download');
    const host = this.closedAsClosedError('download', () => this.stream.copyToHost(tensor.buffer, 0, tensor.byteLength));
    await this.sync();
    return hostArray(tensor.dtype, host.read());
  }

  /** Resolves once everything enqueued on this device's stream so far has completed. */
  async sync(): Promise<void> {
    this.checkOpen('sync');
    const event = new this.runtime.Event(this.native);
    try {
      this.closedAsClosedError('sync', () => this.stream.record(event));
      await firstValueFrom(this.runtime.completion(event), { defaultValue: undefined });
    } finally {
      event.close();
    }
  }

  /** Idempotent; later upload(), download() and sync() reject with a ClosedError. */
  close(): void {
    this.isClosed = true;
    this.stream.close();
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
