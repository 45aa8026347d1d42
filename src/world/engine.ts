// The engine as one RxJS chain: all-reduce jobs become slices in call order; slices are admitted against the
// in-flight tokens, flow through the pipeline's stage operators, leave through finish (which checks the
// pipeline's contract), and settle when the host learns their last records completed on every local rank.
// One watchdog per engine times out the oldest slice in flight, counted from its admission.
import { Observable, isObservable, type MonoTypeOperatorFunction, type SchedulerLike, type Subscriber, type Subscription } from 'rxjs';
import { Watchdog } from '../engine/watchdog.js';
import type { DType } from '../native.js';
import type { EngineContext, Job, Slice, StreamName } from '../engine/context.js';
import { ArgumentError, ClosedError, ContractError, FairringError, StageError, TimeoutError, type StageName } from '../errors.js';
import type { PipelineSpec } from '../engine/pipeline.js';
import { admit } from '../operators/admit.js';
import { expandJobs } from '../operators/expand-jobs.js';
import { missingStages } from './reduction.js';
import { finish } from '../operators/finish.js';
import { settle } from '../operators/settle.js';
import { elementSize } from '../runtime/dtype.js';
import { show } from '../runtime/options.js';
import { pipelineSpecProblem } from './options.js';

export interface Progress {
  job: number;
  slice: number;
  slices: number;
  /** Bytes of each tensor reduced so far. */
  bytes: number;
}

export interface StageTiming {
  job: number;
  slice: number;
  /** Global rank. */
  rank: number;
  stage: StageName;
  /** The rank's stream the stage ran on (admit and the nccl pipeline's allReduce run on reduceScatter's, finish on allGather's). */
  stream: StreamName;
  /** Device time on CUDA (events), wall clock of the CPU executor on the CPU backend. */
  ms: number;
  /**
   * When the stage started on its stream, in milliseconds on the runtime's clock: the host's monotonic clock
   * (`native.clockMs()`, performance.now()'s clock from another origin) on CUDA and the CPU backend, virtual time
   * on the virtual runtime. On CUDA the device's timer is read against the host's clock within a few microseconds,
   * or, where it could not be (rare: the reading took too long), NaN.
   */
  startMs: number;
  bytes: number;
}

export interface Listener {
  next(p: Progress): void;
  error(e: Error): void;
  complete(): void;
}

interface JobState {
  job: Job;
  listener: Listener;
  done: number;
  bytes: number;
}

interface Settled {
  slice: Slice;
  error: Error | null;
}

export class Engine {
  /** Jobs submitted while nothing takes them (the pipeline subscribes to its input late, or not at all), in order. */
  private readonly untaken: Job[] = [];
  /** When the oldest untaken job was submitted, on the scheduler's clock; the watchdog times it too. */
  private untakenSince: number | null = null;
  /** The chain's subscriber to the jobs, while it has one. */
  private taker: Subscriber<Job> | null = null;
  private noMoreJobs = false;
  /** The jobs in submission order, those submitted before the chain took them first. */
  private readonly jobs = new Observable<Job>((subscriber) => {
    this.taker = subscriber;
    while (this.untaken.length > 0 && !subscriber.closed) subscriber.next(this.untaken.shift()!);
    this.untakenSince = null;
    if (this.noMoreJobs) subscriber.complete();
    return () => {
      if (this.taker === subscriber) this.taker = null;
    };
  });
  private readonly listeners = new Map<number, JobState>();
  private readonly subscription: Subscription;
  private readonly drained: Promise<void>;
  private markDrained!: () => void;
  /** Admitted slices not yet settled, in admission order (settled ones leave from the front as they settle). */
  private readonly live: Slice[] = [];
  private liveHead = 0;
  private liveCount = 0;
  /** The stages of the last slice found to run every stage its topology needs. */
  private validStages: StageName[] | null = null;
  /** Admitted slices the pipeline has not handed to finish yet, in admission order. */
  private readonly inPipeline: Slice[] = [];
  private chainDone = false;
  private failure: Error | null = null;
  private closed = false;
  private nextJob = 0;
  /** Slices submitted and neither admitted nor dropped yet. */
  private queued = 0;
  /** One timer, for the oldest slice in flight. */
  private readonly watchdog: Watchdog;
  /** Jobs with a slice admitted that have neither completed nor been let go (cancelled, nothing live). */
  private readonly underway = new Set<Job>();
  /**
   * Called once when the world fails, after the communicators are aborted and before any caller hears of it,
   * with the jobs the failure cut short: a slice of each was admitted, and not every one settled in time.
   */
  onFailure: ((error: Error, jobs: readonly Job[]) => void) | null = null;

