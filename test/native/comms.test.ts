import { expect } from 'chai';
import {
  native,
  dtypes,
  reduceOps,
  type DType,
  type GroupItem,
  type NativeBuffer,
  type NativeComm,
  type NativeDevice,
  type NativeStream,
} from '../../src/native.js';
import { elementSize, hostArray, type HostArray } from '../../src/runtime/dtype.js';
import { describeBackends } from '../helpers/backends.js';
import { expectClose, randomArray, reference } from '../helpers/data.js';
import { download, sync, upload } from '../helpers/device.js';
import { orAfter } from '../helpers/time.js';

interface Rank {
  device: NativeDevice;
  stream: NativeStream;
  comm: NativeComm;
}

function slice(dtype: DType, a: HostArray, start: number, n: number): HostArray {
  const esz = elementSize(dtype);
  return hostArray(dtype, a.buffer as ArrayBuffer, a.byteOffset + start * esz, n);
}

describeBackends('communicators', ({ backend, deviceCount }) => {
  for (const n of [1, 2, 3, 4, 8]) {
    describe(`${n} rank(s) in one process`, function () {
      let ranks: Rank[] = [];
      before(async function () {
        if (n > deviceCount) this.skip();
        const devices = Array.from({ length: n }, (_, i) => new native.Device(backend, i));
        const comms = await native.initComms(
          backend,
          native.uniqueId(backend),
          n,
          devices.map((device, rank) => ({ rank, device })),
          30000,
        );
        ranks = devices.map((device, i) => ({ device, stream: new native.Stream(device), comm: comms[i]! }));
      });
      after(() => {
        for (const r of ranks) {
          r.stream.close();
          r.comm.close();
        }
      });

      async function collective(
        kind: 'allReduce' | 'reduceScatter' | 'allGather',
        dtype: DType,
        op: (typeof reduceOps)[number],
        count: number,
      ): Promise<{ inputs: HostArray[]; outputs: HostArray[] }> {
        const esz = elementSize(dtype);
        const sendCount = kind === 'reduceScatter' ? count * n : count;
        const recvCount = kind === 'allGather' ? count * n : count;
        const inputs = ranks.map(() => randomArray(dtype, sendCount));
        const send = ranks.map((r, i) => upload(r.stream, r.device, inputs[i]!));
        const recv = ranks.map((r) => new native.Buffer(r.device, recvCount * esz));
        native.group(
          ranks.map((r, i) => ({ kind, stream: r.stream, comm: r.comm, send: send[i]!, recv: recv[i]!, count, dtype, op })),
        );
        const outputs = await Promise.all(ranks.map((r, i) => download(r.stream, r.device, recv[i]!, dtype)));
        for (const b of [...send, ...recv]) b.close();
        return { inputs, outputs };
      }

      for (const dtype of dtypes) {
        it(`allReduce, reduceScatter, allGather of ${dtype}`, async () => {
          for (const count of [0, 1, 1009, 65537]) {
            for (const op of reduceOps) {
              const ar = await collective('allReduce', dtype, op, count);
              const expected = reference(dtype, op, ar.inputs, count);
              ar.outputs.forEach((o, i) => expectClose(dtype, op, n, o, expected, `allReduce ${op} count=${count} rank ${i}`));
              const rs = await collective('reduceScatter', dtype, op, count);
              const full = reference(dtype, op, rs.inputs, count * n);
              rs.outputs.forEach((o, i) =>
                expectClose(dtype, op, n, o, full.slice(i * count, (i + 1) * count), `reduceScatter ${op} count=${count} rank ${i}`),
              );
            }
            const ag = await collective('allGather', dtype, 'sum', count);
            for (const [i, o] of ag.outputs.entries()) {
              for (let j = 0; j < n; j++) {
                const part = slice(dtype, o, j * count, count);
                expect(Buffer.from(part.buffer, part.byteOffset, part.byteLength).equals(
                  Buffer.from(ag.inputs[j]!.buffer, ag.inputs[j]!.byteOffset, ag.inputs[j]!.byteLength),
                ), `allGather rank ${i} part ${j}`).to.equal(true);
              }
            }
          }
        });
      }

      it('stages collectives above 64 MiB (past the buffer the CPU backend keeps) and after them smaller ones', async function () {
        if (n !== 2) this.skip();
        this.timeout(120000);
        const dtype = 'float32';
        for (const count of [(64 << 18) + 4099, 1009]) {
          const ar = await collective('allReduce', dtype, 'sum', count);
          const expected = reference(dtype, 'sum', ar.inputs, count);
          ar.outputs.forEach((o, i) => expectClose(dtype, 'sum', n, o, expected, `allReduce count=${count} rank ${i}`));
          const ag = await collective('allGather', dtype, 'sum', (count >> 1) + 1);
          const part = (count >> 1) + 1;
          for (const [i, o] of ag.outputs.entries()) {
            for (let j = 0; j < n; j++) {
              const got = slice(dtype, o, j * part, part);
              expect(Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(
                Buffer.from(ag.inputs[j]!.buffer, ag.inputs[j]!.byteOffset, ag.inputs[j]!.byteLength),
              ), `allGather count=${part} rank ${i} part ${j}`).to.equal(true);
            }
          }
        }
      });

      it('runs an all-to-all as one group of sends and receives, self included', async () => {
        const dtype = 'float32';
        const chunk = 4097;
        const esz = elementSize(dtype);
        const inputs = ranks.map(() => randomArray(dtype, chunk * n));
        const send = ranks.map((r, i) => upload(r.stream, r.device, inputs[i]!));
        const recv = ranks.map((r) => new native.Buffer(r.device, chunk * n * esz));
        const items: GroupItem[] = [];
        ranks.forEach((r, i) => {
          for (let j = 0; j < n; j++) {
            items.push({ kind: 'send', stream: r.stream, comm: r.comm, send: send[i]!, sendOffset: j * chunk * esz, count: chunk, dtype, peer: j });
            items.push({ kind: 'recv', stream: r.stream, comm: r.comm, recv: recv[i]!, recvOffset: j * chunk * esz, count: chunk, dtype, peer: j });
          }
        });
        native.group(items);
        const outputs = await Promise.all(ranks.map((r, i) => download(r.stream, r.device, recv[i]!, dtype)));
        outputs.forEach((o, i) => {
          for (let j = 0; j < n; j++) {
            // Rank i's chunk j came from rank j's chunk i.
            const got = Array.from(slice(dtype, o, j * chunk, chunk) as Float32Array);
            const want = Array.from(slice(dtype, inputs[j]!, i * chunk, chunk) as Float32Array);
            expect(got, `rank ${i} chunk from ${j}`).to.deep.equal(want);
          }
        });
        for (const b of [...send, ...recv]) b.close();
      });

      it('keeps several collectives in flight in order, reusing outputs as inputs', async () => {
        const dtype = 'float64';
        const count = 3001;
        const esz = elementSize(dtype);
        const inputs = ranks.map(() => randomArray(dtype, count));
        const bufs = ranks.map((r, i) => upload(r.stream, r.device, inputs[i]!));
        for (let round = 0; round < 5; round++) {
          native.group(ranks.map((r, i) => ({ kind: 'allReduce', stream: r.stream, comm: r.comm, send: bufs[i]!, recv: bufs[i]!, count, dtype, op: 'sum' })));
        }
        const outputs = await Promise.all(ranks.map((r, i) => download(r.stream, r.device, bufs[i]!, dtype, 0, count * esz)));
        const once = reference(dtype, 'sum', inputs, count) as number[];
        const want = once.map((v) => v * n ** 4);
        for (const o of outputs) {
          for (let i = 0; i < count; i++) {
            if (Math.abs((o as Float64Array)[i]! - want[i]!) > 1e-9 * Math.abs(want[i]!) + 1e-9) expect.fail(`element ${i}`);
          }
        }
        for (const b of bufs) b.close();
      });
    });
  }

  it('times out communicator creation when a rank never joins, and the device stays usable', async function () {
    if (deviceCount < 1) this.skip();
    const d = new native.Device(backend, 0);
    const err = await native.initComms(backend, native.uniqueId(backend), 3, [{ rank: 0, device: d }], 200).then(() => null, (e: Error) => e);
    expect(err?.message).to.match(/^initComms: communicator init timed out after 200 ms /);
    // The CPU backend names the ranks that did not join; NCCL knows only that not all did.
    expect(err?.message).to.match(backend === 'cpu' ? /waiting for ranks \[1, 2\]$/ : /\(rank 0 of 3 on cuda:0\): a rank did not join, or setting up took longer$/);
    const stream = new native.Stream(d);
    const values = randomArray('float32', 33) as Float32Array;
    const buf = upload(stream, d, values);
    expect(Array.from((await download(stream, d, buf, 'float32')) as Float32Array)).to.deep.equal(Array.from(values));
    stream.close();
  });

  it('across processes, rejects within its timeout when the store never answers', async function () {
    if (backend !== 'cpu' || !native.info().gloo.available) this.skip();
    const d = new native.Device('cpu', 0);
    const asked: string[] = [];
    // A store that takes every request and never calls back.
    const store = (op: string): void => void asked.push(op);
    const t0 = Date.now();
    const err = await native.initComms('cpu', native.uniqueId('cpu'), 2, [{ rank: 0, device: d }], 1500, { host: '127.0.0.1', store }).then(
      () => null,
      (e: Error) => e,
    );
    const ms = Date.now() - t0;
    expect(err?.message).to.match(/^initComms: /);
    expect(asked.length, 'the store was asked').to.be.greaterThan(0);
    // The init's 1500 ms and the bridge's second for an answer, not a fixed 30 s per request.
    expect(ms).to.be.within(1400, 6000);
  });

  if (backend === 'cpu') {
    describe('failures', () => {
      async function pair(timeoutMs: number): Promise<Rank[]> {
        const devices = [new native.Device('cpu', 0), new native.Device('cpu', 1)];
        const comms = await native.initComms('cpu', native.uniqueId('cpu'), 2, devices.map((device, rank) => ({ rank, device })), timeoutMs);
        return devices.map((device, i) => ({ device, stream: new native.Stream(device), comm: comms[i]! }));
      }
      function allReduce(r: Rank, buf: NativeBuffer, count: number, dtype: DType = 'float32'): GroupItem {
        return { kind: 'allReduce', stream: r.stream, comm: r.comm, send: buf, recv: buf, count, dtype, op: 'sum' };
      }
      /** Both ranks' buffers hold the float32 sum of the two ranks' values. */
      async function expectPairSum(ranks: Rank[], bufs: NativeBuffer[], values: Float32Array[]): Promise<void> {
        const outs = (await Promise.all(ranks.map((r, i) => download(r.stream, r.device, bufs[i]!, 'float32')))) as Float32Array[];
        const expected = Array.from(values[0]!, (v, i) => Math.fround(v + values[1]![i]!));
        for (const o of outs) expect(Array.from(o)).to.deep.equal(expected);
      }

      it('fails a size mismatch on every rank, and later work on those streams', async () => {
        const ranks = await pair(30000);
        const bufs = ranks.map((r) => new native.Buffer(r.device, 64));
        native.group([allReduce(ranks[0]!, bufs[0]!, 10), allReduce(ranks[1]!, bufs[1]!, 12)]);
        for (const r of ranks) {
          const err = await sync(r.stream, r.device).then(() => null, (e: Error) => e);
          expect(err?.message).to.match(/rank 1 called allReduce\(float32, count 12\) where rank 0 called allReduce\(float32, count 10\)/);
        }
        // The failure is sticky: later work on the stream fails with the first error.
        ranks[0]!.stream.fill(bufs[0]!, 0, 1, 'float32', 1);
        const later = await sync(ranks[0]!.stream, ranks[0]!.device).then(() => null, (e: Error) => e);
        expect(later?.message).to.match(/group: rank 1 called/);
        ranks.forEach((r) => r.stream.close());
      });

      it('fails a dtype mismatch and a send/recv size mismatch on both sides', async () => {
        const ranks = await pair(30000);
        const bufs = ranks.map((r) => new native.Buffer(r.device, 64));
        native.group([allReduce(ranks[0]!, bufs[0]!, 4, 'float32'), allReduce(ranks[1]!, bufs[1]!, 4, 'int32')]);
        for (const r of ranks) {
          await sync(r.stream, r.device).then(() => expect.fail('resolved'), (e: Error) => expect(e.message).to.match(/int32/));
        }
        const fresh = await pair(30000);
        const b2 = fresh.map((r) => new native.Buffer(r.device, 64));
        native.group([
          { kind: 'send', stream: fresh[0]!.stream, comm: fresh[0]!.comm, send: b2[0]!, count: 8, dtype: 'float32', peer: 1 },
          { kind: 'recv', stream: fresh[1]!.stream, comm: fresh[1]!.comm, recv: b2[1]!, count: 6, dtype: 'float32', peer: 0 },
        ]);
        for (const r of fresh) {
          await sync(r.stream, r.device).then(() => expect.fail('resolved'), (e: Error) => expect(e.message).to.match(/rank 0 sent float32 x 8 but rank 1 expected float32 x 6/));
        }
        [...ranks, ...fresh].forEach((r) => r.stream.close());
      });

      it('a rank waiting for its peer holds up neither its device\'s other streams nor the peer, which completes it', async () => {
        const ranks = await pair(30000);
        const values = [randomArray('float32', 33), randomArray('float32', 33)] as Float32Array[];
        const bufs = ranks.map((r, i) => upload(r.stream, r.device, values[i]!));
        native.group([allReduce(ranks[0]!, bufs[0]!, 33)]);
        const waiting = sync(ranks[0]!.stream, ranks[0]!.device);
        const other = new native.Stream(ranks[0]!.device);
        const side = randomArray('float32', 5) as Float32Array;
        const copied = (await download(other, ranks[0]!.device, upload(other, ranks[0]!.device, side), 'float32')) as Float32Array;
        expect(Array.from(copied)).to.deep.equal(Array.from(side));
        const late = await orAfter(waiting.then(() => 'done'), 50, 'waiting');
        expect(late).to.equal('waiting');
        native.group([allReduce(ranks[1]!, bufs[1]!, 33)]);
        await expectPairSum(ranks, bufs, values);
        other.close();
        ranks.forEach((r) => r.stream.close());
      });

      it('a stream kept busy holds up neither another stream nor a collective whose peer comes while it runs', async () => {
        const ranks = await pair(300);
        const device = ranks[0]!.device;
        const busy = new native.Stream(device);
        const big = 1 << 22;
        const from = new native.Buffer(device, big);
        const to = new native.Buffer(device, big);
        // JS keeps two batches of copies in flight on `busy` for as long as the test runs.
        let feeding = true;
        const batch = async (): Promise<void> => {
          while (feeding) {
            const done = new native.Event(device);
            for (let i = 0; i < 8; i++) busy.copy(to, 0, from, 0, big);
            busy.record(done);
            await done.completion();
          }
        };
        const feeders = [batch(), batch()];
        try {
          await new Promise((resolve) => setTimeout(resolve, 50));
          // Another stream of the same device: done within a turn, not when the feeding stops.
          const quick = new native.Event(device);
          const other = new native.Stream(device);
          other.record(quick);
          // The feeding goes on until the test ends: a record held behind it would not complete before then.
          expect(await orAfter(quick.completion().then(() => 'done'), 10_000, 'held behind the busy stream')).to.equal('done');
          // A collective whose peer arrives 40 ms later, while the executor is busy: no timeout (300 ms).
          const values = [randomArray('float32', 5), randomArray('float32', 5)] as Float32Array[];
          const bufs = ranks.map((r, i) => upload(r.stream, r.device, values[i]!));
          native.group([allReduce(ranks[0]!, bufs[0]!, 5)]);
          await new Promise((resolve) => setTimeout(resolve, 40));
          native.group([allReduce(ranks[1]!, bufs[1]!, 5)]);
          await expectPairSum(ranks, bufs, values);
          other.close();
        } finally {
          feeding = false;
          await Promise.all(feeders);
          busy.close();
          ranks.forEach((r) => r.stream.close());
        }
      });

      it('times out a collective whose peer never arrives, naming the missing rank', async () => {
        const ranks = await pair(300);
        const buf = new native.Buffer(ranks[0]!.device, 16);
        native.group([allReduce(ranks[0]!, buf, 4)]);
        const err = await sync(ranks[0]!.stream, ranks[0]!.device).then(() => null, (e: Error) => e);
        expect(err?.message).to.match(/allReduce #0 timed out after 300 ms waiting for ranks \[1\]/);
        expect(ranks[1]!.comm.asyncError()).to.match(/timed out/);
        ranks.forEach((r) => r.stream.close());
      });

      it('aborts: pending work on every rank fails instead of waiting', async () => {
        const ranks = await pair(60000);
        const buf = new native.Buffer(ranks[0]!.device, 16);
        native.group([allReduce(ranks[0]!, buf, 4)]);
        const pending = sync(ranks[0]!.stream, ranks[0]!.device).then(() => null, (e: Error) => e);
        expect(ranks[1]!.comm.aborting).to.equal(false);
        ranks[1]!.comm.abort();
        // The in-process abort is over when the call returns (NCCL's runs on a thread and says so meanwhile).
        expect(ranks[1]!.comm.aborting).to.equal(false);
        expect((await pending)?.message).to.match(/communicator aborted/);
        ranks.forEach((r) => r.stream.close());
      });

      it('aborting while every rank is inside a collective settles every rank, never hangs', async () => {
        for (let trial = 0; trial < 30; trial++) {
          const ranks = await pair(60000);
          const n = 1 << 18;
          const bufs = ranks.map((r) => new native.Buffer(r.device, n * 4));
          native.group(ranks.map((r, i) => allReduce(r, bufs[i]!, n)));
          const settled = Promise.all(ranks.map((r) => sync(r.stream, r.device).then(() => 'ok', () => 'failed')));
          if (trial % 2) await new Promise((resolve) => setImmediate(resolve));
          ranks[trial % 2]!.comm.abort();
          const outcome = await orAfter(settled, 5000, 'hung');
          expect(outcome, `trial ${trial}`).to.not.equal('hung');
          ranks.forEach((r) => r.stream.close());
        }
      });

      it('creates one communicator from several calls, one per simulated process', async () => {
        const id = native.uniqueId('cpu');
        const devices = [0, 1, 2].map((i) => new native.Device('cpu', i));
        const comms = (await Promise.all(devices.map((device, rank) => native.initComms('cpu', id, 3, [{ rank, device }], 10000)))).map((c) => c[0]!);
        expect(comms.map((c) => [c.rank, c.size])).to.deep.equal([[0, 3], [1, 3], [2, 3]]);
        const streams = devices.map((d) => new native.Stream(d));
        const bufs = devices.map((d, i) => upload(streams[i]!, d, new Float32Array([i + 1, 10 * (i + 1)])));
        devices.forEach((_, i) => native.group([{ kind: 'allReduce', stream: streams[i]!, comm: comms[i]!, send: bufs[i]!, recv: bufs[i]!, count: 2, dtype: 'float32', op: 'max' }]));
        const outs = await Promise.all(devices.map((d, i) => download(streams[i]!, d, bufs[i]!, 'float32')));
        for (const o of outs) expect(Array.from(o as Float32Array)).to.deep.equal([3, 30]);
        streams.forEach((s) => s.close());
      });

      it('a group that failed is not joined again: a retry with the same id makes a fresh one', async () => {
        const id = native.uniqueId('cpu');
        const lonely = await Promise.allSettled([0, 1].map((rank) => native.initComms('cpu', id, 3, [{ rank, device: new native.Device('cpu', rank) }], 200)));
        expect(lonely.map((r) => r.status)).to.deep.equal(['rejected', 'rejected']);
        // Rank 0 again, the moment its first call failed: before, it joined the broken group ("joined twice").
        const again = await Promise.all([0, 1, 2].map((rank) => native.initComms('cpu', id, 3, [{ rank, device: new native.Device('cpu', rank) }], 10000)));
        expect(again.map((c) => c[0]!.rank)).to.deep.equal([0, 1, 2]);
        // A rank that joins twice breaks its group for both calls; the id is free again after.
        const other = native.uniqueId('cpu');
        const twice = await Promise.allSettled([0, 1].map((d) => native.initComms('cpu', other, 2, [{ rank: 0, device: new native.Device('cpu', d) }], 10000)));
        expect(twice.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : 'fulfilled'))).to.deep.equal([
          'initComms: rank 0 joined the communicator twice',
          'initComms: rank 0 joined the communicator twice',
        ]);
        const fresh = await Promise.all([0, 1].map((rank) => native.initComms('cpu', other, 2, [{ rank, device: new native.Device('cpu', rank) }], 10000)));
        expect(fresh.map((c) => c[0]!.rank)).to.deep.equal([0, 1]);
      });

      it('creates one communicator from more calls than the thread pool has threads, at once', async () => {
        // Each call's members join at the call; only the wait for the others takes a pool thread (4 by default),
        // so calls whose waits are still queued do not keep the last ones from joining.
        const id = native.uniqueId('cpu');
        const n = 12;
        const t0 = performance.now();
        const comms = await Promise.all(Array.from({ length: n }, (_, rank) => native.initComms('cpu', id, n, [{ rank, device: new native.Device('cpu', rank) }], 10000)));
        expect(comms.map((c) => [c[0]!.rank, c[0]!.size])).to.deep.equal(Array.from({ length: n }, (_, rank) => [rank, n]));
        // Long before the timeout (10 s): nobody waited for it.
        expect(performance.now() - t0).to.be.below(5000);
      });
    });
  }
});
