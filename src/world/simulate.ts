// simulate(): a whole cluster of M machines x D devices driven by this one process. On the CPU backend every
// rank is a virtual device; on CUDA the ranks map onto this host's GPUs so that no communicator holds a GPU
// twice (machines emulated in one process), and every stage runs on the GPUs.
import { asyncScheduler, type SchedulerLike } from 'rxjs';
import type { BackendName, NativeComm } from '../native.js';
import { Device } from '../runtime/device.js';
import { nativeRuntime, type Runtime } from '../runtime/runtime.js';
import { globalRank, placeOf, type CommName, type RankLayout, type Topology } from '../engine/context.js';
import { ArgumentError, SetupError } from '../errors.js';
import { computeLayout } from '../engine/layout.js';
import { auto, fairring, local } from '../../pipelines/index.js';
import { MAX_TIMEOUT_MS, allocationError, checkMemory, cudaDeviceCount, integerIn, worldOptionNames, worldSettings, type WorldOptions } from './options.js';
import { checkOptionsObject, show } from '../runtime/options.js';
import { buildWorld, closeQuietly } from './build.js';
import type { World } from './world.js';

export interface SimulateOptions extends WorldOptions {
  machines: number;
  devicesPerMachine: number;
  /** How global ranks number (machine, device). Default 'machine-major'. */
  rankLayout?: RankLayout;
  /** CUDA only: the GPU of each global rank. Default: rank g on GPU g, or (device + machine) % GPUs. */
  deviceOrdinals?: readonly number[];
  /** Substitute device runtime (tests). */
  runtime?: Runtime;
  scheduler?: SchedulerLike;
}

/** Largest machines, devicesPerMachine, and ranks one simulate() drives (each rank has 6 streams and its
 *  communicators). */
export const MAX_MACHINES = 1024;
export const MAX_DEVICES_PER_MACHINE = 256;
const MAX_SIMULATED_RANKS = 1024;

const optionNames = ['machines', 'devicesPerMachine', ...worldOptionNames, 'rankLayout', 'deviceOrdinals', 'runtime', 'scheduler'] as const satisfies readonly (keyof SimulateOptions)[];

function ordinalsFor(topology: Topology, backend: BackendName, given: readonly number[] | undefined): number[] {
  const { machines: M, devicesPerMachine: D } = topology;
  const world = M * D;
  if (backend === 'cpu') {
    if (given !== undefined) throw new ArgumentError(`deviceOrdinals applies to backend 'cuda' only (CPU devices are virtual, one per rank); drop it or set backend: 'cuda'`);
    return Array.from({ length: world }, (_, g) => g);
  }
  const gpus = cudaDeviceCount();
  if (given) {
    if (given.length !== world) throw new ArgumentError(`deviceOrdinals has ${given.length} entries for ${world} ranks: give one GPU ordinal per global rank`);
    given.forEach((o, g) => integerIn(`deviceOrdinals[${g}]`, o, 0, gpus - 1, `a GPU ordinal of this host's ${gpus} GPU(s)`));
    return [...given];
  }
  if (world <= gpus) return Array.from({ length: world }, (_, g) => g);
  if (D > gpus || M > gpus) {
    throw new ArgumentError(`${M} machines x ${D} devices cannot map onto ${gpus} GPUs without a communicator holding one GPU twice`);
  }
  return Array.from({ length: world }, (_, g) => {
    const p = placeOf(topology, g);
    return (p.local + p.machine) % gpus;
  });
}

