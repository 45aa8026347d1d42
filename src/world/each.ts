// Buckets from an iterable or async iterable into all-reduces, pulled only while one would be admitted at once:
// the in-flight bound reaches the producer instead of a buffer of its buckets.
import { Observable, Subscription } from 'rxjs';
import type { Tensor } from '../runtime/device.js';
import type { Progress } from './engine.js';

export interface BucketSink {
  /** One bucket's all-reduce. */
  start(bucket: readonly Tensor[]): Observable<Progress>;
  /** Whether a bucket started now would be admitted at once, or the world takes no more work (its all-reduce then says why). */
  ready(): boolean;
  /** Emits when a bucket may have become ready: an in-flight token came back, or nothing is deferred any more. */
  released$: Observable<unknown>;
  /** Emits when the world stops taking work (closed, or failed). */
  ended$: Observable<unknown>;
  /** Whether the world takes no more work: the source is then not asked again. */
  ended(): boolean;
  /** The error the subscriber gets when the world ended while it waited on the source. */
  endedError(): Error;
}

/** Every bucket's progress, in order; completes when the source is exhausted and every bucket is reduced. */
export function eachBucket$(source: AsyncIterable<readonly Tensor[]> | Iterable<readonly Tensor[]>, host: BucketSink): Observable<Progress> {
  return new Observable<Progress>((subscriber) => {
    const running = new Subscription();
    const sync = Symbol.iterator in source ? source[Symbol.iterator]() : null;
    const async = sync === null ? (source as AsyncIterable<readonly Tensor[]>)[Symbol.asyncIterator]() : null;
    let stopped = false;
    let exhausted = false;
    let pulling = false;
    let pending = 0;
    const fail = (e: unknown): void => {
      if (stopped) return;
      stopped = true;
      subscriber.error(e);
    };
    const finishIfDone = (): void => {
      if (!exhausted || pending > 0 || stopped) return;
      stopped = true;
      subscriber.complete();
    };
    const start = (bucket: readonly Tensor[]): void => {
      pending++;
      running.add(
        host.start(bucket).subscribe({
          next: (p) => subscriber.next(p),
          error: fail,
          complete: () => {
            pending--;
            finishIfDone();
            if (pulling) giveUpIfEnded();
            pull();
          },
        }),
      );
    };
    // Once the world takes no more work an async source is not asked again (it may never yield): the subscriber
    // hears so once no bucket is in flight (those report for themselves, a failure's own error first).
    const giveUpIfEnded = (): boolean => {
      if (!host.ended()) return false;
      if (pending === 0) fail(host.endedError());
      return true;
    };
    const took = (r: IteratorResult<readonly Tensor[]>): void => {
      if (r.done) {
        exhausted = true;
        finishIfDone();
      } else {
        start(r.value);
      }
    };
    // Pulls while a bucket would be admitted at once; a world that takes no more work lets the next bucket
    // through so that its all-reduce reports why.
    const pull = (): void => {
      while (!stopped && !exhausted && !pulling && host.ready()) {
        if (sync !== null) {
          let r: IteratorResult<readonly Tensor[]>;
          try {
            r = sync.next();
          } catch (e) {
            fail(e);
            return;
          }
          took(r);
        } else {
          if (giveUpIfEnded()) return;
          pulling = true;
          async!.next().then((r) => {
            pulling = false;
            if (stopped) return;
            took(r);
            pull();
          }, fail);
        }
      }
    };
    running.add(host.released$.subscribe(() => pull()));
    running.add(
      host.ended$.subscribe(() => {
        if (pulling) giveUpIfEnded();
      }),
    );
    pull();
    return () => {
      stopped = true;
      running.unsubscribe();
      sync?.return?.();
      void async?.return?.();
    };
  });
}
