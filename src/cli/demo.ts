// The CPU demo: 2 simulated machines x 4 devices all-reduce a stream of gradient buckets through the five
// Fairring stages, as DDP would submit them; a cli-progress bar over the slices on a terminal (nothing when
// piped), every bucket checked against float64 host sums, and a per-stage timing table.
import { lastValueFrom, merge, tap } from 'rxjs';
import { sliceProgress } from './progress.js';
import { simulate } from '../world/simulate.js';
import type { StageTiming } from '../world/engine.js';
import type { PipelineSpec } from '../engine/pipeline.js';

export interface DemoOptions {
  machines?: number;
  devicesPerMachine?: number;
  buckets?: number;
  bucketElements?: number;
  sliceBytes?: number;
  /** Default: the world's own (`local` on one machine, `fairring` otherwise). */
  pipeline?: PipelineSpec;
}

/** The demo keeps buckets x elements float32 values per rank on the host: the command line's bounds. */
export const MAX_DEMO_BUCKETS = 1024;
export const MAX_DEMO_ELEMENTS = 1 << 24;

export const demoDefaults = { machines: 2, devicesPerMachine: 4, buckets: 16, bucketElements: (1 << 18) + 3, sliceBytes: 256 << 10 } as const;

export async function runDemo(options: DemoOptions = {}): Promise<void> {
  const machines = options.machines ?? demoDefaults.machines;
  const perMachine = options.devicesPerMachine ?? demoDefaults.devicesPerMachine;
  const buckets = options.buckets ?? demoDefaults.buckets;
  const n = options.bucketElements ?? demoDefaults.bucketElements;
  const world = await simulate({
    machines,
    devicesPerMachine: perMachine,
    sliceBytes: options.sliceBytes ?? demoDefaults.sliceBytes,
    ...(options.pipeline !== undefined ? { pipeline: options.pipeline } : {}),
  });
  try {
    console.log(
      `${machines} machines x ${perMachine} devices simulated on the CPU backend (pipeline ${world.pipelineName}); ` +
        `${buckets} buckets of ${n} float32, slices of ${world.layout.sliceBytes} bytes`,
    );
    const timings = new Map<string, { ms: number; bytes: number; count: number }>();
    const sub = world.timings$.subscribe((t: StageTiming) => {
      const s = timings.get(t.stage) ?? { ms: 0, bytes: 0, count: 0 };
      s.ms += t.ms;
      s.bytes += t.bytes;
      s.count++;
      timings.set(t.stage, s);
    });

    const inputs = Array.from({ length: buckets }, () =>
      world.devices.map(() => Float32Array.from({ length: n }, () => Math.random() * 2 - 1)),
    );
    const tensors = await Promise.all(inputs.map((bucket) => Promise.all(world.devices.map((d, i) => d.upload(bucket[i]!)))));
    const slicesPerBucket = Math.ceil((n * 4) / world.layout.sliceBytes);
    const progress = sliceProgress(buckets * slicesPerBucket);
    const started = performance.now();
    try {
      await lastValueFrom(merge(...tensors.map((t) => world.allReduce$(t))).pipe(tap(() => progress.tick())), { defaultValue: undefined });
    } finally {
      progress.stop();
    }
    const seconds = (performance.now() - started) / 1000;
    sub.unsubscribe();

    let worst = 0;
    for (const [b, bucket] of tensors.entries()) {
      const outs = await Promise.all(bucket.map((t) => t.download()));
      for (let i = 0; i < n; i++) {
        let want = 0;
        for (const x of inputs[b]!) want += x[i]!;
        for (const o of outs) worst = Math.max(worst, Math.abs((o as Float32Array)[i]! - want));
      }
    }
    const ranks = machines * perMachine;
    if (worst > 1e-5 * ranks) throw new Error(`verification failed: max abs error ${worst}`);
    console.log(`verified ${buckets} buckets on ${ranks} ranks: max abs error ${worst.toExponential(2)} against float64 host sums`);
    const bytes = buckets * n * 4;
    const amount = bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : `${(bytes / 2 ** 10).toFixed(1)} KiB`;
    console.log(`${amount} per rank in ${(seconds * 1000).toFixed(1)} ms: algbw ${(bytes / seconds / 1e9).toFixed(3)} GB/s (CPU backend)`);
    console.log(timingTable(timings));
  } finally {
    await world.close();
  }
}

function timingTable(timings: Map<string, { ms: number; bytes: number; count: number }>): string {
  const rows = [['stage', 'records', 'mean ms', 'total ms', 'GB/s']];
  for (const [stage, s] of timings) {
    if (s.count === 0) continue;
    rows.push([stage, String(s.count), (s.ms / s.count).toFixed(3), s.ms.toFixed(1), s.ms > 0 && s.bytes > 0 ? (s.bytes / (s.ms / 1000) / 1e9).toFixed(3) : '-']);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  // A stage's time on the CPU executor includes waiting for its peers, and stages overlap: the totals add up to
  // more than the run's wall time.
  return ['per-stage wall time on the CPU executor (waits for peers included; stages overlap), per rank and slice, and its total over ranks and slices:', ...rows.map((r) => r.map((v, c) => v.padStart(widths[c]!)).join('  '))].join('\n');
}
