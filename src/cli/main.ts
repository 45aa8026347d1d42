#!/usr/bin/env node
// The fairring-rx command line: `info` reports what this build and machine offer; `demo` runs the CPU demo.
import { native } from '../native.js';
import { parseArgs } from 'node:util';
import { runDemo } from './demo.js';
import { benchTable, runBench, type BenchOptions } from './bench.js';

function info(): void {
  const i = native.info();
  const lines = [`backends: ${i.backends.join(', ')}`];
  if (!i.cuda.built) {
    lines.push('cuda: not built (no CUDA toolkit at build time)');
  } else {
    lines.push(`cuda runtime: ${formatCuda(i.cuda.runtimeVersion)}, driver: ${i.cuda.driverVersion ? formatCuda(i.cuda.driverVersion) : 'none'}`);
    if (i.cuda.deviceCount === 0) lines.push(`cuda devices: none (${i.cuda.error ?? 'unknown'})`);
    for (const d of i.cuda.devices) {
      lines.push(`cuda:${d.ordinal} ${d.name ?? '?'} ${d.totalMemory !== undefined ? `${(d.totalMemory / 2 ** 30).toFixed(1)} GiB` : (d.error ?? '')}`);
    }
  }
  lines.push(i.nccl.loaded ? `nccl: ${formatNccl(i.nccl.version)} (${i.nccl.library ?? ''})` : `nccl: not loaded (${i.nccl.error ?? 'unknown'})`);
  console.log(lines.join('\n'));
}

function formatCuda(v: number): string {
  return `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}`;
}

function formatNccl(v: number): string {
  return `${Math.floor(v / 10000)}.${Math.floor((v % 10000) / 100)}.${v % 100}`;
}

const usage = `usage: fairring-rx <command>
  info    backends, CUDA devices, driver, runtime and NCCL versions (or why not)
  demo    all-reduce a stream of buckets over simulated CPU ranks and verify it
  bench   busbw of pipelines, interleaved in one run:
          --backend cpu|cuda --machines M --devices D --pipelines fairring,nccl
          --bytes B --buckets K --iters N --warmup W [--slice-bytes S] [--dtype float32] [--timings]`;

function parseBytes(s: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMG]?)i?B?$/i.exec(s);
  if (!m) throw new Error(`not a size: ${s}`);
  const unit = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G'];
  return Math.round(Number(m[1]) * unit);
}

async function bench(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      backend: { type: 'string', default: 'cpu' },
      machines: { type: 'string', default: '1' },
      devices: { type: 'string', default: '2' },
      pipelines: { type: 'string', default: 'fairring,nccl' },
      bytes: { type: 'string', default: '25M' },
      buckets: { type: 'string', default: '8' },
      iters: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '2' },
      'slice-bytes': { type: 'string' },
      dtype: { type: 'string', default: 'float32' },
      timings: { type: 'boolean', default: false },
    },
  });
  const o: BenchOptions = {
    backend: values.backend as BenchOptions['backend'],
    machines: Number(values.machines),
    devicesPerMachine: Number(values.devices),
    pipelines: values.pipelines.split(','),
    bytes: parseBytes(values.bytes),
    buckets: Number(values.buckets),
    iters: Number(values.iters),
    warmup: Number(values.warmup),
    dtype: values.dtype as BenchOptions['dtype'],
    timings: values.timings,
    ...(values['slice-bytes'] !== undefined ? { sliceBytes: parseBytes(values['slice-bytes']) } : {}),
  };
  console.log(benchTable(o, await runBench(o)));
}

const [command, ...rest] = process.argv.slice(2);
try {
  if (command === 'info') info();
  else if (command === 'demo') await runDemo();
  else if (command === 'bench') await bench(rest);
  else {
    console.log(usage);
    process.exitCode = command === undefined || command === '--help' ? 0 : 2;
  }
} catch (e) {
  console.error(`fairring-rx ${command}: ${(e as Error).message}`);
  process.exitCode = 1;
}
