// The options every world takes (simulate() and connect()): their checks, defaults and messages, shared so
// both say the same thing about the same mistake.
import { native, type BackendName, type NativeDevice, type NativeInfo } from '../native.js';
import type { CommName } from '../engine/context.js';
import { ArgumentError, SetupError } from '../errors.js';
import { show } from '../runtime/options.js';
import { MAX_PARALLELISM } from '../engine/layout.js';
import { toPipelineSpec, type PipelineOption, type PipelineSpec } from '../engine/pipeline.js';
import { readyPipelines } from '../../pipelines/index.js';

export interface WorldOptions {
  backend?: BackendName;
  /** Staging (and, at one device per machine, padding) budget per device. Default 64 MiB on the CPU, 256 MiB on CUDA. */
  memoryBytes?: number;
  /** Padding budget per device when devices per machine > 1. Default 1 MiB. */
  paddingBytes?: number;
  /** Slices in flight at most: in-flight tokens, and padding and staging slots as many. Default 8. */
  parallelism?: number;
  /** Cut tensors into slices of at most this many bytes so stages overlap within one all-reduce. */
  sliceBytes?: number;
  /**
   * A slice that has not completed this long after it was enqueued fails with a TimeoutError and aborts the
   * world's communicators, on either backend. Default 120 s.
   */
  timeoutMs?: number;
  /** A PipelineSpec, a function (ctx) => operator over slices, or a ready pipeline's name. Default: `auto`
   *  (or, when ranks share a GPU so that no world communicator can exist, `local` on one machine and `fairring`
   *  otherwise). */
  pipeline?: PipelineOption | 'fairring' | 'local' | 'nccl' | 'auto' | (string & {});
  /** Record stage timings even with no subscriber to timings$. */
  timings?: boolean;
}

/** The names of WorldOptions, which simulate() and connect() both take. */
export const worldOptionNames = ['backend', 'memoryBytes', 'paddingBytes', 'parallelism', 'sliceBytes', 'timeoutMs', 'pipeline', 'timings'] as const satisfies readonly (keyof WorldOptions)[];

let hostInfo: NativeInfo | undefined;

/** native.info() once per process: it reads every device's properties (about 0.2 s per GPU). */
export function nativeInfo(): NativeInfo {
  hostInfo ??= native.info();
  return hostInfo;
}

/** The CUDA devices of this host, or an ArgumentError saying why there are none. */
export function cudaDeviceCount(): number {
  const cuda = nativeInfo().cuda;
  if (cuda.deviceCount === 0) {
    throw new ArgumentError(`backend 'cuda' asked for, but ${cuda.error ?? 'no CUDA devices (nvidia-smi lists what the driver sees)'}; or use backend 'cpu'`);
  }
  return cuda.deviceCount;
}

/** A SetupError where NCCL did not load (the CUDA backend's communicators are NCCL's), saying why. */
export function requireNccl(who: string): void {
  const { nccl } = nativeInfo();
  if (nccl.loaded) return;
  throw new SetupError(
    `${who}: the CUDA backend's communicators need NCCL, which did not load (${nccl.error ?? 'unknown'}): install NCCL 2 (libnccl.so.2) or put its folder on LD_LIBRARY_PATH; fairring-rx info shows what was tried`,
  );
}

/**
 * The staging budget per device when none is given. On CUDA a 25 MiB bucket (DDP's default) then fits one
 * staging slot at the default parallelism of 8: measured on 2 x H200 at 2 x 1, 8 MiB slices (64 MiB) cap even
 * the native reference loop at 84 GB/s against 236 with whole buckets, as each slice's NCCL group costs more host
 * time than the GPUs need for 8 MiB. The CPU backend's simulated devices share the host's RAM.
 */
const defaultMemoryBytes = { cpu: 64 << 20, cuda: 256 << 20 } as const;

/** The longest timeoutMs: one day, the communicators' own limit. */
export const MAX_TIMEOUT_MS = 86_400_000;

const commNames: readonly CommName[] = ['reduceScatter', 'collect', 'diffuse', 'allGather', 'world'];

export function integerIn(name: string, v: unknown, min: number, max: number, what: string): number {
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
  const problem = pipelineSpecProblem(option);
  if (problem !== null) throw new ArgumentError(`pipeline must be ${names}, a PipelineSpec { name, padded, comms, build } or a function (ctx) => operator over slices; got ${show(option)}: ${problem}`);
  return option as PipelineSpec;
}

/** What keeps `value` from being a PipelineSpec, or null when it is one. */
export function pipelineSpecProblem(value: unknown): string | null {
  const spec = value as Partial<PipelineSpec> | null;
  return spec === null || typeof spec !== 'object'
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
}

/** The native error of a failed allocation names the size and device twice; say it once, with the fix. */
export function allocationError(e: unknown, call: string, memoryBytes: number, paddingBytes: number): unknown {
  if (!(e instanceof Error)) return e;
  const m = /^allocating (\d+) bytes on (\S+?): (.*)$/s.exec(e.message);
  if (m === null) return e;
  const [, bytes, label] = m as unknown as [string, string, string, string];
  let reason = m[3]!;
  const prefix = `allocating ${bytes} bytes on ${label}: `;
  while (reason.startsWith(prefix)) reason = reason.slice(prefix.length);
  reason = reason.replace(new RegExp(`\\s*allocating ${bytes} bytes$`), '');
  return new ArgumentError(
    `${call} could not allocate ${bytes} bytes on ${label} (${reason}) for the world's padding and staging slots; ` +
      `lower memoryBytes (${memoryBytes}), paddingBytes (${paddingBytes}) or parallelism. Nothing of the world was kept`,
    { cause: e },
  );
}

export function checkMemory(
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

/** The options every world takes, checked and with their defaults. */
export interface WorldSettings {
  backend: BackendName;
  memoryBytes: number;
  paddingBytes: number;
  parallelism: number;
  sliceBytes: number | undefined;
  timeoutMs: number;
  timings: boolean;
  /** The pipeline asked for; null: the world's default. */
  pipeline: PipelineSpec | null;
}

/** Checks the options every world takes (names, types and ranges) before anything is allocated. */
export function worldSettings(options: WorldOptions): WorldSettings {
  const backend = options.backend === undefined ? 'cpu' : options.backend;
  if (backend !== 'cpu' && backend !== 'cuda') throw new ArgumentError(`backend must be 'cpu' or 'cuda', got ${show(backend)}`);
  const sliceBytes =
    options.sliceBytes === undefined ? undefined : integerIn('sliceBytes', options.sliceBytes, 1, Number.MAX_SAFE_INTEGER, 'bytes per slice, a positive safe integer');
  if (options.timings !== undefined && typeof options.timings !== 'boolean') throw new ArgumentError(`timings must be true or false, got ${show(options.timings)}`);
  return {
    backend,
    memoryBytes: bytesOption('memoryBytes', options.memoryBytes, defaultMemoryBytes[backend]),
    paddingBytes: bytesOption('paddingBytes', options.paddingBytes, 1 << 20),
    parallelism: options.parallelism === undefined ? 8 : integerIn('parallelism', options.parallelism, 1, MAX_PARALLELISM, 'slices in flight'),
    sliceBytes,
    timeoutMs: options.timeoutMs === undefined ? 120_000 : integerIn('timeoutMs', options.timeoutMs, 1, MAX_TIMEOUT_MS, 'milliseconds, at most one day'),
    timings: options.timings === true,
    pipeline: resolvePipeline(options.pipeline),
  };
}
