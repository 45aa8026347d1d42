// One rank of a multi-process test job, started by `fairring-rx launch` (test/integration/connect.test.ts). The
// job is described by FR_WORKER (JSON, the same on every rank); the rank reduces buckets of random values drawn
// from the job's seed, checks its result against float64 sums of every rank's values (drawn again here, not
// taken from the library), and prints one line `RESULT <json>`: its topology, pipeline, largest error, a hash of
// its results (replicas must agree bit for bit), or the error it got.
import { connect, dtypes, reduceOps, type ConnectOptions, type ReduceOp, type World } from '../../src/index.js';
import { expectClose, randomArray, reference } from './data.js';
import type { JobEnv } from '../../src/world/launch-env.js';

interface WorkerJob {
  seed: number;
  lengths: number[];
  op: 'sum' | 'avg';
  dtype: 'float32' | 'float64' | 'int32';
  pipeline?: string;
  backend?: 'cpu' | 'cuda';
  timeoutMs?: number;
  rendezvousTimeoutMs?: number;
  /** Machine index per rank (FAIRRING_MACHINE_ID), when the launcher's grouping is not the one wanted. */
  machineOf?: number[];
  /** Per rank: another op than the job's (a mismatched call). */
  opOf?: Record<string, 'sum' | 'avg'>;
  /** Per rank: extra lengths added to that rank's buckets (a mismatched call). */
  skew?: number[];
  /** Per rank: options that differ from the others'. */
  options?: Record<string, ConnectOptions>;
  /** After the all-reduces: broadcast a tensor from this rank and check every rank got its bytes. */
  broadcastRoot?: number;
  /** Per rank (by global rank, as a string): the root this rank names instead (a mismatch the call check catches). */
  broadcastRootOf?: Record<string, number>;
  /** Ranks that subscribe to bucket 0's allReduce$ and unsubscribe at once (the others await it). */
  unsubscribeFirst?: number[];
  /**
   * Ranks that vanish (exit 0 at once, so the launcher lets the others run) with their all-reduces in flight;
   * the others report how their pending all-reduces ended and how a later call does.
   */
  vanish?: number[];
  /** Instead of the buckets: every dtype × op on `matrix` elements, against the in-process tests' host reference. */
  matrix?: number;
  /** Ranks that exit at once without connecting. */
  absent?: number[];
  /** Ranks that fail at once with status 3. */
  crash?: number[];
}

const job = JSON.parse(process.env.FR_WORKER ?? '{}') as WorkerJob;
const rank = Number(process.env.RANK);

function report(result: Record<string, unknown>): void {
  console.log(`RESULT ${JSON.stringify({ rank, ...result })}`);
}

