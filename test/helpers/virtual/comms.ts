// Communicators: the ranks one initComms call creates share an abort, as the in-process communicator does.
import type { BackendName, CommMember, NativeComm } from '../../../src/native.js';
import type { VirtualContext } from './context.js';
import { deviceLabel, deviceOf, type VirtualDevice } from './device.js';
import { backendOf, index } from './validation.js';

/** An abort fails only groups enqueued after it: the outcome of earlier ones was fixed when they were enqueued. */
interface CommGroup {
  error: string | null;
}

export interface CommState {
  readonly device: VirtualDevice;
  readonly rank: number;
  readonly size: number;
  readonly group: CommGroup;
  closed: boolean;
}

class CommHandle implements NativeComm {
  readonly rank: number;
  readonly size: number;
  readonly #ctx: VirtualContext;
  readonly #state: CommState;

  constructor(ctx: VirtualContext, state: CommState) {
    this.#ctx = ctx;
    this.#state = state;
    this.rank = state.rank;
    this.size = state.size;
    ctx.comms.add(this, state);
  }

  get closed(): boolean {
    return this.#state.closed;
  }

  /** A virtual abort takes effect at once. */
  get aborting(): boolean {
    return false;
  }

  abort(): void {
    if (!this.#state.closed) this.#state.group.error ??= 'communicator aborted';
  }

  asyncError(): string | null {
    return this.#ctx.comms.get(this, 'comm').group.error;
  }

  close(): void {
    this.#state.closed = true;
  }
}

export function initComms(
  ctx: VirtualContext,
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
  const created = members.map((m, i): CommState => {
    const name = `members[${i}]`;
    if (typeof m !== 'object' || m === null) throw new TypeError(`${name} must be {rank, device}`);
    const rank = index(m.rank, `${name}.rank`);
    if (rank >= nranks) throw new RangeError(`${name}.rank ${rank} is not below nranks ${nranks}`);
    const device = deviceOf(m.device, `${name}.device`);
    if (device.backend !== backend) throw new TypeError(`${name}.device is not a ${backend} device`);
    if (ranks.has(rank)) throw new RangeError(`rank ${rank} appears twice`);
    if (devices.has(device.ordinal)) throw new RangeError(`two ranks of one communicator on ${deviceLabel(device)}`);
    ranks.add(rank);
    devices.add(device.ordinal);
    return { device, rank, size: nranks, group: shared, closed: false };
  });
  return Promise.resolve(created.map((state) => new CommHandle(ctx, state)));
}

export function uniqueId(ctx: VirtualContext, backend: BackendName): Uint8Array {
  backendOf(backend, 'backend');
  const id = new Uint8Array(128);
  new DataView(id.buffer).setFloat64(0, ctx.nextUniqueId());
  return id;
}
