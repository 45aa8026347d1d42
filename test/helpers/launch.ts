// Runs a multi-process job: `fairring-rx launch <args> -- node connect-worker.js`, the job described to every
// rank in FR_WORKER (see connect-worker.ts); collects each rank's RESULT line.
import { expect } from 'chai';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runChild, type ChildResult } from './child.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.join(here, '../../src/cli/main.js');
/** The compiled connect-worker.ts: reads its job from FR_WORKER, prints one `RESULT <json>` line. */
export const worker = path.join(here, 'connect-worker.js');

export interface RankResult {
  rank: number;
  topology?: { machines: number; devicesPerMachine: number; rankLayout: string };
  pipeline?: string;
  place?: { rank: number; machine: number; local: number };
  /** The device as backend:ordinal (CUDA: which GPU). */
  device?: string;
  maxError?: number;
  hashes?: string[];
  /**
   * With `vanish`: how this rank's pending all-reduces ended (codes), after how long, and a later call; the
   * first failure's absent ranks and message, and the messages of failures that named no absent rank.
   */
  vanished?: { codes: string[]; ms: number; later: string; laterMs: number; absentRanks: number[]; message: string; unnamed: string[] };
  /** With `matrix`: the dtype × op cases that failed. */
  matrixFailures?: string[];
  /** The broadcast's result equals the root's bytes. */
  broadcastOk?: boolean;
  error?: { name: string; code?: string; message: string };
}

// Below Linux's ephemeral range (32768 and up), where Gloo's and NCCL's listening sockets land: a job's store
// ports (MASTER_PORT + 1, + 2, … one per world) must not collide with them. Four ports per launch.
let port = 20000 + Math.floor(Math.random() * 2500) * 4;

/** The RESULT lines of a job's output, by rank. */
export function rankResults(stdout: string): RankResult[] {
  return [...stdout.matchAll(/^\[rank\s*\d+\] RESULT (.*)$/gm)].map((m) => JSON.parse(m[1]!) as RankResult).sort((a, b) => a.rank - b.rank);
}

/** Runs `fairring-rx launch <launchArgs> -- node <script> <scriptArgs>` on a fresh port, ended after limitS seconds. */
export function launchScript(launchArgs: string[], script: string, scriptArgs: string[] = [], env: Record<string, string> = {}, limitS = 120): Promise<ChildResult> {
  port += 4;
  return runChild(
    process.execPath,
    [cli, 'launch', '--master-port', String(port), '--timeout', String(limitS), ...launchArgs, '--', process.execPath, script, ...scriptArgs],
    { timeoutMs: (limitS + 30) * 1000, env: { ...process.env, ...env } },
  );
}

/** Runs `fairring-rx launch <args> -- node connect-worker.js` with the job in FR_WORKER. */
export async function launch(args: string[], job: Record<string, unknown>, env: Record<string, string> = {}): Promise<{ code: number | null; ms: number; results: RankResult[]; stderr: string }> {
  const r = await launchScript(args, worker, [], { ...env, FR_WORKER: JSON.stringify(job) }, 60);
  return { code: r.code, ms: r.ms, results: rankResults(r.stdout), stderr: r.stderr };
}

/** The compiled examples/train.ts. */
export const trainExample = path.join(here, '../../examples/train.js');

/** A fresh seed per run: the data differ every time. */
export const randomSeed = (): number => Math.floor(Math.random() * 2 ** 31);

/**
 * A job of 3 emulated machines whose rank 2 exits with `buckets` all-reduces (and their call checks) in flight:
 * the survivors' pending all-reduces reject within timeoutMs plus graceMs, each naming rank 2 (absentRanks,
 * and the message), never as calls that differ, later calls reject at once with a ClosedError, and every process exits.
 */
export async function expectVanishHandled(o: { backend: 'cpu' | 'cuda'; buckets: number; elements: number; sliceBytes: number; timeoutMs: number; graceMs: number }): Promise<void> {
  const sliced = { sliceBytes: o.sliceBytes };
  const r = await launch(['--nnodes', '3', '--emulate-machines'], {
    seed: randomSeed(),
    lengths: Array.from({ length: o.buckets }, () => o.elements),
    op: 'sum',
    dtype: 'float32',
    pipeline: 'fairring',
    backend: o.backend,
    vanish: [2],
    timeoutMs: o.timeoutMs,
    options: { '0': sliced, '1': sliced, '2': sliced },
  });
  expect(r.code, r.stderr).to.equal(0);
  const survivors = r.results.filter((x) => x.rank !== 2);
  expect(survivors).to.have.length(2);
  for (const x of survivors) {
    const v = x.vanished!;
    expect(v.codes.some((c) => c !== 'ok'), JSON.stringify(v)).to.equal(true);
    for (const c of v.codes) expect(c, JSON.stringify(v)).to.be.oneOf(['ok', 'ERR_FAIRRING_STAGE', 'ERR_FAIRRING_TIMEOUT']);
    expect(v.ms).to.be.below(o.timeoutMs + o.graceMs);
    expect(v.absentRanks, v.message).to.deep.equal([2]);
    expect(v.unnamed, 'failures that name no absent rank').to.deep.equal([]);
    expect(v.message).to.match(/rank 2 of the job did not answer the roll call after the failure: gone\?/);
    expect(v.later).to.equal('ERR_FAIRRING_CLOSED');
    // At once: a later call does not wait for a timeout.
    expect(v.laterMs).to.be.below(o.timeoutMs);
  }
}
