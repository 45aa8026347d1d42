// `fairring-rx launch` as a user meets it: the environment each rank gets, a failing rank ending the job with
// its status and last stderr lines, SIGTERM forwarded so that no process is left behind, and mistakes refused.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { launchPlan, type LaunchOptions } from '../../src/cli/launch.js';
import { runChild, type ChildResult } from '../helpers/child.js';

const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function run(args: string[], sigtermWhen?: (stdout: string) => boolean): Promise<ChildResult> {
  return runChild(process.execPath, [main, 'launch', ...args], { timeoutMs: 30_000, ...(sigtermWhen !== undefined ? { sigtermWhen } : {}) });
}

/** Pids of the processes whose command line (NUL-separated, as /proc has it) contains `text`. */
function processesRunning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'latin1').includes(text)) pids.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

const base: LaunchOptions = {
  nnodes: 1,
  nprocPerNode: 2,
  nodeRank: 0,
  masterAddr: '127.0.0.1',
  masterPort: 29500,
  emulateMachines: false,
  timeout: 0,
  command: ['node', 'x.js'],
};

describe('fairring-rx launch', function () {
  this.timeout(60_000);

  it('gives each rank the torchrun variables, a job token and, emulating machines, a machine and NCCL host id each', () => {
    const one = launchPlan({ ...base, nnodes: 2, nodeRank: 1, masterAddr: '10.0.0.1' }, { FAIRRING_TOKEN: 't' });
    expect(one.map((r) => r.rank)).to.deep.equal([2, 3]);
    expect(one[1]!.env).to.deep.include({ RANK: '3', WORLD_SIZE: '4', LOCAL_RANK: '1', LOCAL_WORLD_SIZE: '2', MASTER_ADDR: '10.0.0.1', MASTER_PORT: '29500', FAIRRING_TOKEN: 't' });
    const emulated = launchPlan({ ...base, nnodes: 2, emulateMachines: true }, {});
    expect(emulated.map((r) => [r.env.RANK, r.env.LOCAL_RANK, r.env.LOCAL_WORLD_SIZE, r.env.FAIRRING_MACHINE_ID, r.env.NCCL_HOSTID])).to.deep.equal([
      ['0', '0', '4', 'emulated-0', 'emulated-0'],
      ['1', '1', '4', 'emulated-0', 'emulated-0'],
      ['2', '2', '4', 'emulated-1', 'emulated-1'],
      ['3', '3', '4', 'emulated-1', 'emulated-1'],
    ]);
    expect(new Set(emulated.map((r) => r.env.FAIRRING_TOKEN)).size, 'one token for the job').to.equal(1);
    expect(emulated[0]!.env.FAIRRING_TOKEN).to.have.length.above(16);
    // An exported NCCL_HOSTID keeps NCCL on one host (NVLink) between the emulated machines.
    expect(launchPlan({ ...base, nnodes: 2, emulateMachines: true }, { NCCL_HOSTID: 'one' })[3]!.env.NCCL_HOSTID).to.equal(undefined);
  });

  it('refuses a job on several machines without FAIRRING_TOKEN, a node rank past the last, and no program', () => {
    expect(() => launchPlan({ ...base, nnodes: 2 }, {})).to.throw(/FAIRRING_TOKEN/);
    expect(() => launchPlan({ ...base, nnodes: 2, nodeRank: 2 }, { FAIRRING_TOKEN: 't' })).to.throw('--node-rank 2 is not below --nnodes 2');
    expect(() => launchPlan({ ...base, command: [] }, {})).to.throw(/needs the program to run after --/);
    const r = spawnSync(process.execPath, [main, 'launch', '--nproc-per-node', '0', '--', 'node'], { encoding: 'utf8' });
    expect(r.status).to.equal(2);
    // Values no job can use are flag errors (status 2), before any rank starts.
    for (const [flag, value, message] of [
      ['--master-port', '65535', 'Must be an integer from 1 to 65534'],
      ['--timeout', '3000000', 'Must be an integer from 0 to 2147483'],
      ['--nproc-per-node', '99999', 'Must be an integer from 1 to 256'],
      ['--node-rank', '1', '--node-rank 1 is not below --nnodes 1'],
    ] as const) {
      const bad = spawnSync(process.execPath, [main, 'launch', flag, value, '--', 'node', '-e', 'process.exit(9)'], { encoding: 'utf8' });
      expect(bad.status, `${flag} ${value}`).to.equal(2);
      expect(bad.stderr).to.contain(message);
    }
  });

  it('a rank that cannot start ends the job with status 127 and ends the ranks started before it', async () => {
    // Out of file descriptors part way through: the ranks spawned before it are ended, none is left running.
    const marker = `31.${process.pid}`;
    const r = await runChild('bash', ['-c', `ulimit -n 64; exec "${process.execPath}" "${main}" launch --nproc-per-node 40 -- sleep ${marker}`], { timeoutMs: 30_000 });
    expect(r.code).to.equal(127);
    expect(r.stderr).to.match(/fairring-rx launch: rank \d+ could not start sleep: spawn sleep EMFILE; ending the other ranks/);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(processesRunning(`sleep\0${marker}`), 'no rank left running').to.deep.equal([]);
    const missing = await run(['--nproc-per-node', '2', '--', '/nonexistent/program']);
    expect(missing.code).to.equal(127);
    expect(missing.stderr).to.contain('fairring-rx launch: rank 0 could not start /nonexistent/program: spawn /nonexistent/program ENOENT');
  });

  it('a failing rank ends the others within seconds; the job exits with its status and repeats its last stderr lines', async () => {
    const script = "if (process.env.RANK === '1') { console.error('first'); console.error('boom'); process.exit(3); } setInterval(() => {}, 1000);";
    const r = await run(['--nproc-per-node', '3', '--', process.execPath, '-e', script]);
    expect(r.code).to.equal(3);
    expect(r.ms).to.be.below(15_000);
    expect(r.stderr).to.contain('[rank 1] boom');
    expect(r.stderr).to.contain('fairring-rx launch: rank 1 exited with status 3; ending the other ranks\nits last lines on stderr:\n  [rank 1] first\n  [rank 1] boom');
  });

  it('forwards SIGTERM to every rank once all are up, and exits with status 143 (128 + SIGTERM) naming the signal once they are gone', async () => {
    const bothUp = (out: string): boolean => out.includes('[rank 0] up') && out.includes('[rank 1] up');
    const r = await run(['--nproc-per-node', '2', '--', process.execPath, '-e', "console.log('up'); setInterval(() => {}, 1000);"], bothUp);
    expect(r.code).to.equal(143);
    expect(r.ms).to.be.below(15_000);
    expect(r.stderr).to.match(/fairring-rx launch: rank [01] was killed by SIGTERM/);
  });

  it('a rank killed by a signal: the job exits with 128 + its number, as a shell reports it (SIGKILL: 137)', async () => {
    const script = "if (process.env.RANK === '1') process.kill(process.pid, 'SIGKILL'); setInterval(() => {}, 1000);";
    const r = await run(['--nproc-per-node', '2', '--', process.execPath, '-e', script]);
    expect(r.code).to.equal(137);
    expect(r.stderr).to.contain('fairring-rx launch: rank 1 was killed by SIGKILL; ending the other ranks');
  });

  it('--timeout ends a job that runs too long, with status 124', async () => {
    const r = await run(['--nproc-per-node', '2', '--timeout', '1', '--', process.execPath, '-e', 'setInterval(() => {}, 1000);']);
    expect(r.code).to.equal(124);
    expect(r.stderr).to.contain('the job ran past --timeout 1 s; ending the other ranks');
  });

  it('ends what a rank started too: a wrapper script and its program, within seconds of --timeout', async () => {
    const t0 = Date.now();
    const r = await run(['--nproc-per-node', '2', '--timeout', '1', '--', 'bash', '-c', `"${process.execPath}" -e 'setInterval(() => {}, 1000);'; echo after`]);
    expect(r.code).to.equal(124);
    expect(Date.now() - t0).to.be.below(10_000);
    expect(r.stdout).to.not.contain('after');
  });
});
