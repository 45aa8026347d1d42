// The public face of a set of ranks: devices, all-reduce (Promise and Observable forms), timings, close.
import { EventEmitter } from 'eventemitter3';
import { Observable, Subject, firstValueFrom, fromEvent, lastValueFrom, merge, type Subscriber } from 'rxjs';
import type { NativeBuffer } from '../native.js';
import { Tensor, type Device, type Underway } from '../runtime/device.js';
import type { Capture } from '../runtime/program.js';
import type { EngineContext, Job } from '../engine/context.js';
import type { Layout } from '../engine/layout.js';
import type { Engine, Progress, StageTiming } from './engine.js';
import { ArgumentError, ClosedError, MismatchError, StageError, TimeoutError } from '../errors.js';
import { CallCheck } from './call-check.js';
import type { WorldHandles } from './handles.js';
import { checkOptions, checkTensors, type AllReduceOptions } from './arguments.js';
import { Registrations } from './registrations.js';
import { eachBucket$ } from './each.js';
import { guarded } from './timings.js';
import { hostMeter, type HostTime } from './host-time.js';
import { checkOptionsObject, show } from '../runtime/options.js';

export type { AllReduceOptions } from './arguments.js';

/**
 * How long a failed process waits at most for the job's others to answer the roll call that names the absent
 * ones (or timeoutMs, where that is shorter).
 */
const absentWindowMs = 3000;

export interface MemoryReport {
  /** Device memory the layout allocated per device for padding and staging. */
  allocatedBytes: number;
  /** What the options allowed per device: memoryBytes, plus paddingBytes when devices per machine > 1. */
  budgetBytes: number;
  pools: Record<'inflight' | 'padding' | 'staging', { size: number; inUse: number; highWater: number; waiting: number }>;
}

/** What ties a world to the other processes of its job (connect()); simulate() has none. */
export interface WorldSession {
  /** Check every all-reduce's (sequence, length, dtype, op) across the job's ranks. */
  readonly checkCalls: boolean;
  /** Resolves once every process of the job has called it, or rejects after timeoutMs. */
  barrier(timeoutMs: number): Promise<void>;
  /**
   * A roll call after a failure: this process answers, then waits up to windowMs for every other process to
   * answer too (the others call it when they fail in turn); the global ranks that did not. Rank 0 when its store
   * no longer answers.
   */
  absent(windowMs: number): Promise<number[]>;
  /**
   * Leaves the job once this process's handles are released: waits (bounded, briefly after a failure, when a
   * rank may be gone) for the others, closes the store.
   */
  close(failed: boolean): Promise<void>;
}

export interface ReferenceLoopResult {
  /** Wall time from the program's hand-over to be issued (after its check) to the last completion of every iteration. */
  wallMs: number;
  slicesPerIteration: number;
  /** What the host spent from the call that hands the program over (its check included) to the last completion. */
  host: HostTime;
}

interface WorldEvents {
  timing: [StageTiming];
}

export class World extends EventEmitter<WorldEvents> {
  /** Per-slice, per-stage, per-rank timings; stages record timing events only while this has subscribers. */
  readonly timings$: Observable<StageTiming>;
  private closing: Promise<void> | null = null;
  /** Memory an all-reduce still works on (by buffer: a broadcast's byte views share it), and when it is over. */
  private readonly busy = new Map<NativeBuffer, JobEnd>();
  private readonly registrations: Registrations;
  /** Jobs waiting for an earlier job on the same tensors before they are submitted to the engine. */
  private deferred = 0;
  /** Emits when the last deferred job has been submitted (or dropped, unsubscribed): `allReduceEach$` may pull again. */
  private readonly undeferred = new Subject<void>();
  /** Emits when the world takes no more work: close() was called, or it failed. */
  private readonly ended = new Subject<void>();
  /** The cross-rank check of every call (connect() worlds), made on first use. */
  private checker: CallCheck | null = null;
  /** The roll call after a failure (connect()), once. */
  private absent: Promise<number[]> | null = null;
  /** The last deferred job's submission: later jobs wait for it, so that jobs reach the engine in call order. */
  private deferredTail: Promise<void> | null = null;
  /** A reference loop's replay still running on the devices: close() lets it finish first (for at most timeoutMs). */
  private replaying = false;
  /** Rejects once close() has released the handles: a replay still waited for then can never be reported. */
  private readonly released: Promise<never>;
  private markReleased: (e: Error) => void = () => undefined;
  /** All-reduces called so far (their sequence numbers, the same on every rank of a job). */
  private calls = 0;