  constructor(
    private readonly ctx: EngineContext,
    private readonly pipeline: PipelineSpec,
    private readonly scheduler: SchedulerLike,
    private readonly onTiming: (t: StageTiming) => void,
    private readonly abortComms: () => void,
  ) {
    this.watchdog = new Watchdog(
      scheduler,
      () => {
        const oldest = this.oldest();
        const since = oldest === null ? this.untakenSince : Math.min(oldest.admittedAt, this.untakenSince ?? Infinity);
        return since === null ? null : since + ctx.timeoutMs;
      },
      () => this.check(),
    );
    this.drained = new Promise((resolve) => (this.markDrained = resolve));
    this.subscription = this.chain(ctx, pipeline)
      .subscribe({
        next: (s) => this.settled(s),
        error: (e: unknown) => {
          // A stage threw while enqueueing: the world fails, and every admitted slice still settles on the
          // records it got, so its slots come back once its work is over.
          this.fail(this.pipelineError(e));
          this.settleStranded(true);
          this.chainDone = true;
          this.checkDrained();
        },
        complete: () => {
          if (this.inPipeline.length > 0) {
            const s = this.inPipeline[0]!;
            this.fail(new ContractError(`the ${this.pipeline.name} pipeline completed without emitting slice ${s.index} of all-reduce #${s.job.id}`));
            this.settleStranded();
          } else if (!this.closed) {
            // Only close() ends the slices coming in: a pipeline that completes first takes no more of them.
            this.fail(new ContractError(`the ${this.pipeline.name} pipeline completed before the world was closed: a pipeline must pass every slice on until its input completes`));
          }
          this.chainDone = true;
          this.checkDrained();
        },
      });
  }

