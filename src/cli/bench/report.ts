// The bench's output: a Markdown table of rows (median and min–max of the runs), and the JSON document of
// every row and run.
import { writeFile } from 'node:fs/promises';
import { native } from '../../native.js';
import { formatSize } from '../args.js';
import type { BenchOptions } from './options.js';
import type { Spread } from './stats.js';
import type { Row } from './summary.js';

export function benchTable(o: BenchOptions, rows: readonly Row[]): string {
  const hasReference = rows.some((r) => r.kind === 'reference');
  const timed = rows.some((r) => r.busiestStage !== undefined);
  // busbw is algbw · 2(n−1)/n: 0 for one rank, where algbw is the figure left to compare.
  const oneRank = o.machines * o.devicesPerMachine === 1;
  const bandwidth = oneRank ? 'algbw' : 'busbw';
  const head = [
    `${deviceName(o)}, ${o.machines} × ${o.devicesPerMachine} ranks (${o.connect ? 'a process per rank, the slowest rank of each run' : 'one process'}), ${o.buckets} buckets at once, ${o.dtype} ${o.op}` +
      `${o.sliceBytes !== undefined ? `, slices of at most ${formatSize(o.sliceBytes)}` : ''}${o.memoryBytes !== undefined ? `, memoryBytes ${formatSize(o.memoryBytes)}` : ''}${o.parallelism !== undefined ? `, parallelism ${o.parallelism}` : ''}, ${o.iters} iterations per run`,
    `median (min–max) of ${o.repeat} run${o.repeat === 1 ? '' : 's'}, interleaved across pipelines; vs ${o.baseline}${hasReference ? ', vs loop (the native loop re-issuing that pipeline\'s program)' : ''}: ${bandwidth} relative to that row, median (min–max) of the ratios of side-by-side runs${oneRank ? ' (one rank: algbw, busbw is 0)' : ''}`,
  ];
  const columns = [
    'bucket',
    'pipeline',
    'slices/run',
    'wall µs/slice',
    'JS busy µs/slice',
    'loop busy',
    'JS CPU µs/slice',
    'CPU µs/slice',
    `${bandwidth} GB/s`,
    `vs ${o.baseline}`,
    ...(hasReference ? ['vs loop'] : []),
    ...(timed ? ['busiest stage µs/slice'] : []),
  ];
  const lines = [`| ${columns.join(' | ')} |`, `|${columns.map(() => '---').join('|')}|`];
  for (const r of rows) {
    const cells = [
      formatSize(r.bytes),
      r.kind === 'reference' ? `native loop (${r.pipeline})` : r.pipeline,
      String(r.slicesPerRun),
      formatSpread(r.wallUsPerSlice),
      formatSpread(r.jsBusyUsPerSlice),
      `${(r.loopBusy.median * 100).toFixed(0)}%`,
      formatSpread(r.jsCpuUsPerSlice),
      formatSpread(r.cpuUsPerSlice),
      formatSpread(oneRank ? r.algbw : r.busbw),
      formatRatio(r.vsBaseline),
      ...(hasReference ? [r.vsReference !== undefined ? formatRatio(r.vsReference) : '-'] : []),
      ...(timed ? [r.busiestStage !== undefined ? `${r.busiestStage.stage} ${formatSpread(r.busiestStage.usPerSlice)}` : '-'] : []),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return [...head, '', ...lines].join('\n');
}

export async function writeJson(file: string, o: BenchOptions, rows: readonly Row[]): Promise<void> {
  const document = { device: deviceName(o), ranks: o.machines * o.devicesPerMachine, options: o, rows };
  await writeFile(file, `${JSON.stringify(document, null, 2)}\n`);
}

function deviceName(o: BenchOptions): string {
  return o.backend === 'cuda' ? (native.info().cuda.devices[0]?.name ?? 'CUDA device') : 'CPU backend';
}

function formatSpread(s: Spread): string {
  return `${formatNumber(s.median)} (${formatNumber(s.min)}–${formatNumber(s.max)})`;
}

function formatRatio(s: Spread): string {
  return `${s.median.toFixed(2)}× (${s.min.toFixed(2)}–${s.max.toFixed(2)})`;
}

/** About three significant digits, without exponents. */
function formatNumber(x: number): string {
  const a = Math.abs(x);
  if (a === 0) return '0';
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toFixed(Math.min(6, 2 - Math.floor(Math.log10(a))));
}
