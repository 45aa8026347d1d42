// Stage 3: the M staging rows reduced into grid cell [d][myMachine] (and the padding twin). Avg divides here,
// once, by every contribution: D·M. A staging slot goes back to its pool when this stage's event completes.
import { identity, pipe, tap, type MonoTypeOperatorFunction } from 'rxjs';
import type { EngineContext, Slice } from '../engine/context.js';
import { allComplete } from '../engine/completion.js';
import { stage } from './stage.js';

export function add(ctx: EngineContext): MonoTypeOperatorFunction<Slice> {
  const { machines: M, devicesPerMachine: D } = ctx.topology;
  if (M === 1) return identity;
  const divisor = M * D;
  return pipe(
    stage(ctx, {
      stage: 'add',
      stream: 'add',
      bytes: (v) => (M * v.slice.chunk + (v.slice.tail > 0 ? M : 0)) * v.esz,
      enqueue: (v) => {
        const { dtype, op } = v.slice.job;
        ctx.ranks.forEach((r, i) => {
          const { local: d, machine } = r.place;
          const rows = Array.from({ length: M }, (_, m) => v.staging(i, m));
          if (v.slice.chunk > 0) {
            r.streams.add.reduce(v.tensor(i), v.cell(d, machine), rows.map((x) => x.buffer), rows.map((x) => x.offset), v.slice.chunk, dtype, op, divisor);
          }
          if (v.slice.tail > 0) {
            const pads = Array.from({ length: M }, (_, m) => v.stagingPadding(i, m));
            r.streams.add.reduce(r.padding, v.paddingCell(d, machine), pads.map((x) => x.buffer), pads.map((x) => x.offset), 1, dtype, op, divisor);
          }
        });
      },
    }),
    tap((slice) => {
      if (slice.staging === null) return;
      ctx.pools.staging.release(slice.staging, allComplete(slice.ready, ctx.runtime));
      // Handed over: the slice no longer holds it, whatever happens to it next.
      slice.staging = null;
    }),
  );
}
