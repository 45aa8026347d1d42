// Probe (GPU machine): is the native loop short of fr.cu at 2 x 1 because of its slot count? fr.cu stages every
// slice of a run in its own slot (at D = 1); the engine and its loop reuse `parallelism` slots. For each
// parallelism in P (memoryBytes sized to fit it): the loop replaying one iteration of K buckets (iterations 1 and
// N), the engine awaiting N iterations, and how long the JS thread spent in the replay call itself (its check
// of the captured program, before anything is issued). µs per iteration, busbw in GB/s (2(R-1)/R x algbw).
// Usage: P="8 64" [BACKEND=cpu] node scripts/probes/loop-slots.mjs <machines> <devices> <MiB> <K> <N> <rounds>
import { performance } from 'node:perf_hooks';
import { simulate } from '../../dist/src/index.js';
const [M, D, mib, K, N, rounds] = process.argv.slice(2).map(Number);
const R = M * D;
const busbw = (us) => ((K * mib * 1048576) / (us * 1e3)) * ((2 * (R - 1)) / R);
for (const P of (process.env.P ?? '8 64').split(' ').map(Number)) {
  const world = await simulate({ machines: M, devicesPerMachine: D, backend: process.env.BACKEND ?? 'cuda', pipeline: 'fairring', parallelism: P, memoryBytes: P * Math.max(32, 2 * mib) * 1048576 });
  const n = Math.round((mib * 1048576) / 4);
  const A = await Promise.all(Array.from({ length: K }, () => Promise.all(world.devices.map((d) => d.upload(new Float32Array(n).fill(1))))));
  const program = world.ctx.program;
  const replay = program.replay.bind(program);
  const replayCalls = [];
  program.replay = (c, it) => {
    const t = performance.now();
    const r = replay(c, it);
    replayCalls.push(performance.now() - t);
    return r;
  };
  const sync = () => Promise.all(world.devices.map((d) => d.sync()));
  const ways = {
    'loop, 1 iteration': async () => ((await world.referenceLoop(A, { iterations: 1 })).wallMs * 1000),
    [`loop, ${N} iterations`]: async () => ((await world.referenceLoop(A, { iterations: N })).wallMs * 1000) / N,
    [`engine, ${N} iterations awaited`]: async () => {
      const t0 = performance.now();
      for (let i = 0; i < N; i++) await Promise.all(A.map((t) => world.allReduce(t)));
      return ((performance.now() - t0) * 1000) / N;
    },
  };
  const times = Object.fromEntries(Object.keys(ways).map((k) => [k, []]));
  for (const f of Object.values(ways)) await f();
  replayCalls.length = 0;
  for (let r = 0; r < rounds; r++) {
    for (const [k, f] of Object.entries(ways)) {
      await sync();
      times[k].push(await f());
    }
  }
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const { pools } = world.memory();
  console.log(`${M}x${D} ${K} x ${mib} MiB, parallelism ${P}: in flight ${pools.inflight.size} (high-water ${pools.inflight.highWater}), padding ${pools.padding.size}, staging ${pools.staging.size} slots`);
  for (const [k, t] of Object.entries(times)) {
    console.log(`  ${k}: ${median(t).toFixed(0)} us per iteration (${Math.min(...t).toFixed(0)}-${Math.max(...t).toFixed(0)}), busbw ${busbw(median(t)).toFixed(1)} GB/s`);
  }
  console.log(`  replay call on the JS thread: median ${median(replayCalls).toFixed(3)} ms (${Math.min(...replayCalls).toFixed(3)}-${Math.max(...replayCalls).toFixed(3)})`);
  await world.close();
}
