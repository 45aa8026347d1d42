// CUDA events as Observables: the engine's one way of learning that device work is done.
import { forkJoin, map, type Observable } from 'rxjs';
import type { NativeEvent } from '../native.js';
import { nativeRuntime, type Runtime } from '../runtime/runtime.js';

/** Emits once and completes when the event's latest record (at subscription) completes; errors if it failed. */
export function completion(event: NativeEvent, runtime: Runtime = nativeRuntime): Observable<void> {
  return runtime.completion(event);
}

/** Emits once when every event has completed (one per local rank); errors with the first failure. */
export function allComplete(events: readonly NativeEvent[], runtime: Runtime = nativeRuntime): Observable<void> {
  return forkJoin(events.map((e) => completion(e, runtime))).pipe(map(() => undefined));
}
