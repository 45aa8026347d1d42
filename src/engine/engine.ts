// The engine: all-reduce jobs become slices, in call order; slices are admitted against the pools, flow
// through the pipeline's stage operators, and settle when their last event completes on every local rank.
import {
  Subject,
  EMPTY,
  catchError,
  concatMap,
  concatWith,
  filter,
  from,
  ignoreElements,
  map,
  of,
  pipe,
  throwError,
  timeout,
  type MonoTypeOperatorFunction,
  type Observable,
  type SchedulerLike,
  type Subscription,
} from 'rxjs';
import type { DType } from '../native.js';
import type { EngineContext, Job, Slice } from './context.js';
import { ClosedError, FairringError, StageError, TimeoutError, type StageName } from './errors.js';
import type { PipelineSpec } from './pipeline.js';
import { allComplete, completion } from './completion.js';
import { runStage } from '../operators/stage.js';
import { elementSize } from '../runtime/dtype.js';

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
  /** Device time on CUDA (events), wall clock of the stream worker on the CPU backend. */
  ms: number;
  bytes: number;
}

interface Listener {
  next(p: Progress): void;
  error(e: Error): void;
  complete(): void;
}

export class Engine {
  private readonly jobs = new Subject<Job>();
  private readonly listeners = new Map<number, Listener & { done: number; bytes: number }>();
  private readonly subscription: Subscription;
  private readonly drained: Promise<void>;
  private markDrained!: () => void;
  /** Admitted slices that have not reached settle yet (mid-pipeline). */
  private readonly admitted = new Set<Slice>();
  private settling = 0;
  private rootDone = false;
  private failure: Error | null = null;
  private closed = false;
  private nextJob = 0;

  constructor(
    private readonly ctx: EngineContext,
    private readonly pipeline: PipelineSpec,
    private readonly scheduler: SchedulerLike,
    private readonly onTiming: (t: StageTiming) => void,
    private readonly abortComms: () => void,
  ) {
    this.drained = new Promise((resolve) => (this.markDrained = resolve));
    this.subscription = this.jobs
      .pipe(
        concatMap((job) => from(this.slicesOf(job))),
        this.admit(),
        pipeline.build(ctx),
        this.finish(),
      )
      .subscribe({
        next: (slice) => this.track(slice),
        error: (e: unknown) => {
          // A stage threw while enqueueing: the world fails, and every slice already on the devices still
          // settles, so its slots come back once its work is over.
          this.fail(e instanceof Error ? e : new FairringError(String(e)));
          for (const slice of [...this.admitted]) this.track(slice);
          this.rootDone = true;
          this.checkDrained();
        },
        complete: () => {
          this.rootDone = true;
          this.checkDrained();
        },
      });
  }

  /** A new job id; jobs run in the order they are submitted. */
  newJobId(): number {
    return this.nextJob++;
  }

  submit(job: Job, listener: Listener): void {
    if (this.failure) throw new ClosedError(`the world failed earlier: ${this.failure.message}`, { cause: this.failure });
    if (this.closed) throw new ClosedError('the world is closed');
    if (job.sliceCount === 0) {
      listener.complete();
      return;
    }
    this.listeners.set(job.id, { ...listener, done: 0, bytes: 0 });
    this.jobs.next(job);
  }

  /** Stop notifying; slices not yet admitted are skipped, admitted ones finish on the devices. */
  cancel(job: Job): void {
    if (job.cancelled) return;
    job.cancelled = true;
    if (this.listeners.delete(job.id) && job.live === 0) job.ended();
  }

  /** No more jobs; resolves once every admitted slice has settled. */
  close(): Promise<void> {
    this.closed = true;
    this.jobs.complete();
    return this.drained;
  }

  /** Elements per slice: the layout's slice bytes are a multiple of D·M·8, so of D·M elements of any dtype. */
  private perSlice(dtype: DType, length: number): number {
    return Number.isFinite(this.ctx.layout.sliceBytes) ? this.ctx.layout.sliceBytes / elementSize(dtype) : length;
  }

