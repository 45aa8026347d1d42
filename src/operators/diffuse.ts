// Stage 4, per rail: the reduced cell [d][myMachine] goes to every other machine; cell [d][m] comes back from
// machine m (and the padding twins), as one group.
import { identity, type MonoTypeOperatorFunction } from 'rxjs';
import type { GroupItem } from '../native.js';
import type { EngineContext, Slice } from '../engine/context.js';
import { issueGroup, stage } from './stage.js';

export function diffuse(ctx: EngineContext): MonoTypeOperatorFunction<Slice> {
  const { machines: M } = ctx.topology;
  if (M === 1) return identity;
  return stage(ctx, {
    stage: 'diffuse',
    stream: 'diffuse',
    bytes: (v) => (M * v.slice.chunk + (v.slice.tail > 0 ? M : 0)) * v.esz,
    enqueue: (v) => {
      const { dtype } = v.slice.job;
      const items: GroupItem[] = [];
      ctx.ranks.forEach((r, i) => {
        const { local: d, machine: me } = r.place;
        const base = { stream: r.streams.diffuse, comm: r.comms.diffuse!, dtype };
        const padded = v.slice.tail > 0;
        for (let m = 0; m < M; m++) {
          if (m === me) continue;
          items.push({ ...base, kind: 'send', send: v.tensor(i), sendOffset: v.cell(d, me), count: v.slice.chunk, peer: m });
          items.push({ ...base, kind: 'recv', recv: v.tensor(i), recvOffset: v.cell(d, m), count: v.slice.chunk, peer: m });
          if (padded) {
            items.push({ ...base, kind: 'send', send: r.padding, sendOffset: v.paddingCell(d, me), count: 1, peer: m });
            items.push({ ...base, kind: 'recv', recv: r.padding, recvOffset: v.paddingCell(d, m), count: 1, peer: m });
          }
        }
      });
      issueGroup(ctx, items);
    },
  });
}
