#!/usr/bin/env node
// Summarizes scripts/gpu-table.sh's `table` part as Markdown: per topology and workload, every pipeline (and its
// native loop) under every NCCL setting, the median over the rounds of each launch's median busbw with the
// rounds' range, time and host CPU per slice, and the ratios to the best native NCCL all-reduce (fr.cu's, over
// the settings) and to fr.cu's five stages at their best slice count.
// Usage: node scripts/table-summary.mjs <table-table.json> <table-table.txt>
import { readFileSync } from 'node:fs';

const [jsonFile, textFile] = process.argv.slice(2);
if (!jsonFile || !textFile) {
  console.error('usage: node scripts/table-summary.mjs <table-table.json> <table-table.txt>');
  process.exit(2);
}
const { gpus, launches } = JSON.parse(readFileSync(jsonFile, 'utf8'));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const f = (x, digits = 1) => (x >= 100 ? x.toFixed(0) : x.toFixed(digits));

// fr.cu lines: "fr.cu | <topology> | <setting> | <mode> S=<s> ... bucket=<MiB>MiB x<B> ... busbw <x> GB/s check ok"
const fr = [];
for (const line of readFileSync(textFile, 'utf8').split('\n')) {
  const m = line.match(/^fr\.cu \| (.+?) \| (\S+) \| (\S+)\s+S=(\d+)\s+M=\d+ D=\d+ bucket=(\d+)MiB x(\d+) best [\d.]+ ms mean [\d.]+ ms algbw [\d.]+ busbw ([\d.]+) GB\/s check (\S+)/);
  if (m) fr.push({ topology: m[1], setting: m[2], mode: m[3], slices: +m[4], bytes: +m[5] * 2 ** 20, buckets: +m[6], busbw: +m[7], ok: m[8] === 'ok' });
}

const groups = new Map();
for (const launch of launches) {
  for (const row of launch.rows) {
    const workload = `${launch.topology}|${row.bytes}|${launch.options?.buckets ?? ''}`;
    const name = row.kind === 'reference' ? `native loop (${row.pipeline})` : row.pipeline;
    const key = `${workload}|${name}|${launch.setting}`;
    if (!groups.has(key)) groups.set(key, { workload, name, setting: launch.setting, busbw: [], wall: [], cpu: [] });
    const g = groups.get(key);
    g.busbw.push(row.busbw.median);
    g.wall.push(row.wallUsPerSlice.median);
    g.cpu.push(row.cpuUsPerSlice.median);
  }
}
const workloads = [...new Set([...groups.values()].map((g) => g.workload))];
console.log(`Card: ${gpus}. busbw GB/s: the median over the rounds of each launch's median (range of the rounds).\n`);
for (const w of workloads) {
  const [topology, bytes, buckets] = w.split('|');
  const size = +bytes >= 2 ** 20 ? `${+bytes / 2 ** 20} MiB` : `${+bytes / 1024} KiB`;
  const frHere = fr.filter((r) => r.topology === topology && r.bytes === +bytes);
  const bestNccl = Math.max(0, ...frHere.filter((r) => r.mode === 'nccl' && r.ok).map((r) => r.busbw));
  const bestStages = Math.max(0, ...frHere.filter((r) => r.mode === 'fairring' && r.ok).map((r) => r.busbw));
  console.log(`### ${topology}, ${buckets} x ${size}\n`);
  console.log('| pipeline | NCCL setting | busbw | wall µs/slice | CPU µs/slice | vs best NCCL | vs fr.cu stages |');
  console.log('|---|---|---|---|---|---|---|');
  const order = (g) => [...groups.values()].findIndex((x) => x.name === g.name);
  for (const g of [...groups.values()].filter((g) => g.workload === w).sort((a, b) => order(a) - order(b))) {
    const b = median(g.busbw);
    console.log(`| ${g.name} | ${g.setting} | ${f(b)} (${f(Math.min(...g.busbw))}–${f(Math.max(...g.busbw))}) | ${f(median(g.wall))} | ${f(median(g.cpu))} | ${bestNccl ? (b / bestNccl).toFixed(2) + '×' : '–'} | ${bestStages ? (b / bestStages).toFixed(2) + '×' : '–'} |`);
  }
  for (const r of frHere) {
    console.log(`| fr.cu ${r.mode === 'nccl' ? 'ncclAllReduce' : `five stages, ${r.slices} slice${r.slices > 1 ? 's' : ''} per bucket`} | ${r.setting} | ${f(r.busbw)} (best of 3) | | | ${bestNccl ? (r.busbw / bestNccl).toFixed(2) + '×' : '–'} | ${bestStages ? (r.busbw / bestStages).toFixed(2) + '×' : '–'} |`);
  }
  console.log('');
}
