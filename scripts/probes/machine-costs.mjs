// Probe (any machine): what this machine charges for the calls the CPU backend's hot path makes, to tell a
// slower machine from slower code: a clock read (performance.now, process.hrtime), a syscall (fstat), a loop of
// small JS objects and Map lookups, items through an RxJS chain of five operators, a cache line handed between
// two spinning threads (what shared state between the JS thread and the addon's threads costs), and a cross-thread wake-up round trip (Atomics.wait/notify between two
// threads, a futex wake each way). Nanoseconds per operation. Usage: node scripts/probes/machine-costs.mjs
import { Worker } from 'node:worker_threads';
import fs from 'node:fs';
import { map, filter, range } from 'rxjs';
function per(n, f) { const t = process.hrtime.bigint(); f(n); return Number(process.hrtime.bigint() - t) / n; }
const r = {};
r.perfNowNs = per(2e6, (n) => { let s = 0; for (let i = 0; i < n; i++) s += performance.now(); return s; });
r.hrtimeNs = per(2e6, (n) => { let s = 0n; for (let i = 0; i < n; i++) s += process.hrtime.bigint(); return s; });
const fd = fs.openSync('/dev/null', 'r');
r.fstatNs = per(2e5, (n) => { for (let i = 0; i < n; i++) fs.fstatSync(fd); });
r.jsLoopNs = per(1e6, (n) => { const m = new Map(); let s = 0; for (let i = 0; i < n; i++) { m.set(i & 1023, { a: i, b: [i, i + 1] }); s += m.get((i * 7) & 1023)?.a ?? 0; } return s; });
r.rxjsItemNs = per(1e6, (n) => {
  let s = 0;
  range(0, n)
    .pipe(map((i) => ({ i, k: i & 7 })), filter((x) => x.k !== 9), map((x) => x.i + x.k), map((v) => [v]), map((a) => a[0]))
    .subscribe((v) => (s += v));
  return s;
});
const sab = new SharedArrayBuffer(8); const a = new Int32Array(sab);
const w = new Worker(`const { workerData } = require('node:worker_threads'); const a = new Int32Array(workerData);
  for (;;) { Atomics.wait(a, 0, 0); if (a[1] === 1) break; Atomics.store(a, 0, 0); Atomics.notify(a, 0); }`, { eval: true, workerData: sab });
await new Promise((res) => setTimeout(res, 200));
const rounds = 20000;
const t = process.hrtime.bigint();
for (let i = 0; i < rounds; i++) { Atomics.store(a, 0, 1); Atomics.notify(a, 0); Atomics.wait(a, 0, 1); }
r.wakeRoundTripNs = Number(process.hrtime.bigint() - t) / rounds;
a[1] = 1; Atomics.store(a, 0, 1); Atomics.notify(a, 0); await w.terminate();
// Two threads spinning on one shared counter, each adding 1 when it is its turn (even: this thread, odd: the
// other): every handoff moves the cache line from one core to the other.
const line = new Int32Array(new SharedArrayBuffer(64));
const handoffs = 200000;
const spinner = new Worker(`const { workerData } = require('node:worker_threads'); const c = new Int32Array(workerData.sab);
  for (let i = 1; i < workerData.n; i += 2) { while (Atomics.load(c, 0) !== i) {} Atomics.store(c, 0, i + 1); }`,
  { eval: true, workerData: { sab: line.buffer, n: handoffs } });
await new Promise((res) => spinner.once('online', res));
const t1 = process.hrtime.bigint();
for (let i = 0; i < handoffs; i += 2) { while (Atomics.load(line, 0) !== i) {} Atomics.store(line, 0, i + 1); }
while (Atomics.load(line, 0) !== handoffs) {}
r.cacheLineHandoffNs = Number(process.hrtime.bigint() - t1) / handoffs;
await spinner.terminate();
for (const [k, v] of Object.entries(r)) console.log(`${k} ${v.toFixed(1)}`);
