// The integration matrix on CUDA, one process driving every GPU of this host. Topologies that fit one GPU per
// rank run as they are; more ranks than GPUs map machines onto GPUs so no communicator holds one twice (the
// machines are then simulated in this process, so collect, add, diffuse, padding and staging all run on GPUs).
import { expect } from 'chai';
import { native, dtypes, reduceOps } from '../../src/native.js';
import { nccl, simulate, type World } from '../../src/index.js';
import { cudaUnavailableReason } from '../helpers/backends.js';
import { checkAllReduce, checkReferenceLoop, checkStageTimeline, expectWithinBudget } from '../helpers/allreduce.js';

const reason = cudaUnavailableReason();
const gpus = reason === null ? native.info().cuda.deviceCount : 0;

const topologies: Array<[number, number]> = [
  [1, 2],
  [2, 1],
  [2, 2],
  [1, 4],
  [4, 1],
  [2, 4],
  [4, 2],
  [1, 8],
];

describe('all-reduce on CUDA', function () {
  if (reason !== null) {
    before(function () {
      console.log(`      skipping the CUDA all-reduce suite: ${reason}`);
      this.skip();
    });
  }
  for (const [M, D] of topologies) {
    // More ranks than GPUs only where each GPU carries at most one rank of every communicator (correctness only).
    const fits = M * D <= gpus || (M <= gpus && D <= gpus && M * D <= 2 * gpus);
    describe(`${M} machine(s) x ${D} device(s) on ${gpus} GPU(s)`, () => {
      let world: World;
      before(async function () {
        if (!fits) this.skip();
        world = await simulate({ backend: 'cuda', machines: M, devicesPerMachine: D, timeoutMs: 60000, pipeline: M === 1 ? 'local' : 'fairring' });
      });
      after(() => world?.close());

      for (const dtype of dtypes) {
        it(`every op on ${dtype} at sizes 0, 1, D·M−1, primes, > 1 MiB`, async () => {
          const sizes = [0, 1, Math.max(1, D * M - 1), 1009, 65537, (1 << 20) + 7];
          for (const op of reduceOps) {
            for (const n of sizes) await checkAllReduce(world, dtype, op, n);
          }
          await expectWithinBudget(world);
        });
      }

      it('times each stage where its device ran it: starts inside the call on the host clock, each stage after the one before', async () => {
        // 4 MiB + 3 elements per rank in 1 MiB slices: several slices, and a tail through admit and finish.
        const timed = await simulate({ backend: 'cuda', machines: M, devicesPerMachine: D, sliceBytes: 1 << 20, pipeline: M === 1 ? 'local' : 'fairring' });
        try {
          const timings = await checkStageTimeline(timed, (1 << 20) + 3);
          expect(new Set(timings.map((t) => t.rank)).size, 'ranks timed').to.equal(M * D);
          expect(timings.filter((t) => t.ms > 0).length, 'stages that took device time').to.be.greaterThan(timings.length / 2);
        } finally {
          await timed.close();
        }
      });

      it('the native reference loop computes what it replays: 6 iterations of 80 MiB per rank, and of 12 buckets of 4 MiB at once, every rank checked', async () => {
        await checkReferenceLoop(world, 20 * 1024 * 1024 + 3, 6);
        await checkReferenceLoop(world, 1024 * 1024 + 1, 5, 12);
      });

      it('many slices, 32 concurrent all-reduces, within budget', async () => {
        const sliced = await simulate({ backend: 'cuda', machines: M, devicesPerMachine: D, sliceBytes: 64 << 10, memoryBytes: 1 << 20, parallelism: 4, pipeline: M === 1 ? 'local' : 'fairring' });
        try {
          await Promise.all(Array.from({ length: 32 }, (_, i) => checkAllReduce(sliced, i % 2 ? 'bfloat16' : 'float32', i % 3 ? 'sum' : 'avg', 50000 + 997 * i)));
          expect(sliced.memory().pools.inflight.highWater).to.be.within(1, sliced.layout.parallelism);
          await expectWithinBudget(sliced);
        } finally {
          await sliced.close();
        }
      });

      it('the nccl baseline pipeline agrees', async function () {
        // One world communicator cannot hold a GPU twice.
        if (M * D > gpus) this.skip();
        const base = await simulate({ backend: 'cuda', machines: M, devicesPerMachine: D, pipeline: nccl });
        try {
          for (const op of reduceOps) await checkAllReduce(base, 'float64', op, 100003);
        } finally {
          await base.close();
        }
      });
    });
  }
});
