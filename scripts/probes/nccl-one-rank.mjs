// Probe: one-rank all-reduces through the addon, every dtype x op x a few counts; reports elements that differ
// from the input (with one rank every op is the identity). Run on a GPU machine. Against NCCL 2.28.3 directly it
// found ncclAvg on floating types dropping the last element (docs/gpu-results.md); the CUDA backend now issues
// one-rank collectives as copies, and this probe checks that path.
import { native } from '../../dist/src/native.js';

const dtypes = ['float16', 'bfloat16', 'float32', 'float64', 'int8', 'uint8', 'int32', 'int64'];
const sizes = { float16: 2, bfloat16: 2, float32: 4, float64: 8, int8: 1, uint8: 1, int32: 4, int64: 8 };
const device = new native.Device('cuda', 0);
const stream = new native.Stream(device);
const [comm] = await native.initComms('cuda', native.uniqueId('cuda'), 1, [{ rank: 0, device }], 30000);
for (const dtype of dtypes) {
  for (const op of ['sum', 'avg', 'max']) {
    const bad = [];
    for (const count of [1, 2, 3, 7, 8, 9, 15, 16, 17, 1001, 65536, 65537, 1 << 20 | 1]) {
      const bytes = count * sizes[dtype];
      const src = new Uint8Array(bytes);
      for (let i = 0; i < bytes; i++) src[i] = (i * 7 + 3) & 0x3f;
      const send = new native.Buffer(device, bytes);
      const recv = new native.Buffer(device, bytes);
      stream.copyFromHost(send, 0, src);
      stream.fill(recv, 0, bytes, 'uint8', 0xee);
      native.group([{ kind: 'allReduce', stream, comm, send, recv, count, dtype, op }]);
      const host = stream.copyToHost(recv, 0, bytes);
      const e = new native.Event(device);
      stream.record(e);
      await e.completion();
      const got = new Uint8Array(host.read());
      let firstBad = -1;
      for (let i = 0; i < bytes; i++) if (got[i] !== src[i]) { firstBad = Math.floor(i / sizes[dtype]); break; }
      if (firstBad >= 0) bad.push(`count ${count}: first wrong element ${firstBad}`);
      send.close(); recv.close(); e.close();
    }
    console.log(`${dtype} ${op}: ${bad.length ? bad.join('; ') : 'ok'}`);
  }
}
stream.close();
comm.close();
