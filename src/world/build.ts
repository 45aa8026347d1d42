// The one world builder: given devices and communicators (from simulate() and connect()), it
// allocates the layout's slots, registers every stream, buffer and communicator with the world's Queue once,
// and wires the engine to them.
import type { SchedulerLike } from 'rxjs';
import type { BackendName, NativeComm } from '../native.js';
import type { Device } from '../runtime/device.js';
import type { Runtime } from '../runtime/runtime.js';
import { Program } from '../runtime/program.js';
import { streamNames, type RankCommName, type EngineContext, type RankContext, type StreamName, type Topology } from '../engine/context.js';
import { Completions } from '../engine/completion.js';
import { Engine } from './engine.js';
import { FairringError } from '../errors.js';
import { ALIGNMENT, type Layout } from '../engine/layout.js';
import type { PipelineSpec } from '../engine/pipeline.js';
import { SlotPool, SlotRing } from '../engine/pool.js';
import { WorldHandles } from './handles.js';
import { World, type WorldSession } from './world.js';

/**
 * NCCL groups of sends and receives the CUDA issuer may merge into one (docs/engine.md, "Merged groups"): a
 * quarter of the slices in flight, from 2 to 4. A merged group's slices complete together, so with many slices
 * in one group the devices idle while the host settles them and admits the next; with a few, the other groups
 * keep them busy (our reading of the bursts of completions measured, not traced on the device). Measured on
 * 2 x H200 at 2 x 1 (docs/benchmarks.md, sessions 11 and 12): with nonblocking communicators 4 beat 8 by 14% at
 * parallelism 8; with blocking ones (every rank in the process) and the watcher's 100 µs poll cap, 2 beat 4 by
 * about 4% there on 25 MiB buckets and lost about 6% on 64 KiB ones, and 4 beat 8 at 16; session 16 found 4
 * behind 2 on the floor (64 x 25 MiB, median 0.830 against 0.874 of fr.cu) and ahead on 64 KiB. At least 2:
 * a cap of 1 is the issuer's direct path, in program order, which merges nothing.
 */
export function mergeGroupsFor(parallelism: number): number {
  return Math.min(4, Math.max(2, Math.floor(parallelism / 4)));
}

export interface WorldParts {
  runtime: Runtime;
  backend: BackendName;
  topology: Topology;
  layout: Layout;
  /** This process's devices, in global rank order. */
  devices: readonly Device[];
  /** Per local device, its communicator of each family the pipeline uses. */
  comms: readonly Partial<Record<RankCommName, NativeComm>>[];
  allComms: readonly NativeComm[];
  pipeline: PipelineSpec;
  timeoutMs: number;
  scheduler: SchedulerLike;
  /** Record stage timings even with no subscriber to timings$. */
  timings: boolean;
  budgetBytes: number;
  /** The job this world belongs to (connect()); none for simulate(). */
  session?: WorldSession;
}

export function buildWorld(parts: WorldParts): World {
  const { runtime, backend, topology, layout, devices } = parts;
  const completions = new Completions((stream, seq) => program.want(stream, seq));
  // With every rank in this process, the CUDA issuer merges the p2p groups of slices that reach it together.
  const allLocal = devices.length === topology.machines * topology.devicesPerMachine;
  // What a report's settling enqueued (the next slices admitted) reaches the Queue in one call at its end.
  const queue = new runtime.Queue(
    backend,
    (done, errors, timings) => {
      completions.onProgress(done, errors, timings);
      program.flush();
    },
    allLocal ? mergeGroupsFor(layout.parallelism) : 1,
  );
  const program = new Program(queue);
  const checkComms = parts.comms.flatMap((c) => (c.check === undefined ? [] : [c.check]));
  const handles = new WorldHandles(runtime, queue, program, parts.allComms, checkComms);
  try {
    const commIndex = new Map<NativeComm, number>(parts.allComms.map((c) => [c, queue.addComm(c)]));
    const staged = topology.devicesPerMachine === 1 && topology.machines > 1;
    const ranks: RankContext[] = devices.map((device, g) => {
      const streams = {} as Record<StreamName, number>;
      for (const name of streamNames) streams[name] = handles.stream(device);
      const comms: Partial<Record<RankCommName, number>> = {};
      for (const [family, c] of Object.entries(parts.comms[g]!) as Array<[RankCommName, NativeComm]>) comms[family] = commIndex.get(c)!;
      return {
        device,
        place: device.place,
        streams,
        deviceStream: handles.track(device.stream),
        comms,
        padding: handles.buffer(device, layout.paddingSlots * layout.paddingSlotBytes).index,
        staging: staged ? handles.buffer(device, layout.stagingSlots * layout.slotBytes).index : -1,
        stagingPadding: staged ? handles.buffer(device, layout.stagingSlots * topology.machines * ALIGNMENT).index : -1,
      };
    });
    let worldRef: World | null = null;
    const ctx: EngineContext = {
      runtime,
      topology,
      layout,
      ranks,
      program,
      completions,
      pools: {
        inflight: new SlotPool('inflight', layout.parallelism),
        padding: new SlotRing('padding', layout.paddingSlots),
        staging: new SlotRing('staging', layout.stagingSlots),
      },
      timing: { get enabled() { return parts.timings || (worldRef?.listenerCount('timing') ?? 0) > 0; } },
      timeoutMs: parts.timeoutMs,
    };
    // A failure aborts the data's communicators; the call check's own finishes its all-reduces (their verdict
    // tells a failure caused by calls that differ across ranks) unless it fails or times out itself.
    const checkOnly = new Set(checkComms);
    const engine = new Engine(ctx, parts.pipeline, parts.scheduler, (t) => worldRef?.emit('timing', t), () => {
      for (const c of parts.allComms) if (!checkOnly.has(c)) c.abort();
    });
    completions.onCallbackError = (e) => {
      const message = e instanceof Error ? e.message : String(e);
      engine.abort(new FairringError(`fairring-rx: internal error while settling completed work: ${message}`, { cause: e }));
    };
    // A unit the Queue refuses fails the world; the records it and the units after it would have made never come.
    program.onRefused = (error, abandoned) => {
      engine.abort(error);
      for (const [stream, from] of abandoned) completions.abandon(stream, from, error.message);
    };
    worldRef = new World(devices, ctx, engine, parts.pipeline.name, parts.budgetBytes, handles, parts.session ?? null);
    return worldRef;
  } catch (e) {
    // What this builder made goes again, in the order world.close() uses: the Queue, then streams and buffers.
    closeQuietly(queue);
    for (const h of [...handles.streams, ...handles.buffers]) closeQuietly(h);
    throw e;
  }
}

/** Frees a handle after a failure, where the first error is the one to report. */
export function closeQuietly(handle: { close(): void }): void {
  try {
    handle.close();
  } catch {
    // The failure being reported matters more than this one.
  }
}
