// connect() across processes on the CPU backend (Gloo), each job started by `fairring-rx launch`: results
// against float64 sums with fresh random data, replicas identical bit for bit, machines grouped by machine id
// whatever the rank assignment, and the failures a job meets (options that differ, a rank that never comes,
// calls that do not match, a rank that dies) as typed errors on every rank within their time limits, with every
// process exiting by itself.
import { expect } from 'chai';
import path from 'node:path';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { native } from '../../src/native.js';
import net from 'node:net';
import { ArgumentError, connect, placeRanks } from '../../src/index.js';
import { expectVanishHandled, launch, launchScript, randomSeed, trainExample } from '../helpers/launch.js';

const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
const fixture = (name: string): string => path.join(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures', name);


describe('connect() across processes on the CPU backend (Gloo)', function () {
  this.timeout(90_000);
  before(function () {
    if (!native.info().gloo.available) {
      console.log(`      (skipped: ${native.info().gloo.error})`);
      this.skip();
    }
  });

  it('2 emulated machines x 2: fairring sums match float64 sums, replicas agree bit for bit, a broadcast from rank 3, and every process exits', async () => {
    const r = await launch(['--nnodes', '2', '--nproc-per-node', '2', '--emulate-machines'], {
      seed: randomSeed(),
      lengths: [1001, 64, 4099, 7],
      op: 'sum',
      dtype: 'float32',
      pipeline: 'fairring',
      broadcastRoot: 3,
    });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.results).to.have.length(4);
    for (const x of r.results) {
      expect(x.error, JSON.stringify(x.error)).to.equal(undefined);
      expect(x.topology).to.deep.include({ machines: 2, devicesPerMachine: 2, rankLayout: 'machine-major' });
      expect(x.place).to.deep.equal({ rank: x.rank, machine: Math.floor(x.rank / 2), local: x.rank % 2 });
      expect(x.maxError).to.be.below(1e-5);
      expect(x.hashes).to.deep.equal(r.results[0]!.hashes);
      expect(x.broadcastOk).to.equal(true);
    }
  });

  for (const [what, args, ranks] of [
    ['1 x 2', ['--nproc-per-node', '2'], 2],
    ['2 x 1', ['--nnodes', '2', '--emulate-machines'], 2],
    ['2 x 2', ['--nnodes', '2', '--nproc-per-node', '2', '--emulate-machines'], 4],
    ['3 x 1', ['--nnodes', '3', '--emulate-machines'], 3],
  ] as Array<[string, string[], number]>) {
    it(`${what}: every dtype x op through Gloo against the in-process tests' host reference (with and without tails)`, async () => {
      for (const n of [61, 256]) {
        const r = await launch(args, { seed: randomSeed(), lengths: [], op: 'sum', dtype: 'float32', pipeline: 'fairring', matrix: n });
        expect(r.code, r.stderr).to.equal(0);
        expect(r.results.map((x) => x.rank).sort(), 'a result from every rank').to.deep.equal([...Array(ranks).keys()]);
        for (const x of r.results) expect(x.matrixFailures, `rank ${x.rank}, ${n} elements`).to.deep.equal([]);
      }
    });
  }

  it('machines by machine id whatever the rank assignment: cyclic ranks give a device-major 2 x 2, int32 avg exact', async () => {
    const r = await launch(['--nproc-per-node', '4'], { seed: randomSeed(), lengths: [999, 16], op: 'avg', dtype: 'int32', pipeline: 'fairring', machineOf: [0, 1, 0, 1] });
    expect(r.code, r.stderr).to.equal(0);
    for (const x of r.results) {
      expect(x.error, JSON.stringify(x.error)).to.equal(undefined);
      expect(x.topology).to.deep.include({ machines: 2, devicesPerMachine: 2, rankLayout: 'device-major' });
      expect(x.place).to.deep.equal({ rank: x.rank, machine: x.rank % 2, local: Math.floor(x.rank / 2) });
      expect(x.maxError).to.equal(0);
    }
  });

  it('one machine of 3, the default pipeline, float64 avg; machines of unequal size fall back to nccl with a warning, the default and auto by name alike', async () => {
    const one = await launch(['--nproc-per-node', '3'], { seed: randomSeed(), lengths: [513], op: 'avg', dtype: 'float64' });
    expect(one.code, one.stderr).to.equal(0);
    for (const x of one.results) {
      expect(x.topology).to.deep.include({ machines: 1, devicesPerMachine: 3 });
      expect(x.maxError).to.be.below(1e-12);
    }
    // Rank 1 asks for 'auto' by name, the others take the default: the same choice, no mismatch.
    const unequal = await launch(['--nproc-per-node', '3'], {
      seed: randomSeed(),
      lengths: [100],
      op: 'sum',
      dtype: 'float32',
      machineOf: [0, 0, 1],
      options: { '1': { pipeline: 'auto' } },
    });
    expect(unequal.code, unequal.stderr).to.equal(0);
    expect(unequal.stderr).to.match(/unequal device counts \(2, 1\).*nccl/);
    expect(unequal.results).to.have.length(3);
    for (const x of unequal.results) {
      expect(x.error, JSON.stringify(x.error)).to.equal(undefined);
      expect(x.pipeline).to.equal('nccl');
      expect(x.maxError).to.be.below(1e-5);
    }
  });

  it('options that differ across ranks are an ArgumentError on every rank, naming the option', async () => {
    const cases = [
      { options: { '1': { parallelism: 4 } }, what: /rank \d has parallelism \d but rank \d has \d/ },
      // It decides whether the call check's communicator is made: ranks that differ would wait for each other.
      { options: { '1': { checkCalls: false } }, what: /rank \d has checkCalls (true|false) but rank \d has (true|false)/ },
    ];
    for (const { options, what } of cases) {
      const r = await launch(['--nproc-per-node', '2'], { seed: randomSeed(), lengths: [8], op: 'sum', dtype: 'float32', options });
      expect(r.code, r.stderr).to.equal(0);
      expect(r.results).to.have.length(2);
      for (const x of r.results) {
        expect(x.error?.code).to.equal('ERR_FAIRRING_ARGUMENT');
        expect(x.error?.message).to.match(/options differ across the job: /).and.match(what).and.match(/; give every rank the same options/);
      }
    }
  });

  it('a rank that never comes is a RendezvousTimeoutError on the others within rendezvousTimeoutMs', async () => {
    const r = await launch(['--nproc-per-node', '3'], { seed: randomSeed(), lengths: [8], op: 'sum', dtype: 'float32', absent: [2], rendezvousTimeoutMs: 1500 });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.ms).to.be.below(20_000);
    const others = r.results.filter((x) => x.rank !== 2);
    expect(others).to.have.length(2);
    for (const x of others) {
      expect(x.error?.code).to.equal('ERR_FAIRRING_RENDEZVOUS_TIMEOUT');
      expect(x.error?.message).to.contain('hello/2');
    }
  });

  /** Two emulated machines of one rank each, and the call the mismatch tests make differ across them. */
  const twoRanks = ['--nnodes', '2', '--nproc-per-node', '1', '--emulate-machines'];
  const baseCall = { lengths: [1000], op: 'sum', dtype: 'float32', pipeline: 'fairring' };

  it('calls that differ across ranks (length, op, broadcast root) are a MismatchError on every rank naming what differs, well within timeoutMs', async () => {
    const cases = [
      { skew: [0, 5], what: /length from 1000 to 1005/, call: 0 },
      { opOf: { '1': 'avg' }, what: /op from sum to avg/, call: 0 },
      // The broadcast follows the data all-reduce: call #1.
      { broadcastRoot: 0, broadcastRootOf: { '1': 1 }, what: /broadcast root from 0 to 1/, call: 1 },
    ];
    for (const { what, call, ...mismatch } of cases) {
      const r = await launch(twoRanks, { seed: randomSeed(), ...baseCall, timeoutMs: 60_000, ...mismatch });
      expect(r.code, r.stderr).to.equal(0);
      expect(r.ms).to.be.below(20_000);
      expect(r.results).to.have.length(2);
      for (const x of r.results) {
        expect(x.error?.code, `rank ${x.rank}: ${JSON.stringify(x.error)}`).to.equal('ERR_FAIRRING_MISMATCH');
        expect(x.error!.message).to.match(new RegExp(`^all-reduce #${call} was called differently across ranks: `)).and.match(what);
      }
    }
  });

  it('with checkCalls: false, calls that differ fail on every rank within timeoutMs instead of hanging or crashing', async () => {
    const r = await launch(twoRanks, {
      seed: randomSeed(),
      ...baseCall,
      skew: [0, 5],
      timeoutMs: 3000,
      options: { '0': { checkCalls: false }, '1': { checkCalls: false } },
    });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.results).to.have.length(2);
    for (const x of r.results) {
      expect(x.error, `rank ${x.rank}`).to.not.equal(undefined);
      expect(x.error!.code).to.be.oneOf(['ERR_FAIRRING_STAGE', 'ERR_FAIRRING_TIMEOUT']);
    }
  });

  it('unsubscribing from allReduce$ on one rank stops its notifications only: the call still runs, every rank stays in step', async () => {
    const r = await launch(['--nnodes', '2', '--emulate-machines'], {
      seed: randomSeed(),
      lengths: [3001, 200],
      op: 'sum',
      dtype: 'float32',
      pipeline: 'fairring',
      unsubscribeFirst: [1],
      timeoutMs: 5_000,
      // 94 slices of 32 elements: most are not admitted yet when rank 1 unsubscribes.
      options: { '0': { sliceBytes: 128 }, '1': { sliceBytes: 128 } },
    });
    expect(r.code, r.stderr).to.equal(0);
    for (const x of r.results) {
      expect(x.error, JSON.stringify(x.error)).to.equal(undefined);
      expect(x.maxError).to.be.below(1e-5);
      expect(x.hashes).to.deep.equal(r.results[0]!.hashes);
    }
  });

  it('a rank that vanishes with work in flight: the others\' pending all-reduces reject within timeoutMs naming it, later calls at once, and they exit', async () => {
    await expectVanishHandled({ backend: 'cpu', buckets: 12, elements: 20_000, sliceBytes: 4096, timeoutMs: 4000, graceMs: 6000 });
  });

  it('a rank that vanishes with 64 one-slice all-reduces in flight: their call checks, cut short, never make up a difference', async () => {
    await expectVanishHandled({ backend: 'cpu', buckets: 64, elements: 64, sliceBytes: 4096, timeoutMs: 4000, graceMs: 6000 });
  });

  it('launch ends the other ranks when one dies, with its exit status', async () => {
    const r = await launch(['--nproc-per-node', '3'], { seed: randomSeed(), lengths: [8], op: 'sum', dtype: 'float32', crash: [1], rendezvousTimeoutMs: 60_000 });
    expect(r.code).to.equal(3);
    expect(r.ms).to.be.below(20_000);
    expect(r.stderr).to.contain('rank 1 exited with status 3; ending the other ranks');
  });

  it('close() right after an all-reduce with the call check on: the all-reduce still settles on every rank', async () => {
    for (let run = 0; run < 3; run++) {
      const r = await launchScript(['--nproc-per-node', '2'], fixture('close-racing-call.mjs'), [], {}, 60);
      expect(r.code, r.stderr).to.equal(0);
      const states = [...r.stdout.matchAll(/RESULT (.*)$/gm)].map((m) => JSON.parse(m[1]!) as { rank: number; state: string });
      expect(states.sort((a, b) => a.rank - b.rank).map((x) => x.state), `run ${run}`).to.deep.equal(['resolved', 'resolved']);
    }
  });

  it('without the Gloo plugin, connect() on the CPU says how to get it', async () => {
    const r = await launch(['--nproc-per-node', '2'], { seed: randomSeed(), lengths: [8], op: 'sum', dtype: 'float32' }, { FAIRRING_GLOO_PLUGIN: '/nonexistent/fairring_gloo.so' });
    for (const x of r.results) {
      expect(x.error?.code).to.equal('ERR_FAIRRING_ARGUMENT');
      expect(x.error?.message).to.contain('apt-get install libgloo-dev');
    }
  });
});

