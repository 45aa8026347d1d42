// Stage 3: the M-1 staging rows and the rank's own cell [d][myMachine], in machine order, reduced into that cell
// in place (and the padding twin). Avg finishes here (docs/semantics.md): integers sum, wrapping, and divide once
// by every contribution, D·M; floats were pre-multiplied by 1/(D·M) in the reduce-scatter and are summed, or, at
// D = 1, where this stage is the first to see the raw inputs, are pre-multiplied here. A staging slot goes back
// to its ring as soon as this stage is enqueued: its next user waits for this stage's records on the device.
import { identity, pipe, tap, type MonoTypeOperatorFunction } from 'rxjs';
import type { EngineContext, Slice } from '../engine/context.js';
import { stage } from './stage.js';
import { preMultiplies } from './reduceScatter.js';

export function add(ctx: EngineContext): MonoTypeOperatorFunction<Slice> {
  const { machines: M, devicesPerMachine: D } = ctx.topology;
  if (M === 1) return identity;
  const divisor = M * D;
  const inputs: number[] = new Array<number>(2 * M);
  return pipe(
    stage(ctx, {
      stage: 'add',
      stream: 'add',
      bytes: (v) => (M * v.slice.chunk + (v.slice.tail > 0 ? M : 0)) * v.esz,
      enqueue: (v) => {
        const { dtype } = v.slice.job;
        const op = preMultiplies(ctx, v.slice.job.op, dtype) ? 'sum' : v.slice.job.op;
        const p = ctx.program;
        for (let i = 0; i < ctx.ranks.length; i++) {
          const r = ctx.ranks[i]!;
          const { local: d, machine } = r.place;
          const s = r.streams.add;
          if (v.slice.chunk > 0) {
            const rows = v.stagingBuffer(i);
            const t = v.tensor(i);
            for (let m = 0; m < M; m++) {
              inputs[2 * m] = m === machine ? t : rows;
              inputs[2 * m + 1] = m === machine ? v.cell(d, machine) : v.stagingOffset(i, m);
            }
            p.reduce(s, dtype, op, v.slice.chunk, divisor, t, v.cell(d, machine), inputs);
          }
          if (v.slice.tail > 0) {
            const pads = v.stagingPaddingBuffer(i);
            for (let m = 0; m < M; m++) {
              inputs[2 * m] = m === machine ? r.padding : pads;
              inputs[2 * m + 1] = m === machine ? v.paddingCell(d, machine) : v.stagingPaddingOffset(i, m);
            }
            p.reduce(s, dtype, op, 1, divisor, r.padding, v.paddingCell(d, machine), inputs);
          }
        }
      },
    }),
    tap((slice) => {
      if (slice.staging === null) return;
      ctx.pools.staging.give(slice.staging, slice.ready);
      slice.staging = null;
    }),
  );
}
