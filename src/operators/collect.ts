// Stage 2, per rail (device d of every machine): device d sends grid cell [d][m] to every other machine m and
// receives machine m's [d][myMachine] into staging row m, as one group. Its own cell [d][myMachine] stays where it
// is: the add stage reads it in place (a copy to self through NCCL took the collect stream's SMs and memory
// bandwidth for nothing). At one device per machine the staging is a slot of a ring reused behind a device-side
// wait; otherwise the neighbour's row [(d+1) % D] of the slice itself serves.
import { identity, type MonoTypeOperatorFunction } from 'rxjs';
import type { EngineContext, Slice } from '../engine/context.js';
import type { Mark } from '../runtime/program.js';
import { stage } from './stage.js';

export function collect(ctx: EngineContext): MonoTypeOperatorFunction<Slice> {
  const { machines: M, devicesPerMachine: D } = ctx.topology;
  if (M === 1) return identity;
  return stage(ctx, {
    stage: 'collect',
    stream: 'collect',
    bytes: (v) => ((M - 1) * v.slice.chunk + (v.slice.tail > 0 ? M - 1 : 0)) * v.esz,
    after: (v): Mark[] | null => {
      if (D > 1) return null;
      const { slot, after } = ctx.pools.staging.take();
      v.slice.staging = slot;
      return after;
    },
    enqueue: (v) => {
      const { dtype } = v.slice.job;
      const { chunk, tail } = v.slice;
      const p = ctx.program;
      p.beginGroup();
      for (let i = 0; i < ctx.ranks.length; i++) {
        const r = ctx.ranks[i]!;
        const { local: d, machine: me } = r.place;
        const s = r.streams.collect;
        const comm = r.comms.collect!;
        const t = v.tensor(i);
        const into = v.stagingBuffer(i);
        for (let m = 0; m < M; m++) {
          if (m === me) continue;
          p.item('send', s, comm, dtype, null, chunk, t, v.cell(d, m), -1, -1, m);
          p.item('recv', s, comm, dtype, null, chunk, -1, -1, into, v.stagingOffset(i, m), m);
        }
        if (tail > 0) {
          const padInto = v.stagingPaddingBuffer(i);
          for (let m = 0; m < M; m++) {
            if (m === me) continue;
            p.item('send', s, comm, dtype, null, 1, r.padding, v.paddingCell(d, m), -1, -1, m);
            p.item('recv', s, comm, dtype, null, 1, -1, -1, padInto, v.stagingPaddingOffset(i, m), m);
          }
        }
      }
      p.endGroup();
    },
  });
}
