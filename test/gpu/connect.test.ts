// connect() on CUDA across processes, one per rank, started by `fairring-rx launch`: NCCL communicators made
// through the store. One machine with a process per GPU; machines emulated on this host with their own NCCL host
// ids (NCCL then runs over loopback sockets between them: correctness, not speed). Sums against float64 sums of
// fresh random data; replicas bit for bit. Skipped where CUDA or NCCL is absent.
import { expect } from 'chai';
import { native } from '../../src/native.js';
import { cudaUnavailableReason } from '../helpers/backends.js';
import { spawnSync } from 'node:child_process';
import { expectVanishHandled, launch, launchScript, randomSeed, trainExample, worker, type RankResult } from '../helpers/launch.js';
import { runChild } from '../helpers/child.js';

const reason = cudaUnavailableReason();
const gpus = reason === null ? native.info().cuda.deviceCount : 0;

function expectCorrect(results: RankResult[], ranks: number, tolerance: number): void {
  expect(results).to.have.length(ranks);
  for (const x of results) {
    expect(x.error, JSON.stringify(x.error)).to.equal(undefined);
    expect(x.maxError).to.be.at.most(tolerance);
    expect(x.hashes).to.deep.equal(results[0]!.hashes);
  }
}

describe('connect() on CUDA across processes', function () {
  this.timeout(180_000);
  before(function () {
    if (reason !== null) {
      console.log(`      skipping the CUDA connect() suite: ${reason}`);
      this.skip();
    }
  });

  it('one machine, a process per GPU: auto and local, float32 sum and float64 avg', async function () {
    if (gpus < 2) this.skip();
    for (const [pipeline, dtype, op] of [['auto', 'float32', 'sum'], ['local', 'float64', 'avg']] as const) {
      const r = await launch(['--nproc-per-node', String(gpus)], { seed: randomSeed(), lengths: [1 << 20, 1001, 3], op, dtype, pipeline, backend: 'cuda' });
      expect(r.code, r.stderr).to.equal(0);
      expectCorrect(r.results, gpus, dtype === 'float32' ? 1e-5 : 1e-12);
      expect(new Set(r.results.map((x) => x.device)).size, 'a GPU per process').to.equal(gpus);
      for (const x of r.results) expect(x.topology).to.deep.include({ machines: 1, devicesPerMachine: gpus });
    }
  });

  it('2 emulated machines x 1 (one GPU each where there are two): fairring and nccl', async () => {
    for (const pipeline of ['fairring', 'nccl']) {
      const r = await launch(['--nnodes', '2', '--nproc-per-node', '1', '--emulate-machines'], {
        seed: randomSeed(),
        lengths: [(1 << 20) + 3, 4096],
        op: 'sum',
        dtype: 'float32',
        pipeline,
        backend: 'cuda',
        timeoutMs: 60_000,
        broadcastRoot: 1,
      });
      expect(r.code, r.stderr).to.equal(0);
      expectCorrect(r.results, 2, 1e-5);
      for (const x of r.results) expect(x.broadcastOk).to.equal(true);
      for (const x of r.results) expect(x.topology).to.deep.include({ machines: 2, devicesPerMachine: 1 });
    }
  });

  it('2 emulated machines x 2 on two or more GPUs: the five stages, int32 sum exact', async function () {
    if (gpus < 2) this.skip();
    const r = await launch(['--nnodes', '2', '--nproc-per-node', '2', '--emulate-machines'], {
      seed: randomSeed(),
      lengths: [(1 << 18) + 5, 77],
      op: 'sum',
      dtype: 'int32',
      pipeline: 'fairring',
      backend: 'cuda',
      timeoutMs: 60_000,
    });
    expect(r.code, r.stderr).to.equal(0);
    expectCorrect(r.results, 4, 0);
    for (const x of r.results) expect(x.topology).to.deep.include({ machines: 2, devicesPerMachine: 2 });
  });

  for (const [what, args, env, minGpus] of [
    ['1 x GPUs, a process per GPU', ['--nproc-per-node', String(Math.max(gpus, 2))], {}, 2],
    ['2 emulated machines x 1', ['--nnodes', '2', '--emulate-machines'], {}, 1],
    ['2 emulated machines x 2', ['--nnodes', '2', '--nproc-per-node', '2', '--emulate-machines'], {}, 2],
    ['3 emulated machines x 1 on one GPU', ['--nnodes', '3', '--emulate-machines'], { CUDA_VISIBLE_DEVICES: '0' }, 1],
  ] as Array<[string, string[], Record<string, string>, number]>) {
    it(`${what}: every dtype x op against the host reference, with and without tails`, async function () {
      if (gpus < minGpus) this.skip();
      for (const n of [61, 256]) {
        const r = await launch(args, { seed: randomSeed(), lengths: [], op: 'sum', dtype: 'float32', pipeline: 'fairring', backend: 'cuda', timeoutMs: 60_000, matrix: n }, env);
        expect(r.code, r.stderr).to.equal(0);
        expect(r.results.length).to.be.at.least(2);
        for (const x of r.results) expect(x.matrixFailures, `rank ${x.rank}, ${n} elements`).to.deep.equal([]);
      }
    });
  }

  it('a rank that vanishes with work in flight: the others reject within timeoutMs naming it, later calls at once, and they exit', async () => {
    await expectVanishHandled({ backend: 'cuda', buckets: 12, elements: 200_000, sliceBytes: 65536, timeoutMs: 5000, graceMs: 8000 });
  });

  it('under torchrun --no-python (where PyTorch is installed): a process per GPU, the environment torchrun sets', async function () {
    const torchrun = spawnSync('torchrun', ['--help'], { encoding: 'utf8' });
    if (torchrun.status !== 0 || gpus < 2) this.skip();
    const job = { seed: randomSeed(), lengths: [(1 << 20) + 3, 999], op: 'sum', dtype: 'float32', pipeline: 'auto', backend: 'cuda', timeoutMs: 60_000 };
    const port = 24000 + Math.floor(Math.random() * 2000) * 4;
    const r = await runChild('torchrun', ['--nnodes', '1', '--nproc-per-node', String(gpus), '--master-addr', '127.0.0.1', '--master-port', String(port), '--no-python', process.execPath, worker], {
      timeoutMs: 120_000,
      env: { ...process.env, FR_WORKER: JSON.stringify(job) },
    });
    expect(r.code, r.stderr).to.equal(0);
    const results = [...r.stdout.matchAll(/^RESULT (.*)$/gm)].map((m) => JSON.parse(m[1]!) as RankResult).sort((a, b) => a.rank - b.rank);
    expectCorrect(results, gpus, 1e-5);
    expect(new Set(results.map((x) => x.device)).size, 'LOCAL_RANK picks the GPU').to.equal(gpus);
  });

  it('examples/train on CUDA, 2 emulated machines x 1: weights equal on both ranks, within tolerance of one process', async () => {
    const r = await launchScript(['--nnodes', '2', '--emulate-machines'], trainExample, ['--backend', 'cuda', '--steps', '8']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain("rank 1: weights equal to rank 0's bit for bit: true");
    expect(r.stdout).to.match(/\(cuda, pipeline auto\)/);
  });
});
