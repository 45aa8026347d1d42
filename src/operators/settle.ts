// Settling, the engine's last operator: a slice past finish is emitted again once the host has learnt that its
// last records completed, in the order the slices settle. One subscriber holds every pending slice, so settling
// costs a callback per slice, not an Observable and a subscription per slice (which mergeMap would make).
import { Observable, type OperatorFunction } from 'rxjs';
import type { Slice } from '../engine/context.js';

export interface SettleGate<T> {
  /** Calls `done` once, when the slice has settled (at once if it has). */
  whenSettled(slice: Slice, done: (settled: T) => void): void;
}

/**
 * Emits what `whenSettled` reports for each slice, as it reports it; completes once the source has completed and
 * every slice it emitted has settled. Unsubscribing stops the emissions; a slice's settling itself goes on.
 */
export function settle<T>(gate: SettleGate<T>): OperatorFunction<Slice, T> {
  return (source) =>
    new Observable<T>((subscriber) => {
      let pending = 0;
      let sourceDone = false;
      const done = (settled: T): void => {
        pending--;
        subscriber.next(settled);
        if (sourceDone && pending === 0) subscriber.complete();
      };
      const upstream = source.subscribe({
        next: (slice) => {
          pending++;
          try {
            gate.whenSettled(slice, done);
          } catch (e) {
            // As mergeMap would: down the chain, not out of the source's callback.
            subscriber.error(e);
          }
        },
        error: (e: unknown) => subscriber.error(e),
        complete: () => {
          sourceDone = true;
          if (pending === 0) subscriber.complete();
        },
      });
      return () => upstream.unsubscribe();
    });
}
