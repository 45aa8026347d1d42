// Probe helper: the self time of a V8 .cpuprofile (node --cpu-prof) by function, and by file, and the inclusive
// time by function (a sample counts once for every function on its stack), idle left out; the JS thread's
// profile as text small enough to bring back from the GPU machine. With <units> (the slices the profiled run
// did), each row also says its µs per unit, from the samples' own time deltas, for comparing two machines.
// Usage: node scripts/probes/cpuprof-top.mjs <file.cpuprofile> [rows] [units]
import { readFileSync } from 'node:fs';
const [file, rows = '30', units = '0'] = process.argv.slice(2);
const profile = JSON.parse(readFileSync(file, 'utf8'));
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const byFunction = new Map();
const byFile = new Map();
let total = 0;
const add = (map, key, n) => map.set(key, (map.get(key) ?? 0) + n);
const parents = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parents.set(c, n.id);
const byFunctionInclusive = new Map();
// A sample's weight is its time (µs) until the next sample.
const hits = new Map();
profile.samples.forEach((id, i) => hits.set(id, (hits.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? 0)));
for (const [id, n] of hits) {
  const { functionName, url, lineNumber } = nodes.get(id).callFrame;
  if (functionName === '(idle)') continue;
  total += n;
  const where = url.replace(/^.*\/(dist|node_modules)\//, '$1/');
  add(byFunction, `${functionName || '(anonymous)'} ${where}:${lineNumber + 1}`, n);
  add(byFile, where || functionName, n);
  const seen = new Set();
  for (let at = id; at !== undefined; at = parents.get(at)) {
    const f = nodes.get(at).callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}`;
    if (!seen.has(key)) seen.add(key);
  }
  for (const key of seen) add(byFunctionInclusive, key, n);
}
const print = (title, map) => {
  const perUnit = (n) => (Number(units) > 0 ? `${(n / Number(units)).toFixed(2).padStart(7)} µs  ` : '');
  console.log(`${title} (${(total / 1000).toFixed(0)} ms sampled, idle left out${Number(units) > 0 ? `, ${perUnit(total).trim()} per unit` : ''})`);
  for (const [key, n] of [...map].sort((a, b) => b[1] - a[1]).slice(0, Number(rows))) console.log(`${((100 * n) / total).toFixed(1).padStart(5)}%  ${perUnit(n)}${key}`);
};
print('by function', byFunction);
print('by file', byFile);
print('inclusive, by function', byFunctionInclusive);
