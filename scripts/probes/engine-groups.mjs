// Probe (GPU machine): the engine alone, `fairring` at 2 x 1 on CUDA, N rounds of B buckets of S float32 per rank
// submitted at once (as the bench's 25 MiB x 64), for FAIRRING_NCCL_PROFILE's line at exit without the bench's
// native loop mixed in. Prints µs per slice, and per round when the buckets' all-reduces resolved (the first, the
// median gap between consecutive ones, the last). P sets the parallelism (default 8), MG the issuer's merge cap,
// BACKEND the backend (default cuda), MEM the world's memoryBytes.
// Usage: FAIRRING_NCCL_PROFILE=1 [P=n] [MG=n] [MEM=bytes] [BACKEND=cpu] node scripts/probes/engine-groups.mjs [floats] [buckets] [rounds]
import { simulate } from '../../dist/src/index.js';
import { nativeRuntime } from '../../dist/src/runtime/runtime.js';
import { mergeGroupsFor } from '../../dist/src/world/build.js';
// MG=n: the issuer merges at most n groups into one (the engine's default where every rank is local:
// mergeGroupsFor(parallelism)).
if (process.env.MG !== undefined) {
  const Queue = nativeRuntime.Queue;
  nativeRuntime.Queue = class extends Queue {
    constructor(backend, onProgress, mergeGroups) {
      super(backend, onProgress, mergeGroups > 1 ? Number(process.env.MG) : mergeGroups);
    }
  };
}
const [floats, buckets, rounds] = [Number(process.argv[2] ?? 6553600), Number(process.argv[3] ?? 64), Number(process.argv[4] ?? 5)];
const world = await simulate({ machines: 2, devicesPerMachine: 1, backend: process.env.BACKEND ?? 'cuda', pipeline: 'fairring', parallelism: Number(process.env.P ?? 8), ...(process.env.MEM ? { memoryBytes: Number(process.env.MEM) } : {}) });
const tensors = await Promise.all(Array.from({ length: buckets }, () => Promise.all(world.devices.map((d) => d.upload(new Float32Array(floats).fill(1))))));
await Promise.all(tensors.map((t) => world.allReduce(t)));
const t0 = performance.now();
const rows = [];
for (let r = 0; r < rounds; r++) {
  const s = performance.now();
  const done = await Promise.all(tensors.map((t) => world.allReduce(t).then(() => performance.now() - s)));
  done.sort((a, b) => a - b);
  const gaps = done.slice(1).map((d, i) => d - done[i]).sort((a, b) => a - b);
  rows.push(`first ${(done[0] * 1000).toFixed(0)} us, gap ${(gaps[gaps.length >> 1] * 1000).toFixed(0)} us median ${(gaps.at(-1) * 1000).toFixed(0)} max, last ${(done.at(-1) * 1000).toFixed(0)} us`);
}
console.log(`engine: ${((performance.now() - t0) * 1000 / rounds / buckets).toFixed(1)} us per bucket (${floats} float32, ${buckets} buckets, ${rounds} rounds)`);
console.log(`P=${process.env.P ?? 8} MG=${process.env.MG ?? mergeGroupsFor(Number(process.env.P ?? 8))} rounds: ${rows.slice(0, 3).join(' | ')}`);
await world.close();
