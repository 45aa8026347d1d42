import { pipe } from 'rxjs';
import type { PipelineSpec } from '../src/engine/pipeline.js';
import { reduceScatter } from '../src/operators/reduceScatter.js';
import { collect } from '../src/operators/collect.js';
import { add } from '../src/operators/add.js';
import { diffuse } from '../src/operators/diffuse.js';
import { allGather } from '../src/operators/allGather.js';

/** The five stages of the seed; each skips itself where the topology makes it empty. */
export const fairring: PipelineSpec = {
  name: 'fairring',
  padded: true,
  comms: ['reduceScatter', 'collect', 'diffuse', 'allGather'],
  build: (ctx) => pipe(reduceScatter(ctx), collect(ctx), add(ctx), diffuse(ctx), allGather(ctx)),
};
