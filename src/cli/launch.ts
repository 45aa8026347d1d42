// `fairring-rx launch`: starts this machine's ranks of a job, one process each, with the environment connect()
// reads (torchrun's names plus FAIRRING_*), streams their output line by line with a rank prefix, and ends them
// all when one fails or the time limit passes, so that a job never outlives a dead rank.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:os';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { native } from '../native.js';
import { ArgumentError } from '../errors.js';
import { defaultMasterPort } from '../world/launch-env.js';
import { MAX_DEVICES_PER_MACHINE, MAX_MACHINES } from '../world/simulate.js';
import { intIn } from './args.js';

/** The longest --timeout a timer can hold: 2^31 - 1 ms. */
const MAX_TIMEOUT_S = Math.floor((2 ** 31 - 1) / 1000);

export interface LaunchOptions {
  nnodes: number;
  nprocPerNode: number;
  nodeRank: number;
  masterAddr: string;
  masterPort: number;
  /** Run every machine's ranks on this host, each machine with its own machine id and NCCL host id. */
  emulateMachines: boolean;
  /** Seconds before every rank is ended; 0: no limit. */
  timeout: number;
  command: string[];
}

interface Rank {
  rank: number;
  env: Record<string, string>;
}

/** The ranks this host starts, with the environment of each. */
export function launchPlan(o: LaunchOptions, base: Readonly<Record<string, string | undefined>>): Rank[] {
  const { nnodes: M, nprocPerNode: D } = o;
  if (o.command.length === 0) throw new ArgumentError('launch needs the program to run after --, such as: fairring-rx launch --nproc-per-node 2 -- node train.mjs');
  if (!o.emulateMachines && o.nodeRank >= M) throw new ArgumentError(`--node-rank ${o.nodeRank} is not below --nnodes ${M}`);
  if (o.emulateMachines && o.nodeRank !== 0) throw new ArgumentError('--node-rank applies to real machines; with --emulate-machines this host runs every machine');
  const multiHost = M > 1 && !o.emulateMachines;
  const token = base.FAIRRING_TOKEN ?? (multiHost ? undefined : randomBytes(24).toString('hex'));
  if (token === undefined) {
    throw new ArgumentError('a job on several machines needs the same FAIRRING_TOKEN on every machine: export FAIRRING_TOKEN=$(openssl rand -hex 24) before launching on each');
  }
  const gpus = o.emulateMachines ? native.info().cuda.deviceCount : 0;
  const nodes = o.emulateMachines ? Array.from({ length: M }, (_, m) => m) : [o.nodeRank];
  const plan: Rank[] = [];
  for (const m of nodes) {
    for (let d = 0; d < D; d++) {
      const rank = m * D + d;
      const env: Record<string, string> = {
        RANK: String(rank),
        WORLD_SIZE: String(M * D),
        // On one host every process is local to it: emulated machines differ by their machine id only.
        LOCAL_RANK: String(o.emulateMachines ? rank : d),
        LOCAL_WORLD_SIZE: String(o.emulateMachines ? M * D : D),
        MASTER_ADDR: o.masterAddr,
        MASTER_PORT: String(o.masterPort),
        FAIRRING_TOKEN: token,
        NCCL_NVLS_ENABLE: base.NCCL_NVLS_ENABLE ?? '0',
      };
      if (o.emulateMachines) {
        // Machines over NCCL's socket transport on loopback (unless NCCL_HOSTID is exported: one host id for all,
        // so NCCL keeps NVLink between the emulated machines); ranks spread over the GPUs so that no machine's
        // communicator holds one GPU twice (device d of machine m on GPU (d + m) mod GPUs).
        env.FAIRRING_MACHINE_ID = `emulated-${m}`;
        if (base.NCCL_HOSTID === undefined) Object.assign(env, { NCCL_HOSTID: `emulated-${m}`, NCCL_SOCKET_IFNAME: 'lo', NCCL_IB_DISABLE: '1' });
        if (gpus > 0) env.FAIRRING_DEVICE = String((d + m) % gpus);
      }
      plan.push({ rank, env });
    }
  }
  return plan;
}

