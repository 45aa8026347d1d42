// Admission, the one place a slice waits: an in-flight token first-come first-served (the bound on slices in
// flight), then, for a tail, a padding slot from the ring, into which the tail is copied on the device after
// the slot's previous use.
import { Observable, map, pipe, type MonoTypeOperatorFunction } from 'rxjs';
import type { EngineContext, Slice } from '../engine/context.js';
import { runStage } from './stage.js';

export interface AdmitGate {
  /** Whether a slice is no longer wanted (its job was cancelled, or the world failed). */
  dropped(slice: Slice): boolean;
  /** Called once a slice holds its token, before anything of it is enqueued. */
  admitted(slice: Slice): void;
}

/**
 * Slices in order, each once it holds an in-flight token: taken at once while tokens are free, otherwise when one
 * comes back (the pool's released$). A slice no longer wanted when its turn comes is skipped without a token.
 */
function takeTokens(ctx: EngineContext, gate: AdmitGate): MonoTypeOperatorFunction<Slice> {
  const { inflight } = ctx.pools;
  return (source) =>
    new Observable<Slice>((subscriber) => {
      const waiting: Slice[] = [];
      let head = 0;
      let sourceDone = false;
      // A slice emitted below can fail the world at once, which hands tokens back (released$): that pass is
      // folded into the running one instead of nesting.
      let draining = false;
      let again = false;
      const drain = (): void => {
        if (draining) {
          again = true;
          return;
        }
        draining = true;
        do {
          again = false;
          pass();
        } while (again);
        draining = false;
        if (sourceDone && head === waiting.length) subscriber.complete();
      };
      const pass = (): void => {
        while (head < waiting.length) {
          const slice = waiting[head]!;
          if (gate.dropped(slice)) {
            head++;
            continue;
          }
          const token = inflight.tryTake();
          if (token === null) break;
          head++;
          slice.inflight = token;
          subscriber.next(slice);
        }
        if (head > 64 && head * 2 > waiting.length) {
          waiting.splice(0, head);
          head = 0;
        }
      };
      const released = inflight.released$.subscribe(() => drain());
      const upstream = source.subscribe({
        next: (slice) => {
          waiting.push(slice);
          drain();
        },
        error: (e: unknown) => subscriber.error(e),
        complete: () => {
          sourceDone = true;
          drain();
        },
      });
      return () => {
        released.unsubscribe();
        upstream.unsubscribe();
      };
    });
}

export function admit(ctx: EngineContext, gate: AdmitGate): MonoTypeOperatorFunction<Slice> {
  const { padding } = ctx.pools;
  return pipe(
    takeTokens(ctx, gate),
    map((slice) => {
      gate.admitted(slice);
      if (slice.tail === 0) return slice;
      const taken = padding.take();
      slice.padding = taken.slot;
      return runStage(ctx, slice, {
        stage: 'admit',
        stream: 'reduceScatter',
        bytes: (v) => v.slice.tail * v.esz,
        after: () => taken.after,
        enqueue: (v) => {
          for (let i = 0; i < ctx.ranks.length; i++) {
            const r = ctx.ranks[i]!;
            ctx.program.copy(r.streams.reduceScatter, r.padding, v.paddingRow(0), v.tensor(i), v.tailOffset(), slice.tail * v.esz);
          }
        },
      });
    }),
  );
}
