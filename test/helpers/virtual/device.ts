// Devices: plain values naming a backend and an ordinal; they hold nothing.
import type { BackendName, NativeDevice } from '../../../src/native.js';
import { backendOf, index } from './validation.js';

export class VirtualDevice implements NativeDevice {
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

export function deviceOf(v: unknown, name: string): VirtualDevice {
  if (!(v instanceof VirtualDevice)) throw new TypeError(`${name} must be a Device`);
  return v;
}

export function sameDevice(a: VirtualDevice, b: VirtualDevice): boolean {
  return a.backend === b.backend && a.ordinal === b.ordinal;
}

export function deviceLabel(d: VirtualDevice): string {
  return `${d.backend}:${d.ordinal}`;
}
