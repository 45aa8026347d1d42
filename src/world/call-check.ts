// The cross-rank check of every call in a world made by connect(): just before each all-reduce, in the same order
// on every rank, an all-reduce (max) of its sequence number, length, dtype, op and broadcast root, each also
// negated; equal maxima and minima mean every rank made the same call. The check is one NCCL (or Gloo) all-reduce
// of 80 bytes on a stream and a world-wide communicator of its own, overlapping the data all-reduces on the
// pipeline's streams; it ends by copying its result into a slot of a host mailbox, so its completion is the moment
// the host can read the verdict. Probe tensors and mailbox slots are pooled per device.
import { firstValueFrom } from 'rxjs';
import { dtypes, reduceOps, type NativeBuffer, type NativeStream } from '../native.js';
import { Tensor, type Device } from '../runtime/device.js';
import type { Runtime } from '../runtime/runtime.js';
import type { Completions } from '../engine/completion.js';
import type { Job, RankContext } from '../engine/context.js';
import type { Mark, Program } from '../runtime/program.js';
import { ClosedError, MismatchError, StageError, TimeoutError } from '../errors.js';
import { Watchdog, unrefClock } from '../engine/watchdog.js';

const fieldNames = ['sequence number', 'length', 'dtype', 'op', 'broadcast root'] as const;
const showField = [
  String,
  String,
  (i: number) => dtypes[i] ?? String(i),
  (i: number) => reduceOps[i] ?? String(i),
  (i: number) => (i < 0 ? 'none (an all-reduce)' : String(i)),
] as const;
/** Each field and its negation, as int64. */
const probeFields = fieldNames.length * 2;
const probeBytes = 8 * probeFields;
/** Mailbox slots per host buffer: a mailbox grows by one buffer whenever more checks are in flight. */
const slotsPerBox = 256;

/** What the check needs of its world. */
export interface CheckWorld {
  runtime: Runtime;
  program: Program;
  completions: Completions;
  /** The local ranks, in the order of the tensors of a call. */
  ranks: readonly RankContext[];
  timeoutMs: number;
  /** Queue indices of tensors, registered with the world's queue while in use. */
  register(tensors: readonly Tensor[]): number[];
  unregister(tensors: readonly Tensor[]): void;
  /** A new stream of the device, registered with the queue (the world closes it). */
  addStream(device: Device): number;
  /** Host memory of the device, registered with the queue (the world closes it). */
  hostBuffer(device: Device, bytes: number): { buffer: NativeBuffer; index: number };
  /** Fails the world with the error, on this rank. */
  fail(error: Error): void;
  /** Aborts the check's communicators: checks still in flight fail at once. */
  abort(): void;
}

interface Slot {
  index: number;
  offset: number;
  values: BigInt64Array;
}

/** What the checks keep per device: pooled probes and mailbox slots, the check's stream, a stream to read on. */
interface DeviceState {
  probes: Tensor[];
  slots: Slot[];
  /** Queue index of the stream the checks run on. */
  stream: number;
  /** Made on the first read after a failure. */
  readStream: NativeStream | null;
}

interface Pending {
  deadline: number;
  settled: boolean;
  expire(): void;
  /** The world closed before the check's records were reported: rejects with a ClosedError. */
  abandon(): void;
}

export class CallCheck {
  private readonly devices = new Map<Device, DeviceState>();
  /** Checks in flight, oldest first; one timer for the oldest, on wall time, that lets the process exit. */
  private readonly pending: Pending[] = [];
  private readonly watchdog = new Watchdog(
    unrefClock,
    () => {
      while (this.pending.length > 0 && this.pending[0]!.settled) this.pending.shift();
      return this.pending[0]?.deadline ?? null;
    },
    () => {
      const oldest = this.pending[0];
      if (oldest !== undefined && !oldest.settled && unrefClock.now() >= oldest.deadline) {
        oldest.settled = true;
        oldest.expire();
      }
      this.watchdog.arm();
    },
  );

  constructor(private readonly world: CheckWorld) {}