describe('examples/train: data-parallel training across processes (Gloo)', function () {
  this.timeout(120_000);
  before(function () {
    if (!native.info().gloo.available) this.skip();
  });

  for (const [what, args] of [['1 x 2', ['--nproc-per-node', '2']], ['2 x 2 emulated', ['--nnodes', '2', '--nproc-per-node', '2', '--emulate-machines']]] as Array<[string, string[]]>) {
    it(`${what}: weights bit for bit equal on every rank and within tolerance of one process on all the data`, async () => {
      const r = await launchScript([...args], trainExample, ['--steps', '8']);
      expect(r.code, r.stderr).to.equal(0);
      const ranks = args.includes('--nnodes') ? 4 : 2;
      for (let k = 0; k < ranks; k++) expect(r.stdout).to.contain(`rank ${k}: weights equal to rank 0's bit for bit: true`);
      const diff = /largest difference from one process on all the data: (\S+) \(tolerance ([^)]+)\)/.exec(r.stdout);
      expect(diff, r.stdout).to.not.equal(null);
      expect(Number(diff![1])).to.be.at.most(Number(diff![2]));
    });
  }
});

describe('fairring-rx bench --connect across processes (Gloo)', function () {
  this.timeout(90_000);
  before(function () {
    if (!native.info().gloo.available) this.skip();
  });

  it('every rank measures, rank 0 alone prints the table of the job; each rank writes its trace, on one clock', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fairring-trace-'));
    try {
      const trace = path.join(dir, 'bench-trace.json');
      const r = await launchScript(['--nnodes', '2', '--emulate-machines'], cli, ['bench', '--connect', '--pipelines', 'fairring,nccl', '--bytes', '4KiB', '--buckets', '2', '--iters', '1', '--warmup', '0', '--repeat', '2', '--trace', trace], {}, 60);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.contain('[rank 0] CPU backend, 2 × 1 ranks (a process per rank, the slowest rank of each run)');
      expect(r.stdout).to.match(/\[rank 0\] \| 4 KiB \| fairring \| 2 \|/);
      expect(r.stdout).to.match(/\[rank 0\] \| 4 KiB \| native loop \(nccl\) \|/);
      expect(r.stdout).to.not.contain('[rank 1] |');
      type Complete = { ph: string; name: string; cat: string; pid: number; ts: number; dur: number; args: { job: number; slice: number } };
      const events = async (file: string): Promise<Complete[]> =>
        (JSON.parse(await readFile(file, 'utf8')) as { traceEvents: Complete[] }).traceEvents.filter((e) => e.ph === 'X');
      const [zero, one] = await Promise.all([events(trace), events(path.join(dir, 'bench-trace.rank1.json'))]);
      expect(new Set(zero.map((e) => e.pid))).to.deep.equal(new Set([0]));
      expect(new Set(one.map((e) => e.pid))).to.deep.equal(new Set([1]));
      // A slice's exchange ends on neither rank before it started on the other: the two processes' starts are
      // on one clock.
      const collects = (list: Complete[]) => new Map(list.filter((e) => e.name === 'collect').map((e) => [`${e.cat} ${e.args.job}:${e.args.slice}`, e]));
      const [a, b] = [collects(zero), collects(one)];
      expect(a.size, 'collect stages timed').to.be.greaterThan(0).and.equal(b.size);
      for (const [key, x] of a) {
        const y = b.get(key)!;
        expect(x.ts + x.dur, `${key}: rank 0 ended after rank 1 started`).to.be.at.least(y.ts);
        expect(y.ts + y.dur, `${key}: rank 1 ended after rank 0 started`).to.be.at.least(x.ts);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('warms up until steady with the stop agreed across processes (an all-reduce per round), and exits', async () => {
    // Each process reads its own timing; the agreement itself is pinned in test/cli/bench-warm.test.ts.
    const r = await launchScript(['--nnodes', '2', '--emulate-machines'], cli, ['bench', '--connect', '--pipelines', 'fairring', '--bytes', '1KiB', '--buckets', '4', '--iters', '2', '--warmup', '1', '--warmup-slices', '1', '--warmup-ms', '900', '--repeat', '2'], {}, 60);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/\[rank 0\] \| 1 KiB \| fairring \| 8 \|/);
  });
});

describe('placeRanks', () => {
  it('groups ranks by machine id in the order of their lowest rank, and names block and cyclic layouts', () => {
    expect(placeRanks(['a', 'a', 'b', 'b'])).to.deep.include({ machines: ['a', 'b'], ranksByMachine: [[0, 1], [2, 3]], rankLayout: 'machine-major' });
    expect(placeRanks(['a', 'b', 'a', 'b'])).to.deep.include({ ranksByMachine: [[0, 2], [1, 3]], rankLayout: 'device-major' });
    expect(placeRanks(['b', 'a', 'a', 'b'])).to.deep.include({ machines: ['b', 'a'], ranksByMachine: [[0, 3], [1, 2]], rankLayout: null });
    expect(placeRanks(['a', 'a', 'b'])).to.deep.include({ ranksByMachine: [[0, 1], [2]], rankLayout: null });
  });

  it('takes a non-empty array of machine ids (strings) and says so otherwise', () => {
    for (const bad of [null, [], [1, 2], 'ab']) {
      expect(() => placeRanks(bad as unknown as string[]), String(bad)).to.throw(ArgumentError, /^placeRanks takes every rank's machine id, a non-empty array of strings, got /);
    }
  });
});

describe('connect(): the rendezvous store port', () => {
  it('a port in use is an ArgumentError naming it, not a socket error', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const e = await connect({ job: { rank: 0, worldSize: 1, localRank: 0, localWorldSize: 1, masterAddr: '127.0.0.1', storePort: port } }).then(
        async (w) => {
          await w.close();
          return null;
        },
        (err: Error) => err,
      );
      expect(e).to.be.instanceOf(ArgumentError);
      expect(e!.message).to.match(new RegExp(`cannot serve the rendezvous store on 127\\.0\\.0\\.1:${port}: the port is in use \\(MASTER_PORT\\)`));
    } finally {
      holder.close();
    }
  });
});
