import { expect } from 'chai';
import { mergeMap, map } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import {
  collectiveKinds,
  dtypes,
  OpCode,
  RecordMode,
  reduceOps,
  type CollectiveKind,
  type DType,
  type GroupItem,
  type NativeBuffer,
  type NativeComm,
  type NativeDevice,
  type NativeQueue,
  type ReduceOp,
} from '../../src/native.js';
import {
  createVirtualRuntime,
  type VirtualOp,
  type VirtualRuntime,
  type VirtualRuntimeOptions,
  type VirtualStream,
} from '../helpers/virtual-runtime.js';

function newScheduler(): TestScheduler {
  return new TestScheduler((a, b) => {
    expect(a).to.deep.equal(b);
  });
}

async function commsOn(rt: VirtualRuntime, devices: NativeDevice[]): Promise<NativeComm[]> {
  const members = devices.map((device, rank) => ({ rank, device }));
  return rt.initComms('cpu', rt.uniqueId('cpu'), devices.length, members, 1000);
}

describe('virtual runtime', () => {
  it('serializes the ops of one stream and runs other streams alongside', () => {
    const scheduler = newScheduler();
    const rt = createVirtualRuntime(scheduler, { duration: () => 3 });
    const device = new rt.Device('cpu', 0);
    const a = new rt.Stream(device);
    const b = new rt.Stream(device);
    const x = new rt.Buffer(device, 64);
    const y = new rt.Buffer(device, 64);
    const done = new rt.Event(device);
    scheduler.run(({ expectObservable }) => {
      a.fill(x, 0, 16, 'float32', 1);
      a.copy(y, 0, x, 0, 64);
      a.record(done);
      b.fill(y, 0, 16, 'float32', 0);
      expectObservable(rt.completion(done)).toBe('------(a|)', { a: undefined });
    });
    expect(rt.log).to.deep.equal([
      { kind: 'fill', device: 0, stream: a.id, start: 0, end: 3 },
      { kind: 'copy', device: 0, stream: a.id, start: 3, end: 6 },
      { kind: 'fill', device: 0, stream: b.id, start: 0, end: 3 },
    ]);
    expect([a.id, b.id]).to.deep.equal([0, 1]);
  });

  it('delays the op after a wait until the waited-on record, and ignores a never-recorded event', () => {
    const scheduler = newScheduler();
    const rt = createVirtualRuntime(scheduler, { duration: () => 3 });
    const device = new rt.Device('cpu', 0);
    const [a, b, c] = [new rt.Stream(device), new rt.Stream(device), new rt.Stream(device)];
    const x = new rt.Buffer(device, 64);
    const produced = new rt.Event(device);
    const consumed = new rt.Event(device);
    scheduler.run(({ expectObservable }) => {
      a.fill(x, 0, 16, 'float32', 1);
      a.record(produced);
      b.wait(produced);
      b.record(consumed);
      b.copyToHost(x, 0, 64);
      c.wait(new rt.Event(device));
      c.copyToHost(x, 0, 64);
      // A record right after a wait completes no earlier than the waited-on record.
      expectObservable(rt.completion(consumed)).toBe('---(a|)', { a: undefined });
    });
    expect(rt.log.map((r) => [r.stream, r.start, r.end])).to.deep.equal([
      [a.id, 0, 3],
      [b.id, 3, 6],
      [c.id, 0, 3],
    ]);
  });

  it('completes an event at the frame of its latest record, counted from when the work was enqueued', () => {
    const scheduler = newScheduler();
    const rt = createVirtualRuntime(scheduler, { duration: () => 3 });
    const device = new rt.Device('cpu', 0);
    const [a, b] = [new rt.Stream(device), new rt.Stream(device)];
    const x = new rt.Buffer(device, 64);
    const [e, late, never] = [new rt.Event(device), new rt.Event(device), new rt.Event(device)];
    scheduler.run(({ expectObservable, cold }) => {
      a.fill(x, 0, 16, 'float32', 1);
      a.record(e);
      expectObservable(rt.completion(e)).toBe('---(a|)', { a: undefined });
      expectObservable(rt.completion(never)).toBe('(a|)', { a: undefined });
      const enqueuedAt2 = cold('--x|').pipe(
        mergeMap(() => {
          b.fill(x, 0, 16, 'float32', 2);
          b.record(late);
          return rt.completion(late);
        }),
      );
      expectObservable(enqueuedAt2).toBe('-----(a|)', { a: undefined });
      const polled = cold('a-b--c|').pipe(map(() => [e.isComplete(), late.isComplete()]));
      expectObservable(polled).toBe('a-b--c|', { a: [false, true], b: [false, false], c: [true, true] });
    });
  });

  it('makes a copyToHost readable once virtual time reaches its end', () => {
    const scheduler = newScheduler();
    const rt = createVirtualRuntime(scheduler, { duration: () => 3 });
    const device = new rt.Device('cpu', 0);
    const s = new rt.Stream(device);
    const x = new rt.Buffer(device, 64);
    scheduler.run(({ expectObservable, cold }) => {
      const host = s.copyToHost(x, 8, 16);
      expect(() => host.read()).to.throw(Error, /before its copy completed/);
      const polled = cold('-a-b|').pipe(map(() => host.ready && host.read().byteLength));
      expectObservable(polled).toBe('-a-b|', { a: false, b: 16 });
    });
  });

  it('starts a group when its slowest participant is ready and ends it on every stream', async () => {
    const scheduler = newScheduler();
    const rt = createVirtualRuntime(scheduler, { duration: (op) => (op.kind === 'group' ? 2 : 3) });
    const devices = [0, 1, 2].map((i) => new rt.Device('cpu', i));
    const streams = devices.map((d) => new rt.Stream(d));
    const bufs = devices.map((d) => new rt.Buffer(d, 64));
    const done = devices.map((d) => new rt.Event(d));
    const comms = await commsOn(rt, devices);
    const [s0, s1] = streams as [VirtualStream, VirtualStream];
    const [b0, b1] = bufs as [NativeBuffer, NativeBuffer];
    scheduler.run(({ expectObservable }) => {
      s0.fill(b0, 0, 16, 'float32', 1);
      s1.fill(b1, 0, 16, 'float32', 1);
      s1.fill(b1, 0, 16, 'float32', 1);
      const items = streams.map(
        (stream, i): GroupItem => ({
          kind: 'allReduce',
          stream,
          comm: comms[i]!,
          count: 16,
          dtype: 'float32',
          op: 'sum',
          send: bufs[i]!,
          recv: bufs[i]!,
        }),
      );
      rt.group(items);
      streams.forEach((s, i) => s.record(done[i]!));
      s0.fill(b0, 0, 16, 'float32', 0);
      for (const e of done) expectObservable(rt.completion(e)).toBe('--------(a|)', { a: undefined });
    });
    expect(rt.log.filter((r) => r.kind === 'group')).to.deep.equal([
      { kind: 'group', device: 0, stream: s0.id, start: 6, end: 8, label: 'allReduce' },
    ]);
    expect(rt.log.at(-1)).to.deep.equal({ kind: 'fill', device: 0, stream: s0.id, start: 8, end: 11 });
  });

  it('fails later completions after a failed op and spreads the failure through waits and groups', async () => {
    const scheduler = newScheduler();
    const rt = createVirtualRuntime(scheduler, {
      duration: () => 3,
      fail: (op) => (op.kind === 'reduce' ? 'boom' : null),
    });
    const devices = [0, 1].map((i) => new rt.Device('cpu', i));
    const [d0, d1] = devices as [NativeDevice, NativeDevice];
    const [a, b, c] = [new rt.Stream(d0), new rt.Stream(d1), new rt.Stream(d1)];
    const x = new rt.Buffer(d0, 64);
    const y = new rt.Buffer(d1, 64);
    const [before, failed] = [new rt.Event(d0), new rt.Event(d0)];
    const [waited, grouped] = [new rt.Event(d1), new rt.Event(d1)];
    const [c0, c1] = (await commsOn(rt, devices)) as [NativeComm, NativeComm];
    scheduler.run(({ expectObservable }) => {
      a.fill(x, 0, 16, 'float32', 1);
      a.record(before);
      a.reduce(x, 0, [x, x], [0, 0], 16, 'float32', 'sum');
      a.copy(x, 0, x, 0, 64);
      a.record(failed);
      b.wait(failed);
      b.fill(y, 0, 16, 'float32', 1);
      b.record(waited);
      c.fill(y, 0, 16, 'float32', 0);
      rt.group([
        { kind: 'send', stream: c, comm: c1, count: 16, dtype: 'float32', send: y, peer: 0 },
        { kind: 'recv', stream: a, comm: c0, count: 16, dtype: 'float32', recv: x, peer: 1 },
      ]);
      c.record(grouped);
      expectObservable(rt.completion(before)).toBe('---(a|)', { a: undefined });
      expectObservable(rt.completion(failed)).toBe('------#', undefined, new Error('reduce: boom'));
      expectObservable(rt.completion(waited)).toBe('------#', undefined, new Error('waited on a failed event: reduce: boom'));
      expectObservable(rt.completion(grouped)).toBe(
        '------#',
        undefined,
        new Error('group: skipped: a stream on cpu:0 had already failed (reduce: boom)'),
      );
    });
    expect(rt.log.map((r) => [r.kind, r.stream, r.start, r.end, r.error])).to.deep.equal([
      ['fill', a.id, 0, 3, undefined],
      ['reduce', a.id, 3, 6, 'reduce: boom'],
      ['copy', a.id, 6, 6, 'reduce: boom'],
      ['fill', b.id, 6, 6, 'waited on a failed event: reduce: boom'],
      ['fill', c.id, 0, 3, undefined],
      ['group', c.id, 6, 6, 'group: skipped: a stream on cpu:0 had already failed (reduce: boom)'],
    ]);
  });

  it('checks arguments synchronously and counts live buffers', async () => {
    const scheduler = newScheduler();
    const rt = createVirtualRuntime(scheduler);
    const device = new rt.Device('cuda', 3);
    expect(device).to.include({ backend: 'cuda', ordinal: 3, name: 'virtual:3', totalMemory: 2 ** 40 });
    const s = new rt.Stream(device);
    const x = new rt.Buffer(device, 64);
    const y = new rt.Buffer(device, 64);
    expect(rt.liveBuffers()).to.equal(2);
    const [comm] = (await rt.initComms('cuda', rt.uniqueId('cuda'), 2, [{ rank: 0, device }], 1000)) as [NativeComm];
    expect(comm).to.include({ rank: 0, size: 2, closed: false });
    expect(() => s.fill(x, 4, 16, 'float32', 0)).to.throw(RangeError);
    expect(() => s.fill(x, 2, 1, 'float32', 0)).to.throw(RangeError);
    expect(() => s.copy(y, 0, x, 32, 33)).to.throw(RangeError);
    const item = { stream: s, comm, count: 16, dtype: 'float32', op: 'sum' } as const;
    expect(() => rt.group([{ ...item, kind: 'allReduce', send: x }])).to.throw(TypeError);
    expect(() => rt.group([{ ...item, kind: 'allGather', send: x, recv: y }])).to.throw(RangeError);
    expect(() => rt.group([{ ...item, kind: 'send', send: x, peer: 2 }])).to.throw(RangeError);
    expect(() => rt.group([{ ...item, kind: 'allReduce', send: x, recv: y, count: -1 }])).to.throw(RangeError);
    expect(() => rt.group([{ ...item, kind: 'broadcast' as 'allReduce', send: x, recv: y }])).to.throw(TypeError);
    expect(rt.log).to.deep.equal([]);
    x.close();
    x.close();
    expect(x.closed).to.equal(true);
    expect(rt.liveBuffers()).to.equal(1);
    expect(() => s.fill(x, 0, 1, 'float32', 0)).to.throw(TypeError, /closed/);
  });
});

