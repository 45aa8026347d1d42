import type { PipelineSpec } from '../src/engine/pipeline.js';
import { allReduce } from '../src/operators/allReduce.js';

/** The baseline: one ncclAllReduce (or its CPU twin) per slice over the whole world. */
export const nccl: PipelineSpec = {
  name: 'nccl',
  padded: false,
  comms: ['world'],
  build: (ctx) => allReduce(ctx),
};
