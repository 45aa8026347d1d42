// Stage 1, per machine: after it, device d holds the machine-wide reduction of grid row d (and of padding row d).
// Avg follows docs/semantics.md: with M > 1 this stage sums, floats having first been multiplied here by
// 1/(D·M) (the first stage that sees the raw inputs), and `add` finishes the average.
import { identity, type MonoTypeOperatorFunction } from 'rxjs';
import type { DType, ReduceOp } from '../native.js';
import type { EngineContext, Slice } from '../engine/context.js';
import { isFloat } from '../runtime/dtype.js';
import { stage } from './stage.js';

/** The op the machine's communicator reduces with: avg itself (over D contributions) only when no rail stage follows. */
function machineOp(ctx: EngineContext, op: ReduceOp): ReduceOp {
  return op === 'avg' && ctx.topology.machines > 1 ? 'sum' : op;
}

/** Whether this stage pre-multiplies the inputs of a float average by 1/(D·M) before summing them (at D = 1 there
 *  is no such stage and `add` does it). */
export function preMultiplies(ctx: EngineContext, op: ReduceOp, dtype: DType): boolean {
  const { machines: M, devicesPerMachine: D } = ctx.topology;
  return op === 'avg' && isFloat(dtype) && M > 1 && D > 1;
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
      if (preMultiplies(ctx, v.slice.job.op, dtype)) {
        // In place, on the stream of the reduce-scatter: a native avg of one input is that input times 1/(D·M)
        // rounded to the dtype, NCCL's PreMulSum pre-op; the reduce-scatter then sums.
        for (let i = 0; i < ctx.ranks.length; i++) {
          const r = ctx.ranks[i]!;
          const s = r.streams.reduceScatter;
          p.reduce(s, dtype, 'avg', v.mainCount, D * M, v.tensor(i), v.row(0), [v.tensor(i), v.row(0)]);
          if (v.slice.tail > 0) p.reduce(s, dtype, 'avg', D * M, D * M, r.padding, v.paddingRow(0), [r.padding, v.paddingRow(0)]);
        }
      }
      p.beginGroup();
      for (let i = 0; i < ctx.ranks.length; i++) {
        const r = ctx.ranks[i]!;
        const d = r.place.local;
        const s = r.streams.reduceScatter;
        const comm = r.comms.reduceScatter!;
        p.item('reduceScatter', s, comm, dtype, op, M * v.slice.chunk, v.tensor(i), v.row(0), v.tensor(i), v.row(d), -1);
        if (v.slice.tail > 0) p.item('reduceScatter', s, comm, dtype, op, M, r.padding, v.paddingRow(0), r.padding, v.paddingRow(d), -1);
      }
      p.endGroup();
    },
  });
}
