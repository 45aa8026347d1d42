// Marble tests of the engine over the virtual runtime: every operation occupies its streams for virtual
// frames, so ordering, overlap, backpressure, errors and teardown are pinned to exact frames.
import { expect } from 'chai';
import { TestScheduler } from 'rxjs/testing';
import { ClosedError, StageError, Tensor, fairring, local, simulate, type Progress, type SimulateOptions, type World } from '../../src/index.js';
import { createVirtualRuntime, type VirtualOp, type VirtualRuntime, type VirtualRuntimeOptions } from '../helpers/virtual-runtime.js';

const stageOfStream = ['reduceScatter', 'collect', 'add', 'diffuse', 'allGather'] as const;

interface Setup {
  rt: VirtualRuntime;
  world: World;
  tensors(n: number): Tensor[];
  /** Which of the five per-rank streams a stream id is (null for the devices' own streams). */
  stageOf(stream: number): (typeof stageOfStream)[number] | null;
}

async function setup(
  scheduler: TestScheduler,
  options: Omit<SimulateOptions, 'runtime' | 'scheduler'>,
  virtual: (stageOf: Setup['stageOf']) => VirtualRuntimeOptions = () => ({}),
): Promise<Setup> {
  const ranks = options.machines * options.devicesPerMachine;
  // Streams are numbered in creation order: each device's own stream first, then five per rank.
  const stageOf = (stream: number): Setup['stageOf'] extends (s: number) => infer R ? R : never =>
    stream < ranks ? null : stageOfStream[(stream - ranks) % 5]!;
  const rt = createVirtualRuntime(scheduler, virtual(stageOf));
  // These tests pin the stages themselves: the five stages (reduce-scatter + all-gather on one machine), not auto's routing.
  const world = await simulate({ pipeline: options.machines === 1 ? local : fairring, ...options, runtime: rt, scheduler });
  return {
    rt,
    world,
    stageOf,
    tensors: (n) => world.devices.map((d) => new Tensor(d, new rt.Buffer(d.native, n * 4), 'float32', n)),
  };
}

/** Settles a promise whose work runs on virtual time: flushes the scheduler between turns of the event loop. */
async function drive<T>(scheduler: TestScheduler, p: Promise<T>): Promise<T> {
  let settled = false;
  void p.finally(() => (settled = true));
  while (!settled) {
    await new Promise((r) => setImmediate(r));
    scheduler.flush();
  }
  return p;
}

function progress(slice: number, slices: number, sliceElems: number, n: number): Progress {
  return { job: 0, slice, slices, bytes: Math.min((slice + 1) * sliceElems, n) * 4 };
}

