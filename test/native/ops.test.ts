import { expect } from 'chai';
import { native, dtypes, reduceOps, type NativeDevice, type NativeStream } from '../../src/native.js';
import { elementSize, hostArray } from '../../src/runtime/dtype.js';
import { readNumber, writeNumber } from '../helpers/float16.js';
import { describeBackends } from '../helpers/backends.js';
import { expectClose, randomArray, reference, bytesOf } from '../helpers/data.js';
import { download, upload } from '../helpers/device.js';

describeBackends('stream operations', ({ backend }) => {
  let device: NativeDevice;
  let stream: NativeStream;
  before(() => {
    device = new native.Device(backend, 0);
    stream = new native.Stream(device);
  });
  after(() => stream?.close());

  it('copies from views of a SharedArrayBuffer, typed arrays and DataViews, at their offsets', async () => {
    const shared = new Float32Array(new SharedArrayBuffer(32));
    shared.set([1, 2, 3, 4, 5, 6, 7, 8]);
    const b = new native.Buffer(device, 16);
    stream.copyFromHost(b, 0, shared.subarray(2, 4));
    stream.copyFromHost(b, 8, new DataView(shared.buffer, 24, 8));
    expect(Array.from((await download(stream, device, b, 'float32')) as Float32Array)).to.deep.equal([3, 4, 7, 8]);
    b.close();
  });

  for (const dtype of dtypes) {
    const esz = elementSize(dtype);
    const big = Math.ceil((1 << 20) / esz) + 17;
    const sizes = [0, 1, 13, 997, big];

    describe(dtype, () => {
      it('round-trips host data and copies device to device at offsets', async () => {
        for (const n of sizes) {
          const data = randomArray(dtype, n);
          const a = upload(stream, device, data);
          const b = new native.Buffer(device, (n + 3) * esz);
          stream.copy(b, 3 * esz, a, 0, n * esz);
          const back = await download(stream, device, b, dtype, 3 * esz, n * esz);
          expect(Buffer.from(bytesOf(back)).equals(Buffer.from(bytesOf(data))), `n=${n}`).to.equal(true);
          a.close();
          b.close();
        }
      });

      it('fills', async () => {
        for (const n of [0, 1, 997, big]) {
          const value = dtype === 'uint8' ? 7 : -3;
          const b = new native.Buffer(device, n * esz);
          stream.fill(b, 0, n, dtype, value);
          const got = await download(stream, device, b, dtype);
          for (let i = 0; i < n; i++) {
            if (readNumber(dtype, got, i) !== value) expect.fail(`element ${i} of ${n} is ${got[i]}`);
          }
          b.close();
        }
      });

      for (const op of reduceOps) {
        it(`reduces K inputs with ${op}`, async () => {
          for (const n of sizes) {
            for (const k of n === big ? [3] : [1, 2, 5]) {
              const inputs = Array.from({ length: k }, () => randomArray(dtype, n));
              const bufs = inputs.map((x) => upload(stream, device, x));
              const out = new native.Buffer(device, n * esz);
              stream.reduce(out, 0, bufs, bufs.map(() => 0), n, dtype, op);
              const got = await download(stream, device, out, dtype);
              expectClose(dtype, op, k, got, reference(dtype, op, inputs, n), `${op} n=${n} k=${k}`);
              for (const b of bufs) b.close();
              out.close();
            }
          }
        });
      }

      it('averages with a divisor standing for more contributions than inputs', async () => {
        const n = 1009;
        const inputs = [randomArray(dtype, n), randomArray(dtype, n)];
        const bufs = inputs.map((x) => upload(stream, device, x));
        const out = new native.Buffer(device, n * esz);
        stream.reduce(out, 0, bufs, [0, 0], n, dtype, 'avg', 6);
        const got = await download(stream, device, out, dtype);
        const sums = reference(dtype, 'sum', inputs, n);
        const want = sums.map((s) => (typeof s === 'bigint' ? s / 6n : s / 6));
        expectClose(dtype, 'avg', 2, got, want, 'avg / 6');
        expect(() => stream.reduce(out, 0, bufs, [0, 0], n, dtype, 'avg', 0)).to.throw(RangeError, /divisor/);
        for (const b of bufs) b.close();
        out.close();
      });

      it('reduces in place, the output aliasing the first input, at offsets', async () => {
        const n = 1021;
        const x = randomArray(dtype, n);
        const y = randomArray(dtype, n);
        const buf = new native.Buffer(device, 2 * n * esz);
        stream.copyFromHost(buf, 0, x);
        stream.copyFromHost(buf, n * esz, y);
        stream.reduce(buf, 0, [buf, buf], [0, n * esz], n, dtype, 'sum');
        const got = await download(stream, device, buf, dtype, 0, n * esz);
        expectClose(dtype, 'sum', 2, got, reference(dtype, 'sum', [x, y], n), 'in place');
        buf.close();
      });
    });
  }

  it('encodes 16-bit floats as the device rounds them', async () => {
    for (const dtype of ['float16', 'bfloat16'] as const) {
      const values = [0, 1, -1, 0.1, 65504, 1e-7, 3.14159, -2.5e-5];
      const host = hostArray(dtype, new ArrayBuffer(values.length * 2));
      values.forEach((v, i) => writeNumber(dtype, host, i, v));
      const buf = new native.Buffer(device, values.length * 2);
      for (let i = 0; i < values.length; i++) stream.fill(buf, i * 2, 1, dtype, values[i]!);
      const got = await download(stream, device, buf, dtype);
      expect(Array.from(got as Uint16Array), dtype).to.deep.equal(Array.from(host as Uint16Array));
      buf.close();
    }
  });
});
