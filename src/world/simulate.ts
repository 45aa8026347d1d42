// simulate(): a whole cluster of M machines x D devices driven by this one process. On the CPU backend every
// rank is a virtual device; on CUDA the ranks map onto this host's GPUs so that no communicator holds a GPU
// twice (machines emulated in one process), and every stage runs on the GPUs.
import { asyncScheduler, type SchedulerLike } from 'rxjs';
import type { BackendName, NativeComm, NativeDevice, NativeInfo } from '../native.js';
import { native } from '../native.js';
import { Device } from '../runtime/device.js';
import { nativeRuntime, type Runtime } from '../runtime/runtime.js';
import { globalRank, placeOf, type CommName, type RankLayout, type Topology } from '../engine/context.js';
import { ArgumentError } from '../errors.js';
import { MAX_PARALLELISM, computeLayout } from '../engine/layout.js';
import { toPipelineSpec, type PipelineOption, type PipelineSpec } from '../engine/pipeline.js';
import { auto, fairring, local, readyPipelines } from '../../pipelines/index.js';
import { buildWorld, closeQuietly } from './build.js';
import type { World } from './world.js';

export interface WorldOptions {
  backend?: BackendName;
  /** Staging (and, at one device per machine, padding) budget per device. Default 64 MiB on the CPU, 256 MiB on CUDA. */
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
  /** A PipelineSpec, a function (ctx) => operator over slices, or a ready pipeline's name. Default: `auto`
   *  (or, when ranks share a GPU so that no world communicator can exist, `local` on one machine and `fairring`
   *  otherwise). */
  pipeline?: PipelineOption | 'fairring' | 'local' | 'nccl' | 'auto' | (string & {});
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

/** Largest machines, devicesPerMachine, and ranks one simulate() drives (each rank has 6 streams; on the CPU
 *  backend every stream is a thread). */
export const MAX_MACHINES = 1024;
export const MAX_DEVICES_PER_MACHINE = 256;
export const MAX_SIMULATED_RANKS = 1024;
/**
 * The staging budget per device when none is given. On CUDA a 25 MiB bucket (DDP's default) then fits one
 * staging slot at the default parallelism of 8: measured on 2 x H200 at 2 x 1, 8 MiB slices (64 MiB) cap even
 * the native reference loop at 84 GB/s against 236 with whole buckets, as each slice's NCCL group costs more host
 * time than the GPUs need for 8 MiB. The CPU backend's simulated devices share the host's RAM.
 */
const defaultMemoryBytes = { cpu: 64 << 20, cuda: 256 << 20 } as const;

/** The longest timeoutMs: one day, the communicators' own limit. */
export const MAX_TIMEOUT_MS = 86_400_000;


const optionNames = [
  'machines',
  'devicesPerMachine',
  'backend',
  'memoryBytes',
  'paddingBytes',
  'parallelism',
  'sliceBytes',
  'timeoutMs',
  'rankLayout',
  'pipeline',
  'timings',
  'deviceOrdinals',
  'runtime',
  'scheduler',
] as const satisfies readonly (keyof SimulateOptions)[];

const commNames: readonly CommName[] = ['reduceScatter', 'collect', 'diffuse', 'allGather', 'world'];

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (Array.isArray(v)) return `[${v.map(show).join(', ')}]`;
  if (v === null || typeof v !== 'object') return String(v);
  return v.constructor?.name ?? 'object';
}

function integerIn(name: string, v: unknown, min: number, max: number, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new ArgumentError(`${name} must be an integer from ${min} to ${max} (${what}), got ${show(v)}`);
  }
  return v;
}

function bytesOption(name: string, v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new ArgumentError(`${name} must be a non-negative safe integer of bytes (0..${Number.MAX_SAFE_INTEGER}), got ${show(v)}`);
  }
  return v;
}

