// A group that spans devices on blocking communicators goes out a part per device once its shape was issued
// whole before (native/src/cuda/nccl_group.cc). Where one device's part fails, every part refuses its group before
// ncclGroupEnd: the all-reduce fails naming its stage and slice, nothing hangs, and the world closes. No real
// failure reaches that path on demand, so FAIRRING_TEST_FAIL_PART fails device 1's parts (in a child process).
// Without it the same all-reduces, their later groups sent a part per device, match float64 sums. Skipped where
// CUDA or NCCL is absent, or where fewer than two GPUs are.
import { expect } from 'chai';
import { skipUnlessGpus } from '../helpers/backends.js';
import { runChild } from '../helpers/child.js';

// Four awaited all-reduces of 16384 random float32 per rank at 2 x 1 (every group after the first of its shape
// goes a part per device); prints each outcome as a line: 'ok' when it matched the float64 sums, 'wrong by D',
// or 'error ' and the error's code, stage and message as JSON; then 'closed' once close() resolved.
const script = `
import { simulate } from ${JSON.stringify(new URL('../../src/index.js', import.meta.url).href)};
const world = await simulate({ machines: 2, devicesPerMachine: 1, backend: 'cuda', pipeline: 'fairring', timeoutMs: 10000 });
for (let k = 0; k < 4; k++) {
  const inputs = world.devices.map(() => Float32Array.from({ length: 16384 }, () => Math.random() - 0.5));
  const tensors = await Promise.all(world.devices.map((d, r) => d.upload(inputs[r])));
  try {
    await world.allReduce(tensors);
    const got = await tensors[1].download();
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - (inputs[0][i] + inputs[1][i])));
    console.log(worst <= 1e-6 ? 'ok' : 'wrong by ' + worst);
  } catch (e) {
    console.log('error ' + JSON.stringify({ code: e.code, stage: e.stage, message: e.message }));
  }
}
await world.close();
console.log('closed');
`;

interface Failure {
  code: string;
  stage?: string;
  message: string;
}

describe('groups sent a part per device [cuda]', function () {
  this.timeout(150_000);
  before(function () {
    skipUnlessGpus(this, 2, 'the parts-per-device test');
  });

  it('match float64 sums', async () => {
    const env = { ...process.env };
    delete env.FAIRRING_TEST_FAIL_PART;
    const r = await runChild(process.execPath, ['--input-type=module', '-e', script], { timeoutMs: 60_000, env });
    expect(r.signal, r.stderr).to.equal(null);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout.trim().split('\n')).to.deep.equal(['ok', 'ok', 'ok', 'ok', 'closed']);
  });

  it("one device's part failing fails the all-reduce with its own cause, naming stage and slice; later calls reject at once; the world closes", async () => {
    const r = await runChild(process.execPath, ['--input-type=module', '-e', script], {
      timeoutMs: 60_000,
      env: { ...process.env, FAIRRING_TEST_FAIL_PART: '1' },
    });
    expect(r.signal, r.stderr).to.equal(null);
    expect(r.code, r.stderr).to.equal(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines, r.stdout).to.have.length(5);
    expect(lines[4]).to.equal('closed');
    // The first all-reduce issues its groups whole (their shapes new); the second's go a part per device.
    expect(lines[0], r.stdout).to.equal('ok');
    const failures = lines.slice(1, 4).map((l): Failure => {
      expect(l, r.stdout).to.match(/^error /);
      return JSON.parse(l.slice('error '.length)) as Failure;
    });
    const [first, ...later] = failures as [Failure, ...Failure[]];
    expect(first.code, first.message).to.equal('ERR_FAIRRING_STAGE');
    expect(['collect', 'diffuse']).to.include(first.stage);
    expect(first.message).to.match(/slice \d+ failed in (collect|diffuse)/);
    expect(first.message).to.match(/FAIRRING_TEST_FAIL_PART \(cuda:1\)/);
    for (const f of later) expect(f.code, f.message).to.equal('ERR_FAIRRING_CLOSED');
  });
});
