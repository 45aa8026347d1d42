// Probe (GPU machine): the engine alone, `fairring` at 2 x 1 on CUDA, N rounds of B buckets of S float32 per rank
// submitted at once (as the bench's 25 MiB x 64), for FAIRRING_NCCL_PROFILE's line at exit without the bench's
// native loop mixed in. Prints µs per slice. Usage: FAIRRING_NCCL_PROFILE=1 node scripts/probes/engine-groups.mjs [floats] [buckets] [rounds]
import { simulate } from '../../dist/src/index.js';
const [floats, buckets, rounds] = [Number(process.argv[2] ?? 6553600), Number(process.argv[3] ?? 64), Number(process.argv[4] ?? 5)];
const world = await simulate({ machines: 2, devicesPerMachine: 1, backend: 'cuda', pipeline: 'fairring' });
const tensors = await Promise.all(Array.from({ length: buckets }, () => Promise.all(world.devices.map((d) => d.upload(new Float32Array(floats).fill(1))))));
await Promise.all(tensors.map((t) => world.allReduce(t)));
const t0 = performance.now();
for (let r = 0; r < rounds; r++) await Promise.all(tensors.map((t) => world.allReduce(t)));
console.log(`engine: ${((performance.now() - t0) * 1000 / rounds / buckets).toFixed(1)} us per bucket (${floats} float32, ${buckets} buckets, ${rounds} rounds)`);
await world.close();
