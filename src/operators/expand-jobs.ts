// The engine's first operator: each job becomes its slices, in order, as concatMap over an array would make
// them but without an inner Observable and subscription per job. A job that arrives while an earlier one's
// slices are being emitted (a caller submitting from a progress callback) waits for them, as with concatMap.
import { Observable, type OperatorFunction } from 'rxjs';
import type { Job, Slice } from '../engine/context.js';

/** Emits the slices `slicesOf` cuts each job into, job after job; stops mid-job once unsubscribed. */
export function expandJobs(slicesOf: (job: Job) => Slice[]): OperatorFunction<Job, Slice> {
  return (source) =>
    new Observable<Slice>((subscriber) => {
      const jobs: Job[] = [];
      let emitting = false;
      let sourceDone = false;
      return source.subscribe({
        next: (job) => {
          jobs.push(job);
          if (emitting) return;
          emitting = true;
          try {
            for (let j = 0; j < jobs.length && !subscriber.closed; j++) {
              const slices = slicesOf(jobs[j]!);
              for (let i = 0; i < slices.length && !subscriber.closed; i++) subscriber.next(slices[i]!);
            }
          } catch (e) {
            // As concatMap would: down the chain, not out of the source's callback.
            subscriber.error(e);
          } finally {
            jobs.length = 0;
            emitting = false;
          }
          if (sourceDone) subscriber.complete();
        },
        error: (e: unknown) => subscriber.error(e),
        complete: () => {
          sourceDone = true;
          if (!emitting) subscriber.complete();
        },
      });
    });
}
