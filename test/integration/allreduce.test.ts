import { expect } from 'chai';
import { delay, filter, map, mergeMap, of, pipe, take, tap, type MonoTypeOperatorFunction } from 'rxjs';
import {
  ArgumentError,
  ClosedError,
  ContractError,
  LayoutError,
  StageError,
  TimeoutError,
  allGather,
  collect,
  add,
  diffuse,
  reduceScatter,
  nccl,
  simulate,
  stage,
  type ReduceOp,
  type PipelineSpec,
  type Slice,
  type RankLayout,
  type StageTiming,
  type World,
  type EngineContext,
  type Tensor,
} from '../../src/index.js';
import { dtypes, native, reduceOps, type NativeBuffer } from '../../src/native.js';
import { expectClose, gridArray, randomArray, reference } from '../helpers/data.js';
import { lonely } from '../helpers/pipelines.js';
import { checkAllReduce, checkReferenceLoop, checkStageTimeline, expectWithinBudget } from '../helpers/allreduce.js';
import { runtimeOverridingQueue } from '../helpers/queue.js';
import { orAfter } from '../helpers/time.js';

const topologies: Array<[number, number, RankLayout]> = [
  [1, 1, 'machine-major'],
  [1, 4, 'machine-major'],
  [4, 1, 'device-major'],
  [2, 2, 'device-major'],
  [2, 3, 'machine-major'],
  [2, 3, 'device-major'],
  [3, 5, 'machine-major'],
  [8, 2, 'device-major'],
];

