// simulate(): a whole cluster of M machines x D devices driven by this one process. On the CPU backend every
// rank is a virtual device; on CUDA the ranks map onto this host's GPUs so that no communicator holds a GPU
// twice (machines emulated in one process), and every stage runs on the GPUs.
import { asyncScheduler, type SchedulerLike } from 'rxjs';
import type { BackendName, NativeComm, NativeInfo } from '../native.js';
import { native } from '../native.js';
import { Device } from '../runtime/device.js';
import { nativeRuntime, type Runtime } from '../runtime/runtime.js';
import { globalRank, placeOf, type CommName, type RankLayout, type Topology } from '../engine/context.js';
import { ArgumentError } from '../engine/errors.js';
import { computeLayout } from '../engine/layout.js';
import { toPipelineSpec, type PipelineOption } from '../engine/pipeline.js';
import { fairring } from '../../pipelines/fairring.js';
import { local } from '../../pipelines/local.js';
import { buildWorld } from './build.js';
import type { World } from './world.js';

export interface WorldOptions {
  backend?: BackendName;
  /** Staging (and, at one device per machine, padding) budget per device. Default 64 MiB. */
  memoryBytes?: number;
  /** Padding budget per device when devices per machine > 1. Default 1 MiB. */
  paddingBytes?: number;
  /** Minimum number of slices in flight. Default 8. */
  parallelism?: number;
  /** Cut tensors into slices of at most this many bytes so stages overlap within one all-reduce. */
  sliceBytes?: number;
  /**
   * A slice that has not completed this long after it was enqueued fails with a TimeoutError and aborts the
   * world's communicators, on either backend. Default 120 s.
   */
  timeoutMs?: number;
  rankLayout?: RankLayout;
  /** Default: `local` on one machine, `fairring` otherwise. */
  pipeline?: PipelineOption;
  /** Record stage timings even with no subscriber to timings$. */
  timings?: boolean;
}

export interface SimulateOptions extends WorldOptions {
  machines: number;
  devicesPerMachine: number;
  /** CUDA only: the GPU of each global rank. Default: rank g on GPU g, or (device + machine) % GPUs. */
  deviceOrdinals?: readonly number[];
  /** Substitute device runtime (tests). */
  runtime?: Runtime;
  scheduler?: SchedulerLike;
}

function positiveInt(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 1) throw new ArgumentError(`${name} must be a positive integer, got ${v}`);
  return v;
}

let cudaInfo: NativeInfo['cuda'] | undefined;

function ordinalsFor(topology: Topology, backend: BackendName, given: readonly number[] | undefined): number[] {
  const { machines: M, devicesPerMachine: D } = topology;
  const world = M * D;
  if (backend === 'cpu') return Array.from({ length: world }, (_, g) => g);
  if (given) {
    if (given.length !== world) throw new ArgumentError(`deviceOrdinals has ${given.length} entries for ${world} ranks`);
    return [...given];
  }
  // native.info() reads every device's properties (about 0.2 s per GPU): once per process is enough.
  cudaInfo ??= native.info().cuda;
  const gpus = cudaInfo.deviceCount;
  if (gpus === 0) throw new ArgumentError(`backend 'cuda' asked for, but ${cudaInfo.error ?? 'no CUDA devices'}`);
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
  await Promise.all(
    families.flatMap((family) =>
      groupsOf(family).map(async (ranks) => {
        const comms = await runtime.initComms(
          backend,
          runtime.uniqueId(backend),
          ranks.length,
          ranks.map((g, rank) => ({ rank, device: devices[g]!.native })),
          timeoutMs,
        );
        comms.forEach((c, i) => {
          perRank[ranks[i]!]![family] = c;
          all.push(c);
        });
      }),
    ),
  );
  return { perRank, all };
}

export async function simulate(options: SimulateOptions): Promise<World> {
  const machines = positiveInt('machines', options.machines);
  const devicesPerMachine = positiveInt('devicesPerMachine', options.devicesPerMachine);
  const backend = options.backend ?? 'cpu';
  if (backend !== 'cpu' && backend !== 'cuda') throw new ArgumentError(`backend must be 'cpu' or 'cuda', got ${String(backend)}`);
  const rankLayout = options.rankLayout ?? 'machine-major';
  if (rankLayout !== 'machine-major' && rankLayout !== 'device-major') throw new ArgumentError(`rankLayout must be machine-major or device-major`);
  const topology: Topology = { machines, devicesPerMachine, rankLayout };
  const memoryBytes = options.memoryBytes ?? 64 << 20;
  const paddingBytes = options.paddingBytes ?? 1 << 20;
  const timeoutMs = positiveInt('timeoutMs', options.timeoutMs ?? 120_000);
  const layout = computeLayout(
    { memoryBytes, paddingBytes, parallelism: options.parallelism ?? 8, ...(options.sliceBytes !== undefined ? { sliceBytes: options.sliceBytes } : {}) },
    machines,
    devicesPerMachine,
  );
  const pipeline = toPipelineSpec(options.pipeline ?? (machines === 1 ? local : fairring));
  if (pipeline.name === 'local' && machines !== 1) throw new ArgumentError(`the local pipeline runs on one machine, not ${machines}`);
  const runtime = options.runtime ?? nativeRuntime;
  const ordinals = ordinalsFor(topology, backend, options.deviceOrdinals);
  if (pipeline.comms.includes('world') && new Set(ordinals).size < ordinals.length) {
    throw new ArgumentError(`the ${pipeline.name} pipeline needs one device per rank: ${ordinals.length} ranks on ${new Set(ordinals).size} devices`);
  }
  const world = machines * devicesPerMachine;
  const devices = Array.from({ length: world }, (_, g) => new Device(runtime, new runtime.Device(backend, ordinals[g]!), placeOf(topology, g)));
  // In-process communicators time out on their own too; give the engine's watchdog, which names the stage and
  // behaves the same on CUDA, the first word.
  const { perRank, all } = await createComms(runtime, backend, topology, devices, pipeline.comms, 2 * timeoutMs);
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
    timings: options.timings === true,
    budgetBytes: devicesPerMachine > 1 ? memoryBytes + paddingBytes : memoryBytes,
  });
}