  constructor(
    /** The devices this process drives, ordered by global rank. */
    readonly devices: readonly Device[],
    private readonly ctx: EngineContext,
    private readonly engine: Engine,
    readonly pipelineName: string,
    private readonly budgetBytes: number,
    private readonly handles: WorldHandles,
    private readonly session: WorldSession | null = null,
  ) {
    super();
    this.timings$ = guarded(fromEvent(this, 'timing') as Observable<StageTiming>);
    this.registrations = new Registrations(handles.queue, ctx.program, () => this.closing !== null);
    this.released = new Promise<never>((_, reject) => (this.markReleased = reject));
    this.released.catch(() => undefined);
    // A failure poisons the devices' own streams (each all-reduce orders them after its last slice): every device
    // moves to a fresh stream, and the tensors of the all-reduces the failure cut short refuse to download.
    engine.onFailure = (error, jobs) => {
      for (const d of this.devices) d.renew(jobs, error, ctx.timeoutMs);
      this.ended.next();
    };
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
    return this.reduce$(tensors, options, this.session?.checkCalls === true);
  }

  /**
   * The all-reduce itself. With `checked`, a small all-reduce (max) of this call's sequence number, length, dtype
   * and op, each also negated, goes just before it, in the same order on every rank: equal maxima and minima
   * mean every rank made the same call. The caller hears of the data's completion only once the check agrees;
   * a disagreement fails the world with a MismatchError on every rank (which also cuts short a data all-reduce
   * that could not match). `beforeStart` enqueues work on the devices' own streams just before the job's start is
   * recorded there, once every earlier job on the same memory is over.
   */
  private reduce$(tensors: readonly Tensor[], options: AllReduceOptions, checked: boolean, beforeStart?: () => void, root = -1): Observable<Progress> {
    return new Observable<Progress>((subscriber) => {
      let job: Job;
      try {
        job = this.prepare(tensors, options);
        job.root = root;
      } catch (e) {
        subscriber.error(e);
        return undefined;
      }
      job.buffers = this.registrations.register(job.tensors);
      // A job on tensors an earlier job still works on goes in after it: their stages run on other streams.
      let prior: JobEnd[] | null = null;
      for (const t of job.tensors) {
        const p = this.busy.get(t.buffer);
        if (p !== undefined && !prior?.includes(p)) (prior ??= []).push(p);
      }
      const end = new JobEnd();
      job.ended = () => {
        if (end.over) return;
        this.registrations.unregister(job.tensors);
        for (const t of job.tensors) if (this.busy.get(t.buffer) === end) this.busy.delete(t.buffer);
        for (const d of this.devices) d.untrack(end);
        end.end();
      };
      for (const t of job.tensors) this.busy.set(t.buffer, end);
      for (const d of this.devices) d.track(end);
      let submitted = false;
      let unsubscribed = false;
      const seq = this.calls++;
      const submit = (): void => {
        // With ranks in other processes every rank must run every call (they run it too): unsubscribing then
        // only stops the notifications.
        const alone = this.session === null;
        if (unsubscribed && alone) {
          job.ended();
          return;
        }
        submitted = true;
        try {
          // A world that takes no more work says why before anything is recorded on the devices' streams.
          this.engine.checkAccepting();
          const { program } = this.ctx;
          const agreed = checked ? this.callCheck().check(seq, job) : null;
          // The check's records on the devices' own streams go before what beforeStart issues there.
          if (agreed !== null) program.flush();
          if (beforeStart !== undefined) {
            job.touched = true;
            beforeStart();
          }
          job.start = this.ctx.ranks.map((r) => ({ stream: r.deviceStream, seq: program.record(r.deviceStream) }));
          program.commit((cause) => new StageError(null, 'admit', 0, job.id, cause));
          this.engine.submit(job, {
            next: (p) => subscriber.next(p),
            error: (e) => {
              job.ended();
              // A call that differs across ranks can fail its data all-reduce before its check is read: the
              // check's MismatchError says what went wrong.
              if (agreed === null) this.deliverFailure(subscriber, e);
              else agreed.then(() => this.deliverFailure(subscriber, e), (m: unknown) => this.deliverFailure(subscriber, m instanceof MismatchError ? m : e));
            },
            complete: () => {
              // The job is over on the devices (so the check's own download need not wait for it); the caller
              // hears of it once the check agrees.
              job.ended();
              if (agreed === null) subscriber.complete();
              else agreed.then(() => subscriber.complete(), (e: unknown) => this.deliverFailure(subscriber, e));
            },
          });
        } catch (e) {
          job.ended();
          subscriber.error(e);
        } finally {
          // What a job that got a slice in enqueued reaches the Queue before the call returns: the devices start
          // on it at once, and where every slice got in, their own streams wait for it (the caller may work on
          // them next). A job left waiting for a token adds only its start records: they go with the JS turn's
          // next flush, not in a native call of their own.
          if (job.live > 0 || job.finished) this.ctx.program.flush();
        }
      };
      // Jobs reach the engine in call order, also behind a deferred one: with ranks in other processes, every
      // rank must submit the same sequence, whatever its timing.
      if (prior === null && this.deferredTail === null) {
        submit();
      } else {
        this.deferred++;
        const tail: Promise<void> = Promise.allSettled([...(prior ?? []).map((p) => p.whenOver()), this.deferredTail]).then(() => {
          this.deferred--;
          if (this.deferredTail === tail) this.deferredTail = null;
          submit();
          // A job dropped here takes no token, so no token's return would tell a waiting producer.
          if (this.deferred === 0) this.undeferred.next();
        });
        this.deferredTail = tail;
      }
      return () => {
        unsubscribed = true;
        if (submitted && this.session === null) this.engine.cancel(job);
      };
    });
  }

