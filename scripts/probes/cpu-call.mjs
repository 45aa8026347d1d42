// Probe (any machine): one all-reduce of MiB per rank at 1 x 2 on the CPU backend (`fairring`: a reduce-scatter and
// an all-gather through the CPU communicators), awaited N times after 3 untimed: wall time and the JS thread's
// CPU per call. For the CPU communicators' staging buffer (docs/benchmarks.md, session 17).
// Usage: node scripts/probes/cpu-call.mjs <MiB> [N]
import { simulate, native } from '../../dist/src/index.js';
const mib = Number(process.argv[2] ?? 32);
const N = Number(process.argv[3] ?? 30);
const world = await simulate({ machines: 1, devicesPerMachine: 2, backend: 'cpu', pipeline: 'fairring' });
const n = mib * 262144;
const A = await Promise.all(world.devices.map((d) => d.upload(new Float32Array(n).fill(1))));
for (let i = 0; i < 3; i++) await world.allReduce(A);
const c0 = native.threadCpuMs();
const t0 = performance.now();
for (let i = 0; i < N; i++) await world.allReduce(A);
console.log(`${mib} MiB per rank: wall ${((performance.now() - t0) / N).toFixed(2)} ms per call, JS thread CPU ${((native.threadCpuMs() - c0) / N).toFixed(3)} ms`);
await world.close();
