// Device buffers and the host buffers copyToHost returns. Nothing is stored: only sizes and lifetimes matter.
import type { NativeBuffer, NativeDevice, NativeHostBuffer } from '../../../src/native.js';
import type { VirtualContext } from './context.js';
import { deviceLabel, deviceOf, sameDevice, type VirtualDevice } from './device.js';
import { index } from './validation.js';

export interface BufferState {
  readonly device: VirtualDevice;
  readonly bytes: number;
  readonly host: boolean;
  closed: boolean;
}

export class BufferHandle implements NativeBuffer {
  readonly bytes: number;
  readonly #ctx: VirtualContext;
  readonly #state: BufferState;

  constructor(ctx: VirtualContext, device: NativeDevice, bytes: number, host = false) {
    if (typeof host !== 'boolean') throw new TypeError('host must be a boolean');
    this.#ctx = ctx;
    this.#state = { device: deviceOf(device, 'device'), bytes: index(bytes, 'bytes'), host, closed: false };
    this.bytes = this.#state.bytes;
    ctx.buffers.add(this, this.#state);
    ctx.liveBuffers.add(this);
  }

  get closed(): boolean {
    return this.#state.closed;
  }

  close(): void {
    this.#state.closed = true;
    this.#ctx.liveBuffers.delete(this);
  }

  /** Nothing is stored: zeros, like a HostBuffer's read(). */
  hostView(): ArrayBuffer {
    if (this.#state.closed) throw new TypeError('Buffer is closed');
    if (!this.#state.host) throw new TypeError('hostView() needs a host buffer (new Buffer(device, bytes, true))');
    return new ArrayBuffer(this.#state.bytes);
  }
}

/** Checks that [offset, offset + bytes) lies inside the buffer and that the buffer lives on `device`. */
export function view(ctx: VirtualContext, v: unknown, device: VirtualDevice, offset: number, bytes: number, name: string): void {
  const b = ctx.buffers.get(v, name);
  if (!sameDevice(b.device, device)) throw new TypeError(`${name} lives on ${deviceLabel(b.device)}, not on ${deviceLabel(device)}`);
  if (offset > b.bytes || bytes > b.bytes - offset) {
    throw new RangeError(`${name}: bytes [${offset}, ${offset + bytes}) out of range of a ${b.bytes}-byte buffer`);
  }
}

export class HostBufferHandle implements NativeHostBuffer {
  readonly #ctx: VirtualContext;
  readonly #bytes: number;
  readonly #readyAt: number | null;

  /** `readyAt`: when the copy ends, or null when it was skipped or failed (never readable). */
  constructor(ctx: VirtualContext, bytes: number, readyAt: number | null) {
    this.#ctx = ctx;
    this.#bytes = bytes;
    this.#readyAt = readyAt;
  }

  get ready(): boolean {
    return this.#readyAt !== null && this.#ctx.now() >= this.#readyAt;
  }

  read(): ArrayBuffer {
    if (!this.ready) throw new Error('HostBuffer read before its copy completed');
    return new ArrayBuffer(this.#bytes);
  }
}
