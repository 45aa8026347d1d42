// The baseline as a stage: one allReduce per slice over the whole world's communicator.
import type { MonoTypeOperatorFunction } from 'rxjs';
import type { EngineContext, Slice } from '../engine/context.js';
import { issueGroup, stage } from './stage.js';

export function allReduce(ctx: EngineContext): MonoTypeOperatorFunction<Slice> {
  return stage(ctx, {
    stage: 'allReduce',
    stream: 'reduceScatter',
    bytes: (v) => v.slice.count * v.esz,
    enqueue: (v) => {
      const { dtype, op } = v.slice.job;
      const at = v.slice.offset * v.esz;
      issueGroup(
        ctx,
        ctx.ranks.map((r, i) => ({
          kind: 'allReduce' as const,
          stream: r.streams.reduceScatter,
          comm: r.comms.world!,
          send: v.tensor(i),
          sendOffset: at,
          recv: v.tensor(i),
          recvOffset: at,
          count: v.slice.count,
          dtype,
          op,
        })),
      );
    },
  });
}