function resolvePipeline(option: unknown): PipelineSpec | null {
  if (option === undefined) return null;
  const names = Object.keys(readyPipelines).map((n) => `'${n}'`).join(' | ');
  if (typeof option === 'string') {
    const spec = Object.hasOwn(readyPipelines, option) ? readyPipelines[option] : undefined;
    if (spec === undefined) throw new ArgumentError(`pipeline ${show(option)} is not a ready pipeline: use ${names}, a PipelineSpec, or a function (ctx) => operator over slices`);
    return spec;
  }
  if (typeof option === 'function') return toPipelineSpec(option as PipelineOption);
  const spec = option as Partial<PipelineSpec> | null;
  const problem =
    spec === null || typeof spec !== 'object'
      ? 'it is not an object'
      : typeof spec.name !== 'string' || spec.name === ''
        ? 'name must be a non-empty string'
        : typeof spec.padded !== 'boolean'
          ? 'padded must be a boolean'
          : !Array.isArray(spec.comms) || !spec.comms.every((c) => commNames.includes(c))
            ? `comms must be an array of ${commNames.join(', ')}`
            : typeof spec.build !== 'function'
              ? 'build must be a function (ctx) => operator over slices'
              : null;
  if (problem !== null) throw new ArgumentError(`pipeline must be ${names}, a PipelineSpec { name, padded, comms, build } or a function (ctx) => operator over slices; got ${show(option)}: ${problem}`);
  return spec as PipelineSpec;
}

/** The native error of a failed allocation names the size and device twice; say it once, with the fix. */
function allocationError(e: unknown, memoryBytes: number, paddingBytes: number): unknown {
  if (!(e instanceof Error)) return e;
  const m = /^allocating (\d+) bytes on (\S+?): (.*)$/s.exec(e.message);
  if (m === null) return e;
  const [, bytes, label] = m as unknown as [string, string, string, string];
  let reason = m[3]!;
  const prefix = `allocating ${bytes} bytes on ${label}: `;
  while (reason.startsWith(prefix)) reason = reason.slice(prefix.length);
  reason = reason.replace(new RegExp(`\\s*allocating ${bytes} bytes$`), '');
  return new ArgumentError(
    `simulate() could not allocate ${bytes} bytes on ${label} (${reason}) for the world's padding and staging slots; ` +
      `lower memoryBytes (${memoryBytes}), paddingBytes (${paddingBytes}) or parallelism. Nothing of the world was kept`,
    { cause: e },
  );
}

let cudaInfo: NativeInfo['cuda'] | undefined;

