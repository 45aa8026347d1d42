// After a timeout or an abort fails the world, the devices' own streams must not carry the failure: tensors that
// were not part of the failed all-reduce still download their data, its own tensors refuse to download with a
// ClosedError saying why, new uploads work, and close() frees everything.
import { expect } from 'chai';
import { ClosedError, StageError, TimeoutError, simulate, type PipelineSpec, type World } from '../../src/index.js';
import { nativeRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { runtimeOverridingQueue } from '../helpers/queue.js';
import type { HostArray } from '../../src/runtime/dtype.js';
import { randomArray } from '../helpers/data.js';
import { describeBackends } from '../helpers/backends.js';
import { lonely, stalled } from '../helpers/pipelines.js';

const failures: readonly { what: string; backends: readonly string[]; pipeline: () => PipelineSpec; Error: typeof TimeoutError | typeof StageError; code: string; message: RegExp }[] = [
  // Rank 0 waits for a peer that never joins: the watchdog times the slice out and aborts the communicators.
  { what: 'a timeout', backends: ['cpu'], pipeline: () => lonely('reduceScatter'), Error: TimeoutError, code: 'ERR_FAIRRING_TIMEOUT', message: /did not finish lonely on rank\(s\) 0 within \d+ ms/ },
  // A pipeline that holds its slices: the watchdog times them out and aborts the communicators, on every backend.
  { what: 'a timeout (a stalled pipeline)', backends: ['cpu', 'cuda'], pipeline: stalled, Error: TimeoutError, code: 'ERR_FAIRRING_TIMEOUT', message: /did not come out of the pipeline within \d+ ms: it finished reduceScatter on every rank, and an operator after that stage held it/ },
  // Rank 0's extra allReduce meets its peer's allGather: a mismatch fails the records and aborts the communicators.
  // NCCL does not check that ranks call the same collective: there a mismatch is undefined behaviour.
  { what: 'an abort (communicator mismatch)', backends: ['cpu'], pipeline: () => lonely('allGather'), Error: StageError, code: 'ERR_FAIRRING_STAGE', message: /failed in lonely on rank 0: .*where rank 0 called allReduce/ },
  // On CUDA every rank of the world is in this process, so its communicators are blocking, and the Queue refuses
  // the group that leaves rank 1's side out when it is submitted (while NCCL connects the ranks it would hold the
  // issuer for good): nothing of that stage is issued.
  { what: 'a refused group', backends: ['cuda'], pipeline: () => lonely('reduceScatter'), Error: StageError, code: 'ERR_FAIRRING_STAGE', message: /failed in lonely: ops\[\d+\] \(group\): ncclAllReduce \(rank 0 of 2, 2 float32\): rank 1 of its communicator has no part in the group/ },
];

const rejection = (p: Promise<unknown>): Promise<Error | null> => p.then(() => null, (e: Error) => e);
const values = (a: HostArray): number[] => Array.from(a as Float32Array);

describeBackends('failures leave the devices usable', ({ backend, deviceCount }) => {
  let world: World | null = null;
  afterEach(async () => {
    await world?.close();
    world = null;
  });

  for (const [M, D] of [
    [1, 2],
    [2, 2],
  ] as const) {
    for (const f of failures.filter((x) => x.backends.includes(backend))) {
      it(`${M} machine(s) x ${D} devices, after ${f.what}: idle tensors download unchanged, the failed all-reduce's tensors refuse, close() frees all`, async function () {
        if (M * D > deviceCount) this.skip();
        // On CUDA a communicator's first collective also connects its ranks (NCCL connects at first use), inside
        // the slice's time: 300 ms failed once in a full suite on 2 x H200 (session 12), naming another stage.
        const timeoutMs = backend === 'cuda' ? 3000 : 300;
        const w = (world = await simulate({ backend, machines: M, devicesPerMachine: D, timeoutMs, pipeline: f.pipeline() }));
        const n = 1000;
        const aData = w.devices.map(() => randomArray('float32', n));
        const bData = w.devices.map(() => randomArray('float32', n));
        const A = await Promise.all(w.devices.map((d, i) => d.upload(aData[i]!)));
        const B = await Promise.all(w.devices.map((d, i) => d.upload(bData[i]!)));

        const failed = rejection(w.allReduce(B));
        // Started while the all-reduce is on the devices: a download (held until it is over) and an upload whose
        // host array the caller reuses at once.
        const early = A.map((t) => t.download());
        const cData = w.devices.map(() => randomArray('float32', n));
        const reused = cData.map((c) => new Float32Array(c as Float32Array));
        const C = w.devices.map((d, i) => d.upload(reused[i]!));
        for (const r of reused) r.fill(-1);

        const e = await failed;
        expect(e).to.be.instanceOf(f.Error);
        expect((e as TimeoutError | StageError).code).to.equal(f.code);
        expect(e!.message, e!.message).to.match(f.message);
        if (e instanceof TimeoutError) expect(e.timeoutMs).to.equal(timeoutMs);

        // Tensors that were not part of the failed all-reduce keep their data, on every rank.
        for (let i = 0; i < A.length; i++) {
          expect(values(await early[i]!), `early download of A on rank ${i}`).to.deep.equal(values(aData[i]!));
          expect(values(await A[i]!.download()), `A on rank ${i}`).to.deep.equal(values(aData[i]!));
        }
        const uploaded = await Promise.all(C);
        for (let i = 0; i < uploaded.length; i++) expect(values(await uploaded[i]!.download()), `C on rank ${i}`).to.deep.equal(values(cData[i]!));

        // The failed all-reduce's tensors say so, with a typed error, on every rank; and keep saying so.
        for (let i = 0; i < B.length; i++) {
          for (let attempt = 0; attempt < 2; attempt++) {
            const be = await rejection(B[i]!.download());
            expect(be, `B on rank ${i}`).to.be.instanceOf(ClosedError);
            expect((be as ClosedError).code).to.equal('ERR_FAIRRING_CLOSED');
            expect(be!.message).to.match(new RegExp(`^the tensor \\(rank ${i}\\) was part of all-reduce #0, which failed, so its contents are undefined \\(`));
            expect(be!.cause).to.equal(e);
          }
        }

        // The recovered devices take new uploads, downloads and syncs; the world takes no more all-reduces.
        for (const d of w.devices) {
          const fresh = randomArray('float32', 77);
          const t = await d.upload(fresh);
          expect(values(await t.download())).to.deep.equal(values(fresh));
          await d.sync();
        }
        expect(await rejection(w.allReduce(A))).to.be.instanceOf(ClosedError);
        expect(values(await A[0]!.download())).to.deep.equal(values(aData[0]!));

        await w.close();
        const m = w.memory();
        for (const [name, pool] of Object.entries(m.pools)) expect(pool.inUse, name).to.equal(0);
        for (const d of w.devices) {
          expect(d.closed).to.equal(true);
          expect(d.stream.closed).to.equal(true);
        }
        expect(await rejection(A[0]!.download())).to.be.instanceOf(ClosedError).with.property('message').match(/after it was closed/);
      });
    }
  }
});

describe('close() after a failure waits for communicator aborts still running', () => {
  /** The native runtime, with communicators whose abort keeps `aborting` true for `abortMs`, and the queue's close timed. */
  function slowAborts(abortMs: number): { runtime: Runtime; abortedAt: number[]; queueClosedAt: number[] } {
    const abortedAt: number[] = [];
    const queueClosedAt: number[] = [];
    const runtime = runtimeOverridingQueue((q) => ({ close: () => (queueClosedAt.push(Date.now()), q.close()) }));
    runtime.initComms = async (...args) =>
      (await nativeRuntime.initComms(...args)).map((c) => {
        // The addon's own communicator (the Queue takes no other), its abort and `aborting` shadowed.
        let until = 0;
        const abort = c.abort.bind(c);
        return Object.defineProperties(c, {
          aborting: { get: () => Date.now() < until },
          abort: { value: () => (abortedAt.push(Date.now()), (until = Date.now() + abortMs), abort()) },
        });
      });
    return { runtime, abortedAt, queueClosedAt };
  }

  it('releases the queue and streams only once the aborts are over', async () => {
    const { runtime, abortedAt, queueClosedAt } = slowAborts(250);
    const world = await simulate({ machines: 1, devicesPerMachine: 2, timeoutMs: 300, pipeline: lonely('reduceScatter'), runtime });
    const tensors = await Promise.all(world.devices.map((d) => d.upload(randomArray('float32', 16))));
    expect(await rejection(world.allReduce(tensors))).to.be.instanceOf(TimeoutError);
    await world.close();
    expect(abortedAt.length).to.be.above(0);
    expect(queueClosedAt).to.have.length(1);
    expect(queueClosedAt[0]! - Math.max(...abortedAt)).to.be.at.least(245);
  });

  it('an abort that never ends holds close() back for timeoutMs at most', async () => {
    const { runtime, queueClosedAt } = slowAborts(1e9);
    const world = await simulate({ machines: 1, devicesPerMachine: 2, timeoutMs: 300, pipeline: lonely('reduceScatter'), runtime });
    const tensors = await Promise.all(world.devices.map((d) => d.upload(randomArray('float32', 16))));
    expect(await rejection(world.allReduce(tensors))).to.be.instanceOf(TimeoutError);
    const t0 = Date.now();
    await world.close();
    expect(queueClosedAt).to.have.length(1);
    // timeoutMs (300), not the abort's end (never): the bound leaves room for a loaded machine.
    expect(Date.now() - t0).to.be.within(250, 10_000);
  });
});

