// A native Queue with some of its methods replaced, for tests that count or time its calls. The addon's methods
// are read-only, so a plain object stands in, delegating every other method to the queue.
import type { BackendName, NativeQueue, QueueProgress } from '../../src/native.js';
import { nativeRuntime, type Runtime } from '../../src/runtime/runtime.js';

export function overriding(q: NativeQueue, replace: (q: NativeQueue) => Partial<NativeQueue>): NativeQueue {
  const proxy: Record<string, unknown> = {};
  for (const k of Object.getOwnPropertyNames(Object.getPrototypeOf(q))) {
    const f = (q as unknown as Record<string, unknown>)[k];
    if (k !== 'constructor' && typeof f === 'function') proxy[k] = f.bind(q);
  }
  return Object.assign(proxy, replace(q)) as unknown as NativeQueue;
}

/** The native runtime whose Queues have those methods replaced. */
export function runtimeOverridingQueue(replace: (q: NativeQueue) => Partial<NativeQueue>): Runtime {
  const runtime = Object.create(nativeRuntime) as Runtime;
  runtime.Queue = function (backend: BackendName, onProgress: QueueProgress, mergeGroups?: number) {
    return overriding(new nativeRuntime.Queue(backend, onProgress, mergeGroups), replace);
  } as unknown as Runtime['Queue'];
  return runtime;
}
