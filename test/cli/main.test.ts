// The command line as a user meets it: a child process, its exit status, stdout and stderr (piped, so not a TTY).
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { native } from '../../src/native.js';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('fairring-rx command line', () => {
  it('shows help for the program and for every command, exit 0', () => {
    const root = cli('--help');
    expect(root.status).to.equal(0);
    expect(root.stdout).to.match(/Usage: fairring-rx/).and.match(/info/).and.match(/demo/).and.match(/bench/);
    for (const [command, option] of [['info', '--help'], ['demo', '--machines'], ['bench', '--iters']] as const) {
      const r = cli(command, '--help');
      expect(r.status, command).to.equal(0);
      expect(r.stdout, command).to.include(`Usage: fairring-rx ${command}`).and.include(option);
    }
    expect(cli('help', 'bench').stdout).to.include('--sizes <range>');
  });

  it('bench --backend cuda on a host without CUDA devices exits 1 saying why: the host, not the command line', function () {
    if (native.info().cuda.deviceCount > 0) this.skip();
    const r = cli('bench', '--backend', 'cuda', '--bytes', '4KiB');
    expect(r.status).to.equal(1);
    expect(r.stderr).to.match(/^fairring-rx bench: --backend cuda on a host without CUDA devices: /);
    expect(r.stderr).not.to.contain('--help');
  });

  it('prints the package version with --version, exit 0', () => {
    const packageJson = JSON.parse(readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as { version: string };
    const r = cli('--version');
    expect(r.status).to.equal(0);
    expect(r.stdout).to.equal(`${packageJson.version}\n`);
  });

  const wrong: Array<[string[], RegExp]> = [
    [['bench', '--iters', '0'], /option '--iters <n>' argument '0' is invalid\. Must be a positive integer/],
    [['bench', '--dtype', 'foo'], /option '--dtype <dtype>' argument 'foo' is invalid\. Allowed choices are float16, .*int64/],
    [['bench', '--op', 'mean'], /option '--op <op>' argument 'mean' is invalid\. Allowed choices are sum, prod, max, min, avg/],
    [['bench', '--backend', 'tpu'], /option '--backend <name>' argument 'tpu' is invalid\. Allowed choices are cpu, cuda/],
    [['bench', '--bytes', '25XB'], /option '--bytes <size>' argument '25XB' is invalid/],
    [['bench', '--pipelines', 'fairring,ring'], /Unknown: ring\. Known: fairring, local, nccl/],
    [['bench', '--bytes', '4KiB', '--sizes', '4KiB..8KiB'], /'--bytes <size>' cannot be used with option '--sizes <range>'/],
    [['bench', '--pipelines', 'fairring', '--baseline', 'nccl'], /--baseline nccl is not among --pipelines fairring/],
    [['bench', '--frobnicate'], /unknown option '--frobnicate'/],
    [['bench', '--trace', '/nonexistent-fairring/t.json'], /option '--trace <file>': cannot write \/nonexistent-fairring\/t\.json: its folder \/nonexistent-fairring does not exist/],
    [['bench', '--json', '/nonexistent-fairring/b.json'], /option '--json <file>': cannot write \/nonexistent-fairring\/b\.json/],
    [['demo', '--pipeline', 'ring'], /option '--pipeline <name>' argument 'ring' is invalid/],
    [['demo', '--elements', '99999999999'], /option '--elements <n>' argument '99999999999' is invalid\. Must be an integer from 1 to 16777216/],
    [['demo', '--buckets', '100000000'], /option '--buckets <n>' argument '100000000' is invalid\. Must be an integer from 1 to 1024/],
    [['bench', '--machines', '5000'], /option '--machines <n>' argument '5000' is invalid\. Must be an integer from 1 to 1024/],
    [['bench', '--devices', '0'], /option '--devices <n>' argument '0' is invalid\. Must be an integer from 1 to 256/],
    [['bench', '--parallelism', '100000'], /option '--parallelism <n>' argument '100000' is invalid\. Must be an integer from 1 to 65536/],
    // Values the flags pass that the library refuses: its ArgumentError or LayoutError, still a usage error.
    [['bench', '--machines', '2', '--pipelines', 'local,nccl', '--bytes', '1KiB'], /^fairring-rx bench: the local pipeline runs on one machine, not 2: use 'fairring' or 'nccl'\n\(add --help for usage\)\n$/],
    [['demo', '--slice-bytes', '10'], /^fairring-rx demo: sliceBytes 10 cannot hold one row per rank/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [[], /Usage: fairring-rx/],
  ];
  for (const [args, message] of wrong) {
    it(`refuses \`${args.join(' ') || '(no command)'}\` with exit 2 and a message`, () => {
      const r = cli(...args);
      expect(r.status).to.equal(2);
      expect(r.stderr).to.match(message);
      expect(r.stdout).to.equal('');
    });
  }

  it('runs a tiny CPU bench and prints the columns, without carriage returns when piped', () => {
    const r = cli('bench', '--backend', 'cpu', '--machines', '1', '--devices', '2', '--buckets', '4', '--bytes', '4KiB', '--repeat', '1');
    expect(r.status, r.stderr).to.equal(0);
    for (const column of ['pipeline', 'wall µs/slice', 'JS busy µs/slice', 'loop busy', 'JS CPU µs/slice', 'CPU µs/slice', 'busbw GB/s', 'vs nccl']) expect(r.stdout).to.include(column);
    expect(r.stdout).to.match(/\| 4 KiB \| fairring \|/).and.match(/\| 4 KiB \| nccl \|/);
    expect(r.stdout).not.to.include('\r');
  });

  it('writes every row and run to --json, slicing as --slice-bytes asks, and the trace to --trace', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fairring-bench-'));
    try {
      const json = path.join(dir, 'bench.json');
      const trace = path.join(dir, 'trace.json');
      const r = cli('bench', '--machines', '2', '--devices', '2', '--buckets', '2', '--bytes', '4KiB', '--slice-bytes', '1KiB', '--iters', '2', '--repeat', '3', '--warmup', '0', '--pipelines', 'fairring', '--timings', '--json', json, '--trace', trace);
      expect(r.status, r.stderr).to.equal(0);
      const doc = JSON.parse(readFileSync(json, 'utf8')) as { ranks: number; options: { sliceBytes: number }; rows: Array<{ pipeline: string; kind: string; slicesPerRun: number; runs: unknown[]; busbw: { median: number }; busiestStage?: { stage: string } }> };
      expect(doc.ranks).to.equal(4);
      expect(doc.options.sliceBytes).to.equal(1024);
      // 4 KiB buckets in 1 KiB slices, 2 buckets, 2 iterations: 16 slices per run, for the engine and its loop.
      expect(doc.rows.map((row) => [row.pipeline, row.kind, row.slicesPerRun, row.runs.length])).to.deep.equal([
        ['fairring', 'pipeline', 16, 3],
        ['fairring', 'reference', 16, 3],
      ]);
      expect(doc.rows[0]!.busbw.median).to.be.greaterThan(0);
      // --timings: the engine's row names its busiest stage; the loop's runs are not timed.
      expect(doc.rows[0]!.busiestStage?.stage).to.be.oneOf(['reduceScatter', 'collect', 'add', 'diffuse', 'allGather']);
      expect(doc.rows[1]!.busiestStage).to.equal(undefined);
      // One duration event per stage, slice and rank: the five stages of 16 slices (no tails) on 4 ranks, 3 runs.
      const events = (JSON.parse(readFileSync(trace, 'utf8')) as { traceEvents: Array<{ ph: string }> }).traceEvents.filter((e) => e.ph === 'X');
      expect(events).to.have.length(5 * 16 * 4 * 3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const [machines, devices] of [['1', '2'], ['2', '1']] as const) {
    it(`runs a small demo on ${machines} machine(s) x ${devices} device(s) as plain lines when piped: progress at each quarter, no bar`, () => {
      const r = cli('demo', '--machines', machines, '--devices', devices, '--buckets', '2', '--elements', '1000');
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stdout).not.to.include('\r');
      expect(r.stdout).not.to.include('\x1b');
      expect(r.stdout).not.to.match(/\[[=\- ]+\]/);
      const progress = r.stdout.split('\n').filter((l) => l.startsWith('progress: '));
      expect(progress.at(-1)).to.match(/^progress: (\d+)\/\1 slices \(100%\)$/);
      const percents = progress.map((l) => Number(/\((\d+)%\)/.exec(l)![1]));
      expect(percents.every((p, i) => p % 25 === 0 && (i === 0 || p > percents[i - 1]!)), percents.join()).to.equal(true);
      expect(r.stdout).to.match(/^verified 2 buckets on 2 ranks: max abs error \d\.\d\de[-+]\d+ against float64 host sums$/m);
      expect(r.stderr).to.equal('');
    });
  }
});
