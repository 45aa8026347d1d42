// The baseline as a stage: one allReduce per slice over the whole world's communicator.
import type { MonoTypeOperatorFunction } from 'rxjs';
import type { EngineContext, Slice } from '../engine/context.js';
import { stage } from './stage.js';

export function allReduce(ctx: EngineContext): MonoTypeOperatorFunction<Slice> {
  return stage(ctx, {
    stage: 'allReduce',
    stream: 'reduceScatter',
    bytes: (v) => v.slice.count * v.esz,
    enqueue: (v) => {
      const { dtype, op } = v.slice.job;
      const at = v.slice.offset * v.esz;
      const p = ctx.program;
      p.beginGroup();
      for (let i = 0; i < ctx.ranks.length; i++) {
        const r = ctx.ranks[i]!;
        p.item('allReduce', r.streams.reduceScatter, r.comms.world!, dtype, op, v.slice.count, v.tensor(i), at, v.tensor(i), at, -1);
      }
      p.endGroup();
    },
  });
}
