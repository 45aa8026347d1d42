import { pipe } from 'rxjs';
import type { PipelineSpec } from '../src/engine/pipeline.js';
import { reduceScatter } from '../src/operators/reduceScatter.js';
import { allGather } from '../src/operators/allGather.js';

/** One machine: reduce-scatter then all-gather, no rail communicators. */
export const local: PipelineSpec = {
  name: 'local',
  padded: true,
  comms: ['reduceScatter', 'allGather'],
  build: (ctx) => pipe(reduceScatter(ctx), allGather(ctx)),
};
