// Probe (any machine): bytes the JS thread allocates per slice, CPU backend, `fairring`, B buckets of S float32
// per rank submitted at once, R rounds after 20 untimed ones; V8's sampling heap profiler with the objects later
// collected kept, so it counts garbage too. Prints the total and the functions allocating most, per slice.
// Usage: node scripts/probes/alloc-per-slice.mjs <machines> <devices> <floats> <buckets> <rounds> [rows]
import { Session } from 'node:inspector/promises';
import { simulate } from '../../dist/src/index.js';
const [M, D, floats, buckets, rounds, rows = 20] = process.argv.slice(2).map(Number);
const world = await simulate({ machines: M, devicesPerMachine: D, pipeline: 'fairring' });
const tensors = await Promise.all(Array.from({ length: buckets }, () => Promise.all(world.devices.map((d) => d.upload(new Float32Array(floats).fill(1))))));
for (let r = 0; r < 20; r++) await Promise.all(tensors.map((t) => world.allReduce(t)));
const session = new Session();
session.connect();
await session.post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
for (let r = 0; r < rounds; r++) await Promise.all(tensors.map((t) => world.allReduce(t)));
const { profile } = await session.post('HeapProfiler.stopSampling');
const slices = buckets * rounds;
const byFunction = new Map();
const walk = (node) => {
  const f = node.callFrame;
  const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}`;
  byFunction.set(key, (byFunction.get(key) ?? 0) + node.selfSize);
  for (const child of node.children) walk(child);
};
walk(profile.head);
const total = [...byFunction.values()].reduce((a, b) => a + b, 0);
console.log(`${M}x${D}: ${(total / slices).toFixed(0)} B allocated per slice`);
for (const [key, bytes] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, rows)) console.log(`${(bytes / slices).toFixed(0).padStart(8)} B  ${key}`);
await world.close();
