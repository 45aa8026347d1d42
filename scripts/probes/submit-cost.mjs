// Probe: time spent inside the native Queue.submit and want calls per slice (wall, hrtime around each call), and
// how many asks (want) found their record complete already, CPU backend, 64 float32 per rank, batches of B
// all-reduces (default 8). Usage: node scripts/probes/submit-cost.mjs [machines] [devices] [B]
import { simulate } from '../../dist/src/index.js';
import { runtimeOverridingQueue } from '../../dist/test/helpers/queue.js';
const [M, D, B] = [Number(process.argv[2] ?? 2), Number(process.argv[3] ?? 2), Number(process.argv[4] ?? 8)];
let submitNs = 0n, submits = 0, wantNs = 0n, wants = 0, opsLen = 0, wantsDone = 0;
const runtime = runtimeOverridingQueue((q) => ({
  submit: (ops, length) => { const t = process.hrtime.bigint(); q.submit(ops, length); submitNs += process.hrtime.bigint() - t; submits++; opsLen += length; },
  want: (s, seq) => { const t = process.hrtime.bigint(); const r = q.want(s, seq); wantNs += process.hrtime.bigint() - t; wants++; if (r >= seq) wantsDone++; return r; },
}));
const world = await simulate({ machines: M, devicesPerMachine: D, backend: 'cpu', runtime, pipeline: 'fairring' });
// B buckets of their own, as `bench` submits them (one bucket's jobs would run one after another).
const buckets = await Promise.all(Array.from({ length: B }, () => Promise.all(world.devices.map((d) => d.upload(new Float32Array(64).fill(1))))));
for (let i = 0; i < 1600 / B; i++) await Promise.all(buckets.map((tensors) => world.allReduce(tensors)));
submitNs = 0n; submits = 0; wantNs = 0n; wants = 0; opsLen = 0; wantsDone = 0;
const n = 64 * Math.ceil(2000 / 64); const t0 = performance.now();
for (let i = 0; i < n / B; i++) await Promise.all(buckets.map((tensors) => world.allReduce(tensors)));
const wall = (performance.now() - t0) * 1000 / n;
console.log(`${M}x${D}: wall ${wall.toFixed(1)} us/slice; submit ${(Number(submitNs) / 1000 / n).toFixed(1)} us/slice in ${(submits / n).toFixed(2)} calls (${(opsLen / submits).toFixed(0)} fields each); want ${(Number(wantNs) / 1000 / n).toFixed(1)} us/slice in ${(wants / n).toFixed(2)} calls, ${(wantsDone / n).toFixed(2)} of them for a record complete already`);
await world.close();
