import { expect } from 'chai';
import { native, type NativeBuffer, type NativeDevice, type NativeStream } from '../../src/native.js';
import { sync } from '../helpers/device.js';

// Argument errors are thrown synchronously, before anything is enqueued: the stream stays healthy.
describe('argument errors', () => {
  let device: NativeDevice;
  let stream: NativeStream;
  let buf: NativeBuffer;
  before(() => {
    device = new native.Device('cpu', 0);
    stream = new native.Stream(device);
    buf = new native.Buffer(device, 64);
  });
  after(() => stream.close());

  it('without an NVIDIA driver, says that the driver is missing, not that it is too old', function () {
    const { cuda } = native.info();
    // Only where the addon was built with CUDA and no driver is there to load (the development machine, CI).
    if (!cuda.built || cuda.driverVersion !== 0) this.skip();
    expect(cuda.deviceCount).to.equal(0);
    expect(cuda.error).to.match(/^no NVIDIA driver found \(libcuda\.so\.1 is not there to load\): install the NVIDIA driver$/);
    expect(() => new native.Device('cuda', 0)).to.throw(Error, /CUDA backend unavailable: no NVIDIA driver found/);
  });

  it('rejects bad devices and buffers', () => {
    expect(() => new native.Device('tpu' as 'cpu', 0)).to.throw(TypeError, /backend must be 'cpu' or 'cuda'/);
    expect(() => new native.Device('cpu', -1)).to.throw(RangeError, /ordinal must be a non-negative safe integer/);
    expect(() => new native.Device('cpu', 1.5)).to.throw(RangeError);
    // An ordinal past an int would wrap (2^32 read as 0), naming one device and working on another.
    expect(() => new native.Device('cpu', 2 ** 31)).to.throw(RangeError, /^ordinal must be at most 2147483647, got 2147483648$/);
    expect(new native.Device('cpu', 2 ** 31 - 1).ordinal).to.equal(2 ** 31 - 1);
    expect(() => new native.Buffer({} as NativeDevice, 4)).to.throw(TypeError, /device must be a Device/);
    expect(() => new native.Buffer(device, '4' as unknown as number)).to.throw(TypeError, /bytes must be a number/);
    expect(() => new native.Buffer(device, 4, 1 as unknown as boolean)).to.throw(TypeError, /host must be a boolean/);
    expect(() => buf.hostView()).to.throw(TypeError, /hostView\(\) needs a host buffer/);
    const host = new native.Buffer(device, 4, true);
    host.close();
    expect(() => host.hostView()).to.throw(TypeError, /Buffer is closed/);
  });

  it('takes a handle only as its own class made it, whatever its prototype says', () => {
    // Each would pass instanceof while wrapping another C++ object (or none): read as the wrong class, the first
    // crashed the process.
    const forged = Reflect.construct(native.Device, ['cpu', 0], native.Buffer) as unknown as NativeBuffer;
    expect(forged).to.be.instanceOf(native.Buffer);
    expect(() => stream.fill(forged, 0, 4, 'float32', 1)).to.throw(TypeError, /^dst must be a Buffer$/);
    const reprototyped = Object.setPrototypeOf(new native.Buffer(device, 64), native.Device.prototype) as NativeDevice;
    expect(() => new native.Stream(reprototyped)).to.throw(TypeError, /^device must be a Device$/);
    expect(() => new native.Stream(Object.create(native.Device.prototype) as NativeDevice)).to.throw(TypeError, /^device must be a Device$/);
    expect(() => stream.fill(new Proxy(buf, {}), 0, 4, 'float32', 1)).to.throw(TypeError, /^dst must be a Buffer$/);
    stream.fill(buf, 0, 4, 'float32', 1);
    // A getter called on another class's object reads nothing of it (V8 checks methods' receivers, not getters').
    const closedOf = (proto: object): PropertyDescriptor => Object.getOwnPropertyDescriptor(proto, 'closed')!;
    for (const [name, getter] of [['Buffer', closedOf(native.Buffer.prototype)], ['Stream', closedOf(native.Stream.prototype)], ['Queue', closedOf(native.Queue.prototype)]] as const) {
      for (const other of [device, stream, buf, {}, Object.create(native.Queue.prototype) as object, new Proxy(buf, {})]) {
        if (other.constructor.name === name) continue;
        expect(() => getter.get!.call(other), `${name}'s closed on a ${other.constructor?.name}`).to.throw(TypeError, /^Illegal invocation$/);
      }
    }
    expect(closedOf(native.Buffer.prototype).get!.call(buf)).to.equal(false);
  });

  it('rejects out-of-range views, misaligned offsets and unknown dtypes or ops', () => {
    expect(() => stream.copy(buf, 60, buf, 0, 8)).to.throw(RangeError, /dst: bytes \[60, 68\) out of range of a 64-byte buffer/);
    expect(() => stream.copyFromHost(buf, 0, new Float32Array(17))).to.throw(RangeError, /out of range/);
    expect(() => stream.copyToHost(buf, 65, 0)).to.throw(RangeError);
    expect(() => stream.fill(buf, 2, 1, 'float32', 0)).to.throw(RangeError, /not a multiple of the element size 4/);
    expect(() => stream.fill(buf, 0, 1, 'float8' as 'float32', 0)).to.throw(TypeError, /dtype must be one of/);
    // An integer dtype takes only values that fit it (a conversion outside its range is undefined in C++).
    for (const [dtype, value] of [['int8', 128], ['int8', -129], ['uint8', -1], ['uint8', 256], ['int32', 2 ** 31], ['int32', Number.NaN], ['int64', 2 ** 63], ['int64', -Infinity]] as const) {
      expect(() => stream.fill(buf, 0, 1, dtype, value), `${dtype} ${value}`).to.throw(RangeError, new RegExp(`^value .* does not fit ${dtype}$`));
    }
    for (const [dtype, value] of [['int8', -128], ['int8', 127.9], ['uint8', 255], ['int32', -(2 ** 31)], ['int64', -(2 ** 63)], ['float32', Infinity], ['float16', 1e9]] as const) {
      expect(() => stream.fill(buf, 0, 1, dtype, value), `${dtype} ${value}`).not.to.throw();
    }
    expect(() => stream.reduce(buf, 0, [buf], [0], 1, 'float32', 'mean' as 'sum')).to.throw(TypeError, /op must be one of/);
    expect(() => stream.reduce(buf, 0, [], [], 1, 'float32', 'sum')).to.throw(RangeError, /at least one input/);
    expect(() => stream.reduce(buf, 0, [buf, buf], [0], 1, 'float32', 'sum')).to.throw(RangeError, /differ in length/);
    expect(() => stream.reduce(buf, 0, [buf, buf], [0, 60], 2, 'float32', 'sum')).to.throw(RangeError, /inputs\[1\]/);
    expect(() => stream.copyFromHost(buf, 0, [1, 2] as unknown as Float32Array)).to.throw(TypeError, /TypedArray/);
  });

  it('rejects buffers of another device', () => {
    const other = new native.Buffer(new native.Device('cpu', 1), 64);
    expect(() => stream.copy(buf, 0, other, 0, 8)).to.throw(TypeError, /src lives on cpu:1, not on cpu:0/);
    expect(() => stream.record(new native.Event(new native.Device('cpu', 1)))).to.throw(TypeError, /event of cpu:1/);
  });

  it('rejects closed handles; close is idempotent', async () => {
    const b = new native.Buffer(device, 8);
    b.close();
    b.close();
    expect(b.closed).to.equal(true);
    expect(() => stream.fill(b, 0, 1, 'float32', 0)).to.throw(TypeError, /Buffer is closed/);
    const s = new native.Stream(device);
    s.close();
    s.close();
    expect(() => s.fill(buf, 0, 1, 'float32', 0)).to.throw(TypeError, /Stream is closed/);
    const e = new native.Event(device);
    e.close();
    e.close();
    expect(() => e.completion()).to.throw(TypeError, /Event is closed/);
    await sync(stream, device);
  });

  it('keeps memory alive for work enqueued before the buffer was closed', async () => {
    const b = new native.Buffer(device, 4 << 20);
    stream.fill(b, 0, 1 << 20, 'float32', 3);
    const host = stream.copyToHost(b, 0, 16);
    b.close();
    await sync(stream, device);
    expect(Array.from(new Float32Array(host.read()))).to.deep.equal([3, 3, 3, 3]);
  });

  it('rejects malformed groups and communicator arguments', async () => {
    expect(() => native.group([{ kind: 'bcast' } as never])).to.throw(TypeError, /kind must be one of/);
    const id = native.uniqueId('cpu');
    expect(id).to.be.instanceOf(Uint8Array).with.length(128);
    expect(() => native.initComms('cpu', new Uint8Array(5), 1, [{ rank: 0, device }], 1000)).to.throw(TypeError, /128-byte/);
    expect(() => native.initComms('cpu', id, 2, [{ rank: 2, device }], 1000)).to.throw(RangeError, /not below nranks 2/);
    expect(() =>
      native.initComms('cpu', id, 2, [{ rank: 0, device }, { rank: 1, device }], 1000),
    ).to.throw(RangeError, /two ranks of one communicator on cpu:0/);
    const d1 = new native.Device('cpu', 1);
    const [c0, c1] = await native.initComms('cpu', native.uniqueId('cpu'), 2, [{ rank: 0, device }, { rank: 1, device: d1 }], 1000);
    expect(() =>
      native.group([{ kind: 'allReduce', stream, comm: c1!, send: buf, recv: buf, count: 1, dtype: 'float32', op: 'sum' }]),
    ).to.throw(TypeError, /comm rank lives on cpu:1, stream on cpu:0/);
    expect(() =>
      native.group([{ kind: 'reduceScatter', stream, comm: c0!, send: buf, recv: buf, count: 9, dtype: 'float32', op: 'sum' }]),
    ).to.throw(RangeError, /items\[0\]\.send: bytes \[0, 72\)/);
    expect(() => native.group([{ kind: 'send', stream, comm: c0!, send: buf, count: 1, dtype: 'float32', peer: 2 }])).to.throw(
      RangeError,
      /peer 2 is not below the comm size 2/,
    );
    expect(() => native.group([{ kind: 'allReduce', stream, comm: c0!, send: buf, recv: buf, count: 1, dtype: 'float32' }])).to.throw(
      TypeError,
      /op must be one of/,
    );
    c0!.abort();
  });

  it('without CUDA devices: says why, offers only cpu and refuses a CUDA device with that reason', function () {
    const info = native.info();
    if (info.cuda.deviceCount > 0) this.skip();
    expect(info.backends).to.deep.equal(['cpu']);
    expect(info.cuda.devices).to.deep.equal([]);
    expect(info.cuda.error).to.be.a('string').and.match(info.cuda.built ? /^no CUDA devices|^no NVIDIA driver found|^the NVIDIA driver supports CUDA/ : /^built without CUDA$/);
    expect(() => new native.Device('cuda', 0))
      .to.throw(Error)
      .that.includes({ name: 'Error', message: `CUDA backend unavailable: ${info.cuda.error}` });
  });

  it('with CUDA devices: lists each one and refuses an ordinal past the last with a RangeError', function () {
    const info = native.info();
    const count = info.cuda.deviceCount;
    if (count === 0) {
      console.log(`      skipping: ${info.cuda.error ?? 'no CUDA devices'}`);
      this.skip();
    }
    expect(info.cuda.built).to.equal(true);
    expect(info.cuda.error).to.equal(null);
    expect(info.backends).to.deep.equal(info.nccl.loaded ? ['cpu', 'cuda'] : ['cpu']);
    expect(info.cuda.devices.map((d) => [d.ordinal, d.error])).to.deep.equal(Array.from({ length: count }, (_, i) => [i, undefined]));
    for (const d of info.cuda.devices) expect(d.totalMemory, `device ${d.ordinal}`).to.be.greaterThan(1 << 30);
    const last = new native.Device('cuda', count - 1);
    expect(last).to.include({ backend: 'cuda', ordinal: count - 1, name: info.cuda.devices[count - 1]!.name });
    expect(() => new native.Device('cuda', count))
      .to.throw(RangeError)
      .that.includes({ name: 'RangeError', message: `CUDA device ${count} does not exist: ${count} device(s) present` });
  });
});
