// Blocking NCCL communicators (every rank made in this process): a group that leaves a rank's side out, which
// would hold the issuer inside ncclGroupEnd for good, is refused when it is handed over (group(), a Queue's
// submit) with a RangeError naming the call, the rank and the side missing; nothing is issued, the streams stay
// usable and the communicators still all-reduce. Skipped where CUDA or NCCL is absent, or where fewer than two
// GPUs are.
import { expect } from 'chai';
import { collectiveKinds, dtypes, native, OpCode, RecordMode, reduceOps, type GroupItem, type NativeBuffer, type NativeComm, type NativeDevice, type NativeStream } from '../../src/native.js';
import { skipUnlessGpus } from '../helpers/backends.js';
import { expectClose, randomArray, reference } from '../helpers/data.js';
import { download, sync, upload } from '../helpers/device.js';

describe('blocking communicators refuse a group without every rank [cuda]', function () {
  this.timeout(60_000);
  let devices: NativeDevice[] = [];
  let comms: NativeComm[] = [];
  const streams: NativeStream[] = [];
  // Fresh streams per case.
  const freshStreams = (): NativeStream[] => {
    const s = devices.map((d) => new native.Stream(d));
    streams.push(...s);
    return s;
  };

  before(async function () {
    skipUnlessGpus(this, 2, 'the blocking-communicator checks');
    devices = [0, 1].map((i) => new native.Device('cuda', i));
    comms = await native.initComms('cuda', native.uniqueId('cuda'), 2, devices.map((device, rank) => ({ rank, device })), 30000);
  });
  after(() => {
    for (const s of streams) s.close();
    for (const c of comms) c.close();
  });

  // Runs a correct all-reduce of fresh random data over the communicators and checks it against float64 sums.
  async function allReduceWorks(): Promise<void> {
    const s = freshStreams();
    const n = 4096;
    const inputs = devices.map(() => randomArray('float32', n));
    const bufs = devices.map((d, r) => upload(s[r]!, d, inputs[r]!));
    native.group(devices.map((_, r) => ({ kind: 'allReduce', stream: s[r]!, comm: comms[r]!, send: bufs[r]!, recv: bufs[r]!, count: n, dtype: 'float32', op: 'sum' })));
    const expected = reference('float32', 'sum', inputs, n);
    for (let r = 0; r < devices.length; r++) {
      expectClose('float32', 'sum', 2, await download(s[r]!, devices[r]!, bufs[r]!, 'float32'), expected, `rank ${r}`);
    }
  }

  // Hands the group over on fresh streams: it must be refused at once, and the streams' work still run.
  async function refused(items: (s: NativeStream[], b: ReturnType<typeof upload>[]) => GroupItem[], message: RegExp): Promise<void> {
    const s = freshStreams();
    const b = devices.map((d, r) => upload(s[r]!, d, randomArray('float32', 64)));
    expect(() => native.group(items(s, b))).to.throw(RangeError, message);
    await Promise.all(devices.map((d, r) => sync(s[r]!, d)));
    await allReduceWorks();
  }

  it("refuses a collective without rank 1's side, and the communicators still all-reduce", async () => {
    await refused(
      (s, b) => [{ kind: 'allReduce', stream: s[0]!, comm: comms[0]!, send: b[0]!, recv: b[0]!, count: 16, dtype: 'float32', op: 'sum' }],
      /^ncclAllReduce \(rank 0 of 2, 16 float32\): rank 1 of its communicator has no part in the group: its communicators are blocking/,
    );
  });

  it('refuses collectives that differ between the ranks, and a rank with more of them', async () => {
    await refused(
      (s, b) => [
        { kind: 'allReduce', stream: s[0]!, comm: comms[0]!, send: b[0]!, recv: b[0]!, count: 16, dtype: 'float32', op: 'sum' },
        { kind: 'allReduce', stream: s[1]!, comm: comms[1]!, send: b[1]!, recv: b[1]!, count: 8, dtype: 'float32', op: 'sum' },
      ],
      /ncclAllReduce \(rank 0 of 2, 16 float32\) meets ncclAllReduce \(rank 1 of 2, 8 float32\) in the group/,
    );
    await refused(
      (s, b) => [
        { kind: 'allReduce', stream: s[0]!, comm: comms[0]!, send: b[0]!, recv: b[0]!, count: 16, dtype: 'float32', op: 'sum' },
        { kind: 'allReduce', stream: s[1]!, comm: comms[1]!, send: b[1]!, recv: b[1]!, count: 16, dtype: 'float32', op: 'sum' },
        { kind: 'allReduce', stream: s[1]!, comm: comms[1]!, send: b[1]!, recv: b[1]!, count: 4, dtype: 'float32', op: 'max' },
      ],
      /^ncclAllReduce \(rank 1 of 2, 4 float32\): rank 0 of its communicator has no counterpart in the group/,
    );
  });

  it('refuses a send without its receive, and a receive without its send', async () => {
    await refused(
      (s, b) => [{ kind: 'send', stream: s[0]!, comm: comms[0]!, send: b[0]!, count: 16, dtype: 'float32', peer: 1 }],
      /^ncclSend \(rank 0 of 2, to rank 1, 16 float32\): rank 1 of its communicator has no matching receive/,
    );
    await refused(
      (s, b) => [{ kind: 'recv', stream: s[1]!, comm: comms[1]!, recv: b[1]!, count: 16, dtype: 'float32', peer: 0 }],
      /^ncclRecv \(rank 1 of 2, from rank 0, 16 float32\): rank 0 of its communicator has no matching send/,
    );
  });

  it("refuses a Queue program's group at submit, naming the op; the ops before it are not issued either", async () => {
    const s = freshStreams();
    const bufs: NativeBuffer[] = [];
    const q = new native.Queue('cuda', () => {});
    try {
      const qs = s.map((st) => q.addStream(st));
      const qc = comms.map((c) => q.addComm(c));
      const handles = devices.map((d, r) => upload(s[r]!, d, randomArray('float32', 64)));
      bufs.push(...handles);
      const b = handles.map((h) => q.addBuffer(h));
      const ops = [OpCode.record, qs[0]!, RecordMode.plain, 0, OpCode.group, 1];
      ops.push(collectiveKinds.indexOf('allReduce'), qs[0]!, qc[0]!, dtypes.indexOf('float32'), reduceOps.indexOf('sum'), 16, b[0]!, 0, b[0]!, 0, -1);
      expect(() => q.submit(Float64Array.from(ops), ops.length)).to.throw(
        RangeError,
        /^ops\[1\] \(group\): ncclAllReduce \(rank 0 of 2, 16 float32\): rank 1 of its communicator has no part in the group/,
      );
      expect(q.records(qs[0]!)).to.equal(0);
    } finally {
      q.close();
      for (const h of bufs) h.close();
    }
    await allReduceWorks();
  });

  it('issues a whole exchange of sends and receives, with the data moved', async () => {
    const s = freshStreams();
    const n = 1024;
    const inputs = devices.map(() => randomArray('float32', n));
    const out = devices.map((d) => new native.Buffer(d, n * 4));
    const bufs = devices.map((d, r) => upload(s[r]!, d, inputs[r]!));
    native.group(
      devices.flatMap((_, r): GroupItem[] => [
        { kind: 'send', stream: s[r]!, comm: comms[r]!, send: bufs[r]!, count: n, dtype: 'float32', peer: 1 - r },
        { kind: 'recv', stream: s[r]!, comm: comms[r]!, recv: out[r]!, count: n, dtype: 'float32', peer: 1 - r },
      ]),
    );
    for (let r = 0; r < devices.length; r++) {
      const got = Array.from((await download(s[r]!, devices[r]!, out[r]!, 'float32')) as Float32Array);
      expect(got).to.deep.equal(Array.from(inputs[1 - r] as Float32Array));
    }
  });
});
