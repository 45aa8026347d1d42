// Runs a multi-process job: `fairring-rx launch <args> -- node connect-worker.js`, the job described to every
// rank in FR_WORKER (see connect-worker.ts); collects each rank's RESULT line.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.join(here, '../../src/cli/main.js');
const worker = path.join(here, 'connect-worker.js');

export interface RankResult {
  rank: number;
  topology?: { machines: number; devicesPerMachine: number; rankLayout: string };
  pipeline?: string;
  place?: { rank: number; machine: number; local: number };
  /** The device as backend:ordinal (CUDA: which GPU). */
  device?: string;
  maxError?: number;
  hashes?: string[];
  /** With `vanish`: how this rank's pending all-reduces ended (codes), after how long, and a later call. */
  vanished?: { codes: string[]; ms: number; later: string; laterMs: number };
  /** With `matrix`: the dtype × op cases that failed. */
  matrixFailures?: string[];
  /** The broadcast's result equals the root's bytes. */
  broadcastOk?: boolean;
  error?: { name: string; code?: string; message: string };
}

let port = 31000 + Math.floor(Math.random() * 2000) * 2;

/** Runs `fairring-rx launch <args> -- node connect-worker.js` with the job in FR_WORKER. */
export function launch(args: string[], job: Record<string, unknown>, env: Record<string, string> = {}): Promise<{ code: number | null; ms: number; results: RankResult[]; stderr: string }> {
  port += 2;
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'launch', '--master-port', String(port), '--timeout', '60', ...args, '--', process.execPath, worker], {
      env: { ...process.env, ...env, FR_WORKER: JSON.stringify(job) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const results = out
        .split('\n')
        .map((l) => /^\[rank\s*\d+\] RESULT (.*)$/.exec(l)?.[1])
        .filter((j): j is string => j !== undefined)
        .map((j) => JSON.parse(j) as RankResult)
        .sort((a, b) => a.rank - b.rank);
      resolve({ code, ms: Date.now() - t0, results, stderr: err });
    });
  });
}


/** Runs `fairring-rx launch <launchArgs> -- node <script> <scriptArgs>`; resolves with its status and output. */
export function launchScript(launchArgs: string[], script: string, scriptArgs: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  port += 2;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'launch', '--master-port', String(port), '--timeout', '120', ...launchArgs, '--', process.execPath, script, ...scriptArgs], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The compiled examples/train.ts. */
export const trainExample = path.join(here, '../../examples/train.js');

/** A fresh seed per run: the data differ every time. */
export const randomSeed = (): number => Math.floor(Math.random() * 2 ** 31);
