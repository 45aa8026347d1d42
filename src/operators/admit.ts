// Admission, the one place a slice waits: an in-flight token first-come first-served (the bound on slices in
// flight), then, for a tail, a padding slot from the ring, into which the tail is copied on the device after
// the slot's previous use.
import { EMPTY, concatMap, filter, map, pipe, type MonoTypeOperatorFunction } from 'rxjs';
import type { EngineContext, Slice } from '../engine/context.js';
import { runStage } from './stage.js';

export interface AdmitGate {
  /** Whether a slice is no longer wanted (its job was cancelled, or the world failed). */
  dropped(slice: Slice): boolean;
  /** Called once a slice holds its token, before anything of it is enqueued. */
  admitted(slice: Slice): void;
}

export function admit(ctx: EngineContext, gate: AdmitGate): MonoTypeOperatorFunction<Slice> {
  const { inflight, padding } = ctx.pools;
  return pipe(
    concatMap((slice) =>
      gate.dropped(slice)
        ? EMPTY
        : inflight.acquire().pipe(
            map((token) => {
              slice.inflight = token;
              return slice;
            }),
          ),
    ),
    filter((slice) => {
      if (!gate.dropped(slice)) return true;
      inflight.give(slice.inflight!);
      slice.inflight = null;
      return false;
    }),
    map((slice) => {
      gate.admitted(slice);
      if (slice.tail === 0) return slice;
      const taken = padding.take();
      slice.padding = taken.slot;
      return runStage(ctx, slice, {
        stage: 'admit',
        stream: 'reduceScatter',
        bytes: (v) => v.slice.tail * v.esz,
        after: () => taken.after,
        enqueue: (v) => {
          ctx.ranks.forEach((r, i) => ctx.program.copy(r.streams.reduceScatter, r.padding, v.paddingRow(0), v.tensor(i), v.tailOffset(), slice.tail * v.esz));
        },
      });
    }),
  );
}
