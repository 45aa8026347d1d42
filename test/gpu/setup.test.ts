// CUDA worlds on a host where NCCL does not load (FAIRRING_NCCL_LIBRARY naming no library, in child processes):
// simulate() and connect() reject with a SetupError that says NCCL did not load and why, every rank of a job at
// once (not after the rendezvous timeout, waiting for an id rank 0 could not make), and the processes exit.
// Skipped where CUDA or NCCL is absent: the point is a host that has both, one process told to do without.
import { expect } from 'chai';
import { cudaUnavailableReason } from '../helpers/backends.js';
import { launch, randomSeed } from '../helpers/launch.js';
import { runChild } from '../helpers/child.js';

const noNccl = { FAIRRING_NCCL_LIBRARY: '/nonexistent/libnccl.so.2' };

describe('CUDA worlds without NCCL', function () {
  this.timeout(120_000);
  before(function () {
    const reason = cudaUnavailableReason();
    if (reason !== null) {
      console.log(`      skipping the CUDA no-NCCL cases: ${reason}`);
      this.skip();
    }
  });

  it('simulate() with a communicator to make rejects with a SetupError naming NCCL and the library tried', async () => {
    const index = new URL('../../src/index.js', import.meta.url).href;
    const source = `
      import { simulate } from ${JSON.stringify(index)};
      try {
        await simulate({ machines: 1, devicesPerMachine: 1, backend: 'cuda', pipeline: 'nccl' });
        console.log('RESULT ' + JSON.stringify({ made: true }));
      } catch (e) {
        console.log('RESULT ' + JSON.stringify({ name: e.name, code: e.code, message: e.message }));
      }`;
    const r = await runChild(process.execPath, ['--input-type=module', '-e', source], { timeoutMs: 60_000, env: { ...process.env, ...noNccl } });
    expect(r.code, r.stderr).to.equal(0);
    const result = JSON.parse(/^RESULT (.*)$/m.exec(r.stdout)![1]!) as { name?: string; code?: string; message?: string };
    expect(result.code, r.stdout).to.equal('ERR_FAIRRING_SETUP');
    expect(result.name).to.equal('SetupError');
    expect(result.message).to.match(/world communicator of global ranks 0 could not be created: .*NCCL not available: .*\/nonexistent\/libnccl\.so\.2/);
  });

  it('connect() across 2 emulated machines: every rank rejects at once with a SetupError saying NCCL did not load', async () => {
    const job = { seed: randomSeed(), lengths: [4096], op: 'sum', dtype: 'float32', pipeline: 'fairring', backend: 'cuda', rendezvousTimeoutMs: 60_000 };
    const r = await launch(['--nnodes', '2', '--emulate-machines'], job, noNccl);
    expect(r.results, r.stderr).to.have.length(2);
    for (const x of r.results) {
      expect(x.error?.code, JSON.stringify(x)).to.equal('ERR_FAIRRING_SETUP');
      expect(x.error?.message).to.match(new RegExp(`^connect\\(\\): rank ${x.rank}: the CUDA backend's communicators need NCCL, which did not load \\(.*/nonexistent/libnccl\\.so\\.2`));
    }
    // Well inside the 60 s rendezvous timeout: no rank waited for an id that was never made.
    expect(r.ms).to.be.below(30_000);
  });
});
