// The name tables the command line accepts, each shared by option parsing, help and error messages: the
// library's own where it exports one.
import type { PipelineSpec } from '../engine/pipeline.js';
import { readyPipelines } from '../../pipelines/index.js';

export { backends, dtypes, reduceOps } from '../native.js';

/** The ready pipelines, by the name `pipelines/index.ts` exports them under. */
export const pipelines: Readonly<Record<string, PipelineSpec>> = readyPipelines;
export const pipelineNames: readonly string[] = Object.keys(pipelines);
