// FAIRRING_NCCL_PROFILE=1 on CUDA: a child process all-reduces at 2 x 1 and, at exit, writes one line with its
// NCCL groups' host times (and with FAIRRING_NCCL_PROFILE_LOG their CSV timeline); without them it writes none.
// Every rank is in the child, so its communicators are blocking and no group returns ncclInProgress. Skipped
// where CUDA or NCCL is absent, or where fewer than two GPUs are.
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { skipUnlessGpus } from '../helpers/backends.js';
import { runChild } from '../helpers/child.js';

// 16 buckets of 64 KiB per rank, random, checked against float64 sums; prints "ok" when every sum matched.
const script = `
import { simulate } from ${JSON.stringify(new URL('../../src/index.js', import.meta.url).href)};
const world = await simulate({ machines: 2, devicesPerMachine: 1, backend: 'cuda', pipeline: 'fairring', timeoutMs: 60000 });
const inputs = Array.from({ length: 16 }, () => world.devices.map(() => Float32Array.from({ length: 16384 }, () => Math.random() - 0.5)));
const tensors = await Promise.all(inputs.map((bucket) => Promise.all(world.devices.map((d, r) => d.upload(bucket[r])))));
await Promise.all(tensors.map((t) => world.allReduce(t)));
let worst = 0;
for (let b = 0; b < 16; b++) {
  for (const t of tensors[b]) {
    const got = await t.download();
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - (inputs[b][0][i] + inputs[b][1][i])));
  }
}
await world.close();
console.log(worst <= 1e-6 ? 'ok' : 'wrong by ' + worst);
`;

describe('FAIRRING_NCCL_PROFILE on CUDA', function () {
  this.timeout(120_000);
  before(function () {
    skipUnlessGpus(this, 2, 'the NCCL profile test');
  });

  it('writes one line of group host times at exit, the timeline to a file, and nothing without the variables', async () => {
    const log = path.join(os.tmpdir(), `fairring-profile-${process.pid}.csv`);
    const run = (profile: boolean) =>
      runChild(process.execPath, ['--input-type=module', '-e', script], {
        timeoutMs: 100_000,
        env: { ...process.env, FAIRRING_NCCL_PROFILE: profile ? '1' : '', FAIRRING_NCCL_PROFILE_LOG: profile ? log : '' },
      });
    const on = await run(true);
    expect(on.code, on.stderr).to.equal(0);
    expect(on.stdout.trim()).to.equal('ok');
    const lines = on.stderr.split('\n').filter((l) => l.startsWith('fairring-rx NCCL groups: '));
    expect(lines, on.stderr).to.have.length(1);
    const m = /^fairring-rx NCCL groups: (\d+) \((\d+) returned ncclInProgress\), ([\d.]+) calls each; .* settled within (>? ?\d+) us \(50%\), (>? ?\d+) us \(90%\), (>? ?\d+) us \(99%\)/.exec(lines[0]!);
    expect(m, lines[0]).to.not.equal(null);
    // A percentile past the histogram's last bucket prints as "> N": above N, so N + 1 for the order checks.
    const value = (s: string) => (s.startsWith('>') ? Number(s.slice(1)) + 1 : Number(s));
    const [groups, inProgress, calls, p50, p90, p99] = m!.slice(1).map(value) as [number, number, number, number, number, number];
    expect(groups, 'two groups per slice at most, 16 slices and the call checks').to.be.within(1, 64);
    expect(inProgress, 'blocking communicators where every rank is in this process').to.equal(0);
    expect(calls).to.be.at.least(2);
    expect(p50).to.be.at.most(p90);
    expect(p90).to.be.at.most(p99);
    const rows = fs.readFileSync(log, 'utf8').trim().split('\n');
    fs.rmSync(log);
    expect(rows[0]).to.equal('kind,start_us,duration_us,n');
    const kinds = rows.slice(1).map((r) => r.split(',')[0]);
    expect(kinds.filter((k) => k === 'group'), 'a line per group').to.have.length(groups);
    expect(kinds.every((k) => k === 'group' || k === 'batch')).to.equal(true);
    const off = await run(false);
    expect(off.code, off.stderr).to.equal(0);
    expect(off.stdout.trim()).to.equal('ok');
    expect(off.stderr).to.not.contain('NCCL groups');
  });
});
