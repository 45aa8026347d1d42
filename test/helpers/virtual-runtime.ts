// A device runtime on an RxJS scheduler's virtual time, for marble tests of the engine. It keeps the real
// runtime's ordering and error rules (docs/architecture.md: stream FIFO, latest-record events, device-side
// waits, sticky errors, groups across streams, the queue's packed programs and bulk completion reports) but
// computes nothing: each operation only occupies its streams for a duration. Everything is decided when work
// is enqueued, because virtual work never depends on data; only what the host can observe (completion,
// readiness, queue reports) waits for the scheduler's clock. The parts live in ./virtual/.
import type { SchedulerLike } from 'rxjs';
import type { BackendName, NativeDevice, QueueProgress } from '../../src/native.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import { BufferHandle } from './virtual/buffers.js';
import { initComms, uniqueId } from './virtual/comms.js';
import { VirtualContext } from './virtual/context.js';
import { VirtualDevice } from './virtual/device.js';
import { completion, EventHandle } from './virtual/events.js';
import { group } from './virtual/group.js';
import type { VirtualOpRecord, VirtualRuntimeOptions } from './virtual/model.js';
import { VirtualQueue } from './virtual/queue.js';
import { StreamHandle, type VirtualStream } from './virtual/streams.js';

export type { VirtualOp, VirtualOpKind, VirtualOpRecord, VirtualRuntimeOptions } from './virtual/model.js';
export type { VirtualStream } from './virtual/streams.js';

export interface VirtualRuntime extends Runtime {
  Stream: new (device: NativeDevice) => VirtualStream;
  readonly log: VirtualOpRecord[];
  /** Buffers created and not yet closed. */
  liveBuffers(): number;
}

export function createVirtualRuntime(scheduler: SchedulerLike, options: VirtualRuntimeOptions = {}): VirtualRuntime {
  const ctx = new VirtualContext(scheduler, options);
  return {
    Device: VirtualDevice,
    Buffer: class extends BufferHandle {
      constructor(device: NativeDevice, bytes: number, host?: boolean) {
        super(ctx, device, bytes, host);
      }
    },
    Stream: class extends StreamHandle {
      constructor(device: NativeDevice) {
        super(ctx, device);
      }
    },
    Event: class extends EventHandle {
      constructor(device: NativeDevice, timing?: boolean) {
        super(ctx, device, timing);
      }
    },
    Queue: class extends VirtualQueue {
      constructor(backend: BackendName, onProgress: QueueProgress) {
        super(ctx, backend, onProgress);
      }
    },
    group: (items) => group(ctx, items),
    initComms: (backend, id, nranks, members, timeoutMs) => initComms(ctx, backend, id, nranks, members, timeoutMs),
    uniqueId: (backend) => uniqueId(ctx, backend),
    completion: (event) => completion(ctx, event),
    now: () => scheduler.now(),
    log: ctx.model.log,
    liveBuffers: () => ctx.liveBuffers.size,
  };
}
