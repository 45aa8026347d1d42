// Probe (GPU machine): what one all-reduce of one large bucket costs per iteration, against the native loop
// replaying it, `fairring`, float32 of ones: (loop) world.referenceLoop; (awaited) each all-reduce awaited before
// the next, as a training step does; (awaited + sync) and every device synchronized after it, as `bench` does;
// (same tensors, all at once) N submitted together (the engine holds each until the one before is over);
// (two sets, 2 in flight) alternating between two sets of tensors, the next submitted before the last is over.
// Medians of µs per iteration over `rounds` rounds of N iterations.
// Usage: [BACKEND=cpu] node scripts/probes/iteration-latency.mjs <machines> <devices> <MiB> <N> <rounds>
import { performance } from 'node:perf_hooks';
import { simulate } from '../../dist/src/index.js';
import { timeWays } from './rounds.mjs';
const [M, D, mib, N, rounds] = process.argv.slice(2).map(Number);
const world = await simulate({ machines: M, devicesPerMachine: D, backend: process.env.BACKEND ?? 'cuda', pipeline: 'fairring' });
const n = (mib * 1024 * 1024) / 4;
const set = () => Promise.all(world.devices.map((d) => d.upload(new Float32Array(n).fill(1))));
const A = await set();
const B = await set();
const sync = () => Promise.all(world.devices.map((d) => d.sync()));
const ways = {
  loop: async () => (await world.referenceLoop(A, { iterations: N })).wallMs,
  awaited: async () => {
    const t0 = performance.now();
    for (let i = 0; i < N; i++) await world.allReduce(A);
    return performance.now() - t0;
  },
  'awaited + sync': async () => {
    const t0 = performance.now();
    for (let i = 0; i < N; i++) {
      await world.allReduce(A);
      await sync();
    }
    return performance.now() - t0;
  },
  'same tensors, all at once': async () => {
    const t0 = performance.now();
    await Promise.all(Array.from({ length: N }, () => world.allReduce(A)));
    return performance.now() - t0;
  },
  'two sets, 2 in flight': async () => {
    const t0 = performance.now();
    let last = Promise.resolve();
    for (let i = 0; i < N; i++) {
      const p = world.allReduce(i % 2 === 0 ? A : B);
      await last;
      last = p;
    }
    await last;
    return performance.now() - t0;
  },
};
await timeWays(ways, { rounds, iterations: N, sync, label: `${M}x${D} ${mib} MiB` });
await world.close();