// Packed programs, field by field as src/native.ts lays them out.
const dt = (d: DType): number => dtypes.indexOf(d);
const ro = (op: ReduceOp): number => reduceOps.indexOf(op);
const ck = (kind: CollectiveKind): number => collectiveKinds.indexOf(kind);

const ops = {
  wait: (stream: number, onStream: number, seq: number): number[] => [OpCode.wait, stream, onStream, seq],
  record: (stream: number, mode: number = RecordMode.plain, startSeq = 0): number[] => [OpCode.record, stream, mode, startSeq],
  copy: (stream: number, dst: number, dstOffset: number, src: number, srcOffset: number, bytes: number): number[] => [
    OpCode.copy,
    stream,
    dst,
    dstOffset,
    src,
    srcOffset,
    bytes,
  ],
  reduce: (
    stream: number,
    f: { dtype?: number; redop?: number; count: number; divisor?: number; dst: number; dstOffset?: number },
    inputs: readonly (readonly [number, number])[],
  ): number[] => [
    OpCode.reduce,
    stream,
    f.dtype ?? dt('float32'),
    f.redop ?? ro('sum'),
    f.count,
    f.divisor ?? inputs.length,
    f.dst,
    f.dstOffset ?? 0,
    inputs.length,
    ...inputs.flat(),
  ],
  group: (items: readonly (readonly number[])[]): number[] => [OpCode.group, items.length, ...items.flat()],
  item: (f: {
    kind: number;
    stream: number;
    comm: number;
    count: number;
    dtype?: number;
    redop?: number;
    send?: number;
    sendOffset?: number;
    recv?: number;
    recvOffset?: number;
    peer?: number;
  }): number[] => [
    f.kind,
    f.stream,
    f.comm,
    f.dtype ?? dt('float32'),
    f.redop ?? -1,
    f.count,
    f.send ?? -1,
    f.sendOffset ?? (f.send === undefined ? -1 : 0),
    f.recv ?? -1,
    f.recvOffset ?? (f.recv === undefined ? -1 : 0),
    f.peer ?? -1,
  ],
};