  /**
   * Issues the check of call `seq` now; resolves once every rank agrees, rejects with the MismatchError it failed
   * the world with, or with the check's own failure (a TimeoutError after timeoutMs, which fails the world).
   */
  check(seq: number, job: Job): Promise<void> {
    const { program: p, ranks } = this.world;
    const fields = [seq, job.length, dtypes.indexOf(job.dtype), reduceOps.indexOf(job.op), job.root];
    const mine = BigInt64Array.from(fields.flatMap((v) => [BigInt(v), BigInt(-v)]));
    const states = job.tensors.map((t) => this.stateOf(t.device));
    const probes = job.tensors.map((t, i) => {
      const probe = states[i]!.probes.pop() ?? new Tensor(t.device, new this.world.runtime.Buffer(t.device.native, probeBytes), 'int64', probeFields);
      t.device.stream.copyFromHost(probe.buffer, 0, mine);
      return probe;
    });
    const slots = job.tensors.map((t, i) => this.slot(t.device, states[i]!));
    const streams = states.map((s) => s.stream);
    const indices = this.world.register(probes);
    let marks: Mark[];
    let reduced: Mark[];
    try {
      // After the probe's upload on the device's own stream; the probe reduced in place, then copied out.
      const uploaded = ranks.map((r) => ({ stream: r.deviceStream, seq: p.record(r.deviceStream) }));
      ranks.forEach((_, i) => p.wait(streams[i]!, uploaded[i]!));
      p.beginGroup();
      ranks.forEach((r, i) => p.item('allReduce', streams[i]!, r.comms.check!, 'int64', 'max', probeFields, indices[i]!, 0, indices[i]!, 0, -1));
      p.endGroup();
      reduced = streams.map((s) => ({ stream: s, seq: p.record(s) }));
      ranks.forEach((_, i) => p.copy(streams[i]!, slots[i]!.index, slots[i]!.offset, indices[i]!, 0, probeBytes));
      marks = streams.map((s) => ({ stream: s, seq: p.record(s) }));
      p.commit((cause) => new StageError(null, 'callCheck', 0, job.id, cause));
    } catch (e) {
      p.discard();
      this.world.unregister(probes);
      this.giveBack(states, probes, slots);
      return Promise.reject(e);
    }
    const done = this.settle(marks, job)
      .then(
        () => null,
        (e: unknown) => e,
      )
      .then(async (checkError) => {
        // A world that fails meanwhile cuts the copy to the mailbox short; the probe is then read from the
        // device, where a rank's reduction completed (values from a subset of the ranks never make up a
        // difference). Where none did there is no verdict: the probe may never have been uploaded.
        const reducedOn = reduced.findIndex((m) => this.statusNow(m) === '');
        const v = checkError === null ? slots[0]!.values : reducedOn < 0 ? null : await this.read(probes[reducedOn]!, states[reducedOn]!).catch(() => null);
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
          this.world.fail(error);
          throw error;
        }
        if (checkError !== null) throw checkError;
      })
      .finally(() => {
        this.world.unregister(probes);
        this.giveBack(states, probes, slots);
      });
    // A failure is the caller's to hear (through the data all-reduce); nothing else waits on this one.
    done.catch(() => undefined);
    return done;
  }

  /** Whether a check still waits for its records: close() lets it settle before the Queue stops reporting. */
  get busy(): boolean {
    return this.pending.some((p) => !p.settled);
  }

  /**
   * Frees the pooled probes and the read streams (the world is closing and frees the rest); `release` collects
   * refusals. A check still unsettled then (close() waited timeoutMs for it) can no longer hear of its records:
   * it rejects with a ClosedError, so the call waiting on it does not wait for ever.
   */
  close(release: (free: () => void) => void): void {
    this.watchdog.disarm();
    for (const p of this.pending.splice(0)) {
      if (p.settled) continue;
      p.settled = true;
      p.abandon();
    }
    for (const { probes, readStream } of this.devices.values()) {
      for (const p of probes) release(() => p.close());
      if (readStream !== null) release(() => readStream.close());
    }
    this.devices.clear();
  }

  /** Resolves once every rank's last record of the check completed; rejects with a StageError (stage callCheck) or on timeout. */
  private settle(marks: readonly Mark[], job: Job): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let left = marks.length;
      let failure: { rank: number; error: string } | null = null;
      const entry: Pending = {
        deadline: unrefClock.now() + this.world.timeoutMs,
        settled: false,
        expire: () => {
          const ranks = marks.flatMap((m, i) => (this.statusNow(m) === null ? [this.world.ranks[i]!.place.rank] : []));
          const error = new TimeoutError('callCheck', ranks, 0, job.id, this.world.timeoutMs);
          this.world.fail(error);
          this.world.abort();
          reject(error);
        },
        abandon: () => reject(new ClosedError(`the world was closed before the call check of all-reduce #${job.id} settled: its result is unknown`)),
      };
      this.pending.push(entry);
      this.watchdog.arm();
      for (const [i, m] of marks.entries()) {
        this.world.completions.whenDone(m, (error) => {
          if (error !== null) failure ??= { rank: this.world.ranks[i]!.place.rank, error };
          if (--left > 0 || entry.settled) return;
          entry.settled = true;
          if (failure === null) resolve();
          else reject(new StageError(failure.rank, 'callCheck', 0, job.id, new Error(failure.error)));
        });
      }
    });
  }

  /** Where the record stands (completions.statusNow); null also once the world's Queue is closed and cannot say. */
  private statusNow(mark: Mark): string | null {
    return this.world.program.queueClosed ? null : this.world.completions.statusNow(mark);
  }

  private giveBack(states: readonly DeviceState[], probes: readonly Tensor[], slots: readonly Slot[]): void {
    states.forEach((s, i) => {
      s.probes.push(probes[i]!);
      s.slots.push(slots[i]!);
    });
  }

  private stateOf(device: Device): DeviceState {
    let s = this.devices.get(device);
    if (s === undefined) {
      s = { probes: [], slots: [], stream: this.world.addStream(device), readStream: null };
      this.devices.set(device, s);
    }
    return s;
  }

  /** A free mailbox slot of the device: the mailbox grows by one host buffer when none is free. */
  private slot(device: Device, s: DeviceState): Slot {
    if (s.slots.length === 0) {
      const { buffer, index } = this.world.hostBuffer(device, probeBytes * slotsPerBox);
      const view = buffer.hostView();
      for (let i = slotsPerBox - 1; i >= 0; i--) s.slots.push({ index, offset: i * probeBytes, values: new BigInt64Array(view, i * probeBytes, probeFields) });
    }
    return s.slots.pop()!;
  }

  /**
   * A probe's contents once its all-reduce has settled, read on a stream of its own: after a failure the check's
   * stream refuses work, and the device's own stream may wait for all-reduces that cannot complete.
   */
  private async read(t: Tensor, s: DeviceState): Promise<BigInt64Array> {
    s.readStream ??= new this.world.runtime.Stream(t.device.native);
    const stream = s.readStream;
    const event = new this.world.runtime.Event(t.device.native);
    try {
      const host = stream.copyToHost(t.buffer, 0, t.byteLength);
      stream.record(event);
      await firstValueFrom(this.world.runtime.completion(event), { defaultValue: undefined });
      return new BigInt64Array(host.read());
    } finally {
      event.close();
    }
  }
}