  /** The engine's chain around the pipeline; the pipeline's own mistakes while it is set up are ArgumentErrors. */
  private chain(ctx: EngineContext, pipeline: PipelineSpec): Observable<Settled> {
    const named = (what: string, e: unknown): Error =>
      e instanceof FairringError ? e : new ArgumentError(`the ${pipeline.name} pipeline ${what}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    let operator: MonoTypeOperatorFunction<Slice>;
    try {
      operator = pipeline.build(ctx);
    } catch (e) {
      throw named('threw while it was built', e);
    }
    if (typeof operator !== 'function') throw new ArgumentError(`the ${pipeline.name} pipeline built ${show(operator)}, not an operator over slices (source => Observable)`);
    const admitted = this.jobs.pipe(
      expandJobs((job) => this.slicesOf(job)),
      admit(ctx, { dropped: (s) => this.dropped(s), admitted: (s) => this.admitted(s) }),
    );
    let out: unknown;
    try {
      out = operator(admitted);
    } catch (e) {
      throw named('threw when applied to its input', e);
    }
    if (!isObservable(out)) throw new ArgumentError(`the ${pipeline.name} pipeline's operator returned ${show(out)}, not an Observable of slices`);
    return (out as Observable<Slice>).pipe(
      finish(ctx, { arrived: (s) => this.arrived(s) }),
      settle<Settled>({ whenSettled: (slice, done) => this.whenSettled(slice, done) }),
    );
  }

  /**
   * What the pipeline's chain threw. Stages throw StageErrors and the engine its own errors; anything else came
   * from an operator of the user's between the stages, and becomes a StageError for the slice it was handling:
   * the newest one in the pipeline (a synchronous chain handles a slice as it is admitted).
   */
  private pipelineError(e: unknown): Error {
    if (e instanceof FairringError) return e;
    const slice = this.inPipeline.at(-1);
    if (slice === undefined) return e instanceof Error ? e : new FairringError(String(e));
    return new StageError(null, `operator after ${slice.marks.at(-1)?.stage ?? 'admit'}`, slice.index, slice.job.id, e);
  }

  /** A new job id; jobs run in the order they are submitted. */
  newJobId(): number {
    return this.nextJob++;
  }

  get idle(): boolean {
    return this.liveCount === 0 && this.listeners.size === 0;
  }

  /** What failed the world, or null. */
  get failureCause(): Error | null {
    return this.failure;
  }

  /** Whether the world failed (a stage error, a timeout, a contract or mismatch error). */
  get failed(): boolean {
    return this.failure !== null;
  }

  /** Whether the engine still takes jobs (not closed, not failed). */
  get accepting(): boolean {
    return this.failure === null && !this.closed;
  }

  /** Whether a slice submitted now would be admitted at once: none waits, and an in-flight token is free. */
  get admittable(): boolean {
    const { inUse, size } = this.ctx.pools.inflight.stats;
    return this.queued === 0 && inUse < size && this.accepting;
  }

  /** Throws the ClosedError a job submitted now would get, if the engine takes no more jobs. */
  checkAccepting(): void {
    if (this.failure) throw new ClosedError(`the world failed earlier: ${this.failure.message}`, { cause: this.failure });
    if (this.closed) throw new ClosedError('the world was closed (world.close()) before this all-reduce started: create a new world to run it');
  }

  submit(job: Job, listener: Listener): void {
    this.checkAccepting();
    if (job.sliceCount === 0) {
      listener.complete();
      return;
    }
    this.listeners.set(job.id, { job, listener, done: 0, bytes: 0 });
    this.queued += job.sliceCount;
    if (this.taker !== null) {
      this.taker.next(job);
      return;
    }
    // Nothing takes it yet: no slice is admitted, so the watchdog times the wait itself.
    this.untaken.push(job);
    this.untakenSince ??= this.scheduler.now();
    this.watchdog.arm();
  }

  /** Fails the world with `error` (as a slice failure would): communicators aborted, every job told. */
  abort(error: Error): void {
    this.fail(error);
  }

  /** Stop notifying; slices not yet admitted are skipped, admitted ones finish on the devices. */
  cancel(job: Job): void {
    if (job.cancelled) return;
    job.cancelled = true;
    if (this.listeners.delete(job.id) && job.live === 0) {
      this.underway.delete(job);
      job.ended();
    }
  }

  /**
   * No more jobs; resolves once every admitted slice has settled. After a failure, slices whose records never
   * report (a device that no longer answers) are given up after the timeout, so close() always returns.
   */
  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.noMoreJobs = true;
      this.taker?.complete();
      this.checkDrained();
    }
    return this.drained;
  }

  /** The ready pipeline a job of this dtype and length runs (asked once per job, before it is submitted). */
  routeOf(dtype: DType, length: number): PipelineSpec {
    const { select } = this.pipeline;
    if (select === undefined) return this.pipeline;
    const bytes = length * elementSize(dtype);
    let route: PipelineSpec;
    try {
      route = select.call(this.pipeline, this.ctx.topology, bytes);
    } catch (e) {
      throw new ArgumentError(`the ${this.pipeline.name} pipeline's select threw for ${bytes} bytes: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    const problem = pipelineSpecProblem(route);
    if (problem !== null) {
      throw new ArgumentError(`the ${this.pipeline.name} pipeline's select returned ${show(route)} for ${bytes} bytes, not a pipeline: ${problem}`);
    }
    return route;
  }

  /**
   * Elements per slice: the layout's slice bytes are a multiple of D·M·8, so of D·M elements of any dtype. Only
   * a pipeline that stages through the rail communicators is bound by the staging slot size.
   */
  private perSlice(route: PipelineSpec, dtype: DType, length: number): number {
    const { layout } = this.ctx;
    const bytes = route.comms.includes('collect') ? layout.sliceBytes : layout.unstagedSliceBytes;
    return Number.isFinite(bytes) ? bytes / elementSize(dtype) : length;
  }

  countSlices(route: PipelineSpec, dtype: DType, length: number): number {
    return length === 0 ? 0 : Math.ceil(length / this.perSlice(route, dtype, length));
  }

  private slicesOf(job: Job): Slice[] {
    const { machines, devicesPerMachine } = this.ctx.topology;
    const grid = machines * devicesPerMachine;
    const { route } = job;
    const perSlice = this.perSlice(route, job.dtype, job.length);
    const padded = route.padded;
    const slices: Slice[] = [];
    for (let index = 0, offset = 0; offset < job.length; index++, offset += perSlice) {
      const count = Math.min(perSlice, job.length - offset);
      const chunk = padded ? Math.floor(count / grid) : 0;
      slices.push({
        job,
        index,
        offset,
        count,
        chunk,
        tail: padded ? count - chunk * grid : 0,
        inflight: null,
        padding: null,
        staging: null,
        ready: job.start,
        readyOn: null,
        marks: [],
        admittedAt: 0,
        state: 'pipeline',
        route,
        views: null,
      });
    }
    return slices;
  }

  private dropped(slice: Slice): boolean {
    if (!slice.job.cancelled && this.failure === null) return false;
    this.queued--;
    return true;
  }

  private admitted(slice: Slice): void {
    this.queued--;
    slice.admittedAt = this.scheduler.now();
    slice.job.live++;
    this.underway.add(slice.job);
    this.live.push(slice);
    this.liveCount++;
    this.inPipeline.push(slice);
    this.watchdog.arm();
  }

  /** The pipeline's contract: every admitted slice comes out once, in order. */
  private arrived(slice: Slice): boolean {
    if (slice.state !== 'pipeline') {
      // After a failure a slice given up on may still come out of a slow pipeline; otherwise it came out before.
      if (this.failure !== null) return false;
      throw new ContractError(`the ${this.pipeline.name} pipeline emitted slice ${slice.index} of all-reduce #${slice.job.id} twice: a pipeline must emit every slice once, in order`);
    }
    const expected = this.inPipeline[0];
    if (expected !== slice) {
      const what = expected === undefined ? `slice ${slice.index} of all-reduce #${slice.job.id}, which it had emitted already or never got` : `slice ${slice.index} of all-reduce #${slice.job.id} where slice ${expected.index} of all-reduce #${expected.job.id} was due`;
      throw new ContractError(`the ${this.pipeline.name} pipeline emitted ${what}: a pipeline must emit every slice once, in order`);
    }
    if (!this.sameStagesAsBefore(slice)) {
      const stages = slice.marks.map((m) => m.stage);
      const twice = stages.find((stage, i) => stages.indexOf(stage) !== i);
      if (twice !== undefined) {
        throw new ContractError(`the ${this.pipeline.name} pipeline ran ${twice} twice for slice ${slice.index} of all-reduce #${slice.job.id}: each stage must run once per slice`);
      }
      const missing = missingStages(this.ctx.topology, stages);
      if (missing !== null && missing.length > 0) {
        const { machines: M, devicesPerMachine: D } = this.ctx.topology;
        const ran = stages.filter((s) => s !== 'admit');
        throw new ContractError(
          `the ${this.pipeline.name} pipeline ran ${ran.length > 0 ? ran.join(', ') : 'no stage'} for slice ${slice.index} of all-reduce #${slice.job.id}, ` +
            `but ${M} machine(s) x ${D} device(s) also need ${missing.join(', ')}: without them ranks would get partial results`,
        );
      }
      this.validStages = slice.marks.map((m) => m.stage);
    }
    this.inPipeline.shift();
    slice.state = 'settling';
    return true;
  }

  /** Whether the slice ran the stages, in order, of a slice already found complete (the common case: no check). */
  private sameStagesAsBefore(slice: Slice): boolean {
    const before = this.validStages;
    if (before === null || before.length !== slice.marks.length) return false;
    for (let i = 0; i < before.length; i++) if (before[i] !== slice.marks[i]!.stage) return false;
    return true;
  }

  /** Calls `done` once the slice's last records have completed on every local rank (with the failure, if any). */
  private whenSettled(slice: Slice, done: (s: Settled) => void): void {
    const { completions } = this.ctx;
    let pending = slice.ready.length;
    let failed = false;
    const one = (error: string | null): void => {
      failed ||= error !== null;
      if (--pending > 0) return;
      done({ slice, error: failed ? this.locate(slice) : null });
    };
    if (pending === 0) {
      done({ slice, error: null });
      return;
    }
    for (const mark of slice.ready) completions.whenDone(mark, one);
  }

  /**
   * Slices stuck in the pipeline (it threw, stalled or dropped them) settle on the records they got; with
   * `all`, so do those past finish whose settle the chain, now dead, no longer carries.
   */
  private settleStranded(all = false): void {
    const stranded = this.inPipeline.splice(0);
    if (all) for (let i = this.liveHead; i < this.live.length; i++) if (this.live[i]!.state === 'settling') stranded.push(this.live[i]!);
    for (const slice of stranded) {
      slice.state = 'settling';
      this.whenSettled(slice, (s) => this.settled(s));
    }
  }

  private settled({ slice, error }: Settled): void {
    if (slice.state === 'settled') return;
    slice.state = 'settled';
    this.liveCount--;
    // Settled slices leave the front of `live` now, not only when the watchdog next looks (timeoutMs later):
    // until then they would keep their jobs, and everything the callers hung on them, alive.
    this.oldest();
    this.releaseSlots(slice);
    this.emitTimings(slice, error === null);
    slice.job.live--;
    if (error) this.fail(error);
    else this.progress(slice);
    if (slice.job.cancelled && slice.job.live === 0) {
      if (this.failure === null) this.underway.delete(slice.job);
      slice.job.ended();
    }
    // Nothing left to time: the timer would hold the event loop until the last slice's deadline.
    if (this.liveCount === 0 && this.untakenSince === null) this.watchdog.disarm();
    this.checkDrained();
  }

  /**
   * Drained once every admitted slice has settled and no more can come: the chain is done, or the world failed
   * and is closing (a pipeline that holds slices back, a `delay` say, is then let go).
   */
  private checkDrained(): void {
    if (this.liveCount > 0) return;
    // Closed with nothing in the chain and nothing waiting for it to take: a pipeline that never subscribed to
    // its input (or subscribes later, and then completes at once) holds nothing to wait for.
    const idleChain = this.closed && this.taker === null && this.untaken.length === 0;
    if (!this.chainDone && !idleChain && !(this.failure !== null && this.closed)) return;
    this.watchdog.disarm();
    this.subscription?.unsubscribe();
    this.markDrained();
  }

  private releaseSlots(slice: Slice): void {
    const { pools } = this.ctx;
    if (slice.padding !== null) pools.padding.give(slice.padding, null);
    if (slice.staging !== null) pools.staging.give(slice.staging, null);
    if (slice.inflight !== null) pools.inflight.give(slice.inflight);
    slice.padding = slice.staging = slice.inflight = null;
  }

  /** The first stage, in pipeline order, whose record failed on some rank, as a StageError. */
  private locate(slice: Slice): Error {
    const { completions, ranks } = this.ctx;
    for (const mark of slice.marks) {
      for (let i = 0; i < mark.end.length; i++) {
        const status = completions.status(mark.end[i]!);
        if (status !== null && status !== '') return new StageError(ranks[i]!.place.rank, mark.stage, slice.index, slice.job.id, new Error(status));
      }
    }
    const last = slice.ready.map((m) => completions.status(m)).find((s) => s !== null && s !== '') ?? 'failed';
    return new StageError(null, slice.marks.at(-1)?.stage ?? 'admit', slice.index, slice.job.id, new Error(last));
  }

  /** The first stage, in pipeline order, that some rank has not completed, and those ranks. */
  private pending(slice: Slice): { stage: StageName; ranks: number[]; held: boolean } {
    const { completions, ranks } = this.ctx;
    for (const mark of slice.marks) {
      const waiting = mark.end.flatMap((m, i) => (completions.statusNow(m) === null ? [ranks[i]!.place.rank] : []));
      if (waiting.length > 0) return { stage: mark.stage, ranks: waiting, held: false };
    }
    // Every record it made is complete: the pipeline holds it after its last stage.
    if (slice.state === 'pipeline') return { stage: slice.marks.at(-1)?.stage ?? 'admit', ranks: [], held: true };
    return { stage: 'finish', ranks: [], held: false };
  }

  private emitTimings(slice: Slice, deliver: boolean): void {
    const { completions, ranks } = this.ctx;
    for (const mark of slice.marks) {
      if (mark.start === null) continue;
      for (let i = 0; i < mark.end.length; i++) {
        const timing = completions.takeTiming(mark.end[i]!);
        if (!deliver || timing === undefined) continue;
        try {
          this.onTiming({ job: slice.job.id, slice: slice.index, rank: ranks[i]!.place.rank, stage: mark.stage, stream: mark.stream, ms: timing.ms, startMs: timing.startMs, bytes: mark.bytes });
        } catch (e) {
          // A subscriber's bug must not fail the all-reduce it is watching.
          console.error('fairring-rx: a timings subscriber threw:', e);
        }
      }
    }
  }

  private progress(slice: Slice): void {
    const state = this.listeners.get(slice.job.id);
    if (!state) return;
    state.done++;
    state.bytes += slice.count * elementSize(slice.job.dtype);
    state.listener.next({ job: slice.job.id, slice: slice.index, slices: slice.job.sliceCount, bytes: state.bytes });
    if (state.done === slice.job.sliceCount) {
      this.listeners.delete(slice.job.id);
      this.underway.delete(slice.job);
      state.listener.complete();
    }
  }

  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    this.abortComms();
    const cut = [...this.underway];
    for (const { job } of this.listeners.values()) if (job.touched && !this.underway.has(job)) cut.push(job);
    this.underway.clear();
    try {
      this.onFailure?.(e, cut);
    } catch (err) {
      console.error('fairring-rx: recovering the devices after a failure threw:', err);
    }
    const states = [...this.listeners.values()];
    this.listeners.clear();
    for (const s of states) s.listener.error(e);
  }

  private oldest(): Slice | null {
    while (this.liveHead < this.live.length && this.live[this.liveHead]!.state === 'settled') this.liveHead++;
    if (this.liveHead > 256 && this.liveHead * 2 > this.live.length) {
      this.live.splice(0, this.liveHead);
      this.liveHead = 0;
    }
    return this.live[this.liveHead] ?? null;
  }

  private check(): void {
    if (this.untakenSince !== null && this.scheduler.now() - this.untakenSince >= this.ctx.timeoutMs) this.failUntaken();
    const oldest = this.oldest();
    if (oldest === null) {
      this.watchdog.arm();
      return;
    }
    if (this.scheduler.now() - oldest.admittedAt < this.ctx.timeoutMs) {
      this.watchdog.arm();
      return;
    }
    if (this.failure === null) {
      // Where it hangs is read before the abort makes every pending record fail.
      const { stage, ranks, held } = this.pending(oldest);
      this.fail(new TimeoutError(stage, ranks, oldest.index, oldest.job.id, this.ctx.timeoutMs, held));
      this.settleStranded();
      this.watchdog.arm();
      return;
    }
    // Failed already, and the oldest slice is past its deadline (at once after a timeout): its device may never
    // report; every slice still live is given up, so close() returns.
    for (const slice of this.live.slice(this.liveHead)) {
      if (slice.state !== 'settled') this.settled({ slice, error: null });
    }
  }

  /** Jobs the pipeline did not take within timeoutMs fail the world with a ContractError; they never ran. */
  private failUntaken(): void {
    this.untaken.length = 0;
    this.untakenSince = null;
    this.fail(
      new ContractError(
        `the ${this.pipeline.name} pipeline took no slices for ${this.ctx.timeoutMs} ms: it did not subscribe to its input, or unsubscribed from it before the world was closed; a pipeline must pass every slice of its input on`,
      ),
    );
    this.checkDrained();
  }

  dispose(): void {
    this.watchdog.disarm();
    this.subscription.unsubscribe();
  }
}
