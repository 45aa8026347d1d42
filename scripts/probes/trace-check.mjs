// Probe: reads a `bench --trace` file and says whether its events sit where the stages ran: per track, events
// that overlap (a stream runs one stage at a time, so none should, beyond a few microseconds); per slice and
// rank, stages that start before the one before them ended; and for each stage, how far apart the ranks'
// starts and ends of one slice are (a p2p or collective stage ends on its ranks at about the same time).
// Usage: node scripts/probes/trace-check.mjs <trace.json> [slack_us]
import { readFileSync } from 'node:fs';
const [file, slackArg = '5'] = process.argv.slice(2);
const slack = Number(slackArg);
const events = JSON.parse(readFileSync(file, 'utf8')).traceEvents.filter((e) => e.ph === 'X');
const by = (key) => {
  const m = new Map();
  for (const e of events) m.set(key(e), [...(m.get(key(e)) ?? []), e]);
  return m;
};
let overlaps = 0, pairs = 0, worst = 0;
for (const track of by((e) => `${e.pid}:${e.tid}`).values()) {
  track.sort((a, b) => a.ts - b.ts);
  for (let i = 1; i < track.length; i++) {
    pairs++;
    const over = track[i - 1].ts + track[i - 1].dur - track[i].ts;
    worst = Math.max(worst, over);
    if (over > slack) overlaps++;
  }
}
console.log(`${events.length} events; within tracks ${overlaps} of ${pairs} neighbours overlap by more than ${slack} us (most ${worst.toFixed(1)} us)`);
let early = 0, chained = 0, earliest = 0;
for (const chain of by((e) => `${e.cat}:${e.args.job}:${e.args.slice}:${e.pid}`).values()) {
  chain.sort((a, b) => a.ts - b.ts);
  for (let i = 1; i < chain.length; i++) {
    chained++;
    const gap = chain[i].ts - (chain[i - 1].ts + chain[i - 1].dur);
    earliest = Math.min(earliest, gap);
    if (gap < -slack) early++;
  }
}
console.log(`per slice and rank: ${early} of ${chained} stages start more than ${slack} us before the one before ended (earliest ${earliest.toFixed(1)} us)`);
const slices = [...by((e) => `${e.cat}:${e.args.job}:${e.args.slice}`).values()];
const spread = (stage, at) => {
  const s = slices
    .map((c) => c.filter((e) => `${e.cat} ${e.name}` === stage).map(at))
    .filter((t) => t.length > 1)
    .map((t) => Math.max(...t) - Math.min(...t))
    .sort((a, b) => a - b);
  return s.length === 0 ? 'n/a' : `median ${s[s.length >> 1].toFixed(1)} us, most ${s.at(-1).toFixed(1)} us`;
};
for (const [stage, list] of by((e) => `${e.cat} ${e.name}`)) {
  console.log(`${stage}: ${list.length} events; ranks' starts of one slice apart by ${spread(stage, (e) => e.ts)}; ends by ${spread(stage, (e) => e.ts + e.dur)}`);
}