function program(...parts: readonly number[][]): Float64Array {
  return Float64Array.from(parts.flat());
}

function submit(q: NativeQueue, ...parts: readonly number[][]): void {
  const p = program(...parts);
  q.submit(p, p.length);
}

interface Report {
  at: number;
  /** Triples (stream, completed, failedFrom). */
  done: number[];
  errors: string[];
  /** Quadruples (stream, endSeq, ms, startMs). */
  timings: number[];
}

interface QueueSetup {
  scheduler: TestScheduler;
  rt: VirtualRuntime;
  devices: NativeDevice[];
  q: NativeQueue;
  reports: Report[];
}

function queueSetup(options: VirtualRuntimeOptions, devices = 1): QueueSetup {
  const scheduler = newScheduler();
  const rt = createVirtualRuntime(scheduler, options);
  const reports: Report[] = [];
  const q = new rt.Queue('cpu', (done, errors, timings) => {
    reports.push({ at: scheduler.now(), done: [...done], errors: [...errors], timings: [...timings] });
  });
  return { scheduler, rt, devices: Array.from({ length: devices }, (_, i) => new rt.Device('cpu', i)), q, reports };
}

describe('virtual queue', () => {
  it('completes records at the frames of their streams and reports every stream that advanced in one call', () => {
    const { scheduler, rt, devices, q, reports } = queueSetup({ duration: () => 3 });
    const [d] = devices as [NativeDevice];
    const [a, b] = [q.addStream(new rt.Stream(d)), q.addStream(new rt.Stream(d))];
    const [x, y] = [q.addBuffer(new rt.Buffer(d, 64)), q.addBuffer(new rt.Buffer(d, 64))];
    scheduler.run(() => {
      submit(q, ops.record(a), ops.copy(a, x, 0, y, 0, 64), ops.record(a), ops.copy(b, y, 0, x, 0, 64), ops.record(b));
      submit(q, ops.copy(a, y, 0, x, 0, 64), ops.record(a));
      expect([q.records(a), q.records(b)]).to.deep.equal([3, 1]);
      // Even a record complete at once is reported on the scheduler, not inside submit.
      expect(reports).to.deep.equal([]);
    });
    expect(reports).to.deep.equal([
      { at: 0, done: [a, 1, 0], errors: [''], timings: [] },
      { at: 3, done: [a, 2, 0, b, 1, 0], errors: ['', ''], timings: [] },
      { at: 6, done: [a, 3, 0], errors: [''], timings: [] },
    ]);
    expect(rt.log.map((r) => [r.kind, r.stream, r.start, r.end])).to.deep.equal([
      ['copy', 0, 0, 3],
      ['copy', 1, 0, 3],
      ['copy', 0, 3, 6],
    ]);
  });

  it('delays work after a wait until the waited-on record of another stream', () => {
    const { scheduler, rt, devices, q, reports } = queueSetup({ duration: (op) => (op.stream === 0 ? 4 : 1) });
    const [d] = devices as [NativeDevice];
    const [a, b] = [q.addStream(new rt.Stream(d)), q.addStream(new rt.Stream(d))];
    const x = q.addBuffer(new rt.Buffer(d, 64));
    scheduler.run(() => {
      submit(q, ops.copy(a, x, 0, x, 0, 8), ops.record(a), ops.wait(b, a, 1), ops.copy(b, x, 8, x, 16, 8), ops.record(b));
    });
    expect(rt.log.map((r) => [r.stream, r.start, r.end])).to.deep.equal([
      [0, 0, 4],
      [1, 4, 5],
    ]);
    expect(reports.map((r) => [r.at, ...r.done])).to.deep.equal([
      [4, a, 1, 0],
      [5, b, 1, 0],
    ]);
  });

  it('sets failedFrom at the first failed record and spreads the failure through waits', () => {
    const { scheduler, rt, devices, q, reports } = queueSetup({
      duration: () => 3,
      fail: (op) => (op.kind === 'reduce' ? 'boom' : null),
    });
    const [d] = devices as [NativeDevice];
    const [a, b] = [q.addStream(new rt.Stream(d)), q.addStream(new rt.Stream(d))];
    const x = q.addBuffer(new rt.Buffer(d, 64));
    scheduler.run(() => {
      submit(
        q,
        ops.copy(a, x, 0, x, 32, 32),
        ops.record(a),
        ops.reduce(a, { count: 8, dst: x }, [
          [x, 0],
          [x, 32],
        ]),
        ops.record(a),
        ops.copy(a, x, 0, x, 32, 32),
        ops.record(a),
        ops.wait(b, a, 2),
        ops.record(b),
      );
    });
    expect(reports).to.deep.equal([
      { at: 3, done: [a, 1, 0], errors: [''], timings: [] },
      {
        at: 6,
        done: [a, 3, 2, b, 1, 1],
        errors: ['reduce: boom', 'waited on a failed event: reduce: boom'],
        timings: [],
      },
    ]);
    expect(rt.log.map((r) => [r.kind, r.start, r.end, r.error])).to.deep.equal([
      ['copy', 0, 3, undefined],
      ['reduce', 3, 6, 'reduce: boom'],
      ['copy', 6, 6, 'reduce: boom'],
    ]);
  });

  it('reports the virtual ms between a timing start and its end and the start\'s frame, also across submits, and none for a failed pair', () => {
    const { scheduler, rt, devices, q, reports } = queueSetup({
      duration: (op) => (op.kind === 'reduce' ? 5 : 2),
      fail: (op) => (op.kind === 'reduce' ? 'boom' : null),
    });
    const [d] = devices as [NativeDevice];
    const [a, b] = [q.addStream(new rt.Stream(d)), q.addStream(new rt.Stream(d))];
    const x = q.addBuffer(new rt.Buffer(d, 64));
    scheduler.run(({ cold, expectObservable }) => {
      const copy = ops.copy(a, x, 0, x, 32, 8);
      submit(q, copy, ops.record(a, RecordMode.timingStart), copy, copy);
      submit(q, ops.record(a, RecordMode.timingEnd, 1), ops.record(b, RecordMode.timingStart));
      const later = cold('---x|').pipe(
        map(() => {
          submit(q, ops.reduce(b, { count: 1, dst: x }, [[x, 0]]), ops.record(b, RecordMode.timingEnd, 1));
          return q.records(b);
        }),
      );
      expectObservable(later).toBe('---x|', { x: 2 });
    });
    expect(reports).to.deep.equal([
      { at: 0, done: [b, 1, 0], errors: [''], timings: [] },
      { at: 2, done: [a, 1, 0], errors: [''], timings: [] },
      // The start record came after the first copy (frames 0-2), the end after two more (2-6).
      { at: 6, done: [a, 2, 0], errors: [''], timings: [a, 2, 4, 2] },
      { at: 8, done: [b, 2, 2], errors: ['reduce: boom'], timings: [] },
    ]);
  });

  it('turns packed groups into runtime groups of real items', async () => {
    const seen: VirtualOp[] = [];
    const { scheduler, rt, devices, q, reports } = queueSetup({ duration: (op) => (seen.push(op), 2) }, 2);
    const streams = devices.map((dev) => new rt.Stream(dev));
    const buffers = devices.map((dev) => new rt.Buffer(dev, 64));
    const comms = await commsOn(rt, devices);
    const s = streams.map((h) => q.addStream(h));
    const b = buffers.map((h) => q.addBuffer(h));
    const c = comms.map((h) => q.addComm(h));
    const items = [0, 1].map((i) =>
      ops.item({ kind: ck('allReduce'), stream: s[i]!, comm: c[i]!, count: 4, redop: ro('max'), send: b[i]!, recv: b[i]!, recvOffset: 16 }),
    );
    scheduler.run(() => {
      submit(q, ops.group(items), ops.record(s[0]!), ops.record(s[1]!));
    });
    expect(rt.log).to.deep.equal([{ kind: 'group', device: 0, stream: streams[0]!.id, start: 0, end: 2, label: 'allReduce' }]);
    expect(seen[0]?.items).to.deep.equal(
      [0, 1].map(
        (i): GroupItem => ({
          kind: 'allReduce',
          stream: streams[i]!,
          comm: comms[i]!,
          count: 4,
          dtype: 'float32',
          send: buffers[i]!,
          sendOffset: 0,
          recv: buffers[i]!,
          recvOffset: 16,
          op: 'max',
        }),
      ),
    );
    expect(seen[0]?.items?.[1]?.stream).to.equal(streams[1]);
    expect(reports).to.deep.equal([{ at: 2, done: [s[0], 1, 0, s[1], 1, 0], errors: ['', ''], timings: [] }]);
  });

  describe('checks the whole program first and issues nothing when an op is wrong', () => {
    interface Fixture {
      rt: VirtualRuntime;
      q: NativeQueue;
      /** Streams: a, b on cpu:0, c on cpu:1. */
      a: number;
      b: number;
      c: number;
      /** Buffers: x (64 bytes) on cpu:0, y (64 bytes) on cpu:1, gone (removed). */
      x: number;
      y: number;
      gone: number;
      /** Comms of one 2-rank communicator: c0 on cpu:0, c1 on cpu:1. */
      c0: number;
      c1: number;
      reports: Report[];
      scheduler: TestScheduler;
    }

    async function fixture(): Promise<Fixture> {
      const { scheduler, rt, devices, q, reports } = queueSetup({}, 2);
      const [d0, d1] = devices as [NativeDevice, NativeDevice];
      const [a, b, c] = [d0, d0, d1].map((dev) => q.addStream(new rt.Stream(dev))) as [number, number, number];
      const x = q.addBuffer(new rt.Buffer(d0, 64));
      const y = q.addBuffer(new rt.Buffer(d1, 64));
      const gone = q.addBuffer(new rt.Buffer(d0, 64));
      q.removeBuffer(gone);
      const [c0, c1] = (await commsOn(rt, devices)).map((comm) => q.addComm(comm)) as [number, number];
      // Records issued before: a has 1 (a timing start), b has 1 (plain).
      submit(q, ops.record(a, RecordMode.timingStart), ops.record(b));
      return { rt, q, a, b, c, x, y, gone, c0, c1, reports, scheduler };
    }

    const valid = (f: Fixture): number[] => ops.copy(f.a, f.x, 0, f.x, 32, 32);
    const allReduce = (f: Fixture, over: Partial<Parameters<typeof ops.item>[0]> = {}): number[] =>
      ops.item({ kind: ck('allReduce'), stream: f.a, comm: f.c0, count: 4, redop: ro('sum'), send: f.x, recv: f.x, ...over });

    // Every program is a valid copy followed by the op under test: ops[1].
    const cases: readonly [string, (f: Fixture) => number[], typeof RangeError | typeof TypeError, RegExp][] = [
      ['an unknown op code', () => [9, 0, 0, 0], RangeError, /^ops\[1\]: unknown op code 9 at index 7$/],
      ['a truncated op', (f) => [OpCode.copy, f.a, f.x, 0, f.x, 0], RangeError, /^ops\[1\] \(copy\): truncated: needs 7 fields, 6 left before length 13$/],
      [
        'an unregistered stream',
        (f) => ops.copy(7, f.x, 0, f.x, 0, 4),
        RangeError,
        /^ops\[1\] \(copy\): stream 7 is not a registered stream \(3 registered\)$/,
      ],
      [
        'a non-integer field',
        (f) => ops.copy(f.a, f.x, 0.5, f.x, 0, 4),
        RangeError,
        /^ops\[1\] \(copy\): dstOffset must be a non-negative integer, got 0.5$/,
      ],
      ['a removed buffer', (f) => ops.copy(f.a, f.gone, 0, f.x, 0, 4), RangeError, /^ops\[1\] \(copy\): dst 2 is not a registered buffer$/],
      [
        'a buffer of another device',
        (f) => ops.copy(f.a, f.x, 0, f.y, 0, 4),
        TypeError,
        /^ops\[1\] \(copy\): src \(buffer 1\) lives on cpu:1, stream 0 on cpu:0$/,
      ],
      [
        'bytes out of range',
        (f) => ops.copy(f.a, f.x, 32, f.x, 0, 33),
        RangeError,
        /^ops\[1\] \(copy\): bytes 33 at dstOffset 32 exceed buffer 0 \(64 bytes\)$/,
      ],
      [
        'a misaligned reduce input',
        (f) => ops.reduce(f.a, { count: 1, dst: f.x }, [[f.x, 2]]),
        RangeError,
        /^ops\[1\] \(reduce\): input offset 2 is not a multiple of the element size 4$/,
      ],
      ['a dtype code', (f) => ops.reduce(f.a, { dtype: 8, count: 1, dst: f.x }, [[f.x, 0]]), RangeError, /^ops\[1\] \(reduce\): dtype 8 is not below 8$/],
      [
        'a redop code',
        (f) => ops.reduce(f.a, { redop: -1, count: 1, dst: f.x }, [[f.x, 0]]),
        RangeError,
        /^ops\[1\] \(reduce\): redop must be a non-negative integer, got -1$/,
      ],
      ['reduce k = 0', (f) => ops.reduce(f.a, { count: 1, dst: f.x, divisor: 1 }, []), RangeError, /^ops\[1\] \(reduce\): k must be at least 1$/],
      [
        'divisor 0',
        (f) => ops.reduce(f.a, { count: 1, dst: f.x, divisor: 0 }, [[f.x, 0]]),
        RangeError,
        /^ops\[1\] \(reduce\): divisor 0 is not between 1 and 2\^32-1$/,
      ],
      [
        'divisor 2^32',
        (f) => ops.reduce(f.a, { count: 1, dst: f.x, divisor: 2 ** 32 }, [[f.x, 0]]),
        RangeError,
        /^ops\[1\] \(reduce\): divisor 4294967296 is not between 1 and 2\^32-1$/,
      ],
      ['group n = 0', () => ops.group([]), RangeError, /^ops\[1\] \(group\): n must be at least 1$/],
      [
        'a collective kind code',
        (f) => ops.group([allReduce(f), allReduce(f, { kind: 5 })]),
        RangeError,
        /^ops\[1\] \(group\): items\[1\]: kind 5 is not below 5$/,
      ],
      [
        'a comm of another device',
        (f) => ops.group([allReduce(f, { comm: f.c1 })]),
        TypeError,
        /^ops\[1\] \(group\): items\[0\] \(allReduce\): comm 1 \(rank 1\) lives on cpu:1, stream 0 on cpu:0$/,
      ],
      [
        'an unregistered comm',
        (f) => ops.group([allReduce(f, { comm: 2 })]),
        RangeError,
        /^ops\[1\] \(group\): items\[0\] \(allReduce\): comm 2 is not a registered comm$/,
      ],
      [
        'a group redop code',
        (f) => ops.group([allReduce(f, { redop: 5 })]),
        RangeError,
        /^ops\[1\] \(group\): items\[0\] \(allReduce\): redop 5 is not below 5$/,
      ],
      [
        'a used field left unset',
        (f) => ops.group([ops.item({ kind: ck('send'), stream: f.a, comm: f.c0, count: 1, send: f.x })]),
        RangeError,
        /^ops\[1\] \(group\): items\[0\] \(send\): peer must be a non-negative integer, got -1$/,
      ],
      [
        'an unused field set',
        (f) => ops.group([ops.item({ kind: ck('recv'), stream: f.a, comm: f.c0, count: 1, recv: f.x, peer: 1, sendOffset: 0 })]),
        RangeError,
        /^ops\[1\] \(group\): items\[0\] \(recv\): sendOffset must be -1 \(unused by recv\), got 0$/,
      ],
      [
        'a peer beyond the comm',
        (f) => ops.group([ops.item({ kind: ck('send'), stream: f.a, comm: f.c0, count: 1, send: f.x, peer: 2 })]),
        RangeError,
        /^ops\[1\] \(group\): items\[0\] \(send\): peer 2 is not below the comm size 2$/,
      ],
      [
        'an allGather output too small for the ranks',
        (f) => ops.group([ops.item({ kind: ck('allGather'), stream: f.a, comm: f.c0, count: 16, send: f.x, recv: f.x, recvOffset: 4 })]),
        RangeError,
        /^ops\[1\] \(group\): items\[0\] \(allGather\): bytes 128 at recvOffset 4 exceed buffer 0 \(64 bytes\)$/,
      ],
      ['wait seq 0', (f) => ops.wait(f.a, f.b, 0), RangeError, /^ops\[1\] \(wait\): seq 0 is not a record of stream 1 \(1 recorded by then\)$/],
      [
        'a wait on a record made later',
        (f) => [...ops.wait(f.a, f.b, 2), ...ops.record(f.b)],
        RangeError,
        /^ops\[1\] \(wait\): seq 2 is not a record of stream 1 \(1 recorded by then\)$/,
      ],
      ['a record mode', (f) => ops.record(f.a, 3), RangeError, /^ops\[1\] \(record\): mode 3 is not below 3$/],
      [
        'a timing end paired with a plain record',
        (f) => ops.record(f.b, RecordMode.timingEnd, 1),
        RangeError,
        /^ops\[1\] \(record\): startSeq 1 is not an unpaired timing start of stream 1$/,
      ],
      [
        'a timing end paired with itself',
        (f) => ops.record(f.a, RecordMode.timingEnd, 2),
        RangeError,
        /^ops\[1\] \(record\): startSeq 2 is not an unpaired timing start of stream 0$/,
      ],
      [
        'a timing end paired with another stream',
        (f) => ops.record(f.c, RecordMode.timingEnd, 1),
        RangeError,
        /^ops\[1\] \(record\): startSeq 1 is not an unpaired timing start of stream 2$/,
      ],
      [
        'a timing start paired twice',
        (f) => [...ops.record(f.a, RecordMode.timingEnd, 1), ...ops.record(f.a, RecordMode.timingEnd, 1)],
        RangeError,
        /^ops\[2\] \(record\): startSeq 1 is not an unpaired timing start of stream 0$/,
      ],
    ];

    for (const [what, bad, type, message] of cases) {
      it(`rejects ${what}`, async () => {
        const f = await fixture();
        const p = program(valid(f), bad(f));
        f.scheduler.run(() => {
          expect(() => f.q.submit(p, p.length)).to.throw(type, message);
          expect(() => f.q.replay(p, p.length, 2)).to.throw(type, message);
        });
        expect(f.rt.log).to.deep.equal([]);
        expect([f.q.records(f.a), f.q.records(f.b), f.q.records(f.c)]).to.deep.equal([1, 1, 0]);
        expect(f.reports.map((r) => r.done)).to.deep.equal([[f.a, 1, 0, f.b, 1, 0]]);
      });
    }

    it('accepts waits and timing ends on records made earlier in the same program', async () => {
      const f = await fixture();
      f.scheduler.run(() => {
        submit(
          f.q,
          ops.record(f.c, RecordMode.timingStart),
          ops.wait(f.a, f.c, 1),
          ops.record(f.c, RecordMode.timingEnd, 1),
          ops.record(f.a, RecordMode.timingEnd, 1),
        );
      });
      expect([f.q.records(f.a), f.q.records(f.c)]).to.deep.equal([2, 2]);
    });

    it('rejects a closed buffer, a timing start paired by an earlier submit, bad lengths, iterations and backends', async () => {
      const f = await fixture();
      const buffer = new f.rt.Buffer(new f.rt.Device('cpu', 0), 64);
      const z = f.q.addBuffer(buffer);
      buffer.close();
      expect(() => submit(f.q, ops.copy(f.a, f.x, 0, z, 0, 4))).to.throw(TypeError, /^ops\[0\] \(copy\): src \(buffer 2\) is closed$/);
      submit(f.q, ops.record(f.a, RecordMode.timingEnd, 1));
      expect(() => submit(f.q, ops.record(f.a, RecordMode.timingEnd, 1))).to.throw(RangeError, /startSeq 1 is not an unpaired timing start/);
      expect(() => f.q.submit(new Float64Array(4), 5)).to.throw(RangeError, /^length 5 exceeds ops\.length 4$/);
      const p = program(valid(f));
      expect(() => f.q.replay(p, p.length, 0)).to.throw(RangeError, /^iterations must be between 1 and 2\^32-1, got 0$/);
      const cuda = new f.rt.Device('cuda', 0);
      expect(() => f.q.addStream(new f.rt.Stream(cuda))).to.throw(TypeError, /^stream lives on cuda:0, not on a cpu device like this queue$/);
      expect(() => f.q.records(3)).to.throw(RangeError, /^stream 3 is not registered$/);
      expect(f.rt.log).to.deep.equal([]);
      expect(f.q.records(f.a)).to.equal(2);
    });
  });

  it('reuses the lowest free buffer index', () => {
    const { rt, devices, q } = queueSetup({});
    const [d] = devices as [NativeDevice];
    const buffers = [0, 1, 2, 3, 4].map(() => new rt.Buffer(d, 8));
    expect(buffers.slice(0, 3).map((b) => q.addBuffer(b))).to.deep.equal([0, 1, 2]);
    q.removeBuffer(1);
    q.removeBuffer(0);
    expect(() => q.removeBuffer(1)).to.throw(RangeError, 'buffer 1 is not registered');
    expect(buffers.slice(3).map((b) => q.addBuffer(b))).to.deep.equal([0, 1]);
    expect(q.addBuffer(buffers[0]!)).to.equal(3);
  });

  it('replays a program whose wait names an earlier record: each iteration waits for the iteration before on that stream', () => {
    const { scheduler, rt, devices, q } = queueSetup({ duration: (op) => (op.stream === 0 ? 3 : 1) });
    const [d] = devices as [NativeDevice];
    const [a, b] = [q.addStream(new rt.Stream(d)), q.addStream(new rt.Stream(d))];
    const x = q.addBuffer(new rt.Buffer(d, 64));
    // Captured after a first pass: b's copy waits on a's record 1, made before the program.
    const p = program(ops.wait(b, a, 1), ops.copy(b, x, 8, x, 40, 8), ops.record(b), ops.copy(a, x, 0, x, 32, 8), ops.record(a));
    scheduler.run(() => {
      submit(q, ops.copy(a, x, 0, x, 32, 8), ops.record(a));
      q.replay(p, p.length, 3);
      expect([q.records(a), q.records(b)]).to.deep.equal([4, 3]);
    });
    // Iteration i's copy on b waits for a's record before it: 1, then iteration 0's (2), then iteration 1's (3).
    expect(rt.log.map((r) => [r.stream, r.start, r.end])).to.deep.equal([
      [a, 0, 3],
      [b, 3, 4],
      [a, 3, 6],
      [b, 6, 7],
      [a, 6, 9],
      [b, 9, 10],
      [a, 9, 12],
    ]);
  });

  it('replays a program, moving waits on its own records to each iteration and making timing records plain', () => {
    const { scheduler, rt, devices, q, reports } = queueSetup({ duration: (op) => (op.stream === 0 ? 2 : 1) });
    const [d] = devices as [NativeDevice];
    const [a, b] = [q.addStream(new rt.Stream(d)), q.addStream(new rt.Stream(d))];
    const x = q.addBuffer(new rt.Buffer(d, 64));
    const p = program(
      ops.copy(a, x, 0, x, 32, 8),
      ops.record(a, RecordMode.timingStart),
      ops.wait(b, a, 1),
      ops.wait(b, a, 2),
      ops.copy(b, x, 8, x, 40, 8),
      ops.record(b),
      ops.record(a, RecordMode.timingEnd, 2),
    );
    scheduler.run(() => {
      submit(q, ops.copy(a, x, 0, x, 32, 8), ops.record(a));
      q.replay(p, p.length, 3);
      expect([q.records(a), q.records(b)]).to.deep.equal([7, 3]);
    });
    // Iteration i: a copies over [2 + 2i, 4 + 2i]; b waits for that copy's record, not for iteration 0's.
    expect(rt.log.map((r) => [r.stream, r.start, r.end])).to.deep.equal([
      [a, 0, 2],
      [a, 2, 4],
      [b, 4, 5],
      [a, 4, 6],
      [b, 6, 7],
      [a, 6, 8],
      [b, 8, 9],
    ]);
    expect(reports.map((r) => [r.at, ...r.done])).to.deep.equal([
      [2, a, 1, 0],
      [4, a, 3, 0],
      [5, b, 1, 0],
      [6, a, 5, 0],
      [7, b, 2, 0],
      [8, a, 7, 0],
      [9, b, 3, 0],
    ]);
    expect(reports.flatMap((r) => r.timings)).to.deep.equal([]);
  });

  it('reports nothing after close, while issued work still runs', () => {
    const { scheduler, rt, devices, q, reports } = queueSetup({ duration: () => 3 });
    const [d] = devices as [NativeDevice];
    const s = new rt.Stream(d);
    const a = q.addStream(s);
    const x = q.addBuffer(new rt.Buffer(d, 64));
    const after = new rt.Event(d);
    scheduler.run(({ cold, expectObservable }) => {
      submit(q, ops.copy(a, x, 0, x, 32, 8), ops.record(a), ops.copy(a, x, 0, x, 32, 8), ops.record(a));
      const closing = cold('----x|').pipe(
        map(() => {
          q.close();
          q.close();
          return q.closed;
        }),
      );
      expectObservable(closing).toBe('----x|', { x: true });
      s.record(after);
      expectObservable(rt.completion(after)).toBe('------(a|)', { a: undefined });
    });
    expect(reports.map((r) => [r.at, ...r.done])).to.deep.equal([[3, a, 1, 0]]);
    expect(() => submit(q, ops.record(a))).to.throw(TypeError, 'Queue is closed');
    expect(() => q.addBuffer(new rt.Buffer(d, 8))).to.throw(TypeError, 'Queue is closed');
  });
});