describe('engine marbles (virtual runtime)', () => {
  let scheduler: TestScheduler;
  beforeEach(() => {
    scheduler = new TestScheduler((actual, expected) => {
      expect(actual).to.deep.equal(expected);
    });
  });

  it('overlaps consecutive slices across the five stages: 3 slices in 7 frames, not 15', async () => {
    const { world, tensors } = await setup(scheduler, { machines: 2, devicesPerMachine: 2, sliceBytes: 4 * 8 * 4 });
    const t = tensors(3 * 32);
    scheduler.run(({ expectObservable }) => {
      expectObservable(world.allReduce$(t)).toBe('-----ab(c|)', {
        a: progress(0, 3, 32, 96),
        b: progress(1, 3, 32, 96),
        c: progress(2, 3, 32, 96),
      });
    });
  });

  it('times each stage where its stream ran it: start frame and duration per slice, stage and rank', async () => {
    const { world, tensors } = await setup(scheduler, { machines: 2, devicesPerMachine: 2, sliceBytes: 4 * 8 * 4 });
    const t = tensors(3 * 32);
    const seen: string[] = [];
    scheduler.run(({ expectObservable }) => {
      const sub = world.timings$.subscribe((x) => seen.push(`${x.slice} ${x.stage} rank ${x.rank}: ${x.startMs}+${x.ms}`));
      expectObservable(world.allReduce$(t)).toBe('-----ab(c|)', {
        a: progress(0, 3, 32, 96),
        b: progress(1, 3, 32, 96),
        c: progress(2, 3, 32, 96),
      });
      scheduler.schedule(() => sub.unsubscribe(), 20);
    });
    // Slice s runs stage k in frame s + k on every rank; one frame each.
    const expected = [0, 1, 2].flatMap((s) => stageOfStream.flatMap((stage, k) => [0, 1, 2, 3].map((r) => `${s} ${stage} rank ${r}: ${s + k}+1`)));
    expect([...seen].sort()).to.deep.equal([...expected].sort());
  });

  it('completes when the last slice\'s all-gather completes', async () => {
    const { world, tensors } = await setup(scheduler, { machines: 1, devicesPerMachine: 2 }, (stageOf) => ({
      duration: (op: VirtualOp) => (stageOf(op.stream) === 'allGather' ? 3 : 1),
    }));
    const t = tensors(64);
    scheduler.run(({ expectObservable }) => {
      expectObservable(world.allReduce$(t)).toBe('----(a|)', { a: progress(0, 1, 64, 64) });
    });
  });

  it('keeps slice order on every stream and communicator under random completion delays', async () => {
    let seed = 12345;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    // Which slice each group belongs to, in the order the streams received them: slices of one tensor are told
    // apart by the offset of the group's first operation, always a grid cell here (every slice has a chunk).
    const issued = new Map<number, number[]>();
    const { world, tensors } = await setup(scheduler, { machines: 2, devicesPerMachine: 2, sliceBytes: 4 * 8 * 4, parallelism: 3, paddingBytes: 3 * 32 }, () => ({
      duration: (op: VirtualOp) => {
        const first = op.items?.[0];
        if (first) issued.set(op.stream, [...(issued.get(op.stream) ?? []), first.sendOffset ?? first.recvOffset ?? 0]);
        return 1 + Math.floor(random() * 7);
      },
    }));
    const seen: number[] = [];
    scheduler.run(({ flush }) => {
      world.allReduce$(tensors(8 * 32 + 5)).subscribe((p) => seen.push(p.slice));
      flush();
    });
    expect(seen).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(issued.size).to.be.greaterThan(0);
    for (const [stream, offsets] of issued) {
      expect(offsets, `stream ${stream}`).to.deep.equal([...offsets].sort((a, b) => a - b));
      expect(new Set(offsets).size, `stream ${stream}: one group per slice`).to.equal(9);
    }
  });

  for (const [parallelism, marbles] of [
    [1, '---a--b--c--(d|)'],
    [2, '---ab-c(d|)'],
  ] as const) {
    it(`holds back the slice past ${parallelism} slot(s) until the first release (backpressure)`, async () => {
      const { rt, world, tensors, stageOf } = await setup(scheduler, {
        machines: 2,
        devicesPerMachine: 1,
        parallelism,
        memoryBytes: parallelism * (2 * 16 + 64),
      });
      expect(world.layout.stagingSlots).to.equal(parallelism);
      const sliceElems = world.layout.sliceBytes / 4;
      const n = 4 * sliceElems;
      scheduler.run(({ expectObservable }) => {
        expectObservable(world.allReduce$(tensors(n))).toBe(marbles, {
          a: progress(0, 4, sliceElems, n),
          b: progress(1, 4, sliceElems, n),
          c: progress(2, 4, sliceElems, n),
          d: progress(3, 4, sliceElems, n),
        });
      });
      const collects = rt.log.filter((op) => stageOf(op.stream) === 'collect' && op.device === 0);
      const diffuses = rt.log.filter((op) => stageOf(op.stream) === 'diffuse' && op.device === 0);
      // The third slice (index parallelism) starts collecting only once the first slice has finished.
      expect(collects[parallelism]!.start).to.be.at.least(diffuses[0]!.end);
      const m = world.memory();
      // A staging slot goes back to its ring once its add stage is enqueued; the next user waits on the device.
      expect(m.pools.staging.highWater).to.equal(1);
      expect(m.pools.inflight.highWater).to.equal(parallelism);
      expect(m.pools.inflight.inUse).to.equal(0);
    });
  }

  it('keeps a device stream busy while reports take a host round trip: slots reused behind device-side waits, the producer held only by the in-flight bound', async () => {
    const reportDelay = 4;
    const collectsOf = async (parallelism: number): Promise<Array<{ start: number; end: number }>> => {
      const { rt, world, tensors, stageOf } = await setup(
        scheduler,
        { machines: 2, devicesPerMachine: 1, parallelism, memoryBytes: parallelism * (2 * 16 + 64) },
        () => ({ reportDelay }),
      );
      const n = 12 * (world.layout.sliceBytes / 4);
      let done = false;
      scheduler.run(({ flush }) => {
        world.allReduce$(tensors(n)).subscribe({ complete: () => (done = true) });
        flush();
      });
      expect(done).to.equal(true);
      const { pools } = world.memory();
      expect(pools.inflight.highWater).to.equal(parallelism);
      // A staging slot goes back to its ring when its add is enqueued, not when the host hears the add is over.
      expect(pools.staging.highWater).to.equal(1);
      return rt.log.filter((op) => stageOf(op.stream) === 'collect' && op.device === 0);
    };
    // Eight slices in flight cover a slice's three frames on the devices plus the report's four: every collect
    // starts the frame the one before ends, although each staging slot is reused while its last add may still run.
    const busy = await collectsOf(8);
    expect(busy).to.have.length(12);
    for (let i = 1; i < busy.length; i++) expect(busy[i]!.start, `collect ${i}`).to.equal(busy[i - 1]!.end);
    // One slice in flight: each next slice waits for the host to hear of the last one, the report's delay included.
    const held = await collectsOf(1);
    for (let i = 1; i < held.length; i++) expect(held[i]!.start - held[i - 1]!.end, `collect ${i}`).to.be.at.least(reportDelay);
  });

  for (const [stage, pick] of [
    ['reduceScatter', (op: VirtualOp, s: string | null) => op.label === 'reduceScatter' && s === 'reduceScatter'],
    ['collect', (op: VirtualOp, s: string | null) => op.kind === 'group' && s === 'collect'],
    ['add', (op: VirtualOp, s: string | null) => op.kind === 'reduce' && s === 'add'],
    ['diffuse', (op: VirtualOp, s: string | null) => op.kind === 'group' && s === 'diffuse'],
    ['allGather', (op: VirtualOp, s: string | null) => op.label === 'allGather' && s === 'allGather'],
  ] as const) {
    it(`propagates a failure in ${stage} naming rank, stage and slice, and releases the slots`, async () => {
      let failed = false;
      const { world, tensors } = await setup(scheduler, { machines: 2, devicesPerMachine: 2, sliceBytes: 4 * 8 * 4 }, (stageOf) => ({
        fail: (op: VirtualOp) => {
          if (failed || !pick(op, stageOf(op.stream))) return null;
          failed = true;
          return 'injected fault';
        },
      }));
      let error: unknown = null;
      scheduler.run(({ flush }) => {
        world.allReduce$(tensors(3 * 32 + 3)).subscribe({ error: (e: unknown) => (error = e) });
        flush();
      });
      expect(error).to.be.instanceOf(StageError);
      const e = error as StageError;
      expect([e.stage, e.rank, e.slice, e.job]).to.deep.equal([stage, 0, 0, 0]);
      expect(e.message).to.contain('injected fault');
      const m = world.memory();
      expect(m.pools.inflight.inUse).to.equal(0);
      expect(m.pools.padding.inUse).to.equal(0);
      const next = await world.allReduce(tensors(8)).then(() => null, (err: unknown) => err);
      expect(next).to.be.instanceOf(ClosedError);
    });
  }

  it('holds a producer back: allReduceEach$ pulls the next bucket in the frame a token comes back, not before', async () => {
    const { world, tensors } = await setup(scheduler, { machines: 2, devicesPerMachine: 1, parallelism: 1, memoryBytes: 2 * 16 + 64 });
    const n = world.layout.sliceBytes / 4;
    const buckets = [tensors(n), tensors(n), tensors(n)];
    const pulls: number[] = [];
    function* source(): Generator<Tensor[]> {
      for (const b of buckets) {
        pulls.push(scheduler.now());
        yield b;
      }
    }
    const done: number[] = [];
    scheduler.run(({ flush }) => {
      world.allReduceEach$(source()).subscribe({ complete: () => done.push(scheduler.now()) });
      flush();
    });
    // Each bucket takes 3 frames (collect, add, diffuse); the next is pulled when the previous one settles.
    expect(pulls).to.deep.equal([0, 3, 6]);
    expect(done).to.deep.equal([9]);
    expect(world.memory().pools.inflight.highWater).to.equal(1);
  });

  it('unsubscribing mid-flight skips slices not yet admitted and releases slots only when their work completes', async () => {
    const { rt, world, tensors, stageOf } = await setup(scheduler, { machines: 4, devicesPerMachine: 1, parallelism: 2, memoryBytes: 2 * (2 * 32 + 128) }, () => ({
      duration: () => 2,
    }));
    const sliceElems = world.layout.sliceBytes / 4;
    const stats: Array<[number, number]> = [];
    scheduler.run(({ cold, expectObservable }) => {
      const sub = world.allReduce$(tensors(6 * sliceElems)).subscribe();
      cold('---a').subscribe(() => {
        sub.unsubscribe();
        stats.push([scheduler.now(), world.memory().pools.inflight.inUse]);
      });
      cold('-----------------a').subscribe(() => stats.push([scheduler.now(), world.memory().pools.inflight.inUse]));
      expectObservable(cold('-')).toBe('-');
    });
    expect(stats).to.deep.equal([
      [3, 2],
      [17, 0],
    ]);
    const collects = rt.log.filter((op) => stageOf(op.stream) === 'collect' && op.device === 0);
    expect(collects.length).to.equal(2);
  });
  it('times the native reference loop from the hand-over of its program to its last completion', async () => {
    const { rt, world, tensors } = await setup(scheduler, { machines: 2, devicesPerMachine: 2, sliceBytes: 4 * 8 * 4 }, () => ({
      duration: () => 2,
    }));
    const t = tensors(3 * 32);
    const before = rt.log.length;
    await drive(scheduler, world.allReduce(t));
    const perAllReduce = rt.log.length - before;
    const result = await drive(scheduler, world.referenceLoop(t, { iterations: 4 }));
    // What the replay issued: the log after the capture's all-reduce, four iterations of the same ops.
    const replayed = rt.log.slice(before + 2 * perAllReduce);
    expect(replayed.length).to.equal(4 * perAllReduce);
    expect(result.slicesPerIteration).to.equal(3);
    expect(result.wallMs).to.equal(Math.max(...replayed.map((op) => op.end)) - Math.min(...replayed.map((op) => op.start)));
    expect(result.wallMs).to.be.greaterThan(0);
  });
  it('a replayed slot waits on the device for its previous use: the native loop has no tokens to order it', async () => {
    // Two staging slots for four slices a job: slice k reuses slice k-2's slot. Live, a token comes back only when
    // slice k-2 settled; the replay issues every slice at once, and only the slot's device-side wait keeps slice
    // k's collect (which writes the slot) behind slice k-2's add (which reads it), here 3 frames long.
    const { rt, world, tensors, stageOf } = await setup(scheduler, { machines: 2, devicesPerMachine: 1, parallelism: 2, memoryBytes: 1024 }, (stageOf) => ({
      duration: (op) => (stageOf(op.stream) === 'add' ? 3 : 1),
    }));
    const sliceElems = world.layout.sliceBytes / 4;
    const t = tensors(4 * sliceElems);
    const result = await drive(scheduler, world.referenceLoop(t, { iterations: 3 }));
    expect(result.slicesPerIteration).to.equal(4);
    // Device 0's collects and adds in stream order: the capture's four slices, then the replay's twelve.
    const on = (stage: string) => rt.log.filter((op) => op.device === 0 && stageOf(op.stream) === stage);
    const collects = on('collect');
    const adds = on('add');
    expect(collects).to.have.length(16);
    expect(adds).to.have.length(16);
    for (let k = 2; k < 16; k++) {
      expect(collects[k]!.start, `slice ${k}'s collect after slice ${k - 2}'s add`).to.be.at.least(adds[k - 2]!.end);
    }
  });
});
