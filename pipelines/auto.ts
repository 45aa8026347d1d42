import { connect, filter, merge, type OperatorFunction } from 'rxjs';
import type { Slice } from '../src/engine/context.js';
import type { PipelineSpec } from '../src/engine/pipeline.js';
import { ArgumentError } from '../src/errors.js';
import { checkOptionsObject } from '../src/runtime/options.js';
import { fairring } from './fairring.js';
import { nccl } from './nccl.js';

export interface AutoOptions {
  /**
   * With several machines of several devices, buckets of at least this many bytes per rank take the five
   * stages, smaller ones one ncclAllReduce. Default 1 MiB.
   */
  fairringMinBytes?: number;
}

/** Where the five stages have not been measured ahead of one ncclAllReduce, the latter runs. */
export const AUTO_FAIRRING_MIN_BYTES = 1 << 20;

/**
 * Routes each all-reduce by what was measured: one ncclAllReduce (the `nccl` pipeline) on one machine or at one
 * device per machine, where it led the stages on 2 × H200, and for buckets below `fairringMinBytes`; the five
 * stages (`fairring`) for larger buckets with several machines of several devices. Holds the communicators
 * of both.
 */
export function autoPipeline(options: AutoOptions = {}): PipelineSpec {
  checkOptionsObject('autoPipeline', options, ['fairringMinBytes'], { example: '{ fairringMinBytes: 1048576 }' });
  const min = options.fairringMinBytes === undefined ? AUTO_FAIRRING_MIN_BYTES : options.fairringMinBytes;
  if (!Number.isSafeInteger(min) || min < 0) {
    throw new ArgumentError(`fairringMinBytes must be a non-negative safe integer (bytes, 0..${Number.MAX_SAFE_INTEGER}), got ${String(min)}`);
  }
  const routes = [fairring, nccl];
  return {
    // The threshold is in the name where it is not the default: ranks of one job compare pipelines by name.
    name: min === AUTO_FAIRRING_MIN_BYTES ? 'auto' : `auto(fairringMinBytes=${min})`,
    padded: true,
    comms: [...new Set(routes.flatMap((r) => r.comms))],
    select: (t, bytes) => (t.machines === 1 || t.devicesPerMachine === 1 || bytes < min ? nccl : fairring),
    build: (ctx) => {
      const built = routes.map((spec) => ({ spec, op: spec.build(ctx) }));
      // Every route is synchronous, so slices leave in the order they came: the engine's contract holds.
      const route: OperatorFunction<Slice, Slice> = connect((shared) => merge(...built.map(({ spec, op }) => shared.pipe(filter((s) => s.route === spec), op))));
      return route;
    },
  };
}

export const auto: PipelineSpec = autoPipeline();
