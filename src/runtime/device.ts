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

  /** A new tensor holding a copy of `data`; 16-bit floats come as Uint16Array with { dtype }. */
  async upload(data: ArrayBufferView, options: { dtype?: 'float16' | 'bfloat16' } = {}): Promise<Tensor> {
    const dtype = dtypeOf(data, options.dtype);
    if (options.dtype !== undefined && !(data instanceof Uint16Array)) {
      throw new ArgumentError(`dtype ${options.dtype} is given only with a Uint16Array`);
    }
    const buffer = new this.runtime.Buffer(this.native, data.byteLength);
    this.stream.copyFromHost(buffer, 0, data);
    await this.sync();
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
    if (tensor.closed) throw new ClosedError('tensor is closed');
    await Promise.all([...this.pending]);
    if (tensor.closed) throw new ClosedError('tensor is closed');
    const host = this.stream.copyToHost(tensor.buffer, 0, tensor.byteLength);
    await this.sync();
    return hostArray(tensor.dtype, host.read());
  }

  /** Resolves once everything enqueued on this device's stream so far has completed. */
  async sync(): Promise<void> {
    const event = new this.runtime.Event(this.native);
    this.stream.record(event);
    try {
      await firstValueFrom(this.runtime.completion(event), { defaultValue: undefined });
    } finally {
      event.close();
    }
  }

  close(): void {
    this.stream.close();
  }
}