  countSlices(dtype: DType, length: number): number {
    return length === 0 ? 0 : Math.ceil(length / this.perSlice(dtype, length));
  }

  private slicesOf(job: Job): Slice[] {
    const { machines, devicesPerMachine } = this.ctx.topology;
    const grid = machines * devicesPerMachine;
    const perSlice = this.perSlice(job.dtype, job.length);
    const slices: Slice[] = [];
    for (let index = 0, offset = 0; offset < job.length; index++, offset += perSlice) {
      const count = Math.min(perSlice, job.length - offset);
      const chunk = this.pipeline.padded ? Math.floor(count / grid) : 0;
      slices.push({
        job,
        index,
        offset,
        count,
        chunk,
        tail: this.pipeline.padded ? count - chunk * grid : 0,
        inflight: null,
        padding: null,
        staging: null,
        ready: job.start,
        readyOn: null,
        marks: [],
      });
    }
    return slices;
  }

  /**
   * Takes an in-flight token (and a padding slot for a tail) first-come first-served, then copies the tail in.
   * A slice whose job was cancelled, or whose world failed, while it waited gives its slots straight back.
   */
  private admit(): MonoTypeOperatorFunction<Slice> {
    const { pools } = this.ctx;
    const dropped = (slice: Slice): boolean => slice.job.cancelled || this.failure !== null;
    return pipe(
      concatMap((slice) => {
        if (dropped(slice)) return EMPTY;
        return pools.inflight.acquire().pipe(
          concatMap((token) => {
            slice.inflight = token;
            if (slice.tail === 0) return of(slice);
            return pools.padding.acquire().pipe(
              map((slot) => {
                slice.padding = slot;
                return slice;
              }),
            );
          }),
          filter((s) => {
            if (!dropped(s)) return true;
            this.releaseSlots(s);
            return false;
          }),
        );
      }),
      map((slice) => {
        this.admitted.add(slice);
        slice.job.live++;
        return runStage(this.ctx, slice, {
          stage: 'admit',
          stream: 'reduceScatter',
          bytes: (v) => v.slice.tail * v.esz,
          enqueue: (v) => {
            if (slice.tail === 0) return;
            this.ctx.ranks.forEach((r, i) => r.streams.reduceScatter.copy(r.padding, v.paddingRow(0), v.tensor(i), v.tailOffset(), slice.tail * v.esz));
          },
        });
      }),
    );
  }

  /** Copies the tail back; the caller's streams wait for the job's last slice before anything else. */
  private finish(): MonoTypeOperatorFunction<Slice> {
    return map((slice) => {
      runStage(this.ctx, slice, {
        stage: 'finish',
        stream: 'allGather',
        bytes: (v) => v.slice.tail * v.esz,
        enqueue: (v) => {
          if (slice.tail === 0) return;
          this.ctx.ranks.forEach((r, i) => r.streams.allGather.copy(v.tensor(i), v.tailOffset(), r.padding, v.paddingRow(0), slice.tail * v.esz));
        },
      });
      if (slice.index === slice.job.sliceCount - 1) {
        slice.job.tensors.forEach((t, i) => t.device.stream.wait(slice.ready[i]!));
      }
      return slice;
    });
  }

  private track(slice: Slice): void {
    this.admitted.delete(slice);
    this.settling++;
    this.settle(slice).subscribe(({ error }) => {
      this.settling--;
      slice.job.live--;
      if (error) this.fail(error);
      else this.progress(slice);
      if (slice.job.cancelled && slice.job.live === 0) slice.job.ended();
      this.checkDrained();
    });
  }

  private checkDrained(): void {
    if (this.rootDone && this.settling === 0 && this.admitted.size === 0) this.markDrained();
  }

