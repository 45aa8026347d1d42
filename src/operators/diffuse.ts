// Stage 4, per rail: the reduced cell [d][myMachine] goes to every other machine; cell [d][m] comes back from
// machine m (and the padding twins), as one group.
import { identity, type MonoTypeOperatorFunction } from 'rxjs';
import type { EngineContext, Slice } from '../engine/context.js';
import { stage } from './stage.js';

export function diffuse(ctx: EngineContext): MonoTypeOperatorFunction<Slice> {
  const { machines: M } = ctx.topology;
  if (M === 1) return identity;
  return stage(ctx, {
    stage: 'diffuse',
    stream: 'diffuse',
    bytes: (v) => (M * v.slice.chunk + (v.slice.tail > 0 ? M : 0)) * v.esz,
    enqueue: (v) => {
      const { dtype } = v.slice.job;
      const { chunk, tail } = v.slice;
      const p = ctx.program;
      p.beginGroup();
      for (let i = 0; i < ctx.ranks.length; i++) {
        const r = ctx.ranks[i]!;
        const { local: d, machine: me } = r.place;
        const s = r.streams.diffuse;
        const comm = r.comms.diffuse!;
        const t = v.tensor(i);
        for (let m = 0; m < M; m++) {
          if (m === me) continue;
          p.item('send', s, comm, dtype, null, chunk, t, v.cell(d, me), -1, -1, m);
          p.item('recv', s, comm, dtype, null, chunk, -1, -1, t, v.cell(d, m), m);
          if (tail > 0) {
            p.item('send', s, comm, dtype, null, 1, r.padding, v.paddingCell(d, me), -1, -1, m);
            p.item('recv', s, comm, dtype, null, 1, -1, -1, r.padding, v.paddingCell(d, m), m);
          }
        }
      }
      p.endGroup();
    },
  });
}