async function createComms(
  runtime: Runtime,
  backend: BackendName,
  topology: Topology,
  devices: readonly Device[],
  families: readonly CommName[],
  timeoutMs: number,
): Promise<{ perRank: Partial<Record<CommName, NativeComm>>[]; all: NativeComm[] }> {
  const { machines: M, devicesPerMachine: D } = topology;
  const perRank = devices.map(() => ({}) as Partial<Record<CommName, NativeComm>>);
  const all: NativeComm[] = [];
  const groupsOf = (family: CommName): number[][] => {
    if (family === 'world') return [devices.map((_, g) => g)];
    if (family === 'reduceScatter' || family === 'allGather') {
      return D === 1 ? [] : Array.from({ length: M }, (_, m) => Array.from({ length: D }, (_, d) => globalRank(topology, m, d)));
    }
    return M === 1 ? [] : Array.from({ length: D }, (_, d) => Array.from({ length: M }, (_, m) => globalRank(topology, m, d)));
  };
  // Every rank is in this process and joins in the same call, so creation waits for no one: its bound (the CUDA
  // backend's NCCL init takes seconds on some hosts) only stops a library that never returns.
  const initTimeoutMs = Math.max(timeoutMs, 60_000);
  const results = await Promise.allSettled(
    families.flatMap((family) =>
      groupsOf(family).map(async (ranks) => {
        let comms: NativeComm[];
        try {
          // The id too: where NCCL did not load, making it is what fails.
          comms = await runtime.initComms(backend, runtime.uniqueId(backend), ranks.length, ranks.map((g, rank) => ({ rank, device: devices[g]!.native })), initTimeoutMs);
        } catch (e) {
          throw new SetupError(`simulate(): the ${family} communicator of global ranks ${ranks.join(', ')} could not be created: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
        }
        comms.forEach((c, i) => {
          perRank[ranks[i]!]![family] = c;
          all.push(c);
        });
      }),
    ),
  );
  // Every group has settled: a failed one leaves no other initComms in flight, and the comms made are freed.
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) {
    for (const c of all) closeQuietly(c);
    throw failed.reason;
  }
  return { perRank, all };
}

export async function simulate(options: SimulateOptions): Promise<World> {
  // Every option is checked before anything is allocated or enqueued.
  checkOptionsObject('simulate()', options, optionNames, { example: '{ machines: 2, devicesPerMachine: 4 }' });
  const machines = integerIn('machines', options.machines, 1, MAX_MACHINES, 'machines simulated in this process');
  const devicesPerMachine = integerIn('devicesPerMachine', options.devicesPerMachine, 1, MAX_DEVICES_PER_MACHINE, 'devices per machine');
  if (machines * devicesPerMachine > MAX_SIMULATED_RANKS) {
    throw new ArgumentError(
      `machines x devicesPerMachine must be at most ${MAX_SIMULATED_RANKS} ranks in one simulate() (each rank has 6 streams), got ${machines} x ${devicesPerMachine} = ${machines * devicesPerMachine}`,
    );
  }
  const settings = worldSettings(options);
  const { backend, memoryBytes, paddingBytes, parallelism, sliceBytes, timeoutMs } = settings;
  const rankLayout = options.rankLayout === undefined ? 'machine-major' : options.rankLayout;
  if (rankLayout !== 'machine-major' && rankLayout !== 'device-major') {
    throw new ArgumentError(`rankLayout must be 'machine-major' or 'device-major', got ${show(rankLayout)}`);
  }
  const topology: Topology = { machines, devicesPerMachine, rankLayout };
  if (options.deviceOrdinals !== undefined && !Array.isArray(options.deviceOrdinals)) {
    throw new ArgumentError(`deviceOrdinals must be an array of GPU ordinals, one per global rank, got ${show(options.deviceOrdinals)}`);
  }
  if (options.runtime !== undefined && (options.runtime === null || typeof options.runtime !== 'object' || typeof options.runtime.Device !== 'function')) {
    throw new ArgumentError(`runtime must be a Runtime (nativeRuntime or a test runtime), got ${show(options.runtime)}`);
  }
  if (options.scheduler !== undefined && (options.scheduler === null || typeof options.scheduler !== 'object' || typeof options.scheduler.schedule !== 'function')) {
    throw new ArgumentError(`scheduler must be an RxJS SchedulerLike, got ${show(options.scheduler)}`);
  }
  const layout = computeLayout({ memoryBytes, paddingBytes, parallelism, ...(sliceBytes !== undefined ? { sliceBytes } : {}) }, machines, devicesPerMachine);
  const chosen = settings.pipeline;
  if (chosen?.name === 'local' && machines !== 1) throw new ArgumentError(`the local pipeline runs on one machine, not ${machines}: use 'fairring' or 'nccl'`);
  const runtime = options.runtime ?? nativeRuntime;
  const ordinals = ordinalsFor(topology, backend, options.deviceOrdinals);
  const sharedDevices = new Set(ordinals).size < ordinals.length;
  const pipeline = chosen ?? (!sharedDevices ? auto : machines === 1 ? local : fairring);
  if (pipeline.comms.includes('world') && sharedDevices) {
    throw new ArgumentError(`the ${pipeline.name} pipeline needs one device per rank: ${ordinals.length} ranks on ${new Set(ordinals).size} devices`);
  }
  const world = machines * devicesPerMachine;
  const budgetBytes = devicesPerMachine > 1 ? memoryBytes + paddingBytes : memoryBytes;
  // Device handles hold no resources: read each device's memory before allocating on it.
  const natives = ordinals.map((o) => new runtime.Device(backend, o));
  checkMemory(backend, natives, ordinals, { memoryBytes, paddingBytes, budgetBytes, allocatedBytes: layout.allocatedBytes });

  // From here on handles are made: a failure part way frees every one before it is reported (buildWorld frees
  // its own).
  const devices: Device[] = [];
  let comms: NativeComm[] = [];
  try {
    for (let g = 0; g < world; g++) devices.push(new Device(runtime, natives[g]!, placeOf(topology, g)));
    // In-process communicators time out on their own too; give the engine's watchdog, which names the stage and
    // behaves the same on CUDA, the first word (within the communicators' own limit of one day).
    const { perRank, all } = await createComms(runtime, backend, topology, devices, pipeline.comms, Math.min(2 * timeoutMs, MAX_TIMEOUT_MS));
    comms = all;
    return buildWorld({
      runtime,
      backend,
      topology,
      layout,
      devices,
      comms: perRank,
      allComms: all,
      pipeline,
      timeoutMs,
      scheduler: options.scheduler ?? asyncScheduler,
      timings: settings.timings,
      budgetBytes,
    });
  } catch (e) {
    // The order world.close() uses: communicators, then devices.
    for (const c of comms) closeQuietly(c);
    for (const d of devices) closeQuietly(d);
    throw allocationError(e, 'simulate()', memoryBytes, paddingBytes);
  }
}