function ordinalsFor(topology: Topology, backend: BackendName, given: readonly number[] | undefined): number[] {
  const { machines: M, devicesPerMachine: D } = topology;
  const world = M * D;
  if (backend === 'cpu') {
    if (given !== undefined) throw new ArgumentError(`deviceOrdinals applies to backend 'cuda' only (CPU devices are virtual, one per rank); drop it or set backend: 'cuda'`);
    return Array.from({ length: world }, (_, g) => g);
  }
  // native.info() reads every device's properties (about 0.2 s per GPU): once per process is enough.
  cudaInfo ??= native.info().cuda;
  const gpus = cudaInfo.deviceCount;
  if (gpus === 0) throw new ArgumentError(`backend 'cuda' asked for, but ${cudaInfo.error ?? 'no CUDA devices'}: check the NVIDIA driver with nvidia-smi, or use backend 'cpu'`);
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
  const results = await Promise.allSettled(
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
  if (options === null || typeof options !== 'object') {
    throw new ArgumentError(`simulate() takes an options object such as { machines: 2, devicesPerMachine: 4 }, got ${show(options)}`);
  }
  const unknown = Object.keys(options).filter((k) => !(optionNames as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw new ArgumentError(`simulate() has no option ${unknown.map((k) => `'${k}'`).join(', ')}; the options are ${optionNames.join(', ')}`);
  }
  const machines = integerIn('machines', options.machines, 1, MAX_MACHINES, 'machines simulated in this process');
  const devicesPerMachine = integerIn('devicesPerMachine', options.devicesPerMachine, 1, MAX_DEVICES_PER_MACHINE, 'devices per machine');
  if (machines * devicesPerMachine > MAX_SIMULATED_RANKS) {
    throw new ArgumentError(
      `machines x devicesPerMachine must be at most ${MAX_SIMULATED_RANKS} ranks in one simulate() (each rank has 6 streams), got ${machines} x ${devicesPerMachine} = ${machines * devicesPerMachine}`,
    );
  }
  const backend = options.backend ?? 'cpu';
  if (backend !== 'cpu' && backend !== 'cuda') throw new ArgumentError(`backend must be 'cpu' or 'cuda', got ${show(backend)}`);
  const rankLayout = options.rankLayout ?? 'machine-major';
  if (rankLayout !== 'machine-major' && rankLayout !== 'device-major') {
    throw new ArgumentError(`rankLayout must be 'machine-major' or 'device-major', got ${show(rankLayout)}`);
  }
  const topology: Topology = { machines, devicesPerMachine, rankLayout };
  const memoryBytes = bytesOption('memoryBytes', options.memoryBytes, defaultMemoryBytes[backend]);
  const paddingBytes = bytesOption('paddingBytes', options.paddingBytes, 1 << 20);
  const parallelism = options.parallelism === undefined ? 8 : integerIn('parallelism', options.parallelism, 1, MAX_PARALLELISM, 'slices in flight');
  if (options.sliceBytes !== undefined) integerIn('sliceBytes', options.sliceBytes, 1, Number.MAX_SAFE_INTEGER, 'bytes per slice, a positive safe integer');
  const timeoutMs = options.timeoutMs === undefined ? 120_000 : integerIn('timeoutMs', options.timeoutMs, 1, MAX_TIMEOUT_MS, 'milliseconds, at most one day');
  if (options.timings !== undefined && typeof options.timings !== 'boolean') throw new ArgumentError(`timings must be true or false, got ${show(options.timings)}`);
  if (options.deviceOrdinals !== undefined && !Array.isArray(options.deviceOrdinals)) {
    throw new ArgumentError(`deviceOrdinals must be an array of GPU ordinals, one per global rank, got ${show(options.deviceOrdinals)}`);
  }
  if (options.runtime !== undefined && (options.runtime === null || typeof options.runtime !== 'object' || typeof options.runtime.Device !== 'function')) {
    throw new ArgumentError(`runtime must be a Runtime (nativeRuntime or a test runtime), got ${show(options.runtime)}`);
  }
  if (options.scheduler !== undefined && (options.scheduler === null || typeof options.scheduler !== 'object' || typeof options.scheduler.schedule !== 'function')) {
    throw new ArgumentError(`scheduler must be an RxJS SchedulerLike, got ${show(options.scheduler)}`);
  }
  const layout = computeLayout(
    { memoryBytes, paddingBytes, parallelism, ...(options.sliceBytes !== undefined ? { sliceBytes: options.sliceBytes } : {}) },
    machines,
    devicesPerMachine,
  );
  const chosen = resolvePipeline(options.pipeline);
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
      timings: options.timings === true,
      budgetBytes,
    });
  } catch (e) {
    // The order world.close() uses: communicators, then devices.
    for (const c of comms) closeQuietly(c);
    for (const d of devices) closeQuietly(d);
    throw allocationError(e, memoryBytes, paddingBytes);
  }
}

function checkMemory(
  backend: BackendName,
  natives: readonly NativeDevice[],
  ordinals: readonly number[],
  need: { memoryBytes: number; paddingBytes: number; budgetBytes: number; allocatedBytes: number },
): void {
  const perDevice = new Map<string, { device: NativeDevice; ranks: number }>();
  natives.forEach((d, g) => {
    // CPU devices are virtual and share the host's memory; CUDA ranks share a GPU when their ordinals repeat.
    const key = backend === 'cpu' ? 'host' : String(ordinals[g]);
    const entry = perDevice.get(key) ?? { device: d, ranks: 0 };
    entry.ranks++;
    perDevice.set(key, entry);
  });
  for (const { device, ranks } of perDevice.values()) {
    const total = device.totalMemory;
    if (typeof total !== 'number' || !(total > 0)) continue;
    const where = `${device.name} (${total} bytes of memory)`;
    for (const [name, v] of [['memoryBytes', need.memoryBytes], ['paddingBytes', need.paddingBytes]] as const) {
      if (v > total) throw new ArgumentError(`${name} ${v} is larger than the memory of ${where}: give 0..${total}`);
    }
    if (need.budgetBytes > total) {
      throw new ArgumentError(`memoryBytes + paddingBytes = ${need.budgetBytes} is larger than the memory of ${where}: lower them to at most ${total} together`);
    }
    if (need.allocatedBytes * ranks > total) {
      throw new ArgumentError(
        `the layout needs ${need.allocatedBytes} bytes per rank, ${need.allocatedBytes * ranks} for the ${ranks} rank(s) on ${where}: lower memoryBytes or parallelism`,
      );
    }
  }
}