  /** Every slice settles, failed or not: its slots go back once, when the host has seen its last events. */
  private settle(slice: Slice): Observable<{ slice: Slice; error: Error | null }> {
    const { runtime, timeoutMs } = this.ctx;
    return allComplete(slice.ready, runtime).pipe(
      timeout({
        first: timeoutMs,
        scheduler: this.scheduler,
        with: () => {
          // Where it hangs is read before the abort makes every pending event fail.
          const { stage, ranks } = this.pending(slice);
          this.abortComms();
          return throwError(() => new TimeoutError(stage, ranks, slice.index, slice.job.id, timeoutMs));
        },
      }),
      catchError((e: unknown) => (e instanceof TimeoutError ? throwError(() => e) : this.locate(slice, e))),
      map(() => null),
      catchError((e: unknown) => of(e instanceof Error ? e : new FairringError(String(e)))),
      map((error) => {
        // After a failure nothing more is admitted, so a failed slice's slots are never handed out again.
        this.releaseSlots(slice);
        if (!error) this.emitTimings(slice);
        this.closeEvents(slice);
        return { slice, error };
      }),
    );
  }

  private releaseSlots(slice: Slice): void {
    const { pools } = this.ctx;
    if (slice.padding !== null) pools.padding.release(slice.padding, of(0));
    if (slice.staging !== null) pools.staging.release(slice.staging, of(0));
    if (slice.inflight !== null) pools.inflight.release(slice.inflight, of(0));
    slice.padding = slice.staging = slice.inflight = null;
  }

  /**
   * The first stage, in pipeline order, whose event failed on some rank, as a StageError. Only events already
   * complete are asked: one still pending (a peer waiting on the failed one) must not hold the answer back.
   */
  private locate(slice: Slice, cause: unknown): Observable<never> {
    const checks = slice.marks.flatMap((mark) => mark.end.map((event, i) => ({ mark, event, i }))).filter(({ event }) => event.isComplete());
    return from(checks).pipe(
      concatMap(({ mark, event, i }) =>
        completion(event, this.ctx.runtime).pipe(
          catchError((e: unknown) =>
            throwError(() => new StageError(this.ctx.ranks[i]!.place.rank, mark.stage, slice.index, slice.job.id, e)),
          ),
        ),
      ),
      ignoreElements(),
      concatWith(throwError(() => new StageError(null, 'finish', slice.index, slice.job.id, cause))),
    );
  }

  /** The first stage, in pipeline order, that some rank has not completed, and those ranks. */
  private pending(slice: Slice): { stage: StageName; ranks: number[] } {
    for (const mark of slice.marks) {
      const ranks = mark.end.flatMap((e, i) => (e.isComplete() ? [] : [this.ctx.ranks[i]!.place.rank]));
      if (ranks.length > 0) return { stage: mark.stage, ranks };
    }
    return { stage: 'finish', ranks: [] };
  }

  private emitTimings(slice: Slice): void {
    for (const mark of slice.marks) {
      if (mark.start === null) continue;
      mark.start.forEach((start, i) => {
        const end = mark.end[i]!;
        // Completion of the end implies the start's; querying records it so elapsed time can be read.
        start.isComplete();
        end.isComplete();
        const timing: StageTiming = {
          job: slice.job.id,
          slice: slice.index,
          rank: this.ctx.ranks[i]!.place.rank,
          stage: mark.stage,
          ms: start.elapsedMs(end),
          bytes: mark.bytes,
        };
        try {
          this.onTiming(timing);
        } catch (e) {
          // A subscriber's bug must not fail the all-reduce it is watching.
          console.error('fairring-rx: a timings subscriber threw:', e);
        }
      });
    }
  }

  private closeEvents(slice: Slice): void {
    for (const mark of slice.marks) {
      for (const e of [...(mark.start ?? []), ...mark.end]) e.close();
    }
  }

  private progress(slice: Slice): void {
    const l = this.listeners.get(slice.job.id);
    if (!l) return;
    l.done++;
    l.bytes += slice.count * elementSize(slice.job.dtype);
    l.next({ job: slice.job.id, slice: slice.index, slices: slice.job.sliceCount, bytes: l.bytes });
    if (l.done === slice.job.sliceCount) {
      this.listeners.delete(slice.job.id);
      l.complete();
    }
  }

  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    this.abortComms();
    const listeners = [...this.listeners.values()];
    this.listeners.clear();
    for (const l of listeners) l.error(e);
  }

  dispose(): void {
    this.subscription.unsubscribe();
  }
}
