// Stage 5, per machine: every device gets every row of the grid (and of the padding), in place.
import { identity, type MonoTypeOperatorFunction } from 'rxjs';
import type { GroupItem } from '../native.js';
import type { EngineContext, Slice } from '../engine/context.js';
import { issueGroup, stage } from './stage.js';

export function allGather(ctx: EngineContext): MonoTypeOperatorFunction<Slice> {
  const { machines: M, devicesPerMachine: D } = ctx.topology;
  if (D === 1) return identity;
  return stage(ctx, {
    stage: 'allGather',
    stream: 'allGather',
    bytes: (v) => (v.mainCount + (v.slice.tail > 0 ? D * M : 0)) * v.esz,
    enqueue: (v) => {
      const { dtype } = v.slice.job;
      const items: GroupItem[] = [];
      ctx.ranks.forEach((r, i) => {
        const d = r.place.local;
        const base = { kind: 'allGather' as const, stream: r.streams.allGather, comm: r.comms.allGather!, dtype };
        items.push({ ...base, send: v.tensor(i), sendOffset: v.row(d), recv: v.tensor(i), recvOffset: v.row(0), count: M * v.slice.chunk });
        if (v.slice.tail > 0) {
          items.push({ ...base, send: r.padding, sendOffset: v.paddingRow(d), recv: r.padding, recvOffset: v.paddingRow(0), count: M });
        }
      });
      issueGroup(ctx, items);
    },
  });
}
