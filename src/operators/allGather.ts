// Stage 5, per machine: every device gets every row of the grid (and of the padding), in place.
import { identity, type MonoTypeOperatorFunction } from 'rxjs';
import type { EngineContext, Slice } from '../engine/context.js';
import { stage } from './stage.js';

export function allGather(ctx: EngineContext): MonoTypeOperatorFunction<Slice> {
  const { machines: M, devicesPerMachine: D } = ctx.topology;
  if (D === 1) return identity;
  return stage(ctx, {
    stage: 'allGather',
    stream: 'allGather',
    bytes: (v) => (v.mainCount + (v.slice.tail > 0 ? D * M : 0)) * v.esz,
    enqueue: (v) => {
      const { dtype } = v.slice.job;
      const p = ctx.program;
      p.beginGroup();
      for (let i = 0; i < ctx.ranks.length; i++) {
        const r = ctx.ranks[i]!;
        const d = r.place.local;
        const s = r.streams.allGather;
        const comm = r.comms.allGather!;
        p.item('allGather', s, comm, dtype, null, M * v.slice.chunk, v.tensor(i), v.row(d), v.tensor(i), v.row(0), -1);
        if (v.slice.tail > 0) p.item('allGather', s, comm, dtype, null, M, r.padding, v.paddingRow(d), r.padding, v.paddingRow(0), -1);
      }
      p.endGroup();
    },
  });
}
