import { expect } from 'chai';
import { runNodeScript } from '../helpers/child.js';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';
import {
  native,
  collectiveKinds,
  dtypes,
  reduceOps,
  OpCode,
  RecordMode,
  type BackendName,
  type CollectiveKind,
  type DType,
  type NativeBuffer,
  type NativeComm,
  type NativeDevice,
  type NativeQueue,
  type NativeStream,
  type ReduceOp,
} from '../../src/native.js';
import { elementSize } from '../../src/runtime/dtype.js';
import { describeBackends } from '../helpers/backends.js';
import { expectClose, randomArray, reference } from '../helpers/data.js';
import { download, upload } from '../helpers/device.js';
import { orAfter } from '../helpers/time.js';

/** Builds packed programs in the layout src/native.ts documents. */
class Program {
  readonly fields: number[] = [];

  wait(stream: number, onStream: number, seq: number): this {
    this.fields.push(OpCode.wait, stream, onStream, seq);
    return this;
  }
  record(stream: number, mode: number = RecordMode.plain, startSeq = 0): this {
    this.fields.push(OpCode.record, stream, mode, startSeq);
    return this;
  }
  copy(stream: number, dst: number, dstOffset: number, src: number, srcOffset: number, bytes: number): this {
    this.fields.push(OpCode.copy, stream, dst, dstOffset, src, srcOffset, bytes);
    return this;
  }
  reduce(
    stream: number,
    dtype: DType,
    op: ReduceOp,
    count: number,
    divisor: number,
    dst: number,
    dstOffset: number,
    inputs: Array<[number, number]>,
  ): this {
    this.fields.push(OpCode.reduce, stream, dtypes.indexOf(dtype), reduceOps.indexOf(op), count, divisor, dst, dstOffset);
    this.fields.push(inputs.length, ...inputs.flat());
    return this;
  }
  group(items: GroupItemFields[]): this {
    this.fields.push(OpCode.group, items.length);
    for (const it of items) {
      this.fields.push(
        collectiveKinds.indexOf(it.kind),
        it.stream,
        it.comm,
        dtypes.indexOf(it.dtype),
        it.op === undefined ? -1 : reduceOps.indexOf(it.op),
        it.count,
        it.send ?? -1,
        it.sendOffset ?? -1,
        it.recv ?? -1,
        it.recvOffset ?? -1,
        it.peer ?? -1,
      );
    }
    return this;
  }
  /** Raw fields, for malformed programs. */
  raw(...fields: number[]): this {
    this.fields.push(...fields);
    return this;
  }
  build(): Float64Array {
    return Float64Array.from(this.fields);
  }
}

interface GroupItemFields {
  kind: CollectiveKind;
  stream: number;
  comm: number;
  dtype: DType;
  count: number;
  op?: ReduceOp;
  send?: number;
  sendOffset?: number;
  recv?: number;
  recvOffset?: number;
  peer?: number;
}

/** A queue whose progress reports are checked and collected as they come. */
class Tracked {
  readonly queue: NativeQueue;
  calls = 0;
  triples = 0;
  readonly completed = new Map<number, number>();
  readonly failedFrom = new Map<number, number>();
  readonly errors = new Map<number, string>();
  /** (stream, endSeq, ms, startMs) */
  readonly timings: Array<[number, number, number, number]> = [];
  readonly problems: string[] = [];
  private waiters: Array<() => boolean> = [];

  constructor(backend: BackendName) {
    this.queue = new native.Queue(backend, (done, errors, timings) => {
      this.calls++;
      if (done.length !== errors.length * 3) this.problems.push(`done has ${done.length} fields for ${errors.length} errors`);
      for (let i = 0; i < errors.length; i++) {
        const stream = done[3 * i]!;
        const completed = done[3 * i + 1]!;
        if (completed <= (this.completed.get(stream) ?? 0)) this.problems.push(`stream ${stream} went back to ${completed}`);
        this.triples++;
        this.completed.set(stream, completed);
        this.failedFrom.set(stream, done[3 * i + 2]!);
        this.errors.set(stream, errors[i]!);
      }
      if (timings.length % 4 !== 0) this.problems.push(`timings has ${timings.length} fields, not quadruples`);
      for (let i = 0; i < timings.length; i += 4) this.timings.push([timings[i]!, timings[i + 1]!, timings[i + 2]!, timings[i + 3]!]);
      this.waiters = this.waiters.filter((w) => !w());
    });
  }

  /** Resolves once reports have carried `count` timings (timings are reported as they are measured, asked or not). */
  timed(count: number): Promise<void> {
    return new Promise((resolve) => {
      const check = (): boolean => {
        if (this.timings.length < count) return false;
        resolve();
        return true;
      };
      if (!check()) this.waiters.push(check);
    });
  }

  /** Resolves once a report has covered every record up to seq of the stream (asked for with want). */
  until(stream: number, seq: number): Promise<void> {
    return new Promise((resolve) => {
      const check = (): boolean => {
        if ((this.completed.get(stream) ?? 0) < seq) return false;
        resolve();
        return true;
      };
      if (check()) return;
      this.queue.want(stream, seq);
      this.waiters.push(check);
    });
  }
}

