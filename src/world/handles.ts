// The native handles a world owns and releases at close: its Queue, the streams and buffers made for it (each
// registered with the queue as it is made, and closed at once if that fails), and its communicators.
import type { NativeBuffer, NativeComm, NativeQueue, NativeStream } from '../native.js';
import type { Device } from '../runtime/device.js';
import type { Program } from '../runtime/program.js';
import type { Runtime } from '../runtime/runtime.js';

export class WorldHandles {
  readonly streams: NativeStream[] = [];
  readonly buffers: NativeBuffer[] = [];

  constructor(
    private readonly runtime: Runtime,
    readonly queue: NativeQueue,
    private readonly program: Program,
    readonly comms: readonly NativeComm[],
    /** The call check's own communicators (among comms), which a failure of the data path leaves running. */
    readonly checkComms: readonly NativeComm[],
  ) {}

  /** Registers a stream (a device's own, say) with the queue; the program counts its records from there. */
  track(stream: NativeStream): number {
    const index = this.queue.addStream(stream);
    this.program.track(index);
    return index;
  }

  /** A new stream of the device, registered; the world closes it. Its queue index. */
  stream(device: Device): number {
    return this.keep(new this.runtime.Stream(device.native), this.streams, (s) => this.track(s));
  }

  /** New memory of the device (with `host`, host memory its streams copy into and out of), registered; the world frees it. */
  buffer(device: Device, bytes: number, host?: true): { buffer: NativeBuffer; index: number } {
    const buffer = host ? new this.runtime.Buffer(device.native, bytes, true) : new this.runtime.Buffer(device.native, bytes);
    return { buffer, index: this.keep(buffer, this.buffers, (b) => this.queue.addBuffer(b)) };
  }

  /** Registers a handle just made and keeps it for close(); one the queue refuses is closed at once. */
  private keep<H extends { close(): void }>(handle: H, kept: H[], register: (h: H) => number): number {
    let index: number;
    try {
      index = register(handle);
    } catch (e) {
      handle.close();
      throw e;
    }
    kept.push(handle);
    return index;
  }
}
