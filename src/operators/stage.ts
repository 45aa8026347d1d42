// The shape every stage operator shares: on its own stream of every local rank, wait on the device for the
// previous stage's event (the host never waits), enqueue the stage's work, record the event the next stage
// waits on. Enqueueing never blocks, so a stage emits each slice as soon as it has enqueued it, in order.
import { map, type MonoTypeOperatorFunction } from 'rxjs';
import type { GroupItem } from '../native.js';
import { SliceViews, type EngineContext, type Slice, type StreamName } from '../engine/context.js';
import { StageError, type StageName } from '../engine/errors.js';

export interface StageSpec {
  stage: StageName;
  stream: StreamName;
  /** Payload bytes the stage moves or reduces per rank, for timings. */
  bytes(v: SliceViews): number;
  enqueue(v: SliceViews, ctx: EngineContext): void;
}

export function runStage(ctx: EngineContext, slice: Slice, spec: StageSpec): Slice {
  try {
    const timing = ctx.timing.enabled;
    const start = timing ? [] as Slice['ready'] : null;
    // A stream is in order with itself: no wait when the previous stage ran on the same stream.
    const follows = slice.readyOn === spec.stream;
    ctx.ranks.forEach((r, i) => {
      const s = r.streams[spec.stream];
      if (!follows) s.wait(slice.ready[i]!);
      if (start) {
        const e = new ctx.runtime.Event(r.device.native, true);
        s.record(e);
        start.push(e);
      }
    });
    const views = new SliceViews(ctx, slice);
    spec.enqueue(views, ctx);
    const end = ctx.ranks.map((r) => {
      const e = new ctx.runtime.Event(r.device.native, timing);
      r.streams[spec.stream].record(e);
      return e;
    });
    slice.marks.push({ stage: spec.stage, start, end, bytes: spec.bytes(views) });
    slice.ready = end;
    slice.readyOn = spec.stream;
    return slice;
  } catch (e) {
    throw e instanceof StageError ? e : new StageError(null, spec.stage, slice.index, slice.job.id, e);
  }
}

export function stage(ctx: EngineContext, spec: StageSpec): MonoTypeOperatorFunction<Slice> {
  return map((slice) => runStage(ctx, slice, spec));
}

/** One group call for all local ranks, skipping empty operations. */
export function issueGroup(ctx: EngineContext, items: GroupItem[]): void {
  const nonEmpty = items.filter((it) => it.count > 0);
  if (nonEmpty.length > 0) ctx.runtime.group(nonEmpty);
}
