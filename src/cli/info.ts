// `fairring-rx info`: the backends this build has, CUDA devices, driver and runtime, NCCL, or why not.
import { native } from '../native.js';

export function info(): string {
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
  lines.push(i.gloo.available ? 'gloo: plugin loaded (the CPU backend across processes)' : `gloo: not available (${i.gloo.error ?? 'unknown'})`);
  return lines.join('\n');
}

function formatCuda(v: number): string {
  return `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}`;
}

function formatNccl(v: number): string {
  return `${Math.floor(v / 10000)}.${Math.floor((v % 10000) / 100)}.${v % 100}`;
}
