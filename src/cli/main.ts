#!/usr/bin/env node
// The fairring-rx command line. Exit status: 0 done (or help shown), 1 the command failed, 2 the command line
// was wrong: commander has then written what was wrong to stderr, or the library refused a value the flags gave
// (an ArgumentError or LayoutError, such as a pipeline that cannot run on the topology asked for).
import { createRequire } from 'node:module';
import { Command, CommanderError, Option } from 'commander';
import { ArgumentError, LayoutError } from '../errors.js';
import { intIn, size } from './args.js';
import { MAX_DEVICES_PER_MACHINE, MAX_MACHINES } from '../world/simulate.js';
import { addBenchCommand } from './bench/command.js';
import { MAX_DEMO_BUCKETS, MAX_DEMO_ELEMENTS, demoDefaults, runDemo } from './demo.js';
import { info } from './info.js';
import { addLaunchCommand } from './launch.js';
import { pipelineNames, pipelines } from './tables.js';

interface DemoFlags {
  machines: number;
  devices: number;
  buckets: number;
  elements: number;
  sliceBytes: number;
  pipeline?: string;
}

/** The package's version, from its package.json three folders above dist/src/cli/main.js; said so if it is not there. */
function packageVersion(): string {
  try {
    return (createRequire(import.meta.url)('../../../package.json') as { version: string }).version;
  } catch {
    return 'unknown (no package.json beside dist/)';
  }
}

const program = new Command('fairring-rx')
  .version(packageVersion())
  // Root options only before the command: `launch node -V` is node's flag, not ours.
  .enablePositionalOptions()
  .description('All-reduce across GPUs with the Fairring algorithm, as an RxJS pipeline over a native CUDA/NCCL runtime (or its CPU backend).')
  .exitOverride()
  .showHelpAfterError('(add --help for usage)');

let running = program.name();
program.hook('preAction', (_program, action) => {
  running = `${program.name()} ${action.name()}`;
});

program
  .command('info')
  .description('Backends of this build, CUDA devices, driver, runtime and NCCL versions (or why not).')
  .action(() => console.log(info()));

program
  .command('demo')
  .description('All-reduce a stream of buckets over simulated CPU ranks, verified against float64 host sums, with per-stage times.')
  .option('--machines <n>', 'simulated machines', intIn(1, MAX_MACHINES), demoDefaults.machines)
  .option('--devices <n>', 'simulated devices per machine', intIn(1, MAX_DEVICES_PER_MACHINE), demoDefaults.devicesPerMachine)
  .option('--buckets <n>', 'buckets submitted at once', intIn(1, MAX_DEMO_BUCKETS), demoDefaults.buckets)
  .option('--elements <n>', 'float32 elements per bucket', intIn(1, MAX_DEMO_ELEMENTS), demoDefaults.bucketElements)
  .addOption(new Option('--slice-bytes <size>', 'slice size, such as 256KiB').argParser(size).default(demoDefaults.sliceBytes, '256KiB'))
  .addOption(new Option('--pipeline <name>', 'pipeline (default: auto)').choices(pipelineNames))
  .action(async (_flags: DemoFlags, command: Command) => {
    const f = command.opts<DemoFlags>();
    await runDemo({
      machines: f.machines,
      devicesPerMachine: f.devices,
      buckets: f.buckets,
      bucketElements: f.elements,
      sliceBytes: f.sliceBytes,
      ...(f.pipeline !== undefined ? { pipeline: pipelines[f.pipeline]! } : {}),
    });
  });

addBenchCommand(program);
addLaunchCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    process.exitCode = e.exitCode === 0 ? 0 : 2;
  } else if (e instanceof ArgumentError || e instanceof LayoutError) {
    console.error(`${running}: ${e.message}\n(add --help for usage)`);
    process.exitCode = 2;
  } else {
    console.error(`${running}: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  }
}
