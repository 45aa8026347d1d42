// world.timings$: an Observable whose subscribers cannot take the process down. RxJS rethrows an error from a
// subscriber's callback asynchronously (and an error notification nobody handles), which ends a Node process;
// a bug in code that only watches timings must not end a training job, nor fail the all-reduce it watches. So
// the callbacks a user hands to `subscribe` (of timings$ or of anything piped from it) run guarded: what they
// throw, and an error with no handler, is reported on console.error instead.
import { Observable, Subscriber, type Observer, type Operator, type Subscription } from 'rxjs';

type Callbacks<T> = Partial<Observer<T>> | ((value: T) => void) | null | undefined;

function report(what: string, e: unknown): void {
  console.error(`fairring-rx: ${what}:`, e);
}

function guard<A extends unknown[]>(f: ((...args: A) => void) | undefined, self: unknown, what: string): ((...args: A) => void) | undefined {
  if (f === undefined) return undefined;
  return (...args: A) => {
    try {
      f.apply(self, args);
    } catch (e) {
      report(what, e);
    }
  };
}

export class GuardedObservable<T> extends Observable<T> {
  /** Keeps what is piped from it guarded too (RxJS operators build on lift). */
  override lift<R>(operator?: Operator<T, R>): Observable<R> {
    const lifted = new GuardedObservable<R>();
    lifted.source = this;
    lifted.operator = operator;
    return lifted;
  }

  override subscribe(observerOrNext?: Callbacks<T>, error?: ((e: unknown) => void) | null, complete?: (() => void) | null): Subscription {
    // Operators subscribe with Subscribers of their own, which never throw: their chain is left as it is.
    if (observerOrNext instanceof Subscriber) return super.subscribe(observerOrNext);
    const o: Partial<Observer<T>> = typeof observerOrNext === 'function' ? { next: observerOrNext } : (observerOrNext ?? {});
    const onError = typeof observerOrNext === 'function' ? (error ?? undefined) : o.error;
    const onComplete = typeof observerOrNext === 'function' ? (complete ?? undefined) : o.complete;
    const guardedObserver: Observer<T> = {
      next: guard(o.next, o, 'a timings$ subscriber threw') ?? (() => undefined),
      error: guard(onError, o, 'a timings$ error handler threw') ?? ((e: unknown) => report('timings$ failed, with no error handler', e)),
      complete: guard(onComplete, o, 'a timings$ completion handler threw') ?? (() => undefined),
    };
    return super.subscribe(guardedObserver);
  }
}

/** `source` as a GuardedObservable. */
export function guarded<T>(source: Observable<T>): GuardedObservable<T> {
  return new GuardedObservable<T>((subscriber) => source.subscribe(subscriber));
}
