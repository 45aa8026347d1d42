// Stage 1, per machine: after it, device d holds the machine-wide reduction of grid row d (and of padding row d).
import { identity, type MonoTypeOperatorFunction } from 'rxjs';
import type { ReduceOp } from '../native.js';
import type { EngineContext, Slice } from '../engine/context.js';
import { stage } from './stage.js';

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
      const p = ctx.program;
      p.beginGroup();
      ctx.ranks.forEach((r, i) => {
        const d = r.place.local;
        const s = r.streams.reduceScatter;
        const comm = r.comms.reduceScatter!;
        p.item('reduceScatter', s, comm, dtype, op, M * v.slice.chunk, v.tensor(i), v.row(0), v.tensor(i), v.row(d), -1);
        if (v.slice.tail > 0) p.item('reduceScatter', s, comm, dtype, op, M, r.padding, v.paddingRow(0), r.padding, v.paddingRow(d), -1);
      });
      p.endGroup();
    },
  });
}
