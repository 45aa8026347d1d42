// Stage 2, per rail (device d of every machine): device d sends grid cell [d][m] to machine m and receives
// machine m's [d][myMachine] into staging row m, self included, as one group. At one device per machine the
// staging is a slot of a bounded pool; otherwise the neighbour's row [(d+1) % D] of the slice itself serves.
import { concatMap, identity, map, pipe, type MonoTypeOperatorFunction } from 'rxjs';
import type { GroupItem } from '../native.js';
import type { EngineContext, Slice } from '../engine/context.js';
import { issueGroup, stage } from './stage.js';

export function collect(ctx: EngineContext): MonoTypeOperatorFunction<Slice> {
  const { machines: M, devicesPerMachine: D } = ctx.topology;
  if (M === 1) return identity;
  const acquireStaging: MonoTypeOperatorFunction<Slice> =
    D === 1
      ? concatMap((slice) =>
          ctx.pools.staging.acquire().pipe(
            map((slot) => {
              slice.staging = slot;
              return slice;
            }),
          ),
        )
      : identity;
  return pipe(
    acquireStaging,
    stage(ctx, {
      stage: 'collect',
      stream: 'collect',
      bytes: (v) => (M * v.slice.chunk + (v.slice.tail > 0 ? M : 0)) * v.esz,
      enqueue: (v) => {
        const { dtype } = v.slice.job;
        const items: GroupItem[] = [];
        ctx.ranks.forEach((r, i) => {
          const d = r.place.local;
          const base = { stream: r.streams.collect, comm: r.comms.collect!, dtype };
          for (let m = 0; m < M; m++) {
            items.push({ ...base, kind: 'send', send: v.tensor(i), sendOffset: v.cell(d, m), count: v.slice.chunk, peer: m });
            const into = v.staging(i, m);
            items.push({ ...base, kind: 'recv', recv: into.buffer, recvOffset: into.offset, count: v.slice.chunk, peer: m });
          }
          if (v.slice.tail > 0) {
            for (let m = 0; m < M; m++) {
              items.push({ ...base, kind: 'send', send: r.padding, sendOffset: v.paddingCell(d, m), count: 1, peer: m });
              const into = v.stagingPadding(i, m);
              items.push({ ...base, kind: 'recv', recv: into.buffer, recvOffset: into.offset, count: 1, peer: m });
            }
          }
        });
        issueGroup(ctx, items);
      },
    }),
  );
}