/** Runs the plan; resolves to the exit status of the job (the first failure's, else 0). */
export function runLaunch(o: LaunchOptions): Promise<number> {
  const plan = launchPlan(o, process.env);
  const [file, ...args] = o.command as [string, ...string[]];
  const width = String(o.nnodes * o.nprocPerNode - 1).length;
  return new Promise((resolve) => {
    const children: ChildProcess[] = [];
    let status: number | null = null;
    let left = plan.length;
    let timer: NodeJS.Timeout | null = null;
    const endAll = (why: string, last: readonly string[] = []): void => {
      // Ranks that started and have not ended (one that never started has no pid).
      const running = children.filter((c) => c.pid !== undefined && c.exitCode === null && c.signalCode === null);
      const lines = [`fairring-rx launch: ${why}${running.length > 0 ? '; ending the other ranks' : ''}`];
      if (last.length > 0) lines.push('its last lines on stderr:', ...last);
      process.stderr.write(lines.join('\n') + '\n');
      for (const c of running) signalRank(c, 'SIGTERM');
      // Every rank's group, also where its first process is gone: what it started may live on.
      const hard = setTimeout(() => {
        for (const c of children) signalRank(c, 'SIGKILL');
      }, 5000);
      hard.unref();
    };
    if (o.timeout > 0) {
      timer = setTimeout(() => {
        status ??= 124;
        endAll(`the job ran past --timeout ${o.timeout} s`);
      }, o.timeout * 1000);
    }
    const forward = (signal: NodeJS.Signals): void => {
      for (const c of children) signalRank(c, signal);
    };
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    // Each rank ends once: at its 'close', or at the 'error' of a process that never started (its 'close', which
    // may follow, is not counted again).
    const ended = (): void => {
      if (--left > 0) return;
      if (timer !== null) clearTimeout(timer);
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(status ?? 0);
    };
    // A rank that cannot start (no such program, out of processes or file descriptors) ends the job: every rank
    // that did start is ended. Where spawn throws, the ranks after it are not started; most such failures come
    // as an 'error' event after every rank was spawned.
    const notStarted = (rank: number, e: Error): void => {
      if (status !== null) {
        process.stderr.write(`fairring-rx launch: rank ${rank} could not start ${file} either: ${e.message}\n`);
        return;
      }
      status = 127;
      endAll(`rank ${rank} could not start ${file}: ${e.message}`);
    };
    for (const [i, { rank, env }] of plan.entries()) {
      const prefix = `[rank ${String(rank).padStart(width)}] `;
      let child: ChildProcess;
      try {
        // A process group of its own: ending a rank ends what it started too (a wrapper script's program).
        child = spawn(file, args, { env: { ...process.env, ...env }, stdio: ['inherit', 'pipe', 'pipe'], detached: true });
      } catch (e) {
        notStarted(rank, e instanceof Error ? e : new Error(String(e)));
        left -= plan.length - i - 1;
        ended();
        break;
      }
      children.push(child);
      child.on('error', (e) => {
        if (child.pid !== undefined) return;
        notStarted(rank, e);
        ended();
      });
      // The last lines of each rank's stderr, repeated when it is the one that fails the job.
      const tail: string[] = [];
      if (child.stdout) createInterface({ input: child.stdout }).on('line', (line) => process.stdout.write(prefix + line + '\n'));
      if (child.stderr) {
        createInterface({ input: child.stderr }).on('line', (line) => {
          process.stderr.write(prefix + line + '\n');
          tail.push(line);
          if (tail.length > 5) tail.shift();
        });
      }
      child.on('close', (code, signal) => {
        if (child.pid === undefined) return;
        if (code !== 0 && status === null) {
          // Killed by a signal: the shell's status for it, 128 + its number (SIGKILL 137, SIGINT 130).
          status = code ?? 128 + (signal !== null ? (constants.signals[signal] ?? 0) : 0);
          endAll(`rank ${rank} ${signal !== null ? `was killed by ${signal}` : `exited with status ${code}`}`, tail.map((l) => `  ${prefix}${l}`));
        }
        ended();
      });
    }
  });
}

/** Signals a rank's whole process group (it leads one, spawned detached); the rank alone where that fails. */
function signalRank(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  }
}

export function addLaunchCommand(program: Command): void {
  program
    .command('launch')
    .description(
      "Start this machine's ranks of a job (one process each) with the environment connect() reads; output is prefixed with the rank, " +
        'and one rank failing ends the others.',
    )
    .usage('[options] -- <program> [args...]')
    .option('--nnodes <n>', 'machines in the job', intIn(1, MAX_MACHINES), 1)
    .option('--nproc-per-node <n>', 'processes (devices) per machine', intIn(1, MAX_DEVICES_PER_MACHINE), 1)
    .option('--node-rank <k>', 'this machine among them (0-based)', intIn(0, MAX_MACHINES - 1), 0)
    .option('--master-addr <host>', 'host of rank 0 (its store listens on master-port + 1)', '127.0.0.1')
    .option('--master-port <port>', 'port of rank 0 (its store listens on the next one)', intIn(1, 65534), defaultMasterPort)
    .option('--emulate-machines', 'run every machine on this host, each with its own machine id (NCCL over loopback sockets between them)', false)
    .option('--timeout <seconds>', 'end every rank after this long (0: never)', intIn(0, MAX_TIMEOUT_S), 0)
    .argument('<program...>', 'the program each rank runs and its arguments, after --')
    .action(async (command: string[], _flags: unknown, cmd: Command) => {
      const f = cmd.opts<Omit<LaunchOptions, 'command'>>();
      process.exitCode = await runLaunch({ ...f, command });
    });
}
