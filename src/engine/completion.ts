// CUDA events as Observables: the engine's one way of learning that device work is done.
import type { Observable } from 'rxjs';
import type { NativeEvent } from '../native.js';
import { nativeRuntime, type Runtime } from '../runtime/runtime.js';

/** Emits once and completes when the event's latest record (at subscription) completes; errors if it failed. */
export function completion(event: NativeEvent, runtime: Runtime = nativeRuntime): Observable<void> {
  return runtime.completion(event);
}
