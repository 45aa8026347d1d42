import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { describeBackends } from '../helpers/backends.js';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'fixtures');

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function runScript(name: string, args: string[], timeoutMs: number): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(fixtures, name), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} ${args.join(' ')} did not exit within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

describeBackends('process exit', ({ backend, deviceCount }) => {
  before(function () {
    if (deviceCount < 2) this.skip();
  });

  it('a script that used the addon exits by itself once its work is done', async () => {
    const r = await runScript('exit-after-work.mjs', [backend], 60000);
    expect(r.signal, r.stderr).to.equal(null);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain('done');
  });

  for (const mode of ['exit', 'return']) {
    it(`exiting with work in flight (${mode}) does not crash or hang`, async () => {
      const r = await runScript('exit-in-flight.mjs', [mode, backend], 60000);
      expect(r.signal, r.stderr).to.equal(null);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.contain('enqueued');
    });
  }

  it('an uncaught error with work in flight exits with the error, not a native crash', async () => {
    const r = await runScript('exit-in-flight.mjs', ['throw', backend], 60000);
    expect(r.signal, r.stderr).to.equal(null);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain('planned failure');
  });
});
