// The in-flight bound binds: however many buckets are submitted, at most `parallelism` slices hold slots at
// once; the bound reaches a producer through allReduceEach$, which pulls a bucket only when it can be admitted.
import { expect } from 'chai';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { NEVER, delay, lastValueFrom, pipe, tap, toArray } from 'rxjs';
import { ClosedError, ContractError, readyPipelines, simulate, type Tensor, type World } from '../../src/index.js';
import { randomArray, reference, expectClose } from '../helpers/data.js';
import { orAfter } from '../helpers/time.js';

async function buckets(world: World, count: number, n: number): Promise<{ tensors: Tensor[][]; inputs: Float32Array[][] }> {
  const inputs = Array.from({ length: count }, () => world.devices.map(() => randomArray('float32', n) as Float32Array));
  const tensors = await Promise.all(inputs.map((perRank) => Promise.all(world.devices.map((d, i) => d.upload(perRank[i]!)))));
  return { tensors, inputs };
}

async function expectReduced(world: World, tensors: Tensor[][], inputs: Float32Array[][], n: number): Promise<void> {
  for (let b = 0; b < tensors.length; b++) {
    const expected = reference('float32', 'sum', inputs[b]!, n);
    const outs = await Promise.all(tensors[b]!.map((t) => t.download()));
    outs.forEach((o, r) => expectClose('float32', 'sum', world.devices.length, o, expected, `bucket ${b} rank ${r}`));
  }
}

