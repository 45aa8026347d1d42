// Settling, after finish: each slice leaves once the host learns its last records completed on every local
// rank, in the order they complete (not the order slices came in). Completions call back without an
// Observable, a subscriber and a subscription per slice (what a mergeMap over one Observable per slice would
// allocate): the operator counts the slices still settling instead, and completes once its input has and
// none is left. After teardown a completion that still calls back is dropped.
import { Observable, type OperatorFunction } from 'rxjs';
import type { Slice } from '../engine/context.js';

/** Calls `done` once, when the slice's records have completed (at once if they have). */
export type WhenSettled<T> = (slice: Slice, done: (settled: T) => void) => void;

export function settle<T>(whenSettled: WhenSettled<T>): OperatorFunction<Slice, T> {
  return (source) =>
    new Observable<T>((subscriber) => {
      let settling = 0;
      let sourceDone = false;
      const done = (settled: T): void => {
        if (subscriber.closed) return;
        settling--;
        subscriber.next(settled);
        if (sourceDone && settling === 0) subscriber.complete();
      };
      const subscription = source.subscribe({
        next: (slice) => {
          settling++;
          whenSettled(slice, done);
        },
        error: (e: unknown) => subscriber.error(e),
        complete: () => {
          sourceDone = true;
          if (settling === 0) subscriber.complete();
        },
      });
      return subscription;
    });
}
