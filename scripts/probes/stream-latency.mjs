// Probe (GPU machine): how much of the gap between a bucket stream and its native loop is the host's round trip
// between iterations. K buckets of S MiB per iteration, `fairring`, float32 of ones: (loop) world.referenceLoop
// over the K buckets; (awaited) each iteration's K all-reduces awaited before the next, as `bench` runs them;
// (two sets, 2 in flight) two sets of K buckets alternating, the next iteration submitted before the last is
// over, so no round trip stands between iterations. Medians of µs per iteration over `rounds` rounds of N.
// Usage: [BACKEND=cpu] node scripts/probes/stream-latency.mjs <machines> <devices> <MiB> <K> <N> <rounds>
import { performance } from 'node:perf_hooks';
import { simulate } from '../../dist/src/index.js';
import { timeWays } from './rounds.mjs';
const [M, D, mib, K, N, rounds] = process.argv.slice(2).map(Number);
const world = await simulate({ machines: M, devicesPerMachine: D, backend: process.env.BACKEND ?? 'cuda', pipeline: 'fairring' });
const n = Math.round((mib * 1024 * 1024) / 4);
const set = () => Promise.all(Array.from({ length: K }, () => Promise.all(world.devices.map((d) => d.upload(new Float32Array(n).fill(1))))));
const A = await set();
const B = await set();
const iteration = (buckets) => Promise.all(buckets.map((tensors) => world.allReduce(tensors)));
const ways = {
  loop: async () => (await world.referenceLoop(A, { iterations: N })).wallMs,
  awaited: async () => {
    const t0 = performance.now();
    for (let i = 0; i < N; i++) await iteration(A);
    return performance.now() - t0;
  },
  'two sets, 2 in flight': async () => {
    const t0 = performance.now();
    let last = Promise.resolve();
    for (let i = 0; i < N; i++) {
      const p = iteration(i % 2 === 0 ? A : B);
      await last;
      last = p;
    }
    await last;
    return performance.now() - t0;
  },
};
const sync = () => Promise.all(world.devices.map((d) => d.sync()));
await timeWays(ways, { rounds, iterations: N, sync, label: `${M}x${D} ${K} x ${mib} MiB` });
await world.close();