/** mulberry32: the same sequence for the same (seed, stream, rank) in every process. */
function seeded(seed: number, stream: number, r: number): () => number {
  let a = (seed ^ (stream * 7919) ^ (r * 104729)) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function values(seed: number, bucket: number, r: number, n: number, dtype: WorkerJob['dtype']): number[] {
  const random = seeded(seed, bucket, r);
  return Array.from({ length: n }, () => (dtype === 'int32' ? Math.floor(random() * 2001) - 1000 : random() * 2 - 1));
}

/** Every dtype × op, each rank's input drawn from the seed for every rank, checked as the in-process tests check. */
async function matrix(world: World, n: number): Promise<string[]> {
  const me = world.devices[0]!;
  const ranks = world.topology.machines * world.topology.devicesPerMachine;
  const failures: string[] = [];
  for (const [d, dtype] of dtypes.entries()) {
    for (const [o, op] of reduceOps.entries()) {
      const inputs = Array.from({ length: ranks }, (_, r) => randomArray(dtype, n, seeded(job.seed, 1000 + d * 10 + o, r)));
      const t = await me.upload(inputs[me.rank]!, dtype === 'float16' || dtype === 'bfloat16' ? { dtype } : {});
      await world.allReduce([t], { op });
      try {
        expectClose(dtype, op, ranks, await t.download(), reference(dtype, op, inputs, n), `${dtype} ${op}`);
      } catch (e) {
        failures.push((e as Error).message);
      }
      t.close();
    }
  }
  return failures;
}

function typed(dtype: WorkerJob['dtype'], xs: number[]): Float32Array | Float64Array | Int32Array {
  return dtype === 'float32' ? Float32Array.from(xs) : dtype === 'float64' ? Float64Array.from(xs) : Int32Array.from(xs);
}

function fnv(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h.toString(16);
}

async function main(): Promise<void> {
  if (job.crash?.includes(rank)) process.exit(3);
  if (job.absent?.includes(rank)) return;
  const worldSize = Number(process.env.WORLD_SIZE);
  const jobOverride: Partial<JobEnv> = job.machineOf ? { machineId: `machine-${job.machineOf[rank]}` } : {};
  const options: ConnectOptions = {
    ...(job.pipeline !== undefined ? { pipeline: job.pipeline } : {}),
    ...(job.backend !== undefined ? { backend: job.backend } : {}),
    ...(job.timeoutMs !== undefined ? { timeoutMs: job.timeoutMs } : {}),
    ...(job.rendezvousTimeoutMs !== undefined ? { rendezvousTimeoutMs: job.rendezvousTimeoutMs } : {}),
    ...(job.machineOf ? { job: jobOverride } : {}),
    ...(job.options?.[String(rank)] ?? {}),
  };
  let world;
  try {
    world = await connect(options);
  } catch (e) {
    const err = e as Error & { code?: string };
    report({ error: { name: err.name, code: err.code, message: err.message } });
    return;
  }
  const me = world.devices[0]!;
  if (job.matrix !== undefined) {
    const failures = await matrix(world, job.matrix).catch((e: Error) => [`threw: ${e.message}`]);
    report({ topology: world.topology, matrixFailures: failures });
    await world.close();
    return;
  }
  let maxError = 0;
  const hashes: string[] = [];
  let broadcastOk: boolean | undefined;
  try {
    const tensors = await Promise.all(
      job.lengths.map((n, b) => me.upload(typed(job.dtype, values(job.seed, b, rank, n + (job.skew?.[rank] ?? 0), job.dtype)))),
    );
    const op: ReduceOp = job.opOf?.[String(rank)] ?? job.op;
    if (job.vanish !== undefined) {
      const pending = tensors.map((t) => world.allReduce([t], { op }));
      if (job.vanish.includes(rank)) process.exit(0);
      const t0 = Date.now();
      const outcomes = await Promise.allSettled(pending);
      const ms = Date.now() - t0;
      const codes = outcomes.map((o) => (o.status === 'fulfilled' ? 'ok' : (o.reason as { code?: string }).code ?? 'unknown'));
      const failures = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as { absentRanks?: number[]; message?: string }] : []));
      const failed = failures[0];
      const unnamed = failures.filter((f) => (f.absentRanks ?? []).length === 0).map((f) => f.message ?? '');
      const t1 = Date.now();
      const later = await world.allReduce([tensors[0]!], { op }).then(
        () => 'ok',
        (e: { code?: string }) => e.code ?? 'unknown',
      );
      report({ vanished: { codes, ms, later, laterMs: Date.now() - t1, absentRanks: failed?.absentRanks ?? [], message: failed?.message ?? '', unnamed } });
      await world.close();
      return;
    }
    await Promise.all(
      tensors.map((t, b) => {
        if (b === 0 && job.unsubscribeFirst?.includes(rank)) {
          world.allReduce$([t], { op }).subscribe().unsubscribe();
          return Promise.resolve();
        }
        return world.allReduce([t], { op });
      }),
    );
    for (let b = 0; b < job.lengths.length; b++) {
      const n = job.lengths[b]!;
      // Every rank's inputs, drawn again from the job's seed, and the host reference of the in-process tests.
      const all = Array.from({ length: worldSize }, (_, r) => typed(job.dtype, values(job.seed, b, r, n, job.dtype)));
      const expected = reference(job.dtype, job.op, all, n);
      const got = await tensors[b]!.download();
      hashes.push(fnv(new Uint8Array(got.buffer, got.byteOffset, got.byteLength)));
      for (let i = 0; i < n; i++) maxError = Math.max(maxError, Math.abs(Number(got[i]) - Number(expected[i])));
    }
    if (job.broadcastRoot !== undefined) {
      const mine = typed(job.dtype, values(job.seed, 999, rank, 257, job.dtype));
      const root = typed(job.dtype, values(job.seed, 999, job.broadcastRoot, 257, job.dtype));
      const t = await me.upload(mine);
      await world.broadcast([t], { root: job.broadcastRootOf?.[String(rank)] ?? job.broadcastRoot });
      const got = await t.download();
      broadcastOk = fnv(new Uint8Array(got.buffer, got.byteOffset, got.byteLength)) === fnv(new Uint8Array(root.buffer));
    }
    await world.barrier();
  } catch (e) {
    const err = e as Error & { code?: string };
    report({ error: { name: err.name, code: err.code, message: err.message } });
    await world.close().catch(() => undefined);
    return;
  }
  report({ topology: world.topology, pipeline: world.pipelineName, place: me.place, device: `${me.native.backend}:${me.native.ordinal}`, maxError, hashes, broadcastOk });
  await world.close();
}

await main();
