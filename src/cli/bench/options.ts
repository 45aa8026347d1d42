// What `fairring-rx bench` measures, resolved from its command line: the flags as commander parsed them, then
// the checks that involve more than one flag.
import type { BackendName, DType, ReduceOp } from '../../native.js';
import { elementSize } from '../../runtime/dtype.js';

export interface BenchOptions {
  backend: BackendName;
  /** Join the job a launcher started (connect(): one rank per process) instead of simulating every rank here. */
  connect: boolean;
  /** With connect: check every all-reduce's call across ranks first (connect()'s checkCalls). */
  checkCalls: boolean;
  /** With connect, what the job turned out to be (set once connected). */
  machines: number;
  devicesPerMachine: number;
  /** Names from the pipeline table, in the order runs interleave. */
  pipelines: readonly string[];
  /** The pipeline every other one is compared with. */
  baseline: string;
  op: ReduceOp;
  dtype: DType;
  /** Bytes per bucket and rank; one row per size. */
  sizes: readonly number[];
  /** Buckets submitted at once per iteration, as DDP does. */
  buckets: number;
  /** Timed iterations per run. */
  iters: number;
  /** Untimed iterations per pipeline before the runs, at each size, at least. */
  warmup: number;
  /** Warm-up iterations go on until at least this many slices ran (the JIT warms per slice, not per iteration). */
  warmupSlices: number;
  /** Then on, at the first size, until the JS thread's time per slice stops falling, for at most this long (0: not at all). */
  warmupMs: number;
  /** Runs per pipeline, interleaved across pipelines. */
  repeat: number;
  sliceBytes?: number;
  /** Staging budget per device (the world's memoryBytes option). */
  memoryBytes?: number;
  /** Slices in flight (the world's parallelism option). */
  parallelism?: number;
  /** Record per-stage device times and report the busiest stage. */
  timings: boolean;
  /** Chrome trace-event file for the per-stage timings. */
  trace?: string;
  /** JSON file for every row and run. */
  json?: string;
}

/** The bench command's flags as commander parses them (names as commander camel-cases them). */
export interface BenchFlags {
  backend: BackendName;
  connect?: boolean;
  checkCalls: boolean;
  machines: number;
  devices: number;
  pipelines: string[];
  baseline?: string;
  op: ReduceOp;
  dtype: DType;
  bytes: number;
  sizes?: number[];
  buckets: number;
  iters: number;
  warmup: number;
  warmupSlices: number;
  warmupMs: number;
  repeat: number;
  sliceBytes?: number;
  memoryBytes?: number;
  parallelism?: number;
  timings?: boolean;
  trace?: string;
  json?: string;
}

/** A command line whose flags are each valid but do not fit together. */
export class UsageError extends Error {}

export function resolveBenchOptions(f: BenchFlags): BenchOptions {
  const baseline = f.baseline ?? (f.pipelines.includes('nccl') ? 'nccl' : f.pipelines[0]!);
  if (!f.pipelines.includes(baseline)) {
    throw new UsageError(`--baseline ${baseline} is not among --pipelines ${f.pipelines.join(',')}`);
  }
  if (!f.checkCalls && f.connect !== true) throw new UsageError('--no-check-calls applies to --connect only (one process checks nothing across ranks)');
  const sizes = f.sizes ?? [f.bytes];
  const tooSmall = sizes.find((s) => s < elementSize(f.dtype));
  if (tooSmall !== undefined) {
    throw new UsageError(`a bucket of ${tooSmall} bytes holds no ${f.dtype} element (${elementSize(f.dtype)} bytes)`);
  }
  return {
    backend: f.backend,
    connect: f.connect === true,
    checkCalls: f.checkCalls,
    machines: f.machines,
    devicesPerMachine: f.devices,
    pipelines: f.pipelines,
    baseline,
    op: f.op,
    dtype: f.dtype,
    sizes,
    buckets: f.buckets,
    iters: f.iters,
    warmup: f.warmup,
    warmupSlices: f.warmupSlices,
    warmupMs: f.warmupMs,
    repeat: f.repeat,
    timings: f.timings === true,
    ...(f.sliceBytes !== undefined ? { sliceBytes: f.sliceBytes } : {}),
    ...(f.memoryBytes !== undefined ? { memoryBytes: f.memoryBytes } : {}),
    ...(f.parallelism !== undefined ? { parallelism: f.parallelism } : {}),
    ...(f.trace !== undefined ? { trace: f.trace } : {}),
    ...(f.json !== undefined ? { json: f.json } : {}),
  };
}
