// Probe (development machine): the JS thread's own CPU time per slice (utime + stime of the main thread, from
// /proc) beside the event loop's active time (performance.eventLoopUtilization, what `bench` reports as JS
// busy), and the Queue's progress reports (callbacks into JS) per slice, CPU backend, `fairring`, B buckets of
// S float32 per rank submitted at once, R rounds. Reports per slice tell whether a machine whose threads wake
// each other faster hands JS more, smaller reports for the same work.
// Usage: node scripts/probes/js-cpu.mjs <machines> <devices> <floats> <buckets> <rounds>
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { simulate } from '../../dist/src/index.js';
import { nativeRuntime } from '../../dist/src/runtime/runtime.js';
const [M, D, floats, buckets, rounds] = process.argv.slice(2).map(Number);
const tick = 100; // USER_HZ: /proc reports CPU time in 1/100 s
const jsCpuMs = () => {
  const f = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / tick;
};
let reports = 0;
const NativeQueue = nativeRuntime.Queue;
nativeRuntime.Queue = function CountingQueue(backend, onProgress, mergeGroups) {
  return new NativeQueue(backend, (...args) => {
    reports++;
    return onProgress(...args);
  }, mergeGroups);
};
const world = await simulate({ machines: M, devicesPerMachine: D, pipeline: 'fairring' });
const tensors = await Promise.all(Array.from({ length: buckets }, () => Promise.all(world.devices.map((d) => d.upload(new Float32Array(floats).fill(1))))));
await Promise.all(tensors.map((t) => world.allReduce(t)));
const elu = performance.eventLoopUtilization();
const cpu0 = jsCpuMs(), t0 = performance.now(), reports0 = reports;
for (let r = 0; r < rounds; r++) await Promise.all(tensors.map((t) => world.allReduce(t)));
const wall = performance.now() - t0, active = performance.eventLoopUtilization(elu).active, js = jsCpuMs() - cpu0;
const n = buckets * rounds;
console.log(`${M}x${D} ${floats * 4} B x ${buckets} x ${rounds}: wall ${(wall * 1000 / n).toFixed(1)} us/bucket, event loop active ${(active * 1000 / n).toFixed(1)}, JS thread CPU ${(js * 1000 / n).toFixed(1)} (10 ms ticks), progress reports ${((reports - reports0) / n).toFixed(2)} per bucket`);
await world.close();
