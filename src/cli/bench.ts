// Bus bandwidth of pipelines through the same engine, interleaved in one run (nccl-tests' definition:
// busbw = algbw * 2(n-1)/n, algbw = bytes per rank / time). Buffers are filled on the device, not uploaded.
import type { BackendName, DType } from '../native.js';
import { native } from '../native.js';
import { Tensor } from '../runtime/device.js';
import { elementSize } from '../runtime/dtype.js';
import { simulate } from '../world/simulate.js';
import type { World } from '../world/world.js';
import type { PipelineSpec } from '../engine/pipeline.js';
import type { StageTiming } from '../engine/engine.js';
import { fairring, local, nccl } from '../../pipelines/index.js';

export interface BenchOptions {
  backend: BackendName;
  machines: number;
  devicesPerMachine: number;
  pipelines: string[];
  bytes: number;
  buckets: number;
  iters: number;
  warmup: number;
  sliceBytes?: number;
  dtype: DType;
  /** Also record per-stage device times (timing events cost a little). */
  timings?: boolean;
}

const known: Record<string, PipelineSpec> = { fairring, local, nccl };

export interface BenchRow {
  pipeline: string;
  medianMs: number;
  algbw: number;
  busbw: number;
  samples: number[];
  /** Mean milliseconds per stage, per rank and slice, over the timed iterations (with `timings`). */
  stages: Map<string, number>;
}

export async function runBench(o: BenchOptions): Promise<BenchRow[]> {
  const ranks = o.machines * o.devicesPerMachine;
  const n = Math.floor(o.bytes / elementSize(o.dtype));
  const worlds: Array<{ name: string; world: World; buckets: Tensor[][] }> = [];
  try {
    for (const name of o.pipelines) {
      const pipeline = known[name];
      if (!pipeline) throw new Error(`unknown pipeline ${name}; known: ${Object.keys(known).join(', ')}`);
      const world = await simulate({
        backend: o.backend,
        machines: o.machines,
        devicesPerMachine: o.devicesPerMachine,
        pipeline,
        ...(o.sliceBytes !== undefined ? { sliceBytes: o.sliceBytes } : {}),
      });
      const buckets = Array.from({ length: o.buckets }, () =>
        world.devices.map((d) => {
          const buffer = new native.Buffer(d.native, n * elementSize(o.dtype));
          d.stream.fill(buffer, 0, n, o.dtype, 1);
          return new Tensor(d, buffer, o.dtype, n);
        }),
      );
      worlds.push({ name, world, buckets });
    }
    const samples = new Map<string, number[]>(worlds.map((w) => [w.name, []]));
    const stageSums = new Map<string, Map<string, { ms: number; count: number }>>(worlds.map((w) => [w.name, new Map()]));
    for (let iter = 0; iter < o.warmup + o.iters; iter++) {
      for (const w of worlds) {
        await Promise.all(w.world.devices.map((d) => d.sync()));
        const timed = iter >= o.warmup;
        const sums = stageSums.get(w.name)!;
        const sub =
          o.timings && timed
            ? w.world.timings$.subscribe((t: StageTiming) => {
                const s = sums.get(t.stage) ?? { ms: 0, count: 0 };
                s.ms += t.ms;
                s.count++;
                sums.set(t.stage, s);
              })
            : null;
        const t0 = performance.now();
        await Promise.all(w.buckets.map((b) => w.world.allReduce(b)));
        await Promise.all(w.world.devices.map((d) => d.sync()));
        const ms = performance.now() - t0;
        sub?.unsubscribe();
        if (timed) samples.get(w.name)!.push(ms);
      }
    }
    return worlds.map((w) => {
      const s = [...samples.get(w.name)!].sort((a, b) => a - b);
      const medianMs = s[Math.floor(s.length / 2)]!;
      const algbw = (o.buckets * n * elementSize(o.dtype)) / (medianMs / 1000) / 1e9;
      const stages = new Map([...stageSums.get(w.name)!].map(([stage, s]) => [stage, s.ms / s.count]));
      return { pipeline: w.name, medianMs, algbw, busbw: (algbw * 2 * (ranks - 1)) / ranks, samples: samples.get(w.name)!, stages };
    });
  } finally {
    for (const w of worlds) {
      for (const b of w.buckets) b.forEach((t) => t.close());
      await w.world.close();
    }
  }
}

export function benchTable(o: BenchOptions, rows: BenchRow[]): string {
  const info = native.info();
  const card = o.backend === 'cuda' ? (info.cuda.devices[0]?.name ?? '?') : 'CPU backend';
  const head =
    `${card}, ${o.machines}x${o.devicesPerMachine} (one process), ${o.buckets} x ${(o.bytes / 2 ** 20).toFixed(2)} MiB ${o.dtype}` +
    `${o.sliceBytes !== undefined ? `, slices of ${o.sliceBytes} bytes` : ''}, median of ${o.iters}`;
  const lines = ['| pipeline | median ms | algbw GB/s | busbw GB/s |', '|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${r.pipeline} | ${r.medianMs.toFixed(2)} | ${r.algbw.toFixed(2)} | ${r.busbw.toFixed(2)} |`);
  const stageLines = rows
    .filter((r) => r.stages.size > 0)
    .map((r) => `${r.pipeline} mean ms per stage, rank and slice: ${[...r.stages].map(([s, ms]) => `${s} ${ms.toFixed(3)}`).join(', ')}`);
  return [head, '', ...lines, ...(stageLines.length ? ['', ...stageLines] : [])].join('\n');
}
