// The public face of a set of ranks: devices, all-reduce (Promise and Observable forms), timings, close.
import { EventEmitter } from 'eventemitter3';
import { Observable, fromEvent, lastValueFrom } from 'rxjs';
import { reduceOps, type NativeComm, type ReduceOp } from '../native.js';
import type { Device } from '../runtime/device.js';
import { Tensor } from '../runtime/device.js';
import type { EngineContext, Job } from '../engine/context.js';
import { Engine, type Progress, type StageTiming } from '../engine/engine.js';
import { ArgumentError, ClosedError } from '../engine/errors.js';
import type { Layout } from '../engine/layout.js';

export interface AllReduceOptions {
  op?: ReduceOp;
}

export interface MemoryReport {
  /** Device memory the layout allocated per device for padding and staging. */
  allocatedBytes: number;
  /** What the options allowed per device: memoryBytes, plus paddingBytes when devices per machine > 1. */
  budgetBytes: number;
  pools: Record<'inflight' | 'padding' | 'staging', { size: number; inUse: number; highWater: number; waiting: number }>;
}

interface WorldEvents {
  timing: [StageTiming];
}

export class World extends EventEmitter<WorldEvents> {
  /** Per-slice, per-stage, per-rank timings; stages record timing events only while this has subscribers. */
  readonly timings$: Observable<StageTiming>;
  private closing: Promise<void> | null = null;
  /** Tensors an all-reduce still works on, and when that all-reduce is over. */
  private readonly busy = new Map<Tensor, Promise<void>>();

  constructor(
    /** The devices this process drives, ordered by global rank. */
    readonly devices: readonly Device[],
    private readonly ctx: EngineContext,
    private readonly engine: Engine,
    readonly pipelineName: string,
    private readonly budgetBytes: number,
    private readonly comms: readonly NativeComm[],
  ) {
    super();
    this.timings$ = fromEvent(this, 'timing') as Observable<StageTiming>;
  }

  get topology(): EngineContext['topology'] {
    return this.ctx.topology;
  }

  get layout(): Layout {
    return this.ctx.layout;
  }

  /**
   * All-reduces one tensor per local device, in place. Emits progress per slice and completes when every
   * slice has completed on every device. Subscribing submits the job; all jobs run in submission order.
   */
  allReduce$(tensors: readonly Tensor[], options: AllReduceOptions = {}): Observable<Progress> {
    return new Observable<Progress>((subscriber) => {
      let job: Job;
      try {
        job = this.prepare(tensors, options);
      } catch (e) {
        subscriber.error(e);
        return undefined;
      }
      // A job on tensors an earlier job still works on goes in after it: their stages run on other streams.
      const prior = [...new Set(job.tensors.map((t) => this.busy.get(t)).filter((p): p is Promise<void> => p !== undefined))];
      let over!: () => void;
      const ended = new Promise<void>((resolve) => (over = resolve));
      let done = false;
      job.ended = () => {
        if (done) return;
        done = true;
        job.start.forEach((e) => e.close());
        over();
      };
      for (const t of job.tensors) this.busy.set(t, ended);
      void ended.then(() => {
        for (const t of job.tensors) if (this.busy.get(t) === ended) this.busy.delete(t);
      });
      for (const d of this.devices) d.track(ended);
      let submitted = false;
      let unsubscribed = false;
      const submit = (): void => {
        if (unsubscribed) {
          job.ended();
          return;
        }
        submitted = true;
        try {
          job.start = this.devices.map((d) => {
            const e = new this.ctx.runtime.Event(d.native);
            d.stream.record(e);
            return e;
          });
          this.engine.submit(job, {
            next: (p) => subscriber.next(p),
            error: (e) => {
              job.ended();
              subscriber.error(e);
            },
            complete: () => {
              job.ended();
              subscriber.complete();
            },
          });
        } catch (e) {
          job.ended();
          subscriber.error(e);
        }
      };
      if (prior.length === 0) submit();
      else void Promise.allSettled(prior).then(submit);
      return () => {
        unsubscribed = true;
        if (submitted) this.engine.cancel(job);
      };
    });
  }

  allReduce(tensors: readonly Tensor[], options: AllReduceOptions = {}): Promise<void> {
    return lastValueFrom(this.allReduce$(tensors, options), { defaultValue: undefined }).then(() => undefined);
  }

  memory(): MemoryReport {
    const { inflight, padding, staging } = this.ctx.pools;
    return {
      allocatedBytes: this.ctx.layout.allocatedBytes,
      budgetBytes: this.budgetBytes,
      pools: { inflight: inflight.stats, padding: padding.stats, staging: staging.stats },
    };
  }

  /** Takes no more work, waits for admitted slices to settle, then releases every handle. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.engine.close().then(() => {
      this.engine.dispose();
      for (const r of this.ctx.ranks) {
        for (const s of Object.values(r.streams)) s.close();
        for (const b of [r.padding, r.staging, r.stagingPadding]) b?.close();
      }
      for (const c of this.comms) c.close();
      for (const d of this.devices) d.close();
      this.removeAllListeners();
    });
    return this.closing;
  }

  private prepare(tensors: readonly Tensor[], options: AllReduceOptions): Job {
    if (this.closing) throw new ClosedError('the world is closed');
    const op = options.op ?? 'sum';
    if (!reduceOps.includes(op)) throw new ArgumentError(`op must be one of ${reduceOps.join(', ')}, got ${String(op)}`);
    if (!Array.isArray(tensors) || tensors.length !== this.devices.length) {
      throw new ArgumentError(`allReduce takes one tensor per local device: ${this.devices.length} expected, got ${Array.isArray(tensors) ? tensors.length : typeof tensors}`);
    }
    tensors.forEach((t, i) => {
      if (!(t instanceof Tensor)) throw new ArgumentError(`tensors[${i}] is not a Tensor (use device.upload())`);
      if (t.closed) throw new ArgumentError(`tensors[${i}] is closed`);
      if (t.device !== this.devices[i]) {
        throw new ArgumentError(`tensors[${i}] lives on rank ${t.device.rank}, expected rank ${this.devices[i]!.rank} (one tensor per device, in world.devices order)`);
      }
      const first = tensors[0]!;
      if (t.dtype !== first.dtype || t.length !== first.length) {
        throw new ArgumentError(`tensors[${i}] is ${t.dtype} x ${t.length} but tensors[0] is ${first.dtype} x ${first.length}`);
      }
    });
    const first = tensors[0]!;
    return {
      id: this.engine.newJobId(),
      tensors: [...tensors],
      dtype: first.dtype,
      op,
      length: first.length,
      sliceCount: this.engine.countSlices(first.dtype, first.length),
      start: [],
      cancelled: false,
      live: 0,
      ended: () => undefined,
    };
  }
}
