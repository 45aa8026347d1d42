// What a pipeline is: an operator over slices built from the stage operators, plus what it needs from the
// world (communicator families, and whether tails ride in padding slots).
import type { MonoTypeOperatorFunction } from 'rxjs';
import type { CommName, EngineContext, Slice, Topology } from './context.js';

export interface PipelineSpec {
  name: string;
  /** Tails (fewer than D·M elements) are copied into padding slots, carried through the stages, copied back. */
  padded: boolean;
  /** Communicator families the stages use. */
  comms: readonly CommName[];
  build(ctx: EngineContext): MonoTypeOperatorFunction<Slice>;
  /**
   * A pipeline that routes each all-reduce to one of the ready pipelines it holds: the one for this topology and
   * size (bytes per rank). Slicing and padding then follow the chosen one (`slice.route`).
   */
  select?(topology: Topology, bytes: number): PipelineSpec;
}

/** A ready pipeline, or any operator over slices built from the exported stage operators (padded, with the
 *  four Fairring communicator families). */
export type PipelineOption = PipelineSpec | ((ctx: EngineContext) => MonoTypeOperatorFunction<Slice>);

export function toPipelineSpec(option: PipelineOption): PipelineSpec {
  if (typeof option !== 'function') return option;
  return { name: 'custom', padded: true, comms: ['reduceScatter', 'collect', 'diffuse', 'allGather'], build: option };
}
