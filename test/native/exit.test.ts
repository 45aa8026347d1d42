import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { native } from '../../src/native.js';
import { describeBackends } from '../helpers/backends.js';
import { runChild, type ChildResult } from '../helpers/child.js';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'fixtures');

function runScript(name: string, args: string[], timeoutMs: number): Promise<ChildResult> {
  return runChild(process.execPath, [path.join(fixtures, name), ...args], { timeoutMs });
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

  it('a script whose world is done but never closed exits by itself, not at the watchdog\'s deadline', async () => {
    const started = Date.now();
    const r = await runScript('exit-world-unclosed.mjs', [backend], 60000);
    expect(r.signal, r.stderr).to.equal(null);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain('done 2');
    // Its timeoutMs is 60 s: the exit must not wait for it.
    expect(Date.now() - started).to.be.below(20000);
  });

  for (const [mode, status] of [['exit', 3], ['return', 4]] as const) {
    it(`exiting with work in flight (${mode}) does not crash or hang, and keeps its exit code`, async () => {
      const r = await runScript('exit-in-flight.mjs', [mode, backend], 60000);
      expect(r.signal, r.stderr).to.equal(null);
      expect(r.code, r.stderr).to.equal(status);
      expect(r.stdout).to.contain('enqueued');
    });
  }

  for (const [mode, status] of [['throw', 1], ['exit', 3]] as const) {
    it(`ending (${mode}) while a communicator init waits for a rank that never joins takes no longer than the exit`, async () => {
      const started = Date.now();
      const r = await runScript('exit-during-init.mjs', [mode, backend], 60000);
      expect(r.signal, r.stderr).to.equal(null);
      expect(r.code, r.stderr).to.equal(status);
      expect(r.stdout).to.contain('waiting');
      if (mode === 'throw') expect(r.stderr).to.contain('planned failure');
      // The init's own timeout is 60 s; the exit must not wait for it.
      expect(Date.now() - started).to.be.below(20000);
    });
  }

  it('an uncaught error with work in flight exits with the error, not a native crash', async () => {
    const r = await runScript('exit-in-flight.mjs', ['throw', backend], 60000);
    expect(r.signal, r.stderr).to.equal(null);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain('planned failure');
  });
});

describe('the addon on a worker thread', () => {
  it('refuses to load there, with a message that says why', async () => {
    const url = new URL('../../src/native.js', import.meta.url).href;
    const worker = new Worker(`import(${JSON.stringify(url)})`, { eval: true });
    const error = await new Promise<Error>((resolve) => worker.once('error', resolve));
    expect(error.message).to.match(/load it on the main thread, not in a worker thread/);
  });

  it('refuses there when required directly, and the main thread\'s addon keeps working', async () => {
    // A worker that held the addon and was terminated while a rendezvous was pending aborted the whole process.
    const addon = fileURLToPath(new URL('../../../native/build/Release/fairring.node', import.meta.url));
    const worker = new Worker(`require(${JSON.stringify(addon)})`, { eval: true });
    const error = await new Promise<Error>((resolve) => worker.once('error', resolve));
    expect(error.message).to.equal('fairring-rx: the native addon runs on the main thread only, not in a worker thread');
    expect(native.info().backends).to.include('cpu');
  });
});
