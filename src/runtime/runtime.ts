// The device runtime the engine drives: the native addon's handles plus a way to observe event completion.
// The engine never asks which backend is underneath (invariant 6); tests substitute a virtual runtime whose
// events complete on a TestScheduler's virtual time.
import { defer, from, type Observable } from 'rxjs';
import { native, type BackendName, type NativeAddon, type NativeEvent, type NativeQueue, type QueueProgress } from '../native.js';

export interface Runtime extends Pick<NativeAddon, 'Device' | 'Buffer' | 'Stream' | 'Event' | 'group' | 'initComms' | 'uniqueId'> {
  Queue: new (backend: BackendName, onProgress: QueueProgress, mergeGroups?: number) => NativeQueue;
  /** Emits once and completes when the event's latest record so far completes; errors if it failed. */
  completion(event: NativeEvent): Observable<void>;
  /** Milliseconds on the runtime's clock, that of the Queue timings' starts (virtual time for the virtual runtime). */
  now(): number;
}

let exitGuarded = false;

/** Node's own end of process.exit(), called after every 'exit' listener (not part of Node's typed surface). */
interface ReallyExit {
  reallyExit(code?: number): void;
}

/**
 * Once CUDA communicators exist, process.exit() ends the process at once (native.exitNow) after every 'exit'
 * listener: it skips the environment's cleanup that stops the addon's threads, and Node would tear the libraries
 * down under them.
 */
function guardExit(backend: BackendName): void {
  if (backend !== 'cuda' || exitGuarded) return;
  exitGuarded = true;
  const proc = process as unknown as ReallyExit;
  proc.reallyExit = (code) => native.exitNow(code ?? 0);
}

export const nativeRuntime: Runtime = {
  Device: native.Device,
  Buffer: native.Buffer,
  Stream: native.Stream,
  Event: native.Event,
  Queue: native.Queue,
  group: native.group,
  initComms: (backend, ...rest) => {
    guardExit(backend);
    return native.initComms(backend, ...rest);
  },
  uniqueId: native.uniqueId,
  // The record to wait for is fixed when the Observable is subscribed, like the Promise it wraps.
  completion: (event) => defer(() => from(event.completion())),
  now: () => native.clockMs(),
};
