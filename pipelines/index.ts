import type { PipelineSpec } from '../src/engine/pipeline.js';
import { auto } from './auto.js';
import { fairring } from './fairring.js';
import { local } from './local.js';
import { nccl } from './nccl.js';

export { auto, autoPipeline, AUTO_FAIRRING_MIN_BYTES, type AutoOptions } from './auto.js';
export { fairring, local, nccl };

/** The ready pipelines by name: the one table option parsing, the CLI and messages share. */
export const readyPipelines: Readonly<Record<string, PipelineSpec>> = { fairring, local, nccl, auto };
