// Two machines as two network namespaces joined by a veth pair (needs root and `ip netns`, as on the CI machine;
// skipped with the reason otherwise): `fairring-rx launch` on each, the store and Gloo bound to real, non-loopback
// addresses, FAIRRING_TOKEN shared; and a store on a non-loopback address refused without a token.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { native } from '../../src/native.js';
import { runChild } from '../helpers/child.js';
import { rankResults, randomSeed, type RankResult } from '../helpers/launch.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.join(here, '../../src/cli/main.js');
const worker = path.join(here, '../helpers/connect-worker.js');
const tag = Math.random().toString(36).slice(2, 7);
const ns = [`fr-a-${tag}`, `fr-b-${tag}`];
const addr = ['10.77.0.1', '10.77.0.2'];

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: 'pipe' });
}

/** Runs `launch` for one machine inside its namespace; resolves with its exit status and RESULT lines. */
async function node(k: number, env: Record<string, string>, job: Record<string, unknown>): Promise<{ code: number | null; results: RankResult[]; stderr: string }> {
  const r = await runChild(
    'ip',
    ['netns', 'exec', ns[k]!, process.execPath, cli, 'launch', '--nnodes', '2', '--node-rank', String(k), '--master-addr', addr[0]!, '--master-port', '29810', '--timeout', '60', '--', process.execPath, worker],
    { timeoutMs: 90_000, env: { ...process.env, ...env, FR_WORKER: JSON.stringify(job), FAIRRING_MACHINE_ID: `machine-${k}` } },
  );
  return { code: r.code, results: rankResults(r.stdout), stderr: r.stderr };
}

describe('two machines as network namespaces (Gloo over a veth pair)', function () {
  this.timeout(90_000);
  let ready = false;

  before(function () {
    const why =
      process.getuid?.() !== 0 ? 'not root' : !native.info().gloo.available ? `no Gloo plugin (${native.info().gloo.error})` : null;
    if (why === null) {
      try {
        for (const n of ns) ip('netns', 'add', n);
        ip('link', 'add', `fa${tag}`, 'type', 'veth', 'peer', 'name', `fb${tag}`);
        ['a', 'b'].forEach((side, k) => {
          ip('link', 'set', `f${side}${tag}`, 'netns', ns[k]!);
          ip('-n', ns[k]!, 'addr', 'add', `${addr[k]}/24`, 'dev', `f${side}${tag}`);
          ip('-n', ns[k]!, 'link', 'set', `f${side}${tag}`, 'up');
          ip('-n', ns[k]!, 'link', 'set', 'lo', 'up');
        });
        ready = true;
      } catch (e) {
        console.log(`      (skipped: ip netns failed: ${(e as Error).message.split('\n')[0]})`);
      }
    } else {
      console.log(`      (skipped: ${why})`);
    }
    if (!ready) this.skip();
  });

  after(() => {
    for (const n of ns) {
      try {
        ip('netns', 'del', n);
      } catch {
        // Never made.
      }
    }
  });

  it('2 machines x 1: fairring sums and a broadcast correct on both, over 10.77.0.1 and 10.77.0.2', async () => {
    const job = { seed: randomSeed(), lengths: [1001, 64, 4099], op: 'sum', dtype: 'float32', pipeline: 'fairring', broadcastRoot: 1 };
    const env = { FAIRRING_TOKEN: `token-${tag}` };
    const [a, b] = await Promise.all([node(0, env, job), node(1, env, job)]);
    expect(a.code, a.stderr).to.equal(0);
    expect(b.code, b.stderr).to.equal(0);
    const results = [...a.results, ...b.results].sort((x, y) => x.rank - y.rank);
    expect(results.map((x) => x.rank)).to.deep.equal([0, 1]);
    for (const x of results) {
      expect(x.error, JSON.stringify(x.error)).to.equal(undefined);
      expect(x.topology).to.deep.include({ machines: 2, devicesPerMachine: 1 });
      expect(x.maxError).to.be.below(1e-5);
      expect(x.broadcastOk).to.equal(true);
      expect(x.hashes).to.deep.equal(results[0]!.hashes);
    }
  });

  it('without FAIRRING_TOKEN, a job across machines is refused before anything listens, saying how to set one', async () => {
    const env = { ...process.env };
    delete env.FAIRRING_TOKEN;
    const out = execFileSync(
      'ip',
      ['netns', 'exec', ns[0]!, process.execPath, '--input-type=module', '-e', `import { connect } from ${JSON.stringify(path.join(here, '../../src/index.js'))}; try { await connect({ job: { rank: 0, worldSize: 2, localRank: 0, localWorldSize: 1, masterAddr: '${addr[0]}' } }); } catch (e) { console.log(e.code, e.message); }`],
      { env, encoding: 'utf8' },
    );
    expect(out).to.match(/^ERR_FAIRRING_ARGUMENT .*needs a shared secret: set FAIRRING_TOKEN/);
  });
});