describe('all-reduce on the CPU backend', () => {
  for (const [M, D, rankLayout] of topologies) {
    describe(`${M} machine(s) x ${D} device(s), ${rankLayout}`, () => {
      let world: World;
      before(async () => {
        world = await simulate({ pipeline: M === 1 ? 'local' : 'fairring', machines: M, devicesPerMachine: D, rankLayout });
      });
      after(() => world?.close());

      it('places ranks by the rank layout', () => {
        world.devices.forEach((d, g) => {
          expect(d.rank).to.equal(g);
          const want = rankLayout === 'machine-major' ? { machine: Math.floor(g / D), local: g % D } : { machine: g % M, local: Math.floor(g / M) };
          expect({ machine: d.place.machine, local: d.place.local }).to.deep.equal(want);
        });
      });

      for (const dtype of dtypes) {
        it(`every op on ${dtype} at sizes 0, 1, D·M−1, primes`, async () => {
          const sizes = [...new Set([0, 1, Math.max(1, D * M - 1), 1009, D * M * 7 + 3])];
          for (const op of reduceOps) {
            await Promise.all(sizes.map((n) => checkAllReduce(world, dtype, op, n)));
          }
          await expectWithinBudget(world);
        });
      }
    });
  }

  describe('slicing and bounded memory', () => {
    it('4x1 under a 4 KiB budget: many slices through bounded staging and padding slots', async () => {
      const world = await simulate({ machines: 4, devicesPerMachine: 1, memoryBytes: 4096, parallelism: 2, pipeline: 'fairring' });
      expect(world.layout.sliceBytes).to.be.lessThan(4096);
      const n = 5003;
      const inputs = world.devices.map(() => randomArray('float32', n));
      const tensors = await Promise.all(world.devices.map((d, i) => d.upload(inputs[i]!)));
      const progress: number[] = [];
      await new Promise<void>((resolve, reject) =>
        world.allReduce$(tensors).subscribe({ next: (p) => progress.push(p.slice), error: reject, complete: resolve }),
      );
      expect(progress.length).to.equal(Math.ceil((n * 4) / world.layout.sliceBytes));
      expect(progress.length).to.be.greaterThan(10);
      const expected = reference('float32', 'sum', inputs, n);
      for (const t of tensors) expectClose('float32', 'sum', 4, await t.download(), expected, 'sliced');
      const m = world.memory();
      // Staging slots go back to their ring once the add stage is enqueued (the next user waits on the device).
      expect(m.pools.staging.highWater).to.be.within(1, 2);
      expect(m.pools.inflight.highWater).to.equal(2);
      await expectWithinBudget(world);
      await world.close();
    });

    it('2x2 with sliceBytes: slices flow one behind the other and every tail is padded', async () => {
      const world = await simulate({ pipeline: 'fairring', machines: 2, devicesPerMachine: 2, sliceBytes: 4 * 4 * 8 * 10 });
      for (const dtype of ['float64', 'int8', 'bfloat16'] as const) {
        for (const op of ['sum', 'avg', 'max'] as const) await checkAllReduce(world, dtype, op, 4099);
      }
      await expectWithinBudget(world);
      await world.close();
    });

    it('32 concurrent all-reduces of different sizes, all correct, in-flight work bounded', async () => {
      const world = await simulate({ pipeline: 'fairring', machines: 2, devicesPerMachine: 2, sliceBytes: 1024, parallelism: 4, paddingBytes: 4 * 2 * 2 * 8 });
      expect(world.layout.parallelism).to.equal(4);
      await Promise.all(Array.from({ length: 32 }, (_, i) => checkAllReduce(world, i % 2 ? 'float32' : 'int32', i % 3 ? 'sum' : 'max', 100 + 37 * i)));
      expect(world.memory().pools.inflight.highWater).to.equal(4);
      await expectWithinBudget(world);
      await world.close();
    });
  });

  describe('pipelines', () => {
    it('the nccl baseline gives the same sums', async () => {
      const world = await simulate({ machines: 2, devicesPerMachine: 2, pipeline: nccl });
      expect(world.pipelineName).to.equal('nccl');
      for (const op of reduceOps) await checkAllReduce(world, 'float64', op, 1001);
      await world.close();
    });

    it('a user pipeline built from the stage operators with its own operator in between', async () => {
      const seen: string[] = [];
      const world = await simulate({
        machines: 2,
        devicesPerMachine: 2,
        sliceBytes: 256,
        pipeline: (ctx) =>
          pipe(
            reduceScatter(ctx),
            collect(ctx),
            tap((s) => seen.push(`${s.job.id}:${s.index}`)),
            add(ctx),
            diffuse(ctx),
            allGather(ctx),
          ),
      });
      await checkAllReduce(world, 'int32', 'sum', 333);
      expect(seen).to.deep.equal(Array.from({ length: Math.ceil((333 * 4) / 256) }, (_, i) => `0:${i}`));
      await world.close();
    });

    it('reports per-stage timings while someone listens', async () => {
      const world = await simulate({ machines: 2, devicesPerMachine: 2, pipeline: 'fairring' });
      const timings: Array<{ stage: string; rank: number; ms: number; bytes: number }> = [];
      const sub = world.timings$.subscribe((t) => timings.push(t));
      // 4099 = 4·1024 + 3: a tail, so admit and finish copy it in and out.
      await checkAllReduce(world, 'float32', 'sum', 4099);
      sub.unsubscribe();
      const stages = [...new Set(timings.map((t) => t.stage))];
      expect(stages).to.deep.equal(['admit', 'reduceScatter', 'collect', 'add', 'diffuse', 'allGather', 'finish']);
      expect(timings.filter((t) => t.stage === 'collect').map((t) => t.rank).sort()).to.deep.equal([0, 1, 2, 3]);
      // CPU: the executor's clock between a stage's records, finite and far below the test's own time.
      for (const t of timings) expect(t.ms, `${t.stage} on rank ${t.rank}`).to.be.a('number').within(0, 5000);
      expect(timings.filter((t) => t.ms > 0).length, 'timings that measured something').to.be.greaterThan(timings.length / 2);
      expect(timings.find((t) => t.stage === 'reduceScatter')!.bytes).to.equal((4096 + 4) * 4);
      expect(timings.find((t) => t.stage === 'admit')!.bytes).to.equal(3 * 4);
      const before = timings.length;
      await checkAllReduce(world, 'float32', 'sum', 64);
      expect(timings.length).to.equal(before);
      await world.close();
    });

    it('times each stage where the executor ran it: starts inside the call, each stage after the one before', async () => {
      const world = await simulate({ machines: 2, devicesPerMachine: 2, pipeline: 'fairring', sliceBytes: 1024 });
      const timings = await checkStageTimeline(world, 4099, 0);
      expect(new Set(timings.map((t) => t.slice)).size, 'slices timed').to.equal(Math.ceil((4099 * 4) / 1024));
      await world.close();
    });
  });

  describe('ordering with the caller', () => {
    it('a download right after an all-reduce that is not awaited sees the result, under backpressure', async () => {
      const world = await simulate({ pipeline: 'fairring', machines: 2, devicesPerMachine: 1, memoryBytes: 2048, parallelism: 1 });
      const n = 20000;
      const inputs = world.devices.map(() => randomArray('int32', n));
      const tensors = await Promise.all(world.devices.map((d, i) => d.upload(inputs[i]!)));
      const reduced = world.allReduce(tensors);
      const got = await Promise.all(tensors.map((t) => t.download()));
      const expected = reference('int32', 'sum', inputs, n);
      got.forEach((g, r) => expectClose('int32', 'sum', 2, g, expected, `rank ${r}`));
      await reduced;
      await world.close();
    });

    it('work of the caller\'s own on a device stream after an all-reduce it did not await reads the result, when every slice got in at once', async () => {
      // Downloads wait for the all-reduce on the host; this copy relies on the device stream's own wait alone,
      // which the job's last slice issues when it is admitted: here at once (4 slices, 8 in flight at most).
      const world = await simulate({ pipeline: 'fairring', machines: 2, devicesPerMachine: 2, sliceBytes: 4096 });
      const n = 4000;
      const inputs = world.devices.map(() => gridArray('float32', n));
      const tensors = await Promise.all(world.devices.map((d, i) => d.upload(inputs[i]!)));
      const copies = world.devices.map((d) => new native.Buffer(d.native, n * 4, true));
      const reduced = world.allReduce(tensors);
      world.devices.forEach((d, i) => d.stream.copy(copies[i]!, 0, tensors[i]!.buffer, 0, n * 4));
      await reduced;
      await Promise.all(world.devices.map((d) => d.sync()));
      const expected = reference('float32', 'sum', inputs, n);
      copies.forEach((c, r) => expectClose('float32', 'sum', 4, new Float32Array(c.hostView()), expected, `rank ${r}'s copy`, true));
      for (const c of copies) c.close();
      await world.close();
    });

    it('two all-reduces of the same tensors, the second not waiting for the first, apply in call order', async () => {
      const world = await simulate({ pipeline: 'fairring', machines: 4, devicesPerMachine: 1, memoryBytes: 4096, parallelism: 1 });
      const n = 3001;
      expect(world.layout.sliceBytes).to.be.lessThan((n * 8) / 5);
      const inputs = world.devices.map(() => randomArray('int64', n));
      const tensors = await Promise.all(world.devices.map((d, i) => d.upload(inputs[i]!)));
      await Promise.all([world.allReduce(tensors), world.allReduce(tensors, { op: 'max' })]);
      // max over ranks of identical sums is the sum.
      const expected = reference('int64', 'sum', inputs, n);
      for (const t of tensors) expectClose('int64', 'sum', 4, await t.download(), expected, 'sum then max');
      await world.close();
    });

    it('a timings$ subscriber that throws, directly or through an operator, fails neither the all-reduce nor the process, and unsubscribing still detaches it', async () => {
      const world = await simulate({ pipeline: 'fairring', machines: 2, devicesPerMachine: 2, sliceBytes: 512 });
      const errors: unknown[][] = [];
      const original = console.error;
      console.error = (...args: unknown[]) => errors.push(args);
      try {
        const direct = world.timings$.subscribe(() => {
          throw new Error('subscriber bug');
        });
        const piped = world.timings$
          .pipe(
            map((t) => {
              if (t.stage === 'collect') throw new Error('operator bug');
              return t;
            }),
          )
          .subscribe(() => undefined);
        const counted: StageTiming[] = [];
        const healthy = world.timings$.pipe(filter((t) => t.stage === 'add')).subscribe((t) => counted.push(t));
        await checkAllReduce(world, 'float32', 'sum', 999);
        // RxJS would rethrow them on a timer: give it one.
        await new Promise((resolve) => setTimeout(resolve, 20));
        expect(counted.length).to.be.greaterThan(0);
        // The piped chain ended with its operator's error; the other two still listen.
        expect(world.listenerCount('timing')).to.equal(2);
        for (const s of [direct, piped, healthy]) s.unsubscribe();
        expect(world.listenerCount('timing')).to.equal(0);
      } finally {
        console.error = original;
      }
      const text = errors.map((e) => e.map(String).join(' '));
      expect(text.some((t) => /a timings\$ subscriber threw: Error: subscriber bug/.test(t))).to.equal(true);
      expect(text.some((t) => /timings\$ failed, with no error handler: Error: operator bug/.test(t))).to.equal(true);
      await expectWithinBudget(world);
      await world.close();
    });

    it('a timing listener that throws neither fails the all-reduce nor unbalances the pools', async () => {
      const world = await simulate({ pipeline: 'fairring', machines: 2, devicesPerMachine: 2, sliceBytes: 512 });
      const errors: unknown[] = [];
      const original = console.error;
      console.error = (...args: unknown[]) => errors.push(args);
      try {
        const listener = (): void => {
          throw new Error('listener bug');
        };
        world.on('timing', listener);
        await checkAllReduce(world, 'float32', 'sum', 999);
        world.off('timing', listener);
      } finally {
        console.error = original;
      }
      expect(errors.length).to.be.greaterThan(0);
      await expectWithinBudget(world);
      await checkAllReduce(world, 'float32', 'sum', 999);
      await world.close();
    });

    it('a tensor closed while its all-reduce is queued: the all-reduce keeps its memory and completes, and the world drains', async () => {
      const world = await simulate({ pipeline: 'fairring', machines: 2, devicesPerMachine: 1, memoryBytes: 2048, parallelism: 1 });
      const n = 20000;
      const inputs = world.devices.map(() => gridArray('float32', n));
      const tensors = await Promise.all(world.devices.map((d, i) => d.upload(inputs[i]!)));
      const done = world.allReduce(tensors).then(() => null, (e: Error) => e);
      tensors[0]!.close();
      expect(await done).to.equal(null);
      expectClose('float32', 'sum', 2, await tensors[1]!.download(), reference('float32', 'sum', inputs, n), 'the open tensor', true);
      await world.close();
      const m = world.memory();
      expect([m.pools.inflight.inUse, m.pools.staging.inUse, m.pools.padding.inUse]).to.deep.equal([0, 0, 0]);
    });
    it('a tensor is registered with the world once, kept across all-reduces, and let go when it is closed', async () => {
      const calls = { add: 0, remove: 0 };
      const counting = runtimeOverridingQueue((q) => ({
        addBuffer: (b: NativeBuffer) => (calls.add++, q.addBuffer(b)),
        removeBuffer: (i: number) => (calls.remove++, q.removeBuffer(i)),
      }));
      const world = await simulate({ machines: 2, devicesPerMachine: 2, runtime: counting });
      const data = world.devices.map(() => Int32Array.from({ length: 301 }, () => Math.floor(Math.random() * 2000) - 1000));
      const tensors = await Promise.all(world.devices.map((d, i) => d.upload(data[i]!)));
      const base = calls.add;
      for (let i = 0; i < 3; i++) await world.allReduce(tensors);
      expect(calls.add - base, 'registrations for three all-reduces of the same tensors').to.equal(4);
      expect(calls.remove).to.equal(0);
      tensors[0]!.close();
      expect(calls.remove, 'an idle tensor is let go when closed').to.equal(1);
      const fresh = await world.devices[0]!.upload(new Int32Array(301).fill(1));
      const pair = [fresh, ...tensors.slice(1)];
      const running = world.allReduce(pair);
      fresh.close();
      expect(calls.remove, 'a tensor in use is kept until its all-reduce is over').to.equal(1);
      await running;
      expect(calls.remove).to.equal(2);
      // Three sums over four ranks make 16·S everywhere; then 1 + 3·16·S with the fresh tensor on rank 0.
      const got = (await tensors[1]!.download()) as Int32Array;
      const expected = Array.from({ length: 301 }, (_, i) => 1 + 3 * 16 * data.reduce((a, d) => a + d[i]!, 0));
      expect(Array.from(got)).to.deep.equal(expected);
      await world.close();
      expect(calls.remove, 'close() releases the rest with the queue').to.equal(2);
    });
    it('a call whose job waits for a token makes no native call of its own: its start records go with the next flush', async () => {
      let submits = 0;
      const counting = runtimeOverridingQueue((q) => ({ submit: (ops: Float64Array, length: number) => (submits++, q.submit(ops, length)) }));
      const world = await simulate({ machines: 2, devicesPerMachine: 2, parallelism: 8, runtime: counting });
      const n = 64;
      const inputs = Array.from({ length: 64 }, () => world.devices.map(() => gridArray('float32', n)));
      const buckets = await Promise.all(inputs.map((bucket) => Promise.all(world.devices.map((d, i) => d.upload(bucket[i]!)))));
      submits = 0;
      // One slice per call: the first eight get in at once, each handing its stages over before it returns; the
      // other 56 wait for tokens, so they pack a start record and return.
      const reduced = buckets.map((tensors) => world.allReduce(tensors));
      expect(submits, 'native calls during 64 calls, 8 tokens').to.equal(8);
      await Promise.all(reduced);
      for (const [b, tensors] of buckets.entries()) {
        const expected = reference('float32', 'sum', inputs[b]!, n);
        for (const [r, t] of tensors.entries()) expectClose('float32', 'sum', 4, await t.download(), expected, `bucket ${b}, rank ${r}`, true);
      }
      await world.close();
    });
  });

  describe('broadcast', () => {
    for (const [M, D, pipeline] of [[1, 3, 'local'], [2, 2, 'fairring'], [3, 1, 'nccl']] as const) {
      it(`${M} x ${D} (${pipeline}): every rank gets the root's bytes exactly, -0, NaN payloads and Inf included`, async () => {
        const world = await simulate({ machines: M, devicesPerMachine: D, pipeline });
        const n = 1003;
        const root = Math.floor(Math.random() * M * D);
        const data = world.devices.map(() => randomArray('float32', n) as Float32Array);
        const special = new Uint32Array([0x80000000, 0x7fc01234, 0xffa00001, 0x7f800000, 0xff800000, 0x00000001]);
        new Uint32Array(data[root]!.buffer).set(special);
        const tensors = await Promise.all(world.devices.map((d, i) => d.upload(data[i]!)));
        await world.broadcast(tensors, { root });
        const want = Array.from(new Uint32Array(data[root]!.buffer));
        for (const t of tensors) {
          const got = (await t.download()) as Float32Array;
          expect(Array.from(new Uint32Array(got.buffer, got.byteOffset, n))).to.deep.equal(want);
        }
        // The tensors stay usable: a sum after the broadcast is M·D times the root's values (past the special
        // ones), on every rank; M·D ≤ 4 copies of one float32 add up to it rounded once.
        await world.allReduce(tensors);
        const sums = Array.from(data[root]!.subarray(special.length), (x) => Math.fround(x * M * D));
        for (const t of tensors) expect(Array.from(((await t.download()) as Float32Array).subarray(special.length))).to.deep.equal(sums);
        await world.close();
      });
    }

    it('cut short by an earlier failure before it starts, refuses downloads of its tensors (their zeros may have landed); a later all-reduce\'s keep their data', async () => {
      const failing: PipelineSpec = {
        name: 'failing',
        padded: true,
        comms: ['reduceScatter', 'collect', 'diffuse', 'allGather'],
        build: (ctx) =>
          pipe(
            reduceScatter(ctx),
            map((s: Slice) => {
              if (s.job.id === 0 && s.index === 12) throw new Error('injected');
              return s;
            }),
            collect(ctx),
            add(ctx),
            diffuse(ctx),
            allGather(ctx),
          ),
      };
      const world = await simulate({ machines: 2, devicesPerMachine: 2, sliceBytes: 64, pipeline: failing });
      const upload = (): Promise<Tensor[]> => Promise.all(world.devices.map((d) => d.upload(randomArray('float32', 480))));
      const [A, B, C] = [await upload(), await upload(), await upload()];
      const cData = await Promise.all(C.map((t) => t.download()));
      const calls = [world.allReduce(A), world.broadcast(B, { root: 0 }), world.allReduce(C)].map((p) => p.then(() => null, (e: Error) => e));
      const [a, b, c] = await Promise.all(calls);
      expect(a).to.be.instanceOf(StageError);
      expect(b).to.be.instanceOf(StageError);
      expect(c).to.be.instanceOf(StageError);
      for (let i = 0; i < B.length; i++) {
        const e = await B[i]!.download().then(() => null, (err: Error) => err);
        expect(e, `B on rank ${i}`).to.be.instanceOf(ClosedError);
        expect(e!.message).to.match(/was part of all-reduce #1, which failed/);
      }
      for (let i = 0; i < C.length; i++) expect(Array.from((await C[i]!.download()) as Float32Array), `C on rank ${i}`).to.deep.equal(Array.from(cData[i] as Float32Array));
      await world.close();
    });

    it('waits for an all-reduce of the same tensors called before it, and refuses a bad root', async () => {
      const world = await simulate({ machines: 2, devicesPerMachine: 1, memoryBytes: 4096, parallelism: 1 });
      const tensors = await Promise.all(world.devices.map((d) => d.upload(Int32Array.from({ length: 5000 }, (_, i) => i + d.rank))));
      const first = world.allReduce(tensors);
      await world.broadcast(tensors, { root: 1 });
      await first;
      const got = (await tensors[0]!.download()) as Int32Array;
      expect(got[4999]).to.equal(2 * 4999 + 1);
      const bad = await world.broadcast(tensors, { root: 2 }).catch((e: unknown) => e);
      expect(bad).to.be.instanceOf(ArgumentError);
      expect((bad as Error).message).to.equal('root must be a global rank from 0 to 1, got 2');
      await world.close();
    });
  });

  describe('errors', () => {
    it('rejects bad input with typed errors before enqueueing anything', async () => {
      const world = await simulate({ pipeline: 'local', machines: 1, devicesPerMachine: 2 });
      const [a, b] = await Promise.all(world.devices.map((d) => d.upload(new Float32Array(8))));
      const c = await world.devices[0]!.upload(new Float32Array(9));
      const d = await world.devices[1]!.upload(new Int32Array(8));
      const err = (p: Promise<unknown>): Promise<Error> => p.then(() => expect.fail('resolved'), (e: Error) => e);
      expect(await err(world.allReduce([a!]))).to.be.instanceOf(ArgumentError).with.property('message').match(/one tensor per local device: 2 expected, got 1/);
      expect(await err(world.allReduce([b!, a!]))).to.be.instanceOf(ArgumentError).with.property('message').match(/lives on rank 1, expected rank 0/);
      expect(await err(world.allReduce([c, b!]))).to.be.instanceOf(ArgumentError).with.property('message').match(/float32 x 8 but tensors\[0\] is float32 x 9/);
      expect(await err(world.allReduce([a!, d]))).to.be.instanceOf(ArgumentError);
      expect(await err(world.allReduce([a!, b!], { op: 'mean' as ReduceOp }))).to.be.instanceOf(ArgumentError);
      expect(await err(world.devices[0]!.upload(new Uint16Array(4)))).to.be.instanceOf(ArgumentError).with.property('message').match(/float16 or bfloat16/);
      // A sparse array's hole is checked like any other element.
      expect(await err(world.allReduce([a!, ,] as never))).to.be.instanceOf(ArgumentError).with.property('message').match(/^tensors\[1\] is not a Tensor/);
      expect(await err(world.devices[0]!.download(b!))).to.be.instanceOf(ArgumentError).with.property('message').match(/lives on rank 1, not on this device \(rank 0\)/);
      // Memory a SharedArrayBuffer holds is copied in like any other.
      const shared = new Float32Array(new SharedArrayBuffer(16));
      shared.set([1.5, -2, 3, 4]);
      const fromShared = await world.devices[0]!.upload(shared);
      expect(Array.from((await fromShared.download()) as Float32Array)).to.deep.equal([1.5, -2, 3, 4]);
      // The inputs those refused calls named are untouched and still usable.
      await world.allReduce([a!, b!]);
      await world.close();
      expect(await err(world.allReduce([a!, b!]))).to.be.instanceOf(ClosedError);
    });

    it('rejects budgets too small for the topology', async () => {
      const e1 = await simulate({ pipeline: 'fairring', machines: 2, devicesPerMachine: 2, paddingBytes: 64, parallelism: 8 }).then(() => null, (e: Error) => e);
      expect(e1).to.be.instanceOf(LayoutError).with.property('message').match(/parallelism 8 needs at least 256/);
      const e2 = await simulate({ pipeline: 'fairring', machines: 4, devicesPerMachine: 1, memoryBytes: 100, parallelism: 2 }).then(() => null, (e: Error) => e);
      expect(e2).to.be.instanceOf(LayoutError).with.property('message').match(/cannot hold 2 staging slots/);
    });

    it('a stage that fails on the device names rank, stage and slice, fails the world and frees its slots', async () => {
      // Rank 0's extra allReduce meets rank 1's allGather on the same communicator: a mismatch on every rank.
      const world = await simulate({ machines: 1, devicesPerMachine: 2, pipeline: lonely('allGather') });
      const tensors = await Promise.all(world.devices.map((d) => d.upload(new Float32Array([1, 2, 3, 4]))));
      const e = await world.allReduce(tensors).then(() => null, (err: Error) => err);
      expect(e).to.be.instanceOf(StageError);
      const se = e as StageError;
      expect([se.stage, se.rank, se.slice, se.job]).to.deep.equal(['lonely', 0, 0, 0]);
      expect(se.message).to.match(/all-reduce #0 slice 0 failed in lonely on rank 0: .*rank 1 called allGather\(float32, count 2\) where rank 0 called allReduce/);
      expect(world.memory().pools.inflight.inUse).to.equal(0);
      expect(await world.allReduce(tensors).then(() => null, (err: Error) => err)).to.be.instanceOf(ClosedError);
      await world.close();
    });

    it('a pipeline of built-in stages that misses a reduction step fails with a ContractError naming the missing stages', async () => {
      const partial: PipelineSpec = { name: 'partial', padded: true, comms: ['reduceScatter', 'allGather'], build: (ctx) => pipe(reduceScatter(ctx), allGather(ctx)) };
      const world = await simulate({ machines: 2, devicesPerMachine: 2, pipeline: partial });
      const tensors = await Promise.all(world.devices.map((d) => d.upload(new Float32Array(64).fill(1))));
      const e = await world.allReduce(tensors).then(() => null, (err: Error) => err);
      expect(e).to.be.instanceOf(ContractError);
      expect(e!.message).to.match(/the partial pipeline ran reduceScatter, allGather for slice 0 of all-reduce #0, but 2 machine\(s\) x 2 device\(s\) also need collect, add, diffuse/);
      await world.close();
      expect(world.memory().pools.inflight.inUse).to.equal(0);
    });

    /** The five stages with a user operator spliced in after the reduce-scatter. */
    function spliced(name: string, op: MonoTypeOperatorFunction<Slice>): PipelineSpec {
      return { name, padded: true, comms: ['reduceScatter', 'collect', 'diffuse', 'allGather'], build: (ctx) => pipe(reduceScatter(ctx), op, collect(ctx), add(ctx), diffuse(ctx), allGather(ctx)) };
    }

    it('an operator of the user\'s that throws fails the all-reduce with a StageError naming the slice and where, the thrown value as cause', async () => {
      for (const thrown of [new Error('boom'), 'a string']) {
        const world = await simulate({
          machines: 2,
          devicesPerMachine: 2,
          sliceBytes: 64,
          pipeline: spliced('throwing', map((s: Slice) => {
            if (s.index === 1) throw thrown;
            return s;
          })),
        });
        const tensors = await Promise.all(world.devices.map((d) => d.upload(new Float32Array(48).fill(1))));
        const e = await world.allReduce(tensors).then(() => null, (err: Error) => err);
        expect(e).to.be.instanceOf(StageError);
        const se = e as StageError;
        expect([se.stage, se.slice, se.job, se.rank, se.code]).to.deep.equal(['operator after reduceScatter', 1, 0, null, 'ERR_FAIRRING_STAGE']);
        expect(se.cause).to.equal(thrown);
        expect(se.message).to.equal(`all-reduce #0 slice 1 failed in operator after reduceScatter: ${thrown instanceof Error ? thrown.message : thrown}`);
        await world.close();
        expect(world.memory().pools.inflight.inUse).to.equal(0);
      }
    });

    it('a pipeline that drops a slice fails with a ContractError when the next one comes out, and close() returns', async () => {
      const world = await simulate({ machines: 2, devicesPerMachine: 2, sliceBytes: 64, pipeline: spliced('dropping', filter((s) => s.index !== 1)) });
      const tensors = await Promise.all(world.devices.map((d) => d.upload(new Float32Array(48).fill(1))));
      const e = await world.allReduce(tensors).then(() => null, (err: Error) => err);
      expect(e).to.be.instanceOf(ContractError);
      expect(e!.message).to.match(/the dropping pipeline emitted slice 2 of all-reduce #0 where slice 1 of all-reduce #0 was due/);
      await world.close();
      expect(world.memory().pools.inflight.inUse).to.equal(0);
    });

    it('a pipeline that emits a slice twice, or runs a stage twice, fails with a ContractError, not a wrong sum', async () => {
      const cases: Array<[PipelineSpec, RegExp]> = [
        [spliced('doubling', mergeMap((s: Slice) => of(s, s))), /the doubling pipeline emitted slice 0 of all-reduce #0 twice/],
        [
          { name: 'twice', padded: true, comms: ['reduceScatter', 'collect', 'diffuse', 'allGather'], build: (ctx) => pipe(reduceScatter(ctx), reduceScatter(ctx), collect(ctx), add(ctx), diffuse(ctx), allGather(ctx)) },
          /the twice pipeline ran reduceScatter twice for slice 0 of all-reduce #0: each stage must run once per slice/,
        ],
      ];
      for (const [pipeline, message] of cases) {
        const world = await simulate({ machines: 2, devicesPerMachine: 2, sliceBytes: 64, pipeline });
        const tensors = await Promise.all(world.devices.map((d) => d.upload(randomArray('float32', 48))));
        const e = await world.allReduce(tensors).then(() => null, (err: Error) => err);
        expect(e, pipeline.name).to.be.instanceOf(ContractError);
        expect(e!.message).to.match(message);
        expect(await tensors[0]!.download().then(() => null, (err: Error) => err)).to.be.instanceOf(ClosedError);
        await world.close();
        expect(world.memory().pools.inflight.inUse).to.equal(0);
      }
    });

    it('a pipeline that completes before the world is closed fails the calls still to run with a ContractError, and later ones at once', async () => {
      const world = await simulate({ machines: 2, devicesPerMachine: 2, sliceBytes: 64, parallelism: 2, timeoutMs: 60000, pipeline: spliced('short', take(2)) });
      const tensors = await Promise.all(world.devices.map((d) => d.upload(new Float32Array(480).fill(1))));
      const e = await world.allReduce(tensors).then(() => null, (err: Error) => err);
      expect(e).to.be.instanceOf(ContractError);
      expect(e!.message).to.match(/the short pipeline completed before the world was closed/);
      expect(await world.allReduce(tensors).then(() => null, (err: Error) => err)).to.be.instanceOf(ClosedError);
      await world.close();
      expect(world.memory().pools.inflight.inUse).to.equal(0);
    });

    it('the native reference loop computes what it replays: one bucket or a list, at 2 x 1 (staging slots) and 2 x 2 cut into slices', async () => {
      for (const [M, D, sliceBytes] of [
        [2, 1, undefined],
        [2, 2, 4096],
      ] as const) {
        const world = await simulate({ machines: M, devicesPerMachine: D, ...(sliceBytes === undefined ? { memoryBytes: 1 << 20 } : { sliceBytes }) });
        await checkReferenceLoop(world, 100_003, 5);
        await checkReferenceLoop(world, 30_011, 4, 3);
        await world.close();
      }
    });

    it('close() while a reference loop runs lets its replay finish first: both settle, none hangs', async () => {
      for (const closeAfterMs of [0, 5]) {
        const world = await simulate({ machines: 2, devicesPerMachine: 2, sliceBytes: 4096 });
        const tensors = await Promise.all(world.devices.map((d) => d.upload(randomArray('float32', 100_000))));
        const loop = world.referenceLoop(tensors, { iterations: 5 }).then(
          (r) => r,
          (e: Error) => e,
        );
        await new Promise((resolve) => setTimeout(resolve, closeAfterMs));
        const closed = world.close().then(() => 'closed');
        const outcome = await orAfter(Promise.all([loop, closed]), 15_000, 'stuck');
        expect(outcome, `close after ${closeAfterMs} ms`).to.not.equal('stuck');
        const [result] = outcome as [unknown, string];
        // Closed before it was captured, the loop says so; else its replay ran to the end.
        if (result instanceof Error) expect(result).to.be.instanceOf(ClosedError);
        else expect(result).to.have.property('slicesPerIteration').above(0);
      }
    });

    it('work the Queue refuses (a stage naming a buffer never registered) fails the world naming that stage and slice, and close() returns at once with every slot back', async () => {
      const bogus = (ctx: Parameters<PipelineSpec['build']>[0]): MonoTypeOperatorFunction<Slice> =>
        stage(ctx, {
          stage: 'bogus',
          stream: 'add',
          bytes: () => 0,
          enqueue: (v) => {
            if (v.slice.index === 1) ctx.ranks.forEach((r) => ctx.program.copy(r.streams.add, 9999, 0, 9999, 0, 8));
          },
        });
      const refused = await simulate({
        machines: 2,
        devicesPerMachine: 2,
        sliceBytes: 64,
        timeoutMs: 5000,
        pipeline: { name: 'refused', padded: true, comms: ['reduceScatter', 'collect', 'diffuse', 'allGather'], build: (ctx) => pipe(reduceScatter(ctx), collect(ctx), add(ctx), diffuse(ctx), allGather(ctx), bogus(ctx)) },
      });
      const tensors = await Promise.all(refused.devices.map((d) => d.upload(new Float32Array(48).fill(1))));
      const t0 = Date.now();
      const e = await refused.allReduce(tensors).then(() => null, (err: Error) => err);
      expect(e).to.be.instanceOf(StageError);
      const se = e as StageError;
      expect([se.stage, se.slice, se.job, se.rank]).to.deep.equal(['bogus', 1, 0, null]);
      expect(se.message).to.match(/^all-reduce #0 slice 1 failed in bogus: ops\[\d+\] \(copy\): dst 9999 is not a registered buffer/);
      expect(await refused.allReduce(tensors).then(() => null, (err: Error) => err)).to.be.instanceOf(ClosedError);
      await refused.close();
      // At once, not after the world's timeout (120 s): bounds wide enough for a loaded machine.
      expect(Date.now() - t0).to.be.below(10_000);
      expect(refused.memory().pools.inflight.inUse).to.equal(0);
    });

    it('a job that fails while its last units wait for a flush: its closed tensors leave the Queue only after them, so no later buffer takes their place', async () => {
      // One slice in flight: slice 20 is admitted and packed while a report is handled; the operator after the
      // stages then throws, the job ends and its closed tensors are unregistered in that same turn, and the error
      // handler registers new tensors at once (which reuse freed buffer indices).
      const throwing = await simulate({
        machines: 2,
        devicesPerMachine: 2,
        sliceBytes: 64,
        parallelism: 1,
        pipeline: {
          name: 'late',
          padded: true,
          comms: ['reduceScatter', 'collect', 'diffuse', 'allGather'],
          build: (ctx) => pipe(reduceScatter(ctx), collect(ctx), add(ctx), diffuse(ctx), allGather(ctx), map((s: Slice) => {
            if (s.index === 20) throw new Error('boom');
            return s;
          })),
        },
      });
      const { program } = (throwing as unknown as { ctx: EngineContext }).ctx;
      const refusals: string[] = [];
      const report = program.onRefused!;
      program.onRefused = (error, abandoned) => {
        refusals.push(error.message);
        report(error, abandoned);
      };
      const tensors = await Promise.all(throwing.devices.map((d) => d.upload(new Float32Array(48 * 32).fill(1))));
      const extra = await Promise.all(throwing.devices.map((d) => d.upload(new Float32Array(48 * 32).fill(7))));
      const second = await new Promise<unknown>((resolve) => {
        throwing.allReduce$(tensors).subscribe({
          error: () => throwing.allReduce$(extra).subscribe({ error: resolve, complete: () => resolve(null) }),
          complete: () => resolve(null),
        });
        for (const t of tensors) t.close();
      });
      expect(second).to.be.instanceOf(ClosedError);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(refusals).to.deep.equal([]);
      for (const t of extra) expect(Array.from((await t.download()) as Float32Array).every((v) => v === 7), `rank ${t.device.rank}`).to.equal(true);
      await throwing.close();
    });

    it('an asynchronous operator of the user\'s between stages: the stages after it still reach the devices, results exact', async () => {
      // The stages after the delay run in a timer's turn, flushed when the slice's settling asks for its records.
      const world = await simulate({ machines: 2, devicesPerMachine: 2, sliceBytes: 64, pipeline: spliced('delayed', delay<Slice>(1)) });
      await checkAllReduce(world, 'int32', 'sum', 1000);
      await checkAllReduce(world, 'float32', 'sum', 77);
      await expectWithinBudget(world);
      await world.close();
    });

    for (const [what, op] of [
      ['drops the last slice', filter((s: Slice) => s.index !== 2)],
      ['never emits', delay<Slice>(60_000)],
    ] as const) {
      it(`a pipeline that ${what} times out within timeoutMs from admission, and close() returns`, async () => {
        const world = await simulate({ machines: 2, devicesPerMachine: 2, sliceBytes: 64, timeoutMs: 300, pipeline: spliced('stalling', op) });
        const tensors = await Promise.all(world.devices.map((d) => d.upload(new Float32Array(48).fill(1))));
        const t0 = Date.now();
        const e = await world.allReduce(tensors).then(() => null, (err: Error) => err);
        expect(e).to.be.instanceOf(TimeoutError);
        // From timeoutMs (300) on, and long before the stalled slice (60 s) or a hang.
        expect(Date.now() - t0).to.be.within(250, 10_000);
        await world.close();
        expect(Date.now() - t0).to.be.below(15_000);
        expect(world.memory().pools.inflight.inUse).to.equal(0);
      });
    }

    it('a peer that never arrives times out, naming stage, ranks and slice, instead of hanging', async () => {
      const world = await simulate({ machines: 1, devicesPerMachine: 2, timeoutMs: 300, pipeline: lonely('reduceScatter') });
      const tensors = await Promise.all(world.devices.map((d) => d.upload(new Float32Array([1, 2, 3, 4]))));
      const e = await world.allReduce(tensors).then(() => null, (err: Error) => err);
      expect(e).to.be.instanceOf(TimeoutError);
      const te = e as TimeoutError;
      expect([te.stage, te.ranks, te.slice, te.job]).to.deep.equal(['lonely', [0], 0, 0]);
      expect(te.message).to.match(/did not finish lonely on rank\(s\) 0 within 300 ms; communicators aborted/);
      await world.close();
      expect(world.memory().pools.inflight.inUse).to.equal(0);
    });
  });
});
