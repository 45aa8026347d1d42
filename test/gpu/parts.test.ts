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
// goes a part per device); prints each outcome: 'ok' when it matched the float64 sums, else the error's code,
// stage and message; then 'closed' once close() resolved.
const script = `
import { simulate } from ${JSON.stringify(new URL('../../src/index.js', import.meta.url).href)};
const world = await simulate({ machines: 2, devicesPerMachine: 1, backend: 'cuda', pipeline: 'fairring', timeoutMs: 30000 });
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
    console.log(JSON.stringify({ code: e.code, stage: e.stage, message: e.message }));
  }
}
await world.close();
console.log('closed');
`;

describe('groups sent a part per device [cuda]', function () {
  this.timeout(180_000);
  before(function () {
    skipUnlessGpus(this, 2, 'the parts-per-device test');
  });

  it('match float64 sums', async () => {
    const env = { ...process.env };
    delete env.FAIRRING_TEST_FAIL_PART;
    const r = await runChild(process.execPath, ['--input-type=module', '-e', script], { timeoutMs: 120_000, env });
    expect(r.signal, r.stderr).to.equal(null);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout.trim().split('\n')).to.deep.equal(['ok', 'ok', 'ok', 'ok', 'closed']);
  });

  it('one device\'s part failing fails the all-reduce, naming stage and slice, and the world closes', async () => {
    const r = await runChild(process.execPath, ['--input-type=module', '-e', script], {
      timeoutMs: 120_000,
      env: { ...process.env, FAIRRING_TEST_FAIL_PART: '1' },
    });
    expect(r.signal, r.stderr).to.equal(null);
    expect(r.code, r.stderr).to.equal(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.at(-1)).to.equal('closed');
    const failed = lines.slice(0, -1).filter((l) => l !== 'ok').map((l) => JSON.parse(l) as { code: string; stage: string; message: string });
    expect(failed.length, r.stdout).to.be.at.least(1);
    expect(failed[0]!.code).to.equal('ERR_FAIRRING_STAGE');
    expect(['collect', 'diffuse']).to.include(failed[0]!.stage);
    expect(failed[0]!.message).to.match(/slice \d+ failed in (collect|diffuse)/);
    expect(failed[0]!.message).to.match(/FAIRRING_TEST_FAIL_PART|another device's part of the group failed/);
  });
});
