// The cross-rank check of every call in a world made by connect(): just before each all-reduce, in the same
// order on every rank, a small all-reduce (max) of its sequence number, length, dtype and op, each also negated;
// equal maxima and minima mean every rank made the same call. Probe tensors are pooled per device (registered
// with the world's queue once); the check's own all-reduce ends by copying its result into a slot of a host
// mailbox, so its completion is the moment the host can read the verdict: no download, event or stream per check.
import { firstValueFrom } from 'rxjs';
import { dtypes, reduceOps, type NativeBuffer, type NativeStream } from '../native.js';
import { Tensor, type Device } from '../runtime/device.js';
import type { Runtime } from '../runtime/runtime.js';
import type { HostSpot, Job } from '../engine/context.js';
import { MismatchError } from '../errors.js';

const fieldNames = ['sequence number', 'length', 'dtype', 'op'] as const;
const showField = [String, String, (i: number) => dtypes[i] ?? String(i), (i: number) => reduceOps[i] ?? String(i)] as const;
/** Each field and its negation, as int64. */
const probeBytes = 8 * fieldNames.length * 2;
/** Mailbox slots per host buffer: a mailbox grows by one buffer whenever more checks are in flight. */
const slotsPerBox = 256;

/** Host memory of a device the world registered with its queue (it closes it with the world). */
export type HostBufferFactory = (device: Device, bytes: number) => { buffer: NativeBuffer; index: number };

interface Slot {
  index: number;
  offset: number;
  values: BigInt64Array;
}

export class CallCheck {
  private readonly free = new Map<Device, Tensor[]>();
  private readonly slots = new Map<Device, Slot[]>();
  private readonly sideStreams = new Map<Device, NativeStream>();

  constructor(
    private readonly runtime: Runtime,
    /**
     * All-reduces (max) the probes as a job of their own, unchecked, each rank's result copied to its HostSpot;
     * resolves or rejects when it has settled.
     */
    private readonly reduce: (probes: readonly Tensor[], copyOut: readonly HostSpot[]) => Promise<void>,
    private readonly hostBuffer: HostBufferFactory,
    /** Fails the world with the mismatch, on this rank. */
    private readonly fail: (error: MismatchError) => void,
  ) {}

  /**
   * Submits the check of call `seq` now (so it reaches the engine just before `job`); resolves once every rank
   * agrees, rejects with the MismatchError it failed the world with (or the check's own failure).
   */
  check(seq: number, job: Job): Promise<void> {
    const fields = [seq, job.length, dtypes.indexOf(job.dtype), reduceOps.indexOf(job.op)];
    const mine = BigInt64Array.from(fields.flatMap((v) => [BigInt(v), BigInt(-v)]));
    const probes = job.tensors.map((t) => {
      const probe = this.take(t.device);
      t.device.stream.copyFromHost(probe.buffer, 0, mine);
      return probe;
    });
    const slots = probes.map((p) => this.slot(p.device));
    const done = this.reduce(
      probes,
      slots.map((s) => ({ buffer: s.index, offset: s.offset })),
    )
      .then(
        () => null,
        (e: unknown) => e,
      )
      .then(async (checkError) => {
        // A world that fails meanwhile (the data all-reduce that cannot match may fail first, on a transfer of the
        // wrong size) cuts the copy to the mailbox short; the probe is then read from the device: values from a
        // subset of the ranks never make up a difference.
        const v = checkError === null ? slots[0]!.values : await this.read(probes[0]!).catch(() => null);
        const differ =
          v === null
            ? []
            : fields.flatMap((_, i) => {
                const [hi, lo] = [Number(v[2 * i]!), -Number(v[2 * i + 1]!)];
                const show = showField[i]!;
                return hi === lo ? [] : [`${fieldNames[i]} from ${show(lo)} to ${show(hi)} (this rank: ${show(fields[i]!)})`];
              });
        if (differ.length > 0) {
          const error = new MismatchError(`all-reduce #${seq} was called differently across ranks: ${differ.join('; ')}: every rank must make the same calls in the same order`);
          this.fail(error);
          throw error;
        }
        if (checkError !== null) throw checkError;
      })
      .finally(() => {
        for (const p of probes) this.free.get(p.device)!.push(p);
        for (const [i, s] of slots.entries()) this.slots.get(probes[i]!.device)!.push(s);
      });
    // A failure is the caller's to hear (through the data all-reduce); nothing else waits on this one.
    done.catch(() => undefined);
    return done;
  }

  /** Frees the pooled probes and side streams (the world is closing; it frees the mailboxes); `release` collects refusals. */
  close(release: (free: () => void) => void): void {
    for (const probes of this.free.values()) for (const p of probes) release(() => p.close());
    for (const s of this.sideStreams.values()) release(() => s.close());
    this.free.clear();
    this.slots.clear();
    this.sideStreams.clear();
  }

  private take(device: Device): Tensor {
    let pool = this.free.get(device);
    if (pool === undefined) {
      pool = [];
      this.free.set(device, pool);
    }
    return pool.pop() ?? new Tensor(device, new this.runtime.Buffer(device.native, probeBytes), 'int64', fieldNames.length * 2);
  }

  private slot(device: Device): Slot {
    let pool = this.slots.get(device);
    if (pool === undefined) {
      pool = [];
      this.slots.set(device, pool);
    }
    if (pool.length === 0) {
      const { buffer, index } = this.hostBuffer(device, probeBytes * slotsPerBox);
      const view = buffer.hostView();
      for (let i = slotsPerBox - 1; i >= 0; i--) pool.push({ index, offset: i * probeBytes, values: new BigInt64Array(view, i * probeBytes, fieldNames.length * 2) });
    }
    return pool.pop()!;
  }

  /**
   * A probe's contents once its all-reduce has settled, read on the device's side stream: the device's own
   * stream may by now wait for later all-reduces (one that cannot complete, when calls differ across ranks).
   */
  private async read(t: Tensor): Promise<BigInt64Array> {
    let stream = this.sideStreams.get(t.device);
    if (stream === undefined) {
      stream = new this.runtime.Stream(t.device.native);
      this.sideStreams.set(t.device, stream);
    }
    const event = new this.runtime.Event(t.device.native);
    try {
      const host = stream.copyToHost(t.buffer, 0, t.byteLength);
      stream.record(event);
      await firstValueFrom(this.runtime.completion(event), { defaultValue: undefined });
      return new BigInt64Array(host.read());
    } finally {
      event.close();
    }
  }
}