describe('backpressure from the in-flight bound (CPU backend)', () => {
  for (const [M, D] of [
    [2, 2],
    [2, 1],
    [1, 4],
  ] as const) {
    it(`${M}x${D}: 1,000 buckets submitted at once never hold more than parallelism slots`, async () => {
      const world = await simulate({ pipeline: M === 1 ? 'local' : 'fairring', machines: M, devicesPerMachine: D, parallelism: 4 });
      try {
        expect(world.layout.parallelism).to.equal(4);
        const n = M * D * 3 + 1;
        const { tensors, inputs } = await buckets(world, 1000, n);
        await Promise.all(tensors.map((t) => world.allReduce(t)));
        const m = world.memory();
        expect(m.pools.inflight.size).to.equal(4);
        expect(m.pools.inflight.highWater).to.equal(4);
        expect(m.pools.padding.highWater).to.be.at.most(4);
        await expectReduced(world, tensors, inputs, n);
      } finally {
        await world.close();
      }
    });
  }

  it('at the defaults the bound is parallelism (8) at several devices per machine, not the padding budget', async () => {
    const world = await simulate({ pipeline: 'fairring', machines: 2, devicesPerMachine: 2 });
    try {
      expect([world.layout.parallelism, world.layout.paddingSlots, world.memory().pools.inflight.size]).to.deep.equal([8, 8, 8]);
    } finally {
      await world.close();
    }
  });

  it('unsubscribing right after subscribing runs at most parallelism slices', async () => {
    const world = await simulate({ pipeline: 'fairring', machines: 2, devicesPerMachine: 2, parallelism: 3, sliceBytes: 64 });
    try {
      const n = 16 * 100;
      const [t] = (await buckets(world, 1, n)).tensors;
      const seen: number[] = [];
      const sub = world.allReduce$(t!).subscribe((p) => seen.push(p.slice));
      sub.unsubscribe();
      await new Promise((resolve) => setTimeout(resolve, 200));
      const m = world.memory();
      expect(m.pools.inflight.highWater).to.be.at.most(3);
      expect(m.pools.inflight.inUse).to.equal(0);
      expect(seen).to.deep.equal([]);
    } finally {
      await world.close();
    }
  });

  it('allReduceEach$ pulls the next bucket only when it can be admitted, and reduces every bucket', async () => {
    const world = await simulate({ pipeline: 'fairring', machines: 2, devicesPerMachine: 2, parallelism: 2 });
    try {
      const n = 257;
      const { tensors, inputs } = await buckets(world, 40, n);
      let pulled = 0;
      let maxAhead = 0;
      let settled = 0;
      function* source(): Generator<Tensor[]> {
        for (const t of tensors) {
          pulled++;
          maxAhead = Math.max(maxAhead, pulled - settled);
          yield t;
        }
      }
      const progress = await lastValueFrom(
        world.allReduceEach$(source()).pipe(
          tap((p) => {
            if (p.slice === p.slices - 1) settled++;
          }),
          toArray(),
        ),
      );
      expect(progress).to.have.length(40);
      expect(pulled).to.equal(40);
      // A bucket is pulled only when an in-flight token is free: never more than parallelism ahead (+1 pulled
      // and waiting for its turn).
      expect(maxAhead).to.be.at.most(2 + 1);
      expect(world.memory().pools.inflight.highWater).to.be.at.most(2);
      await expectReduced(world, tensors, inputs, n);
    } finally {
      await world.close();
    }
  });

  it('allReduceEach$ pulls again once a call deferred behind another on the same tensors is dropped unsubscribed', async () => {
    const world = await simulate({ pipeline: 'fairring', machines: 2, devicesPerMachine: 2, sliceBytes: 64, parallelism: 2 });
    try {
      const n = 480;
      const { tensors, inputs } = await buckets(world, 2, n);
      const [X, Y] = tensors as [Tensor[], Tensor[]];
      const first = world.allReduce(X);
      // Deferred behind `first` (same tensors), then dropped: it never takes an in-flight token.
      world.allReduce$(X).subscribe().unsubscribe();
      const each = lastValueFrom(world.allReduceEach$([Y]).pipe(toArray()));
      const outcome = await orAfter(each.then(() => 'done'), 10_000, 'stuck');
      expect(outcome).to.equal('done');
      await first;
      await expectReduced(world, [Y], [inputs[1]!], n);
    } finally {
      await world.close();
    }
  });

  it('allReduceEach$ waiting on a source that never yields again ends with a ClosedError when the world closes, and returns the iterator', async () => {
    const world = await simulate({ machines: 1, devicesPerMachine: 2 });
    const { tensors } = await buckets(world, 1, 16);
    let returned = false;
    const source: AsyncIterable<Tensor[]> = {
      [Symbol.asyncIterator]: () => {
        let given = 0;
        return {
          // The first bucket, then a producer that never produces again.
          next: () => (given++ === 0 ? Promise.resolve({ done: false, value: tensors[0]! }) : new Promise<IteratorResult<Tensor[]>>(() => undefined)),
          return: () => {
            returned = true;
            return Promise.resolve({ done: true, value: undefined });
          },
        };
      },
    };
    const seen: string[] = [];
    const each = lastValueFrom(world.allReduceEach$(source).pipe(tap(() => seen.push('progress')))).then(
      () => 'completed',
      (e: Error) => `${e.name}: ${e.message}`,
    );
    await orAfter(new Promise((resolve) => setTimeout(resolve, 50)), 100, null);
    expect(seen.length, 'the first bucket was reduced').to.be.greaterThan(0);
    await world.close();
    expect(await orAfter(each, 5000, 'still waiting')).to.equal("ClosedError: the world was closed (world.close()) while allReduceEach$ waited for its source's next bucket");
    expect(returned, 'iterator.return() called').to.equal(true);
  });

  /** A source that yields `given` buckets, then never again. */
  const stuckAfter = (buckets: Tensor[][]): AsyncIterable<Tensor[]> => ({
    [Symbol.asyncIterator]: () => {
      let i = 0;
      return { next: () => (i < buckets.length ? Promise.resolve({ done: false, value: buckets[i++]! }) : new Promise<IteratorResult<Tensor[]>>(() => undefined)) };
    },
  });

  it('allReduceEach$ and close() with a bucket in flight: that bucket reports its progress first, then the ClosedError', async () => {
    const world = await simulate({ machines: 1, devicesPerMachine: 2, pipeline: (ctx) => pipe(readyPipelines.local!.build(ctx), delay(100)) });
    const { tensors } = await buckets(world, 1, 16);
    const seen: string[] = [];
    const each = lastValueFrom(world.allReduceEach$(stuckAfter(tensors)).pipe(tap(() => seen.push('progress')))).then(
      () => 'completed',
      (e: Error) => `${e.name}: ${e.message}`,
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    const closed = world.close();
    expect(await orAfter(each, 5000, 'still waiting')).to.equal("ClosedError: the world was closed (world.close()) while allReduceEach$ waited for its source's next bucket");
    expect(seen, 'the bucket in flight reported').to.deep.equal(['progress']);
    await closed;
  });

  it('allReduceEach$ when the world fails with a bucket in flight: the failure itself, not a ClosedError; on a failed world, a ClosedError with the failure as cause', async () => {
    const world = await simulate({ machines: 1, devicesPerMachine: 2, timeoutMs: 300, pipeline: () => () => NEVER });
    const { tensors } = await buckets(world, 1, 16);
    const first = await orAfter(lastValueFrom(world.allReduceEach$(stuckAfter(tensors))).then(() => null, (e: Error) => e), 5000, null);
    expect(first).to.be.instanceOf(ContractError);
    const second = await orAfter(lastValueFrom(world.allReduceEach$(stuckAfter([]))).then(() => null, (e: Error) => e), 5000, null);
    expect(second).to.be.instanceOf(ClosedError);
    expect(second!.cause).to.equal(first);
    await world.close();
  });
});

describe('memory of finished all-reduces (CPU backend)', () => {
  it('keeps nothing of a finished all-reduce alive until the watchdog next looks (timeoutMs later): the heap stays flat', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    // The default timeoutMs (2 minutes): the engine's watchdog does not look at the settled slices meanwhile.
    const world = await simulate({ machines: 1, devicesPerMachine: 1 });
    try {
      const { tensors } = await buckets(world, 64, 64);
      const rounds = async (n: number): Promise<void> => {
        for (let i = 0; i < n; i++) await Promise.all(tensors.map((t) => world.allReduce(t)));
      };
      await rounds(20);
      gc();
      const before = process.memoryUsage().heapUsed;
      await rounds(100);
      gc();
      const grown = process.memoryUsage().heapUsed - before;
      // 6,400 slices: keeping each settled slice with its job until the watchdog fired grew the heap by ~10 MB.
      expect(grown, `heap growth over 6400 finished slices, bytes`).to.be.below(3 << 20);
    } finally {
      await world.close();
    }
  });
});
