#!/usr/bin/env node
// The fairring-rx command line: `info` reports what this build and machine offer; `demo` runs the CPU demo.
import { native } from '../native.js';
import { runDemo } from './demo.js';

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
  demo    all-reduce a stream of buckets over simulated CPU ranks and verify it`;

const [command] = process.argv.slice(2);
try {
  if (command === 'info') info();
  else if (command === 'demo') await runDemo();
  else {
    console.log(usage);
    process.exitCode = command === undefined || command === '--help' ? 0 : 2;
  }
} catch (e) {
  console.error(`fairring-rx ${command}: ${(e as Error).message}`);
  process.exitCode = 1;
}
