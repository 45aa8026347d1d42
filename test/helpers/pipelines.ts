// Broken pipelines the failure tests share.
import { NEVER, mergeMap, pipe } from 'rxjs';
import { allGather, reduceScatter, stage, type PipelineSpec } from '../../src/index.js';

/** A pipeline with a custom stage in which only rank 0 joins a collective on the given communicator. */
export function lonely(comm: 'reduceScatter' | 'allGather'): PipelineSpec {
  return {
    name: 'broken',
    padded: true,
    comms: ['reduceScatter', 'allGather'],
    build: (ctx) =>
      pipe(
        reduceScatter(ctx),
        stage(ctx, {
          stage: 'lonely',
          stream: 'add',
          bytes: () => 0,
          enqueue: (v) => {
            const r = ctx.ranks[0]!;
            ctx.program.beginGroup();
            ctx.program.item('allReduce', r.streams.add, r.comms[comm]!, 'float32', 'sum', 2, v.tensor(0), 0, v.tensor(0), 0, -1);
            ctx.program.endGroup();
          },
        }),
        allGather(ctx),
      ),
  };
}

/** A pipeline that holds every slice after its reduce-scatter for good: the watchdog's case, on any backend. */
export function stalled(): PipelineSpec {
  return {
    name: 'stalled',
    padded: true,
    comms: ['reduceScatter', 'allGather'],
    build: (ctx) => pipe(reduceScatter(ctx), mergeMap(() => NEVER), allGather(ctx)),
  };
}
