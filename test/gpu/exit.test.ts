// A CUDA world's process ends without a signal however it ends. Closed and returned: at 2 x 1 with 32 slices in
// flight and 2000 buckets of 64 KiB, the frees that close() queues were still running at exit and crashed in
// cudaFree under the CUDA runtime's teardown (4 runs of 5 on 2 x H200), until shutdown stopped them. Ended by an
// uncaught error or process.exit() with all-reduces in flight: no environment cleanup stops the addon's threads
// there, so the exit must not run the libraries' teardown at all. Skipped where CUDA or NCCL is absent, or where
// fewer than two GPUs are.
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

// All-reduces in flight at 2 x 1 when the process ends: by an uncaught error (status 1), or process.exit(3).
const inFlight = (how: 'throw' | 'exit') => `
import { simulate } from ${JSON.stringify(new URL('../../src/index.js', import.meta.url).href)};
const world = await simulate({ machines: 2, devicesPerMachine: 1, backend: 'cuda', pipeline: 'fairring', parallelism: 32, timeoutMs: 60000 });
const tensors = await Promise.all(Array.from({ length: 500 }, () => Promise.all(world.devices.map((d) => d.upload(Float32Array.from({ length: 16384 }, () => Math.random()))))));
for (const t of tensors) void world.allReduce(t).catch(() => undefined);
console.log('in flight');
${how === 'throw' ? "setImmediate(() => { throw new Error('planned failure'); });" : 'setImmediate(() => process.exit(3));'}
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

  it('an uncaught error with all-reduces in flight exits with status 1 and the error, without a signal', async () => {
    const r = await runChild(process.execPath, ['--input-type=module', '-e', inFlight('throw')], { timeoutMs: 90_000 });
    expect(r.signal, r.stderr).to.equal(null);
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stdout).to.contain('in flight');
    expect(r.stderr).to.contain('planned failure');
  });

  it('process.exit(3) with all-reduces in flight exits with status 3, without a signal', async () => {
    const r = await runChild(process.execPath, ['--input-type=module', '-e', inFlight('exit')], { timeoutMs: 90_000 });
    expect(r.signal, r.stderr).to.equal(null);
    expect(r.code, r.stderr).to.equal(3);
    expect(r.stdout).to.contain('in flight');
  });
});
