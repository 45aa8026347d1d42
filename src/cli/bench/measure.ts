// Runs the bench: one world per pipeline, each size's buckets filled on the devices, warm-up, then timed runs
// interleaved across pipelines and the native reference loop (A, B, loop, A, B, loop, …). A run records wall
// time, the JS thread's busy time (event-loop utilization) and its own CPU time, the whole process's CPU time
// and, with timings, the mean device time of every stage.
import { count, lastValueFrom } from 'rxjs';
import { native } from '../../native.js';
import { Tensor } from '../../runtime/device.js';
import { elementSize } from '../../runtime/dtype.js';
import type { StageTiming } from '../../world/engine.js';
import { simulate } from '../../world/simulate.js';
import { connect } from '../../world/connect.js';
import { jobFromEnv } from '../../world/launch-env.js';
import type { World } from '../../world/world.js';
import { hostMeter, type HostTime } from '../../world/host-time.js';
import { pipelines } from '../tables.js';
import type { BenchOptions } from './options.js';

/**
 * One timed run: the timed region's wall time and what the host spent over it. For the reference loop both are
 * its own measures, over its replay (its capture through the engine left out).
 */
export interface Run extends HostTime {
  wallMs: number;
  slices: number;
  /** Mean device milliseconds per stage, rank and slice (with timings; empty otherwise). */
  stageMs: Record<string, number>;
}

export interface Series {
  /** Bytes per bucket and rank. */
  bytes: number;
  /** The pipeline, or for the reference loop the pipeline whose program it re-issues. */
  pipeline: string;
  kind: 'pipeline' | 'reference';
  /** Bytes per rank all-reduced in one run. */
  runBytes: number;
  runs: Run[];
}

/** Receives every stage timing of the timed pipeline runs, with the pipeline's name. */
export type TimingSink = (pipeline: string, timing: StageTiming) => void;

export interface Subject {
  pipeline: string;
  kind: Series['kind'];
  world: World;
  /** Runs `iters` iterations; the reference loop also reports its own wall time and host time. */
  run(iters: number): Promise<{ slices: number; own?: { wallMs: number; host: HostTime } }>;
}

/**
 * Measures every pipeline at every size. With `connect`, every rank of the job runs this, one world per
 * pipeline (each with its own store port: the job's plus its index); `rank` is this process's first global rank
 * (0 without `connect`), `reporter` is true on rank 0 alone, and `o.machines` / `o.devicesPerMachine` are set
 * from the job.
 */
export async function measure(o: BenchOptions, sink?: TimingSink): Promise<{ series: Series[]; rank: number; reporter: boolean }> {
  const record = o.timings || sink !== undefined;
  const worlds = new Map<string, World>();
  const storePort = o.connect ? jobFromEnv(process.env).storePort : 0;
  try {
    for (const [i, name] of o.pipelines.entries()) {
      const options = {
        backend: o.backend,
        pipeline: pipelines[name]!,
        timings: record,
        ...(o.memoryBytes !== undefined ? { memoryBytes: o.memoryBytes } : {}),
        ...(o.parallelism !== undefined ? { parallelism: o.parallelism } : {}),
        ...(o.sliceBytes !== undefined ? { sliceBytes: o.sliceBytes } : {}),
      };
      const world = o.connect
        ? await connect({ ...options, checkCalls: o.checkCalls, job: { storePort: storePort + i } })
        : await simulate({ ...options, machines: o.machines, devicesPerMachine: o.devicesPerMachine });
      worlds.set(name, world);
      o.machines = world.topology.machines;
      o.devicesPerMachine = world.topology.devicesPerMachine;
    }
    const series: Series[] = [];
    // The JIT's warmth is the process's: only the first size warms up until steady.
    for (const [i, bytes] of o.sizes.entries()) series.push(...(await measureSize(i === 0 ? o : { ...o, warmupMs: 0 }, worlds, bytes, record, sink)));
    const rank = [...worlds.values()][0]!.devices[0]!.rank;
    return { series, rank, reporter: rank === 0 };
  } finally {
    for (const world of worlds.values()) await world.close();
  }
}

