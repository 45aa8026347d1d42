// The `bench` command: its options (each value checked as it is parsed, against the shared tables), then
// measure, print the table, and write the JSON and trace files when asked.
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { native } from '../../native.js';
import { intIn, nonNegativeInt, positiveInt, listOf, size, sizeRange } from '../args.js';
import { MAX_DEVICES_PER_MACHINE, MAX_MACHINES } from '../../world/simulate.js';
import { MAX_PARALLELISM } from '../../engine/layout.js';
import { backends, dtypes, pipelineNames, reduceOps } from '../tables.js';
import { tracePath, writeTrace, type TracedTiming } from '../trace.js';
import { measure } from './measure.js';
import { resolveBenchOptions, UsageError, type BenchFlags, type BenchOptions } from './options.js';
import { benchTable, writeJson } from './report.js';
import { summarize } from './summary.js';

export function addBenchCommand(program: Command): void {
  program
    .command('bench')
    .description(
      'Measure pipelines against each other and the native reference loop: per slice the wall time, the JS ' +
        "thread's busy time and own CPU time, the event loop's occupancy, the whole process's CPU time, busbw, and " +
        'with --timings the busiest stage; runs interleaved across pipelines, median and min–max, ratios over paired runs.',
    )
    .addOption(new Option('--backend <name>', 'device backend').choices(backends).default('cpu'))
    .option('--machines <n>', 'machines, simulated in this process', intIn(1, MAX_MACHINES), 1)
    .option('--devices <n>', 'devices per machine', intIn(1, MAX_DEVICES_PER_MACHINE), 2)
    .addOption(
      new Option('--connect', 'join the job fairring-rx launch (or torchrun, mpirun, srun) started, one rank per process; rank 0 reports the slowest rank of every run')
        .conflicts(['machines', 'devices']),
    )
    .option('--no-check-calls', "with --connect: skip connect()'s cross-rank check of every all-reduce (checkCalls: false)")
    .addOption(
      new Option('--pipelines <names>', `pipelines to compare, comma-separated, from: ${pipelineNames.join(', ')}`)
        .argParser(listOf(pipelineNames))
        .default(['fairring', 'nccl'], 'fairring,nccl'),
    )
    .addOption(new Option('--baseline <pipeline>', 'pipeline the others are compared with (default: nccl when listed, else the first)').choices(pipelineNames))
    .addOption(new Option('--op <op>', 'reduction').choices(reduceOps).default('sum'))
    .addOption(new Option('--dtype <dtype>', 'element type').choices(dtypes).default('float32'))
    .addOption(new Option('--bytes <size>', 'bytes per bucket and rank, such as 4096, 64KiB, 25MiB, 1GiB').argParser(size).default(25 * 2 ** 20, '25MiB').conflicts('sizes'))
    .addOption(new Option('--sizes <range>', 'sweep bucket sizes: every power of two from LO to HI, one row each, such as 4KiB..1GiB').argParser(sizeRange))
    .option('--buckets <n>', 'buckets submitted at once per iteration, as DDP does', positiveInt, 8)
    .option('--iters <n>', 'timed iterations per run', positiveInt, 5)
    .option('--warmup <n>', 'untimed iterations per pipeline before the runs, at each size', nonNegativeInt, 2)
    .option('--warmup-slices <n>', 'with --warmup above 0, the pipelines\' warm-up iterations go on until this many slices ran', nonNegativeInt, 256)
    .option('--warmup-ms <ms>', 'then on, at the first size, until the JS thread\'s time per slice stops falling, for at most this long per pipeline (0: not at all)', intIn(0, 3_600_000), 20_000)
    .option('--repeat <n>', 'runs per pipeline, interleaved across pipelines', positiveInt, 5)
    .option('--slice-bytes <size>', 'cut tensors into slices of at most this many bytes', size)
    .option('--memory-bytes <size>', 'staging budget per device (at one device per machine it sets the slice size)', size)
    .option('--parallelism <n>', 'slices in flight at most', intIn(1, MAX_PARALLELISM))
    .option('--timings', 'record per-stage device times and report the busiest stage (costs a little host time)')
    .option('--trace <file>', 'write the per-stage timings as Chrome trace-event JSON (Perfetto, chrome://tracing)')
    .option('--json <file>', 'write every row and every run as JSON')
    .action(async (_flags: BenchFlags, command: Command) => {
      const o = options(command);
      await checkOutputs(o, command);
      await bench(o);
    });
}

/** The files asked for are written after the runs: a folder they cannot go in is refused before them. */
async function checkOutputs(o: BenchOptions, command: Command): Promise<void> {
  for (const [flag, file] of [['--trace <file>', o.trace], ['--json <file>', o.json]] as const) {
    if (file === undefined) continue;
    const folder = path.dirname(path.resolve(file));
    try {
      await access(folder, constants.W_OK);
    } catch {
      command.error(`error: option '${flag}': cannot write ${file}: its folder ${folder} does not exist or is not writable`, {
        exitCode: 2,
        code: 'fairring.usage',
      });
    }
  }
}

function options(command: Command): BenchOptions {
  try {
    return resolveBenchOptions(command.opts<BenchFlags>());
  } catch (e) {
    if (e instanceof UsageError) command.error(`error: ${e.message}`, { exitCode: 2, code: 'fairring.usage' });
    throw e;
  }
}

async function bench(o: BenchOptions): Promise<void> {
  // A host without CUDA devices is the host's matter, not the command line's: exit 1, saying why.
  const { cuda } = native.info();
  if (o.backend === 'cuda' && cuda.deviceCount === 0) throw new Error(`--backend cuda on a host without CUDA devices: ${cuda.error ?? 'none found'}`);
  const timings: TracedTiming[] = [];
  const { series, rank, reporter } = await measure(o, o.trace !== undefined ? (pipeline, t) => timings.push({ ...t, pipeline }) : undefined);
  // Every process its own ranks' timeline (with --connect, rank k > 0 beside the file as FILE.rank<k>).
  if (o.trace !== undefined) await writeTrace(tracePath(o.trace, rank), timings);
  if (!reporter) return;
  const rows = summarize(series, o.baseline, o.machines * o.devicesPerMachine);
  console.log(benchTable(o, rows));
  if (o.json !== undefined) await writeJson(o.json, o, rows);
}