  /**
   * All-reduces a stream of buckets (one tensor per local device each), in order. The next bucket is pulled
   * from `source` only once a slice of it would be admitted at once, so a producer faster than the devices is
   * held back by the in-flight bound instead of being buffered. Emits every bucket's progress; completes when
   * the source is exhausted and every bucket is reduced; unsubscribing stops pulling.
   */
  allReduceEach$(source: AsyncIterable<readonly Tensor[]> | Iterable<readonly Tensor[]>, options: AllReduceOptions = {}): Observable<Progress> {
    return new Observable<Progress>((subscriber) => {
      try {
        this.checkOpen('allReduceEach$');
        checkOptions(options, 'allReduceEach$');
        if (source === null || typeof source !== 'object' || !(Symbol.iterator in source || Symbol.asyncIterator in source)) {
          throw new ArgumentError('allReduceEach$ takes an iterable or async iterable of buckets (one tensor per local device each)');
        }
      } catch (e) {
        subscriber.error(e);
        return undefined;
      }
      return eachBucket$(source, {
        start: (bucket) => this.allReduce$(bucket, options),
        ready: () => (this.deferred === 0 && this.engine.admittable) || !this.engine.accepting,
        released$: merge(this.ctx.pools.inflight.released$, this.undeferred),
        ended$: this.ended,
        ended: () => !this.engine.accepting,
        endedError: () => {
          const cause = this.engine.failureCause;
          return cause !== null
            ? new ClosedError(`the world failed while allReduceEach$ waited for its source's next bucket: ${cause.message}`, { cause })
            : new ClosedError("the world was closed (world.close()) while allReduceEach$ waited for its source's next bucket");
        },
      }).subscribe(subscriber);
    });
  }

