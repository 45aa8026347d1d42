import { expect } from 'chai';
import { native, type NativeDevice, type NativeStream } from '../../src/native.js';
import { hostArray } from '../../src/runtime/dtype.js';
import { describeBackends } from '../helpers/backends.js';
import { download, sync } from '../helpers/device.js';

describeBackends('events', ({ backend }) => {
  let device: NativeDevice;
  let a: NativeStream;
  let b: NativeStream;
  before(() => {
    device = new native.Device(backend, 0);
    a = new native.Stream(device);
    b = new native.Stream(device);
  });
  after(() => {
    a?.close();
    b?.close();
  });

  // Enough reduction work that the other stream would overtake it without the wait.
  function slowWork(stream: NativeStream): () => void {
    const n = backend === 'cpu' ? 1 << 22 : 1 << 26;
    const inputs = Array.from({ length: 4 }, () => new native.Buffer(device, n * 4));
    for (const x of inputs) stream.fill(x, 0, n, 'float32', 1);
    for (let i = 0; i < 4; i++) stream.reduce(inputs[0]!, 0, inputs, [0, 0, 0, 0], n, 'float32', 'sum');
    return () => inputs.forEach((x) => x.close());
  }

  it('orders work across streams on the device: b waits for a without the host waiting', async () => {
    const n = 4099;
    const x = new native.Buffer(device, n * 4);
    const y = new native.Buffer(device, n * 4);
    b.fill(x, 0, n, 'int32', 0);
    b.fill(y, 0, n, 'int32', 0);
    await sync(b, device);
    const done = new native.Event(device);
    const release = slowWork(a);
    a.fill(x, 0, n, 'int32', 42);
    a.record(done);
    b.wait(done);
    b.copy(y, 0, x, 0, n * 4);
    // Enqueueing returned at once: the slow work cannot be finished yet.
    expect(done.isComplete()).to.equal(false);
    const got = (await download(b, device, y, 'int32')) as Int32Array;
    expect(done.isComplete()).to.equal(true);
    expect(got.every((v) => v === 42)).to.equal(true);
    release();
    x.close();
    y.close();
    done.close();
  });

  it('resolves completion once, for the latest record, and at once when never recorded', async () => {
    const e = new native.Event(device);
    await e.completion();
    expect(e.isComplete()).to.equal(true);
    const release = slowWork(a);
    a.record(e);
    const first = e.completion();
    expect(e.isComplete()).to.equal(false);
    await first;
    expect(e.isComplete()).to.equal(true);
    a.record(e);
    await Promise.all([e.completion(), e.completion()]);
    release();
    e.close();
  });

  it('measures elapsed time between timing events', async () => {
    const start = new native.Event(device, true);
    const mid = new native.Event(device, true);
    const end = new native.Event(device, true);
    await sync(a, device);
    const started = performance.now();
    a.record(start);
    const release = slowWork(a);
    a.record(mid);
    a.record(end);
    await end.completion();
    await Promise.all([start.completion(), mid.completion()]);
    const wall = performance.now() - started;
    const total = start.elapsedMs(end);
    const work = start.elapsedMs(mid);
    expect(work).to.be.greaterThan(0);
    expect(total).to.be.at.least(work).and.at.most(wall);
    expect(() => start.elapsedMs(new native.Event(device, true))).to.throw(/recorded and complete/);
    expect(() => start.elapsedMs(new native.Event(device, false))).to.throw(TypeError, /timing/);
    release();
    for (const e of [start, mid, end]) e.close();
  });

  it('waiting on a never-recorded event is a no-op', async () => {
    const e = new native.Event(device);
    const x = new native.Buffer(device, 16);
    b.wait(e);
    b.fill(x, 0, 4, 'float32', 2);
    const got = await download(b, device, x, 'float32');
    expect(Array.from(got as Float32Array)).to.deep.equal([2, 2, 2, 2]);
    e.close();
    x.close();
  });

  it('reads a host buffer only after its copy completed', async () => {
    const x = new native.Buffer(device, 8);
    const release = slowWork(a);
    a.fill(x, 0, 2, 'float32', 1.5);
    const host = a.copyToHost(x, 0, 8);
    expect(host.ready).to.equal(false);
    expect(() => host.read()).to.throw(/before its copy completed/);
    await sync(a, device);
    expect(host.ready).to.equal(true);
    expect(Array.from(hostArray('float32', host.read()) as Float32Array)).to.deep.equal([1.5, 1.5]);
    release();
    x.close();
  });
});