async function measureSize(o: BenchOptions, worlds: ReadonlyMap<string, World>, bytes: number, record: boolean, sink?: TimingSink): Promise<Series[]> {
  const n = Math.floor(bytes / elementSize(o.dtype));
  const filled = new Map([...worlds].map(([name, world]) => [name, fill(world, o, n)]));
  try {
    const subjects = [...worlds].map(([pipeline, world]): Subject => ({
      pipeline,
      kind: 'pipeline',
      world,
      run: (iters) => iterate(world, filled.get(pipeline)!, o, iters),
    }));
    for (const [pipeline, world] of worlds) {
      subjects.push({
        pipeline,
        kind: 'reference',
        world,
        run: async (iters) => {
          const r = await world.referenceLoop(filled.get(pipeline)!, { op: o.op, iterations: iters });
          return { slices: r.slicesPerIteration * iters, own: { wallMs: r.wallMs, host: r.host } };
        },
      });
    }
    // The native loop needs no JIT warm-up, and each of its runs captures one iteration through the engine first.
    for (const s of subjects) {
      await warm(s, s.kind === 'pipeline' ? o : { warmup: o.warmup, warmupSlices: 0, warmupMs: 0 }, (stop) => everyRank(s.world, stop));
    }
    const runs = subjects.map((): Run[] => []);
    for (let r = 0; r < o.repeat; r++) {
      for (const [i, s] of subjects.entries()) runs[i]!.push(await timed(s, o.iters, record && s.kind === 'pipeline', sink));
    }
    const runBytes = n * elementSize(o.dtype) * o.buckets * o.iters;
    return subjects.map((s, i) => ({ bytes: n * elementSize(o.dtype), pipeline: s.pipeline, kind: s.kind, runBytes, runs: runs[i]! }));
  } finally {
    for (const buckets of filled.values()) for (const bucket of buckets) for (const t of bucket) t.close();
  }
}

/** What the warm-up needs to know of the host: the time, and the JS thread's busy time so far (both in ms). */
export interface WarmClock {
  now(): number;
  jsBusyMs(): number;
}

const hostClock: WarmClock = {
  now: () => performance.now(),
  jsBusyMs: () => performance.eventLoopUtilization().active,
};

/** A window of warm-up rounds lasts at least this long; its JS busy time per slice is one reading. */
export const WARM_WINDOW_MS = 200;
/** The warm-up is steady once this many windows in a row are not 10% faster than the fastest before them. */
export const WARM_PATIENCE = 3;

/**
 * Untimed rounds of `warmup` iterations: at least one, more until `warmupSlices` slices ran, then more until the
 * JS thread's busy time per slice stops falling (the optimizing JIT takes seconds of calls on a slow host: runs
 * timed before then measure it, not the engine), for at most `warmupMs` (0: no such rounds). `agree` makes the
 * stop a decision of every rank (with --connect all of them must run the same all-reduces): it resolves true
 * when every rank would stop.
 */
export async function warm(
  s: Pick<Subject, 'run'>,
  o: Pick<BenchOptions, 'warmup' | 'warmupSlices' | 'warmupMs'>,
  agree: (stop: boolean) => Promise<boolean> = (stop) => Promise.resolve(stop),
  clock: WarmClock = hostClock,
): Promise<void> {
  if (o.warmup === 0) return;
  const began = clock.now();
  let total = 0;
  let fastest = Infinity;
  let flat = 0;
  let window = { start: began, busy: clock.jsBusyMs(), slices: 0 };
  for (;;) {
    const ran = (await s.run(o.warmup)).slices;
    if (ran === 0) return;
    total += ran;
    // Counted in slices alone, every rank stops at the same round without asking the others.
    if (o.warmupMs === 0) {
      if (total >= o.warmupSlices) return;
      continue;
    }
    window.slices += ran;
    const now = clock.now();
    if (now - window.start >= WARM_WINDOW_MS) {
      const busy = clock.jsBusyMs();
      const perSlice = (busy - window.busy) / window.slices;
      flat = perSlice < fastest * 0.9 ? 0 : flat + 1;
      fastest = Math.min(fastest, perSlice);
      window = { start: now, busy, slices: 0 };
    }
    const steady = flat >= WARM_PATIENCE || now - began >= o.warmupMs;
    if (await agree(total >= o.warmupSlices && steady)) return;
  }
}

