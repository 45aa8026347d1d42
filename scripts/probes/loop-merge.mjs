// Probe (GPU machine): the native loop with the CUDA issuer's merge cap forced (MERGE, default: the world's own),
// its replay call (the program's check on the JS thread, before anything is issued) timed apart; MEM sets the
// world's memoryBytes (at one device per machine it bounds the slice). Per round, one
// iteration and N iterations; µs per iteration, with and without the replay call, and busbw. For the loop's
// single-iteration gap to fr.cu at 2 x 1 (docs/engine.md, "The loop as a yardstick").
// Usage: [MERGE=1] [MEM=bytes] node scripts/probes/loop-merge.mjs <machines> <devices> <bytes> <K> <N> <rounds>
import { performance } from 'node:perf_hooks';
import { simulate } from '../../dist/src/index.js';
import { nativeRuntime } from '../../dist/src/runtime/runtime.js';
const [M, D, bytes, K, N, rounds] = process.argv.slice(2).map(Number);
const R = M * D;
const merge = process.env.MERGE === undefined ? undefined : Number(process.env.MERGE);
const Native = nativeRuntime.Queue;
const runtime = merge === undefined ? nativeRuntime : { ...nativeRuntime, Queue: class extends Native { constructor(b, cb) { super(b, cb, merge); } } };
const world = await simulate({ machines: M, devicesPerMachine: D, backend: process.env.BACKEND ?? 'cuda', pipeline: 'fairring', runtime, ...(process.env.MEM === undefined ? {} : { memoryBytes: Number(process.env.MEM) }) });
const n = Math.round(bytes / 4);
const A = await Promise.all(Array.from({ length: K }, () => Promise.all(world.devices.map((d) => d.upload(new Float32Array(n).fill(1))))));
const program = world.ctx.program;
const replay = program.replay.bind(program);
let replayMs = 0;
program.replay = (c, it) => {
  const t = performance.now();
  const r = replay(c, it);
  replayMs = performance.now() - t;
  return r;
};
const busbw = (us) => ((K * bytes) / (us * 1e3)) * ((2 * (R - 1)) / R);
const sync = () => Promise.all(world.devices.map((d) => d.sync()));
const rows = { 1: [], [N]: [] };
await world.referenceLoop(A, { iterations: 1 });
for (let r = 0; r < rounds; r++) {
  for (const it of [1, N]) {
    await sync();
    const { wallMs } = await world.referenceLoop(A, { iterations: it });
    rows[it].push([(wallMs * 1000) / it, ((wallMs - replayMs) * 1000) / it]);
  }
}
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
for (const [it, t] of Object.entries(rows)) {
  const all = median(t.map((x) => x[0]));
  const issued = median(t.map((x) => x[1]));
  console.log(`${M}x${D} ${K} x ${bytes} B, merge ${merge ?? 'default'}, memoryBytes ${process.env.MEM ?? 'default'}, loop ${it} iteration(s): ${all.toFixed(0)} us per iteration (${busbw(all).toFixed(1)} GB/s), without the replay call ${issued.toFixed(0)} (${busbw(issued).toFixed(1)} GB/s)`);
}
await world.close();
