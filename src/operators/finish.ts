// The end of the pipeline: the engine checks the pipeline kept its contract (every admitted slice once, in
// order), the tail is copied back out of its padding slot (which goes back to the ring at once: its next user
// waits on the device), and after a job's last slice the devices' own streams wait for it.
import { filter, map, pipe, type MonoTypeOperatorFunction } from 'rxjs';
import type { EngineContext, Slice } from '../engine/context.js';
import { failureOf, runStage, waitUnlessDone } from './stage.js';

export interface FinishGate {
  /** Checks the contract for a slice coming out of the pipeline; false: leave it alone (already settled). */
  arrived(slice: Slice): boolean;
}

export function finish(ctx: EngineContext, gate: FinishGate): MonoTypeOperatorFunction<Slice> {
  return pipe(
    filter((slice) => gate.arrived(slice)),
    map((slice) => {
      if (slice.tail > 0) {
        runStage(ctx, slice, {
          stage: 'finish',
          stream: 'allGather',
          bytes: (v) => v.slice.tail * v.esz,
          enqueue: (v) => {
            for (let i = 0; i < ctx.ranks.length; i++) {
              const r = ctx.ranks[i]!;
              ctx.program.copy(r.streams.allGather, v.tensor(i), v.tailOffset(), r.padding, v.paddingRow(0), slice.tail * v.esz);
            }
          },
        });
      }
      if (slice.padding !== null) {
        ctx.pools.padding.give(slice.padding, slice.ready);
        slice.padding = null;
      }
      if (slice.index === slice.job.sliceCount - 1) {
        // The devices' own streams are the user's too: they wait for the job's last records. Flushed with the
        // JS turn's other units, or, for a job that got in whole within its call, before the call returns.
        for (let i = 0; i < ctx.ranks.length; i++) {
          const r = ctx.ranks[i]!;
          waitUnlessDone(ctx, r.deviceStream, slice.ready[i]!);
        }
        ctx.program.commit(failureOf('finish'), slice);
        slice.job.finished = true;
      }
      return slice;
    }),
  );
}