function readAll(array: ArrayBufferView): number[] {
  return Array.from(array as unknown as ArrayLike<number>);
}

describeBackends('queue', ({ backend, deviceCount }) => {
  let device: NativeDevice;
  let streams: NativeStream[] = [];
  let t: Tracked;
  let q: NativeQueue;
  let s: number[];

  beforeEach(() => {
    device = new native.Device(backend, 0);
    streams = [0, 1, 2].map(() => new native.Stream(device));
    t = new Tracked(backend);
    q = t.queue;
    s = streams.map((st) => q.addStream(st));
  });
  afterEach(() => {
    q.close();
    for (const st of streams) st.close();
  });

  function buffer(bytes: number): { handle: NativeBuffer; index: number } {
    const handle = new native.Buffer(device, bytes);
    return { handle, index: q.addBuffer(handle) };
  }

  function uploaded(data: ArrayBufferView): { handle: NativeBuffer; index: number } {
    const handle = upload(streams[0]!, device, data);
    return { handle, index: q.addBuffer(handle) };
  }

  it('registers streams, buffers and comms under small indices and reuses removed buffer indices', () => {
    expect(s).to.deep.equal([0, 1, 2]);
    const bufs = [0, 1, 2].map(() => buffer(64));
    expect(bufs.map((b) => b.index)).to.deep.equal([0, 1, 2]);
    q.removeBuffer(1);
    expect(() => q.removeBuffer(1)).to.throw(RangeError, /buffer 1 is not registered/);
    expect(() => q.removeBuffer(7)).to.throw(RangeError, /buffer 7 is not registered/);
    expect(() => q.submit(new Program().copy(s[0]!, 1, 0, 0, 0, 8).build(), 7)).to.throw(
      RangeError,
      /ops\[0\] \(copy\): dst 1 is not a registered buffer/,
    );
    expect(buffer(64).index).to.equal(1);
    expect(buffer(64).index).to.equal(3);
    expect(() => q.addStream({} as NativeStream)).to.throw(TypeError, /stream must be a Stream/);
    const closed = new native.Buffer(device, 8);
    closed.close();
    expect(() => q.addBuffer(closed)).to.throw(TypeError, /Buffer is closed/);
    for (const b of bufs) b.handle.close();
  });

  it('checks its constructor arguments and the backend of what it registers', () => {
    expect(() => new native.Queue('tpu' as BackendName, () => {})).to.throw(TypeError, /backend must be 'cpu' or 'cuda'/);
    expect(() => new native.Queue(backend, 5 as unknown as () => void)).to.throw(TypeError, /onProgress must be a function/);
    if (backend === 'cuda') {
      const cpu = new native.Stream(new native.Device('cpu', 0));
      expect(() => q.addStream(cpu)).to.throw(TypeError, /stream lives on cpu:0, not on a cuda device like this queue/);
      cpu.close();
    }
  });

  for (const dtype of ['float32', 'float16', 'int32', 'float64'] as DType[]) {
    it(`copies and reduces (${dtype}) with the right values, records complete in order`, async () => {
      const esz = elementSize(dtype);
      const n = 10007;
      const inputs = [0, 1, 2].map(() => randomArray(dtype, n));
      const ins = inputs.map((x) => uploaded(x));
      const sum = buffer(n * esz);
      const avg = buffer(n * esz);
      const copied = buffer((n + 5) * esz);
      const p = new Program()
        .reduce(s[0]!, dtype, 'sum', n, 3, sum.index, 0, ins.map((b) => [b.index, 0] as [number, number]))
        .record(s[0]!)
        .reduce(s[0]!, dtype, 'avg', n, 6, avg.index, 0, ins.map((b) => [b.index, 0] as [number, number]))
        .record(s[0]!)
        .copy(s[0]!, copied.index, 5 * esz, ins[1]!.index, 0, n * esz)
        .record(s[0]!);
      q.submit(p.build(), p.fields.length);
      expect(q.records(s[0]!)).to.equal(3);
      await t.until(s[0]!, 3);
      expect(t.problems).to.deep.equal([]);
      expect(t.failedFrom.get(s[0]!)).to.equal(0);
      expectClose(dtype, 'sum', 3, await download(streams[0]!, device, sum.handle, dtype), reference(dtype, 'sum', inputs, n), 'sum');
      const sums = reference(dtype, 'sum', inputs, n);
      const want = sums.map((v) => (typeof v === 'bigint' ? v / 6n : v / 6));
      expectClose(dtype, 'avg', 3, await download(streams[0]!, device, avg.handle, dtype), want, 'avg / 6');
      const back = await download(streams[0]!, device, copied.handle, dtype, 5 * esz, n * esz);
      expect(Buffer.from(back.buffer, back.byteOffset, back.byteLength).equals(Buffer.from(inputs[1]!.buffer))).to.equal(true);
      for (const b of [...ins, sum, avg, copied]) b.handle.close();
    });
  }

  it('reports a stream only once the record asked for (want) completes, at once when it has; want checks its arguments', async () => {
    const b = buffer(64 << 20);
    const first = q.records(s[1]!);
    const p = new Program().copy(s[0]!, b.index, 0, b.index, 32 << 20, 32 << 20).record(s[0]!).wait(s[1]!, s[0]!, q.records(s[0]!) + 1);
    for (let i = 0; i < 10; i++) p.record(s[1]!);
    const calls = t.calls;
    q.submit(p.build(), p.fields.length);
    expect(q.want(s[1]!, first + 5)).to.be.below(first + 5);
    await t.until(s[1]!, first + 5);
    await t.until(s[1]!, first + 10);
    expect(t.calls - calls, 'reports').to.be.at.most(2);
    expect(t.completed.get(s[0]!), 'a stream nothing asked about is not reported').to.equal(undefined);
    expect(q.want(s[0]!, q.records(s[0]!)), 'known complete').to.equal(q.records(s[0]!));
    await t.until(s[0]!, q.records(s[0]!));
    expect(() => q.want(s[1]!, 0)).to.throw(RangeError, /seq 0 is not a record of stream/);
    expect(() => q.want(s[1]!, first + 11)).to.throw(RangeError, /seq \d+ is not a record of stream \d+ \(\d+ submitted\)/);
    expect(() => q.want(99, 1)).to.throw(RangeError, /stream 99 is not registered/);
    b.handle.close();
  });

  it('asks for records complete but unreported are all reported, also those made while the watcher is in a pass', async () => {
    // Stream 2 keeps the watcher harvesting; asks on streams 0 and 1 find their records complete and unreported.
    // Where the watcher holds the queue's lock, want leaves the report to its next pass: none may be lost.
    let feeding = true;
    const feed = (async () => {
      while (feeding) {
        const p = new Program();
        for (let i = 0; i < 16; i++) p.record(s[2]!);
        q.submit(p.build(), p.fields.length);
        await t.until(s[2]!, q.records(s[2]!));
      }
    })();
    try {
      // 2000 asks: the development machine sees the watcher holding the lock at a few tens of them.
      for (let i = 0; i < 2000; i++) {
        q.submit(new Program().record(s[0]!).record(s[1]!).build(), 8);
        await new Promise((resolve) => setImmediate(resolve));
        const reported = Promise.all([t.until(s[0]!, q.records(s[0]!)), t.until(s[1]!, q.records(s[1]!))]).then(() => 'reported');
        expect(await orAfter(reported, 10_000, `ask ${i} never reported`)).to.equal('reported');
      }
    } finally {
      feeding = false;
      await feed;
    }
    expect(t.problems).to.deep.equal([]);
  });

  it('a report sent for another reason (a timing) before the record asked for keeps the ask standing', async () => {
    const b = buffer(64 << 20);
    const start = q.records(s[0]!) + 1;
    const p = new Program()
      .record(s[0]!, RecordMode.timingStart)
      .record(s[0]!, RecordMode.timingEnd, start)
      .copy(s[0]!, b.index, 0, b.index, 32 << 20, 32 << 20)
      .record(s[0]!);
    q.submit(p.build(), p.fields.length);
    const last = q.records(s[0]!);
    await t.until(s[0]!, last);
    expect(t.timings.map(([stream, seq]) => [stream, seq])).to.deep.equal([[s[0]!, start + 1]]);
    b.handle.close();
  });

  it('reports records in bulk: one call per pass, never one per record', async () => {
    // 900 records held behind one gate (a large copy's record) complete together once it opens.
    const b = buffer(64 << 20);
    const p = new Program().copy(s[0]!, b.index, 0, b.index, 32 << 20, 32 << 20).record(s[0]!);
    for (const st of s.slice(1)) p.wait(st, s[0]!, 1);
    for (let i = 0; i < 300; i++) {
      for (const st of s) p.record(st);
    }
    q.submit(p.build(), p.fields.length);
    await Promise.all(s.map((st) => t.until(st, st === s[0] ? 301 : 300)));
    expect(t.problems).to.deep.equal([]);
    // 901 records: a report per record would be 901 calls and triples.
    expect(t.calls).to.be.below(450);
    expect(t.triples).to.be.below(901);
    expect(s.map((st) => t.completed.get(st))).to.deep.equal(s.map((st) => (st === s[0] ? 301 : 300)));
    // A second submit continues the numbering.
    q.submit(new Program().record(s[1]!).record(s[1]!).build(), 8);
    expect(q.records(s[1]!)).to.equal(302);
    await t.until(s[1]!, 302);
    b.handle.close();
  });

  it('takes completions that come one by one while JS is busy in one report', async () => {
    const b = buffer(64 << 20);
    // Stream 0's record completes at once; stream 1's after a large copy, while the JS thread is still busy.
    const p = new Program().record(s[0]!).copy(s[1]!, b.index, 0, b.index, 32 << 20, 32 << 20).record(s[1]!);
    const calls = t.calls;
    q.submit(p.build(), p.fields.length);
    const [r0, r1] = [q.records(s[0]!), q.records(s[1]!)];
    q.want(s[0]!, r0);
    q.want(s[1]!, r1);
    const t0 = performance.now();
    while (q.want(s[1]!, r1) < r1 || performance.now() - t0 < 20) {
      if (performance.now() - t0 > 5000) throw new Error('the copy did not complete within 5 s');
    }
    await Promise.all([t.until(s[0]!, r0), t.until(s[1]!, r1)]);
    expect(t.problems).to.deep.equal([]);
    expect(t.calls - calls, 'reports').to.equal(1);
    b.handle.close();
  });

  it('orders work across streams with waits', async () => {
    const n = 1 << 21;
    const dtype = 'float32';
    const inputs = [0, 1, 2, 3].map(() => randomArray(dtype, n));
    const ins = inputs.map((x) => uploaded(x));
    const out = buffer(n * 4);
    const copy = buffer(n * 4);
    const p = new Program()
      .reduce(s[0]!, dtype, 'sum', n, 4, out.index, 0, ins.map((b) => [b.index, 0] as [number, number]))
      .record(s[0]!)
      .wait(s[1]!, s[0]!, 1)
      .copy(s[1]!, copy.index, 0, out.index, 0, n * 4)
      .record(s[1]!);
    q.submit(p.build(), p.fields.length);
    const got = await download(streams[1]!, device, copy.handle, dtype);
    expectClose(dtype, 'sum', 4, got, reference(dtype, 'sum', inputs, n), 'copy after wait');
    await t.until(s[1]!, 1);
    for (const b of [...ins, out, copy]) b.handle.close();
  });

  it('pairs timing records and reports their milliseconds and starts: within the wall time around them, in stream order', async () => {
    const half = 1 << 23;
    const b = buffer(2 * half);
    const c = buffer(2 * half);
    const p = new Program()
      .record(s[0]!, RecordMode.timingStart)
      .copy(s[0]!, b.index, 0, b.index, half, half)
      .record(s[0]!, RecordMode.timingEnd, 1)
      .record(s[0]!, RecordMode.timingStart)
      .copy(s[0]!, b.index, half, b.index, 0, half)
      .record(s[0]!, RecordMode.timingEnd, 3)
      .record(s[2]!, RecordMode.timingStart)
      .copy(s[2]!, c.index, 0, c.index, half, half)
      .record(s[2]!, RecordMode.plain)
      .record(s[2]!, RecordMode.timingEnd, 1);
    const started = native.clockMs();
    q.submit(p.build(), p.fields.length);
    await t.timed(3);
    const ended = native.clockMs();
    const sorted = [...t.timings].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    expect(sorted.map(([stream, seq]) => [stream, seq])).to.deep.equal([
      [s[0]!, 2],
      [s[0]!, 4],
      [s[2]!, 3],
    ]);
    // The device's timer read against the host's clock: within a few microseconds (CUDA's anchor), never more.
    const slack = 0.05;
    for (const [stream, seq, ms, startMs] of sorted) {
      expect(ms, `stream ${stream} record ${seq}`).to.be.greaterThan(0).and.at.most(ended - started);
      expect(startMs, `stream ${stream} record ${seq} started`).to.be.at.least(started - slack);
      expect(startMs + ms, `stream ${stream} record ${seq} ended`).to.be.at.most(ended + slack);
    }
    const [first, second] = sorted;
    expect(second![3], 'the second copy starts once the first is over').to.be.at.least(first![3] + first![2] - slack);
    // A start pairs with one end only; events are reused in steady state.
    expect(() => q.submit(new Program().record(s[0]!, RecordMode.timingEnd, 1).build(), 4)).to.throw(
      RangeError,
      /ops\[0\] \(record\): startSeq 1 is not an unpaired timing start of stream 0/,
    );
    for (let round = 0; round < 20; round++) {
      const start = q.records(s[0]!) + 1;
      q.submit(new Program().record(s[0]!, RecordMode.timingStart).record(s[0]!, RecordMode.timingEnd, start).build(), 8);
    }
    await t.timed(23);
    await t.until(s[0]!, 44);
    expect(t.timings.length).to.equal(23);
    b.handle.close();
    c.handle.close();
  });

  it('copies into a host buffer, whose hostView shows the bytes once the record after the copy completes', async () => {
    const data = randomArray('float64', 513);
    const src = uploaded(data);
    const host = new native.Buffer(device, 600 * 8, true);
    const h = q.addBuffer(host);
    const view = host.hostView();
    host.close();
    const p = new Program().copy(s[1]!, h, 40, src.index, 0, 513 * 8).record(s[1]!);
    q.submit(p.build(), p.fields.length);
    await t.until(s[1]!, q.records(s[1]!));
    expect(Array.from(new Float64Array(view, 40, 513)), 'the view keeps the memory of a closed buffer').to.deep.equal(Array.from(data as Float64Array));
    q.removeBuffer(h);
    src.handle.close();
  });

  it('replays a program natively: A += B, N times, exact in int32', async () => {
    const n = 4099;
    const a0 = randomArray('int32', n) as Int32Array;
    const b0 = randomArray('int32', n) as Int32Array;
    const a = uploaded(a0);
    const b = uploaded(b0);
    const iterations = 100;
    const p = new Program().reduce(s[0]!, 'int32', 'sum', n, 2, a.index, 0, [
      [a.index, 0],
      [b.index, 0],
    ]);
    p.record(s[0]!, RecordMode.timingStart).wait(s[1]!, s[0]!, 1).record(s[1]!).record(s[0]!, RecordMode.timingEnd, 1);
    q.replay(p.build(), p.fields.length, iterations);
    expect(q.records(s[0]!)).to.equal(2 * iterations);
    expect(q.records(s[1]!)).to.equal(iterations);
    const got = await download(streams[0]!, device, a.handle, 'int32');
    const want = readAll(a0).map((x, i) => (x + iterations * b0[i]!) | 0);
    expect(readAll(got)).to.deep.equal(want);
    await Promise.all([t.until(s[0]!, 2 * iterations), t.until(s[1]!, iterations)]);
    expect(t.timings).to.deep.equal([]);
    expect(t.failedFrom.get(s[1]!)).to.equal(0);
    expect(() => q.replay(p.build(), p.fields.length, 0)).to.throw(RangeError, /iterations/);
    a.handle.close();
    b.handle.close();
  });

  it('replays a program whose wait names an earlier record: each iteration waits for the iteration before on that stream', async () => {
    const n = 1 << 16;
    const x = uploaded(new Int32Array(n));
    const z = uploaded(new Int32Array(n));
    const one = uploaded(new Int32Array(n).fill(1));
    const add = new Program().reduce(s[1]!, 'int32', 'sum', n, 1, x.index, 0, [
      [x.index, 0],
      [one.index, 0],
    ]);
    q.submit(add.record(s[1]!).build(), add.fields.length);
    const before = q.records(s[1]!);
    // Stream 0 copies x, after stream 1's record from before the program; stream 1 then adds one to x. On CUDA the
    // streams race (the copies would run ahead of the adds with a wait left on that first record); the CPU
    // executor's turns may order them anyway.
    const p = new Program()
      .wait(s[0]!, s[1]!, before)
      .copy(s[0]!, z.index, 0, x.index, 0, n * 4)
      .record(s[0]!)
      .reduce(s[1]!, 'int32', 'sum', n, 1, x.index, 0, [
        [x.index, 0],
        [one.index, 0],
      ])
      .record(s[1]!);
    const iterations = 200;
    q.replay(p.build(), p.fields.length, iterations);
    await Promise.all([t.until(s[1]!, q.records(s[1]!)), t.until(s[0]!, q.records(s[0]!))]);
    // The last copy waited for stream 1's record of the iteration before it: x had been added to 1 + 199 times.
    const got = readAll(await download(streams[0]!, device, z.handle, 'int32'));
    expect(got[0]).to.be.within(iterations, iterations + 1);
    expect(new Set(got).size).to.equal(1);
    for (const b of [x, z, one]) b.handle.close();
  });

  it('replays a captured program whose timing pair was submitted already, as plain records', async () => {
    const start = q.records(s[0]!) + 1;
    const p = new Program().record(s[0]!, RecordMode.timingStart).record(s[0]!, RecordMode.timingEnd, start);
    q.submit(p.build(), p.fields.length);
    q.replay(p.build(), p.fields.length, 3);
    expect(q.records(s[0]!)).to.equal(start + 7);
    await t.until(s[0]!, start + 7);
    expect(t.timings.length).to.equal(1);
  });

  it('keeps removed and closed buffers alive for work already submitted', async () => {
    const n = 1 << 20;
    const data = randomArray('float32', n);
    const src = uploaded(data);
    const dst = buffer(n * 4);
    q.submit(new Program().copy(s[0]!, dst.index, 0, src.index, 0, n * 4).record(s[0]!).build(), 11);
    q.removeBuffer(src.index);
    src.handle.close();
    const got = await download(streams[0]!, device, dst.handle, 'float32');
    expect(Buffer.from(got.buffer).equals(Buffer.from(data.buffer))).to.equal(true);
    dst.handle.close();
  });

  describe('checks every op before issuing any', () => {
    let a: { handle: NativeBuffer; index: number };
    let b: { handle: NativeBuffer; index: number };
    beforeEach(() => {
      a = uploaded(new Float32Array(512).fill(1));
      b = uploaded(new Float32Array(512).fill(2));
    });
    afterEach(() => {
      a.handle.close();
      b.handle.close();
    });

    // A valid copy (b into a) and a record come first: a bad op after them must leave both unissued.
    async function refused(bad: Program, kind: typeof RangeError | typeof TypeError, message: RegExp): Promise<void> {
      const p = new Program().copy(s[0]!, a.index, 0, b.index, 0, 2048).record(s[0]!).raw(...bad.fields);
      const before = s.map((st) => q.records(st));
      expect(() => q.submit(p.build(), p.fields.length)).to.throw(kind, message);
      expect(s.map((st) => q.records(st))).to.deep.equal(before);
      const got = await download(streams[0]!, device, a.handle, 'float32');
      expect(got[0]).to.equal(1);
    }

    it('op codes, truncation, length and the array type', async () => {
      await refused(new Program().raw(9, 0, 0, 0), RangeError, /^ops\[2\]: unknown op code 9/);
      await refused(new Program().raw(OpCode.copy, 0, 0, 0), RangeError, /ops\[2\] \(copy\): truncated: needs 7 fields, 4 left/);
      await refused(new Program().raw(OpCode.reduce, 0, 2, 0, 4, 1, 0, 0, 3, 1, 0), RangeError, /ops\[2\] \(reduce\): truncated/);
      await refused(new Program().raw(OpCode.group, 2, ...new Array<number>(11).fill(-1)), RangeError, /ops\[2\] \(group\): truncated/);
      expect(() => q.submit(new Float32Array(4) as unknown as Float64Array, 4)).to.throw(TypeError, /Float64Array/);
      expect(() => q.submit(new Float64Array(4), 5)).to.throw(RangeError, /length 5 exceeds ops.length 4/);
    });

    it('integers: negative and fractional fields', async () => {
      await refused(new Program().copy(s[0]!, a.index, -4, b.index, 0, 4), RangeError, /ops\[2\] \(copy\): dstOffset must be a non-negative integer, got -4/);
      await refused(new Program().copy(s[0]!, a.index, 0, b.index, 0, 4.5), RangeError, /ops\[2\] \(copy\): bytes must be a non-negative integer, got 4.5/);
      await refused(new Program().raw(OpCode.record, NaN, 0, 0), RangeError, /ops\[2\] \(record\): stream must be a non-negative integer, got nan/i);
    });

    it('stream, buffer and comm indices', async () => {
      await refused(new Program().record(7), RangeError, /ops\[2\] \(record\): stream 7 is not a registered stream \(3 registered\)/);
      await refused(new Program().copy(s[1]!, 9, 0, b.index, 0, 4), RangeError, /ops\[2\] \(copy\): dst 9 is not a registered buffer/);
      await refused(
        new Program().group([{ kind: 'allReduce', stream: s[0]!, comm: 4, dtype: 'float32', op: 'sum', count: 1, send: a.index, sendOffset: 0, recv: a.index, recvOffset: 0 }]),
        RangeError,
        /ops\[2\] \(group\): items\[0\] \(allReduce\): comm 4 is not a registered comm/,
      );
    });

    it('byte ranges and alignment', async () => {
      await refused(new Program().copy(s[0]!, a.index, 0, b.index, 0, 4096), RangeError, /ops\[2\] \(copy\): bytes 4096 at dstOffset 0 exceed buffer \d+ \(2048 bytes\)/);
      await refused(new Program().copy(s[0]!, a.index, 0, b.index, 2044, 8), RangeError, /bytes 8 at srcOffset 2044 exceed buffer/);
      await refused(new Program().reduce(s[0]!, 'float32', 'sum', 4, 1, a.index, 2, [[b.index, 0]]), RangeError, /ops\[2\] \(reduce\): dstOffset 2 is not a multiple of the element size 4/);
      await refused(new Program().reduce(s[0]!, 'float32', 'sum', 4, 1, a.index, 0, [[b.index, 6]]), RangeError, /input offset 6 is not a multiple/);
      await refused(new Program().reduce(s[0]!, 'float64', 'sum', 300, 1, a.index, 0, [[b.index, 0]]), RangeError, /bytes 2400 at dstOffset 0 exceed buffer/);
      await refused(new Program().reduce(s[0]!, 'float64', 'sum', 2 ** 52, 1, a.index, 0, [[b.index, 0]]), RangeError, /count 4503599627370496 is too large/);
    });

    it('dtype, redop and collective kind codes', async () => {
      await refused(new Program().raw(OpCode.reduce, s[0]!, 8, 0, 1, 1, a.index, 0, 1, b.index, 0), RangeError, /ops\[2\] \(reduce\): dtype 8 is not below 8/);
      await refused(new Program().raw(OpCode.reduce, s[0]!, 2, 5, 1, 1, a.index, 0, 1, b.index, 0), RangeError, /redop 5 is not below 5/);
      await refused(new Program().raw(OpCode.group, 1, 5, ...new Array<number>(10).fill(0)), RangeError, /ops\[2\] \(group\): items\[0\]: kind 5 is not below 5/);
    });

    it('reduce inputs and divisor; group size', async () => {
      await refused(new Program().reduce(s[0]!, 'float32', 'sum', 4, 1, a.index, 0, []), RangeError, /ops\[2\] \(reduce\): k must be at least 1/);
      await refused(new Program().reduce(s[0]!, 'float32', 'avg', 4, 0, a.index, 0, [[b.index, 0]]), RangeError, /divisor 0 is not between 1 and 2\^32-1/);
      await refused(new Program().reduce(s[0]!, 'float32', 'avg', 4, 2 ** 32, a.index, 0, [[b.index, 0]]), RangeError, /divisor 4294967296/);
      await refused(new Program().raw(OpCode.group, 0), RangeError, /ops\[2\] \(group\): n must be at least 1/);
    });

    it('wait sequence numbers and record modes', async () => {
      // Record 1 of stream 0 is in the program before the bad op, so seq 1 is fine and seq 2 is not.
      await refused(new Program().wait(s[1]!, s[0]!, 1).wait(s[1]!, s[0]!, 2), RangeError, /ops\[3\] \(wait\): seq 2 is not a record of stream 0 \(1 recorded by then\)/);
      await refused(new Program().wait(s[1]!, s[2]!, 0), RangeError, /seq 0 is not a record of stream 2/);
      await refused(new Program().record(s[0]!, 3), RangeError, /ops\[2\] \(record\): mode 3 is not below 3/);
      await refused(new Program().record(s[0]!, RecordMode.timingEnd, 1), RangeError, /startSeq 1 is not an unpaired timing start of stream 0/);
      await refused(
        new Program().record(s[0]!, RecordMode.timingStart).record(s[0]!, RecordMode.timingEnd, 2).record(s[0]!, RecordMode.timingEnd, 2),
        RangeError,
        /ops\[4\] \(record\): startSeq 2 is not an unpaired/,
      );
    });

    it('closed streams and handles of another device', async () => {
      const extra = new native.Stream(device);
      const e = q.addStream(extra);
      extra.close();
      await refused(new Program().record(e), TypeError, /ops\[2\] \(record\): stream 3 is closed/);
      if (backend === 'cpu' || deviceCount > 1) {
        const other = new native.Device(backend, 1);
        const far = new native.Buffer(other, 64);
        const fi = q.addBuffer(far);
        await refused(new Program().copy(s[0]!, fi, 0, b.index, 0, 4), TypeError, /ops\[2\] \(copy\): dst \(buffer \d+\) lives on \w+:1, stream 0 on \w+:0/);
        q.removeBuffer(fi);
        far.close();
      }
      expect(() => q.records(17)).to.throw(RangeError, /stream 17 is not registered/);
    });
  });

  describe('groups', () => {
    let comms: NativeComm[] = [];
    let devices: NativeDevice[] = [];
    let rankStreams: NativeStream[] = [];
    let rs: number[] = [];
    let rc: number[] = [];
    beforeEach(async function () {
      if (deviceCount < 2) this.skip();
      devices = [0, 1].map((i) => new native.Device(backend, i));
      comms = await native.initComms(backend, native.uniqueId(backend), 2, devices.map((d, rank) => ({ rank, device: d })), 30000);
      rankStreams = devices.map((d) => new native.Stream(d));
      rs = rankStreams.map((st) => q.addStream(st));
      rc = comms.map((c) => q.addComm(c));
    });
    afterEach(() => {
      for (const st of rankStreams) st.close();
      for (const c of comms) c.close();
      rankStreams = [];
      comms = [];
    });

    it('all-reduces and exchanges through one submit, split per stream', async () => {
      const n = 3001;
      const inputs = [0, 1].map(() => randomArray('float32', n));
      const ins = inputs.map((x, r) => {
        const h = upload(rankStreams[r]!, devices[r]!, x);
        return { handle: h, index: q.addBuffer(h) };
      });
      const outs = devices.map((d) => {
        const h = new native.Buffer(d, n * 4);
        return { handle: h, index: q.addBuffer(h) };
      });
      const swapped = devices.map((d) => {
        const h = new native.Buffer(d, n * 4);
        return { handle: h, index: q.addBuffer(h) };
      });
      const p = new Program().group(
        [0, 1].map((r) => ({ kind: 'allReduce' as const, stream: rs[r]!, comm: rc[r]!, dtype: 'float32' as DType, op: 'sum' as ReduceOp, count: n, send: ins[r]!.index, sendOffset: 0, recv: outs[r]!.index, recvOffset: 0 })),
      );
      p.group([
        { kind: 'send', stream: rs[0]!, comm: rc[0]!, dtype: 'float32', count: n, send: ins[0]!.index, sendOffset: 0, peer: 1 },
        { kind: 'recv', stream: rs[0]!, comm: rc[0]!, dtype: 'float32', count: n, recv: swapped[0]!.index, recvOffset: 0, peer: 1 },
        { kind: 'send', stream: rs[1]!, comm: rc[1]!, dtype: 'float32', count: n, send: ins[1]!.index, sendOffset: 0, peer: 0 },
        { kind: 'recv', stream: rs[1]!, comm: rc[1]!, dtype: 'float32', count: n, recv: swapped[1]!.index, recvOffset: 0, peer: 0 },
      ]);
      p.record(rs[0]!).record(rs[1]!);
      q.submit(p.build(), p.fields.length);
      await Promise.all(rs.map((st) => t.until(st, 1)));
      for (const r of [0, 1]) {
        expect(t.failedFrom.get(rs[r]!), t.errors.get(rs[r]!)).to.equal(0);
        const got = await download(rankStreams[r]!, devices[r]!, outs[r]!.handle, 'float32');
        expectClose('float32', 'sum', 2, got, reference('float32', 'sum', inputs, n), `rank ${r}`);
        const sw = await download(rankStreams[r]!, devices[r]!, swapped[r]!.handle, 'float32');
        expect(Buffer.from(sw.buffer).equals(Buffer.from(inputs[1 - r]!.buffer))).to.equal(true);
      }
      for (const b of [...ins, ...outs, ...swapped]) b.handle.close();
    });

    it('checks group items: peers, unused fields and devices', async () => {
      const h = new native.Buffer(devices[0]!, 64);
      const bi = q.addBuffer(h);
      const item = { kind: 'send' as const, stream: rs[0]!, comm: rc[0]!, dtype: 'float32' as DType, count: 4, send: bi, sendOffset: 0 };
      expect(() => q.submit(new Program().group([{ ...item, peer: 2 }]).build(), 13)).to.throw(RangeError, /ops\[0\] \(group\): items\[0\] \(send\): peer 2 is not below the comm size 2/);
      expect(() => q.submit(new Program().group([{ ...item, peer: 1, recv: bi }]).build(), 13)).to.throw(RangeError, /items\[0\] \(send\): recv must be -1 \(unused by send\), got \d/);
      expect(() => q.submit(new Program().group([{ ...item, peer: 1, comm: rc[1]! }]).build(), 13)).to.throw(TypeError, /items\[0\] \(send\): comm 1 \(rank 1\) lives on \w+:1, stream \d+ on \w+:0/);
      expect(q.records(rs[0]!)).to.equal(0);
      q.removeBuffer(bi);
      h.close();
    });

    it('a group on an aborted comm fails its streams; later records and waiting streams fail too', async () => {
      const bufs = devices.map((d) => {
        const h = new native.Buffer(d, 64);
        return { handle: h, index: q.addBuffer(h) };
      });
      comms[0]!.abort();
      comms[1]!.abort();
      const p = new Program().group(
        [0, 1].map((r) => ({ kind: 'allReduce' as const, stream: rs[r]!, comm: rc[r]!, dtype: 'float32' as DType, op: 'sum' as ReduceOp, count: 16, send: bufs[r]!.index, sendOffset: 0, recv: bufs[r]!.index, recvOffset: 0 })),
      );
      p.record(rs[0]!).record(rs[1]!);
      q.submit(p.build(), p.fields.length);
      await Promise.all(rs.map((st) => t.until(st, 1)));
      for (const st of rs) {
        expect(t.failedFrom.get(st)).to.equal(1);
        expect(t.errors.get(st)).to.match(/group: .*aborted/);
      }
      // Later records on the failed stream carry the error; a stream that waits on one fails with it.
      q.submit(new Program().record(rs[0]!).wait(s[1]!, rs[0]!, 2).record(s[1]!).record(s[2]!).build(), 16);
      await Promise.all([t.until(rs[0]!, 2), t.until(s[1]!, 1), t.until(s[2]!, 1)]);
      expect(t.failedFrom.get(rs[0]!)).to.equal(1);
      expect(t.failedFrom.get(s[1]!)).to.equal(1);
      expect(t.errors.get(s[1]!)).to.match(new RegExp(`^waited on a failed record of stream ${rs[0]}: group: `));
      expect(t.failedFrom.get(s[2]!)).to.equal(0);
      for (const b of bufs) b.handle.close();
    });
  });

  it('close() is idempotent and stops the queue', () => {
    expect(q.closed).to.equal(false);
    q.close();
    q.close();
    expect(q.closed).to.equal(true);
    expect(() => q.submit(new Program().record(0).build(), 4)).to.throw(TypeError, /Queue is closed/);
    expect(() => q.addStream(streams[0]!)).to.throw(TypeError, /Queue is closed/);
  });

  it('a process whose queue finished its program exits by itself', async function () {
    const addon = pathToFileURL(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'native.js')).href;
    const script = `
      import { native } from ${JSON.stringify(addon)};
      const device = new native.Device(${JSON.stringify(backend)}, 0);
      const stream = new native.Stream(device);
      const buf = new native.Buffer(device, 1 << 20);
      let last = 0;
      let resolve;
      const finished = new Promise((r) => (resolve = r));
      const q = new native.Queue(${JSON.stringify(backend)}, (done) => {
        last = done[1];
        if (last === 50) resolve();
      });
      const s = q.addStream(stream);
      const b = q.addBuffer(buf);
      const ops = [];
      for (let i = 0; i < 25; i++) ops.push(3, s, b, 0, b, 1 << 19, 1 << 19, 2, s, 0, 0);
      q.submit(Float64Array.from(ops), ops.length);
      q.replay(Float64Array.from([2, s, 0, 0]), 4, 25);
      q.want(s, 50);
      await finished;
      // Left open on purpose: an idle queue must not keep the process alive.
      console.log('done', last);
    `;
    const { code, stdout, stderr } = await runNodeScript(script, 30000);
    expect(code, stderr).to.equal(0);
    expect(stdout).to.contain('done 50');
  });
});
