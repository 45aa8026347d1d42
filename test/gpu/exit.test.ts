// A CUDA world that ran and closed lets its process end by itself, without a signal: at 2 x 1 with 32 slices in
// flight and 2000 buckets of 64 KiB, the frees that close() queues were still running at exit and crashed in
// cudaFree under the CUDA runtime's teardown (4 runs of 5 on 2 x H200), until shutdown stopped them. Skipped
// where CUDA or NCCL is absent, or where fewer than two GPUs are.
import { expect } from 'chai';
import { skipUnlessGpus } from '../helpers/backends.js';
import { runChild } from '../helpers/child.js';

// Random buckets; one of them checked against float64 sums; prints "ok" when it matched.
const script = `
import { simulate } from ${JSON.stringify(new URL('../../src/index.js', import.meta.url).href)};
const world = await simulate({ machines: 2, devicesPerMachine: 1, backend: 'cuda', pipeline: 'fairring', parallelism: 32, timeoutMs: 60000 });
const inputs = world.devices.map(() => Float32Array.from({ length: 16384 }, () => Math.random() - 0.5));
const tensors = await Promise.all(Array.from({ length: 2000 }, () => Promise.all(world.devices.map((d, r) => d.upload(inputs[r])))));
await Promise.all(tensors.map((t) => world.allReduce(t)));
const got = await tensors[1999][1].download();
let worst = 0;
for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - (inputs[0][i] + inputs[1][i])));
await world.close();
console.log(worst <= 1e-6 ? 'ok' : 'wrong by ' + worst);
`;

describe('process exit after a CUDA world [cuda]', function () {
  this.timeout(300_000);
  before(function () {
    skipUnlessGpus(this, 2, 'the CUDA exit test');
  });

  it('ends by itself with status 0 after 2000 all-reduces at parallelism 32 and close(), 3 runs of 3', async () => {
    for (let run = 0; run < 3; run++) {
      const r = await runChild(process.execPath, ['--input-type=module', '-e', script], { timeoutMs: 90_000 });
      expect(r.signal, `run ${run + 1}: ${r.stderr}`).to.equal(null);
      expect(r.code, `run ${run + 1}: ${r.stderr}`).to.equal(0);
      expect(r.stdout.trim()).to.equal('ok');
    }
  });
});
