// Probe: time spent inside the native Queue.submit and want calls per slice (wall, hrtime around each call), CPU
// backend, 64 float32 per rank, batches of 8 all-reduces. Usage: node scripts/probes/submit-cost.mjs [machines] [devices]
import { simulate } from '../../dist/src/index.js';
import { runtimeOverridingQueue } from '../../dist/test/helpers/queue.js';
const [M, D] = [Number(process.argv[2] ?? 2), Number(process.argv[3] ?? 2)];
let submitNs = 0n, submits = 0, wantNs = 0n, wants = 0, opsLen = 0;
const runtime = runtimeOverridingQueue((q) => ({
  submit: (ops, length) => { const t = process.hrtime.bigint(); q.submit(ops, length); submitNs += process.hrtime.bigint() - t; submits++; opsLen += length; },
  want: (s, seq) => { const t = process.hrtime.bigint(); const r = q.want(s, seq); wantNs += process.hrtime.bigint() - t; wants++; return r; },
}));
const world = await simulate({ machines: M, devicesPerMachine: D, backend: 'cpu', runtime, pipeline: 'fairring' });
const tensors = await Promise.all(world.devices.map((d) => d.upload(new Float32Array(64).fill(1))));
for (let i = 0; i < 200; i++) await Promise.all(Array.from({ length: 8 }, () => world.allReduce(tensors)));
submitNs = 0n; submits = 0; wantNs = 0n; wants = 0; opsLen = 0;
const n = 2000; const t0 = performance.now();
for (let i = 0; i < n / 8; i++) await Promise.all(Array.from({ length: 8 }, () => world.allReduce(tensors)));
const wall = (performance.now() - t0) * 1000 / n;
console.log(`${M}x${D}: wall ${wall.toFixed(1)} us/slice; submit ${(Number(submitNs) / 1000 / n).toFixed(1)} us/slice in ${(submits / n).toFixed(2)} calls (${(opsLen / submits).toFixed(0)} fields each); want ${(Number(wantNs) / 1000 / n).toFixed(1)} us/slice in ${(wants / n).toFixed(2)} calls`);
await world.close();
