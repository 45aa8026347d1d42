import { expect } from 'chai';
import { mergeMap, map } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import type { GroupItem, NativeBuffer, NativeComm, NativeDevice } from '../../src/native.js';
import { createVirtualRuntime, type VirtualRuntime, type VirtualStream } from '../helpers/virtual-runtime.js';

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