/** `buckets` sets of one tensor per device, n elements each, filled with ones on the devices. */
function fill(world: World, o: BenchOptions, n: number): Tensor[][] {
  return Array.from({ length: o.buckets }, () =>
    world.devices.map((d) => {
      const buffer = new native.Buffer(d.native, n * elementSize(o.dtype));
      d.stream.fill(buffer, 0, n, o.dtype, 1);
      return new Tensor(d, buffer, o.dtype, n);
    }),
  );
}

/**
 * `iters` times: every bucket submitted at once and awaited, as a training step does; then the devices
 * synchronized once. Resolves with the slices done.
 */
async function iterate(world: World, buckets: readonly Tensor[][], o: BenchOptions, iters: number): Promise<{ slices: number }> {
  let slices = 0;
  for (let i = 0; i < iters; i++) {
    const counts = await Promise.all(buckets.map((b) => lastValueFrom(world.allReduce$(b, { op: o.op }).pipe(count()))));
    slices += counts.reduce((a, b) => a + b, 0);
  }
  await Promise.all(world.devices.map((d) => d.sync()));
  return { slices };
}

async function timed(s: Subject, iters: number, record: boolean, sink?: TimingSink): Promise<Run> {
  await Promise.all(s.world.devices.map((d) => d.sync()));
  // Across processes every rank starts together (in one process the barrier resolves at once).
  await s.world.barrier();
  const stages = new Map<string, { ms: number; count: number }>();
  const subscription = record
    ? s.world.timings$.subscribe((t) => {
        const sum = stages.get(t.stage) ?? { ms: 0, count: 0 };
        sum.ms += t.ms;
        sum.count++;
        stages.set(t.stage, sum);
        sink?.(s.pipeline, t);
      })
    : null;
  const t0 = performance.now();
  const meter = hostMeter();
  const result = await s.run(iters);
  const region = { wallMs: performance.now() - t0, host: meter() };
  subscription?.unsubscribe();
  const { wallMs, host } = result.own ?? region;
  const [slowestWall, busiestJs, busiestLoop, busiestJsCpu, busiestCpu] = await slowestRank(s.world, [
    wallMs,
    host.jsBusyMs,
    host.loopBusy,
    host.jsCpuMs,
    host.cpuMs,
  ]);
  return {
    wallMs: slowestWall!,
    slices: result.slices,
    jsBusyMs: busiestJs!,
    loopBusy: busiestLoop!,
    jsCpuMs: busiestJsCpu!,
    cpuMs: busiestCpu!,
    stageMs: Object.fromEntries([...stages].map(([stage, sum]) => [stage, sum.ms / sum.count])),
  };
}

/** Whether every rank of the job says yes (one all-reduce when ranks live in other processes). */
async function everyRank(world: World, yes: boolean): Promise<boolean> {
  const [anyNo] = await slowestRank(world, [yes ? 0 : 1]);
  return anyNo === 0;
}

/** The largest of each figure over the job's ranks: an all-reduce (max) when ranks live in other processes. */
async function slowestRank(world: World, figures: number[]): Promise<number[]> {
  const { machines, devicesPerMachine } = world.topology;
  if (world.devices.length === machines * devicesPerMachine) return figures;
  const t = await world.devices[0]!.upload(Float64Array.from(figures));
  try {
    await world.allReduce([t], { op: 'max' });
    return Array.from((await t.download()) as Float64Array);
  } finally {
    t.close();
  }
}
