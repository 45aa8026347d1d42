// Reads a FAIRRING_NCCL_PROFILE_LOG file (the issuer's batches and NCCL groups) and prints how busy the issuer
// was: its span, the share of it inside batches and inside groups, and the gaps between batches (when the
// issuer had nothing queued). Usage: node scripts/probes/issuer-timeline.mjs <log.csv> [skip_ms]
// skip_ms leaves out the start (the world's first all-reduce, communicators connecting).
import { readFileSync } from 'node:fs';
const [file, skip = '0'] = process.argv.slice(2);
const rows = readFileSync(file, 'utf8').split('\n').filter((l) => l && !l.startsWith('#') && !l.startsWith('kind'))
  .map((l) => { const [kind, at, dur, n] = l.split(','); return { kind, at: Number(at), dur: Number(dur), n: Number(n) }; })
  .filter((r) => r.at >= Number(skip) * 1000);
const batches = rows.filter((r) => r.kind === 'batch');
const groups = rows.filter((r) => r.kind === 'group');
if (batches.length < 2) { console.log('fewer than two batches'); process.exit(0); }
const t0 = batches[0].at, t1 = batches.at(-1).at + batches.at(-1).dur;
const span = t1 - t0;
const busy = batches.reduce((a, b) => a + b.dur, 0);
const inGroups = groups.reduce((a, g) => a + g.dur, 0);
const gaps = batches.slice(1).map((b, i) => b.at - (batches[i].at + batches[i].dur)).sort((a, b) => a - b);
const pct = (q) => gaps[Math.min(gaps.length - 1, Math.floor(q * gaps.length))].toFixed(0);
const programs = batches.reduce((a, b) => a + b.n, 0);
console.log(`span ${(span / 1000).toFixed(1)} ms: ${batches.length} batches (${(programs / batches.length).toFixed(2)} programs each), busy ${(100 * busy / span).toFixed(0)}%, in NCCL groups ${(100 * inGroups / span).toFixed(0)}% (${groups.length} groups, ${(inGroups / Math.max(1, groups.length)).toFixed(0)} us each); gaps between batches ${pct(0.5)} us (50%), ${pct(0.9)} us (90%), ${gaps.at(-1).toFixed(0)} us max`);
// How much of the span had a group in flight, and two or more at once (groups of both stages overlapping).
const edges = groups.flatMap((g) => [[g.at, 1], [g.at + g.dur, -1]]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
let depth = 0, last = t0, one = 0, two = 0;
for (const [at, d] of edges) {
  const from = Math.max(last, t0), to = Math.min(at, t1);
  if (to > from) { if (depth >= 1) one += to - from; if (depth >= 2) two += to - from; }
  depth += d;
  last = at;
}
console.log(`groups in flight ${(100 * one / span).toFixed(0)}% of the span, two or more ${(100 * two / span).toFixed(0)}%`);