  allReduce(tensors: readonly Tensor[], options: AllReduceOptions = {}): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.allReduce$(tensors, options).subscribe({ error: reject, complete: resolve });
    });
  }

  /**
   * The native reference loop: runs one all-reduce of `tensors` (or of every bucket of a list, submitted at
   * once, as one iteration of a training step submits its buckets) while capturing the operations the engine
   * issues, then has the addon issue that same program `iterations` times from one native loop, with every
   * device-side dependency and no host in between. Its wall time is what the stages cost without the JS
   * orchestration. The world must be idle; the tensors are reduced 1 + iterations times.
   */
  async referenceLoop(buckets: readonly Tensor[] | readonly (readonly Tensor[])[], options: AllReduceOptions & { iterations: number }): Promise<ReferenceLoopResult> {
    this.checkOpen('referenceLoop');
    checkOptions(options, 'referenceLoop', ['iterations']);
    const { iterations } = options;
    if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > 0xffffffff) {
      throw new ArgumentError(`iterations must be an integer from 1 to 4294967295, got ${show(iterations)}`);
    }
    if (!Array.isArray(buckets)) throw new ArgumentError(`referenceLoop takes a bucket (one tensor per local device) or an array of buckets, got ${show(buckets)}`);
    const sets = isBucketList(buckets) ? buckets : [buckets];
    if (!this.engine.idle) throw new ArgumentError('referenceLoop needs an idle world: await every all-reduce first');
    const { program, completions } = this.ctx;
    const held = sets.map((tensors, i) => this.prepare(tensors, options, sets.length === 1 ? 'referenceLoop' : `referenceLoop (bucket ${i})`, ['iterations']));
    for (const job of held) this.registrations.register(job.tensors);
    try {
      program.beginCapture();
      let captured: Capture;
      try {
        // Unchecked: the loop re-issues the data all-reduces alone (every rank captures the same program).
        const op = options.op === undefined ? {} : { op: options.op };
        await Promise.all(sets.map((tensors) => lastValueFrom(this.reduce$(tensors, op, false), { defaultValue: undefined })));
      } finally {
        captured = program.endCapture();
      }
      if (this.closing !== null) throw new ClosedError('referenceLoop: the world was closed (world.close()) while it captured');
      // Timed from when the Queue hands the program over to be issued: its check on the JS thread before that
      // (0.3-0.7 ms for 64 slices on the GPU host) is setup, as a native benchmark's setup is not timed. On the
      // CPU backend the executor runs the program while the call is still posting it, so the call's end is late.
      const meter = hostMeter();
      const { last, handedOverMs } = program.replay(captured, iterations);
      const replayed = Promise.all(last.map((m) => firstValueFrom(completions.reached$(m))));
      this.replaying = true;
      try {
        await Promise.race([replayed, this.released]);
      } finally {
        this.replaying = false;
      }
      const wallMs = this.ctx.runtime.now() - handedOverMs;
      return { wallMs, slicesPerIteration: held.reduce((n, job) => n + job.sliceCount, 0), host: meter() };
    } finally {
      for (const job of held) this.registrations.unregister(job.tensors);
    }
  }

  memory(): MemoryReport {
    const { inflight, padding, staging } = this.ctx.pools;
    return {
      allocatedBytes: this.ctx.layout.allocatedBytes,
      budgetBytes: this.budgetBytes,
      pools: { inflight: inflight.stats, padding: padding.stats, staging: staging.stats },
    };
  }

  /**
   * Takes no more work, waits for admitted slices to settle and for communicator aborts still running (for at
   * most timeoutMs), then releases every handle. Idempotent.
   */
  close(): Promise<void> {
    const first = this.closing === null;
    this.closing ??= this.engine.close().then(() => this.settled()).then(() => {
      // Every handle is released even if one refuses; the first refusal is reported after.
      const errors: unknown[] = [];
      const release = (f: () => void): void => {
        try {
          f();
        } catch (e) {
          errors.push(e);
        }
      };
      release(() => this.engine.dispose());
      this.checker?.close(release);
      release(() => this.handles.queue.close());
      for (const s of this.handles.streams) release(() => s.close());
      for (const b of this.handles.buffers) release(() => b.close());
      for (const c of this.handles.comms) release(() => c.close());
      for (const d of this.devices) release(() => d.close());
      this.removeAllListeners();
      this.markReleased(new ClosedError('referenceLoop: the world was closed (world.close()) before its replay was over'));
      return errors;
    }).then(async (errors) => {
      if (this.session !== null) {
        try {
          await this.session.close(this.engine.failed);
        } catch (e) {
          errors.push(e);
        }
      }
      if (errors.length > 0) throw errors[0];
    });
    if (first) this.ended.next();
    return this.closing;
  }

  /**
   * What close() waits for before it releases the handles, for at most timeoutMs in all: a reference loop's
   * replay still running, call checks whose records have not been reported yet, and NCCL aborts still running
   * off the JS thread (an abort may wait on the devices' work, so streams and memory are released once it is
   * over, as when it ran on the JS thread; an abort that waits for a kernel that never ends is left at the
   * deadline, and the process's exit then ends it at once).
   */
  private async settled(): Promise<void> {
    const deadline = Date.now() + this.ctx.timeoutMs;
    const busy = (): boolean => this.replaying || (this.checker?.busy ?? false) || this.handles.comms.some((c) => c.aborting);
    while (busy() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  }

  /**
   * Copies the tensor of global rank `root` (default 0) into the tensor of every rank, bit for bit: every local
   * device passes one tensor, as to allReduce, and every process of the job calls it with the same root. It runs
   * as an all-reduce of the tensors' bytes (as uint8) where every rank but the root contributes zeros, so it moves
   * twice a broadcast's bytes and keeps every pipeline's ordering and error handling; later calls on the same
   * tensors wait for it.
   */
  async broadcast(tensors: readonly Tensor[], options: { root?: number } = {}): Promise<void> {
    this.checkOpen('broadcast');
    checkTensors(tensors, this.devices, 'broadcast');
    checkOptionsObject('broadcast', options, ['root'], { example: '{ root: 0 }' });
    const { machines, devicesPerMachine } = this.ctx.topology;
    const ranks = machines * devicesPerMachine;
    const root = options.root === undefined ? 0 : options.root;
    if (!Number.isSafeInteger(root) || root < 0 || root >= ranks) throw new ArgumentError(`root must be a global rank from 0 to ${ranks - 1}, got ${show(root)}`);
    // Views of the same memory: the job is ordered after (and before) other work on these tensors, and the zeros
    // land only once every earlier all-reduce of them is over.
    const bytes = tensors.map((t) => new Tensor(t.device, t.buffer, 'uint8', t.byteLength));
    const zeros = (): void => {
      for (const view of bytes) if (view.device.rank !== root) view.device.stream.fill(view.buffer, 0, view.length, 'uint8', 0);
    };
    await lastValueFrom(this.reduce$(bytes, { op: 'sum' }, this.session?.checkCalls === true, zeros, root), { defaultValue: undefined });
  }

  /**
   * Resolves once every process of the job has called barrier() (connect(); in simulate() every rank is in this
   * process, so at once). It does not wait for all-reduces: await them first. Rejects with a
   * RendezvousTimeoutError after the world's timeoutMs.
   */
  async barrier(): Promise<void> {
    if (this.closing) throw new ClosedError('barrier on a closed world (world.close() was called)');
    await this.session?.barrier(this.ctx.timeoutMs);
  }

  /**
   * Fails a call's Observable with the error; across processes, a stage (the call check's too) that failed or
   * timed out first names the ranks that no longer answer.
   */
  private deliverFailure(subscriber: Subscriber<Progress>, e: unknown): void {
    const named = this.nameAbsent(e);
    if (named === null) subscriber.error(e);
    else void named.then((g) => subscriber.error(g));
  }

  /**
   * A stage failure or timeout in a world across processes, once the roll call of the job's processes
   * (session.absent, once per world) has named the ranks that did not answer: in its absentRanks and message.
   * Null for any other error or world: it is delivered as it is, at once.
   */
  private nameAbsent(e: unknown): Promise<Error> | null {
    if (this.session === null || !(e instanceof StageError || e instanceof TimeoutError)) return null;
    this.absent ??= this.session.absent(Math.min(absentWindowMs, this.ctx.timeoutMs)).catch(() => []);
    return this.absent.then((ranks) => {
      if (ranks.length > 0 && e.absentRanks.length === 0) {
        e.absentRanks = ranks;
        e.message += ` (rank${ranks.length > 1 ? 's' : ''} ${ranks.join(', ')} of the job did not answer the roll call after the failure: gone?)`;
      }
      return e;
    });
  }

  private callCheck(): CallCheck {
    const { runtime, program, completions, ranks, timeoutMs } = this.ctx;
    this.checker ??= new CallCheck({
      runtime,
      program,
      completions,
      ranks,
      timeoutMs,
      register: (tensors) => this.registrations.register(tensors),
      unregister: (tensors) => this.registrations.unregister(tensors),
      addStream: (device) => this.handles.stream(device),
      hostBuffer: (device, bytes) => this.handles.buffer(device, bytes, true),
      fail: (error) => this.engine.abort(error),
      abort: () => {
        for (const c of this.handles.checkComms) c.abort();
      },
    });
    return this.checker;
  }

  private prepare(tensors: readonly Tensor[], options: AllReduceOptions, call = 'allReduce', extra: readonly string[] = []): Job {
    this.checkOpen(call);
    const op = checkOptions(options, call, extra);
    checkTensors(tensors, this.devices, call);
    const first = tensors[0]!;
    const route = this.engine.routeOf(first.dtype, first.length);
    return {
      id: this.engine.newJobId(),
      tensors: [...tensors],
      buffers: [],
      dtype: first.dtype,
      op,
      length: first.length,
      route,
      sliceCount: this.engine.countSlices(route, first.dtype, first.length),
      start: [],
      cancelled: false,
      touched: false,
      finished: false,
      root: -1,
      live: 0,
      ended: () => undefined,
    };
  }

  private checkOpen(call: string): void {
    if (this.closing) throw new ClosedError(`${call} on a closed world (world.close() was called): create a new world with simulate()`);
  }

}

/** When an all-reduce is over (its memory free for the next call on it); a promise only for those who wait. */
class JobEnd implements Underway {
  over = false;
  private promise: Promise<void> | null = null;
  private resolve: (() => void) | null = null;

  whenOver(): Promise<void> {
    if (this.over) return Promise.resolve();
    return (this.promise ??= new Promise<void>((resolve) => (this.resolve = resolve)));
  }

  end(): void {
    this.over = true;
    this.resolve?.();
  }
}

function isBucketList(x: readonly Tensor[] | readonly (readonly Tensor[])[]): x is readonly (readonly Tensor[])[] {
  return x.length > 0 && Array.isArray(x[0]);
}
