// Stage 1, per machine: after it, device d holds the machine-wide reduction of grid row d (and of padding row d).
import { identity, type MonoTypeOperatorFunction } from 'rxjs';
import type { GroupItem, ReduceOp } from '../native.js';
import type { EngineContext, Slice } from '../engine/context.js';
import { issueGroup, stage } from './stage.js';

/** Avg is divided once, where the last contributions meet: here only when there is no rail stage after. */
export function machineOp(ctx: EngineContext, op: ReduceOp): ReduceOp {
  return op === 'avg' && ctx.topology.machines > 1 ? 'sum' : op;
}

export function reduceScatter(ctx: EngineContext): MonoTypeOperatorFunction<Slice> {
  const { machines: M, devicesPerMachine: D } = ctx.topology;
  if (D === 1) return identity;
  return stage(ctx, {
    stage: 'reduceScatter',
    stream: 'reduceScatter',
    bytes: (v) => (v.mainCount + (v.slice.tail > 0 ? D * M : 0)) * v.esz,
    enqueue: (v) => {
      const { dtype } = v.slice.job;
      const op = machineOp(ctx, v.slice.job.op);
      const items: GroupItem[] = [];
      ctx.ranks.forEach((r, i) => {
        const d = r.place.local;
        const base = { kind: 'reduceScatter' as const, stream: r.streams.reduceScatter, comm: r.comms.reduceScatter!, dtype, op };
        items.push({ ...base, send: v.tensor(i), sendOffset: v.row(0), recv: v.tensor(i), recvOffset: v.row(d), count: M * v.slice.chunk });
        if (v.slice.tail > 0) {
          items.push({ ...base, send: r.padding, sendOffset: v.paddingRow(0), recv: r.padding, recvOffset: v.paddingRow(d), count: M });
        }
      });
      issueGroup(ctx, items);
    },
  });
}

