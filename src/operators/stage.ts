// The shape every stage operator shares: on its own stream of every local rank, wait on the device for the
// previous stage's record (the host never waits), enqueue the stage's work, record what the next stage waits
// on; all of it for every local rank committed as one unit of the program, which reaches the Queue with the
// other units of the same JS turn in one call. Enqueueing never blocks, so a stage emits each slice as soon as
// it has enqueued it, in order.
import { map, type MonoTypeOperatorFunction } from 'rxjs';
import { RecordMode } from '../native.js';
import { SliceViews, type EngineContext, type Slice, type StreamName } from '../engine/context.js';
import { StageError, type StageName } from '../errors.js';
import type { Describe, Mark } from '../runtime/program.js';

export interface StageSpec {
  stage: StageName;
  stream: StreamName;
  /** Payload bytes the stage moves or reduces per rank, for timings. */
  bytes(v: SliceViews): number;
  /** Device-side waits beyond the previous stage (a reused slot's previous use), per local rank. */
  after?(v: SliceViews): Mark[] | null;
  enqueue(v: SliceViews, ctx: EngineContext): void;
}

export function runStage(ctx: EngineContext, slice: Slice, spec: StageSpec): Slice {
  try {
    const p = ctx.program;
    const ranks = ctx.ranks;
    const timing = ctx.timing.enabled;
    const n = ranks.length;
    const start: Mark[] | null = timing ? new Array<Mark>(n) : null;
    // A stream is in order with itself: no wait when the previous stage ran on the same stream.
    const follows = slice.readyOn === spec.stream;
    const views = (slice.views ??= new SliceViews(ctx, slice));
    const extra = spec.after?.(views) ?? null;
    for (let i = 0; i < n; i++) {
      const s = ranks[i]!.streams[spec.stream];
      if (!follows) waitUnlessDone(ctx, s, slice.ready[i]!);
      if (extra !== null) waitUnlessDone(ctx, s, extra[i]!);
      if (start) start[i] = { stream: s, seq: p.record(s, RecordMode.timingStart) };
    }
    spec.enqueue(views, ctx);
    const end = new Array<Mark>(n);
    for (let i = 0; i < n; i++) {
      const s = ranks[i]!.streams[spec.stream];
      end[i] = { stream: s, seq: start ? p.record(s, RecordMode.timingEnd, start[i]!.seq) : p.record(s) };
    }
    p.commit(failureOf(spec.stage), slice);
    slice.marks.push({ stage: spec.stage, stream: spec.stream, start, end, bytes: spec.bytes(views) });
    slice.ready = end;
    slice.readyOn = spec.stream;
    return slice;
  } catch (e) {
    ctx.program.discard();
    throw e instanceof StageError ? e : new StageError(null, spec.stage, slice.index, slice.job.id, e);
  }
}

const failures = new Map<StageName, Describe>();

/** The error a stage's unit is reported with if the Queue refuses it: a StageError naming the slice (the subject). */
export function failureOf(stage: StageName): Describe {
  let describe = failures.get(stage);
  if (describe === undefined) {
    describe = (cause, subject) => new StageError(null, stage, (subject as Slice).index, (subject as Slice).job.id, cause);
    failures.set(stage, describe);
  }
  return describe;
}

/**
 * A device-side wait, left out when the host already knows the record completed (but kept while a program is
 * captured for the native reference loop, which replays it without the host in between).
 */
export function waitUnlessDone(ctx: EngineContext, stream: number, on: Mark): void {
  if (on.stream === stream) return;
  if (ctx.program.capturing || ctx.completions.status(on) !== '') ctx.program.wait(stream, on);
}

export function stage(ctx: EngineContext, spec: StageSpec): MonoTypeOperatorFunction<Slice> {
  return map((slice) => runStage(ctx, slice, spec));
}
