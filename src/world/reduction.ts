// Which built-in stages a topology needs so that every rank ends with the full reduction: a pipeline made of
// the built-in operators that leaves one out would hand back partial sums without an error.
import type { Topology } from '../engine/context.js';
import type { StageName } from '../errors.js';

const builtIn: ReadonlySet<StageName> = new Set<StageName>(['admit', 'reduceScatter', 'collect', 'add', 'diffuse', 'allGather', 'allReduce', 'finish']);

/**
 * The stages a slice that ran `ran` still lacks at this topology, or [] when it is complete. A pipeline with a
 * stage of its own (a name outside the built-in ones) is trusted to reduce in its own way: null.
 */
export function missingStages(topology: Topology, ran: readonly StageName[]): StageName[] | null {
  if (ran.some((s) => !builtIn.has(s))) return null;
  if (ran.includes('allReduce')) return [];
  const { machines: M, devicesPerMachine: D } = topology;
  const need: StageName[] = [...(D > 1 ? (['reduceScatter', 'allGather'] as const) : []), ...(M > 1 ? (['collect', 'add', 'diffuse'] as const) : [])];
  return need.filter((s) => !ran.includes(s));
}
