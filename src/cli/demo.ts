// The CPU demo: 2 simulated machines x 4 devices, a stream of gradient buckets all-reduced with one collective
// per bucket on in-process communicators, every result checked against a float64 host sum.
import { native, type NativeBuffer, type NativeComm, type NativeDevice, type NativeStream } from '../native.js';

interface Rank {
  device: NativeDevice;
  stream: NativeStream;
  comm: NativeComm;
  bucket: NativeBuffer;
}

export async function runDemo(options: { machines?: number; devicesPerMachine?: number; buckets?: number; bucketElements?: number } = {}): Promise<void> {
  const machines = options.machines ?? 2;
  const perMachine = options.devicesPerMachine ?? 4;
  const buckets = options.buckets ?? 32;
  const n = options.bucketElements ?? 1 << 18;
  const world = machines * perMachine;
  console.log(`${machines} machines x ${perMachine} devices simulated on the CPU backend; ${buckets} buckets of ${n} float32`);

  const devices = Array.from({ length: world }, (_, i) => new native.Device('cpu', i));
  const comms = await native.initComms('cpu', native.uniqueId('cpu'), world, devices.map((device, rank) => ({ rank, device })), 30000);
  const ranks: Rank[] = devices.map((device, i) => ({
    device,
    stream: new native.Stream(device),
    comm: comms[i]!,
    bucket: new native.Buffer(device, n * 4),
  }));

  const started = performance.now();
  let worst = 0;
  for (let b = 0; b < buckets; b++) {
    const inputs = ranks.map(() => Float32Array.from({ length: n }, () => Math.random() * 2 - 1));
    ranks.forEach((r, i) => r.stream.copyFromHost(r.bucket, 0, inputs[i]!));
    native.group(ranks.map((r) => ({ kind: 'allReduce' as const, stream: r.stream, comm: r.comm, send: r.bucket, recv: r.bucket, count: n, dtype: 'float32' as const, op: 'sum' as const })));
    const hosts = ranks.map((r) => r.stream.copyToHost(r.bucket, 0, n * 4));
    const events = ranks.map((r) => {
      const e = new native.Event(r.device);
      r.stream.record(e);
      return e;
    });
    await Promise.all(events.map((e) => e.completion()));
    for (const host of hosts) {
      const got = new Float32Array(host.read());
      for (let i = 0; i < n; i += 97) {
        let want = 0;
        for (const x of inputs) want += x[i]!;
        worst = Math.max(worst, Math.abs(got[i]! - want));
      }
    }
    events.forEach((e) => e.close());
    renderProgress(b + 1, buckets);
  }
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write('\n');
  for (const r of ranks) {
    r.stream.close();
    r.bucket.close();
    r.comm.close();
  }
  if (worst > 1e-4 * world) throw new Error(`verification failed: max abs error ${worst}`);
  const bytes = buckets * n * 4;
  console.log(`verified: max abs error ${worst.toExponential(2)} against float64 host sums`);
  console.log(`${(bytes / 2 ** 20).toFixed(0)} MiB per rank in ${seconds.toFixed(2)} s (${(bytes / seconds / 1e9).toFixed(3)} GB/s algbw, CPU backend)`);
}

function renderProgress(done: number, total: number): void {
  const width = 30;
  const filled = Math.round((done / total) * width);
  process.stdout.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} buckets`);
}
