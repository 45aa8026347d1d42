// connect(): this process's rank of a job of one process per device, as launchers start them (torchrun, mpirun,
// srun, `fairring-rx launch`). The job's shape comes from the environment; the processes meet at a rendezvous
// store (served by rank 0 unless the launcher serves it), tell each other their machine, agree on the topology
// and the options, and create the pipeline's communicators through the store: NCCL's unique ids on CUDA, Gloo's
// addresses on the CPU. The world is then the same World simulate() builds, with one local rank.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { asyncScheduler } from 'rxjs';
import type { BackendName, NativeComm, RemoteRendezvous, StoreCall } from '../native.js';
import { Device } from '../runtime/device.js';
import { nativeRuntime } from '../runtime/runtime.js';
import type { RankCommName, RankLayout, Topology } from '../engine/context.js';
import { ArgumentError, ClosedError, FairringError, RendezvousTimeoutError, SetupError } from '../errors.js';
import { computeLayout } from '../engine/layout.js';
import { auto, nccl } from '../../pipelines/index.js';
import { buildWorld, closeQuietly } from './build.js';
import { jobFromEnv, type JobEnv } from './launch-env.js';
import { allocationError, checkMemory, cudaDeviceCount, integerIn, nativeInfo, requireNccl, worldOptionNames, worldSettings, type WorldOptions, type WorldSettings } from './options.js';
import { checkOptionsObject, show } from '../runtime/options.js';
import { StoreClient, StoreServer, isLoopback } from './store.js';
import type { World, WorldSession } from './world.js';

export interface ConnectOptions extends WorldOptions {
  /**
   * Check every all-reduce's (sequence number, length, dtype, op) across the ranks with a small all-reduce just
   * before it, so that a rank calling differently fails every rank with a MismatchError instead of a hang or
   * garbage. Default true; false saves that all-reduce per call.
   */
  checkCalls?: boolean;
  /** The job's shape, overriding what the environment says (see jobFromEnv). */
  job?: Partial<JobEnv>;
  /** The environment to read the job from. Default: process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** CUDA: this process's GPU. Default FAIRRING_DEVICE, else the local rank modulo the GPUs of this host. */
  device?: number;
  /** How long to wait for the other processes at the store and while communicators connect. Default 120 s. */
  rendezvousTimeoutMs?: number;
}

const optionNames = [...worldOptionNames, 'job', 'env', 'device', 'rendezvousTimeoutMs', 'checkCalls'] as const satisfies readonly (keyof ConnectOptions)[];

/** What every process tells the others at the rendezvous. */
interface Hello {
  machine: string;
  /** The address this process's Gloo pairs bind to. */
  host: string;
  /** The options that must agree across the job, as this process was given them. */
  settings: Record<string, string | number | boolean | null>;
}

/** A world made by connect(): where this process sits, and how the processes were grouped into machines. */
export interface JobPlacement {
  worldSize: number;
  /** Machine ids in machine order (the machine of the lowest rank first). */
  machines: string[];
  /** Global ranks per machine, in device order. */
  ranksByMachine: number[][];
}

/** Worlds made by this process so far: each one's keys in the store start with its number. */
let generation = 0;

/** The boot id names the machine as the seed does; containers of one host share it, which is what NCCL sees too. */
function detectMachineId(): string {
  try {
    const id = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    if (id !== '') return `boot:${id}`;
  } catch {
    // Not Linux, or no /proc: the host name has to do.
  }
  return `host:${os.hostname()}`;
}

function deviceOrdinal(backend: BackendName, job: JobEnv, given: unknown, env: Readonly<Record<string, string | undefined>>): number {
  const fromEnv = env.FAIRRING_DEVICE?.trim();
  if (backend === 'cpu') {
    if (given !== undefined) throw new ArgumentError(`device applies to backend 'cuda' only (a CPU rank has one virtual device); drop it or set backend: 'cuda'`);
    return 0;
  }
  const gpus = cudaDeviceCount();
  if (given !== undefined) return integerIn('device', given, 0, gpus - 1, `a GPU ordinal of this host's ${gpus} GPU(s)`);
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!/^[0-9]+$/.test(fromEnv) || Number(fromEnv) >= gpus) {
      throw new ArgumentError(`FAIRRING_DEVICE=${JSON.stringify(fromEnv)} is not a GPU ordinal of this host's ${gpus} GPU(s) (0..${gpus - 1})`);
    }
    return Number(fromEnv);
  }
  return job.localRank % gpus;
}

/** The options that must be the same on every rank, in a form that compares. */
function agreed(settings: WorldSettings, checkCalls: boolean): Hello['settings'] {
  return {
    backend: settings.backend,
    // It decides whether the call check's communicator is made: ranks that differ would wait for each other.
    checkCalls,
    // The default is 'auto', and 'auto' asked for by name chooses as the default does, unequal machines
    // included. An auto pipeline with its own threshold carries it in its name.
    pipeline: settings.pipeline?.name ?? auto.name,
    memoryBytes: settings.memoryBytes,
    paddingBytes: settings.paddingBytes,
    parallelism: settings.parallelism,
    sliceBytes: settings.sliceBytes ?? null,
    timeoutMs: settings.timeoutMs,
  };
}

function encode(v: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(v));
}

function decode<T>(b: Uint8Array): T {
  return JSON.parse(new TextDecoder().decode(b)) as T;
}

/** Groups the ranks into machines by machine id: machines in the order of their lowest rank, devices by rank. */
export function placeRanks(machineOfRank: readonly string[]): JobPlacement & { rankLayout: RankLayout | null } {
  if (!Array.isArray(machineOfRank) || machineOfRank.length === 0 || !machineOfRank.every((id) => typeof id === 'string')) {
    throw new ArgumentError(`placeRanks takes every rank's machine id, a non-empty array of strings, got ${show(machineOfRank)}`);
  }
  const machines: string[] = [];
  const ranksByMachine: number[][] = [];
  machineOfRank.forEach((id, rank) => {
    let m = machines.indexOf(id);
    if (m === -1) {
      m = machines.push(id) - 1;
      ranksByMachine.push([]);
    }
    ranksByMachine[m]!.push(rank);
  });
  const M = machines.length;
  const D = ranksByMachine[0]!.length;
  const equal = ranksByMachine.every((r) => r.length === D);
  let rankLayout: RankLayout | null = null;
  if (equal && ranksByMachine.every((rs, m) => rs.every((g, d) => g === m * D + d))) rankLayout = 'machine-major';
  else if (equal && ranksByMachine.every((rs, m) => rs.every((g, d) => g === d * M + m))) rankLayout = 'device-major';
  return { worldSize: machineOfRank.length, machines, ranksByMachine, rankLayout };
}

/**
 * Joins this process's rank to its job and returns its World (one local device). Every process of the job
 * calls it, with the same options. Rejects with an ArgumentError for bad options or a job environment that
 * does not add up, a RendezvousTimeoutError when the other processes do not come within rendezvousTimeoutMs.
 */
export async function connect(options: ConnectOptions = {}): Promise<World> {
  checkOptionsObject('connect()', options, optionNames, { example: "{ backend: 'cuda' }" });
  const settings = worldSettings(options);
  const env = options.env === undefined ? process.env : options.env;
  if (env === null || typeof env !== 'object') throw new ArgumentError(`env must be an object of environment variables, got ${show(env)}`);
  const job = jobFromEnv(env, options.job);
  if (options.checkCalls !== undefined && typeof options.checkCalls !== 'boolean') throw new ArgumentError(`checkCalls must be true or false, got ${show(options.checkCalls)}`);
  const rendezvousMs =
    options.rendezvousTimeoutMs === undefined ? 120_000 : integerIn('rendezvousTimeoutMs', options.rendezvousTimeoutMs, 1, 86_400_000, 'milliseconds');
  const { backend } = settings;
  const ordinal = deviceOrdinal(backend, job, options.device, env);
  if (backend === 'cpu' && job.worldSize > 1) {
    const gloo = nativeInfo().gloo;
    if (!gloo.available) throw new ArgumentError(`connect() on the CPU backend across ${job.worldSize} processes needs Gloo: ${gloo.error ?? 'not available'}`);
  }
  const token = job.token ?? (isLoopback(job.storeAddr) ? `fairring-loopback-${job.storePort}` : undefined);
  if (token === undefined) {
    throw new ArgumentError(
      `the store at ${job.storeAddr}:${job.storePort} is reachable beyond this host, so the job needs a shared secret: ` +
        'set FAIRRING_TOKEN to the same value on every rank (e.g. export FAIRRING_TOKEN=$(openssl rand -hex 24)); fairring-rx launch sets one',
    );
  }

  // Each world of this process has its own store (on rank 0) and its own token: a process that connects again
  // quickly is refused by the previous world's store, still closing, and retries until the new one is up.
  const gen = generation++;
  const key = (k: string): string => `w${gen}/${k}`;
  const worldToken = `${token}#w${gen}`;
  // Asked for unless turned off; made only where there are other ranks to check against.
  const checkCallsAsked = options.checkCalls !== false;
  let server: StoreServer | null = null;
  let client: StoreClient | null = null;
  const comms: NativeComm[] = [];
  let device: Device | null = null;
  try {
    if (job.rank === 0) {
      server = new StoreServer({ token: worldToken });
      const address = isLoopback(job.storeAddr) ? job.storeAddr : '0.0.0.0';
      await server.listen(address, job.storePort).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'EADDRINUSE') {
          throw new ArgumentError(`connect(): rank 0 cannot serve the rendezvous store on ${address}:${job.storePort}: the port is in use (MASTER_PORT): pick a free one, or end what holds it`, { cause: e });
        }
        throw new SetupError(`connect(): rank 0 cannot serve the rendezvous store on ${address}:${job.storePort}: ${e.message}`, { cause: e });
      });
    }
    client = await joinStore(job, worldToken, rendezvousMs);
    const store = client;
    const hello: Hello = { machine: job.machineId ?? detectMachineId(), host: store.localAddress, settings: agreed(settings, checkCallsAsked) };
    await store.set(key(`hello/${job.rank}`), encode(hello), { timeoutMs: rendezvousMs });
    const hellos = await Promise.all(
      Array.from({ length: job.worldSize }, async (_, r) => decode<Hello>(await store.get(key(`hello/${r}`), { timeoutMs: rendezvousMs }))),
    );
    for (const [name, mine] of Object.entries(hello.settings)) {
      const other = hellos.findIndex((h) => h.settings[name] !== mine);
      if (other !== -1) {
        throw new ArgumentError(
          `connect() options differ across the job: rank ${job.rank} has ${name} ${show(mine)} but rank ${other} has ${show(hellos[other]!.settings[name])}; ` +
            'give every rank the same options',
        );
      }
    }

    const placement = placeRanks(hellos.map((h) => h.machine));
    const machine = placement.ranksByMachine.findIndex((rs) => rs.includes(job.rank));
    const localIndex = placement.ranksByMachine[machine]!.indexOf(job.rank);
    const uniform = placement.ranksByMachine.every((rs) => rs.length === placement.ranksByMachine[0]!.length);
    let topology: Topology;
    let place: { rank: number; machine: number; local: number };
    let pipelineSpec = settings.pipeline?.name === auto.name ? null : settings.pipeline;
    if (uniform) {
      topology = { machines: placement.machines.length, devicesPerMachine: placement.ranksByMachine[0]!.length, rankLayout: placement.rankLayout ?? 'machine-major' };
      place = { rank: job.rank, machine, local: localIndex };
    } else {
      // Machines with unequal device counts have no Fairring grid: one group of all ranks, the nccl pipeline.
      const counts = placement.ranksByMachine.map((rs) => rs.length).join(', ');
      if (pipelineSpec !== null && pipelineSpec.name !== 'nccl') {
        throw new ArgumentError(`the ${pipelineSpec.name} pipeline needs the same number of processes on every machine, but the machines have ${counts}: use 'nccl', or start as many processes on every machine`);
      }
      if (job.rank === 0) process.emitWarning(`machines have unequal device counts (${counts}): fairring-rx falls back to the nccl pipeline`, { code: 'FAIRRING_UNEQUAL_MACHINES' });
      topology = { machines: 1, devicesPerMachine: job.worldSize, rankLayout: 'machine-major' };
      place = { rank: job.rank, machine: 0, local: job.rank };
      pipelineSpec = nccl;
    }
    const { machines: M, devicesPerMachine: D } = topology;
    if (pipelineSpec?.name === 'local' && M !== 1) throw new ArgumentError(`the local pipeline runs on one machine, not ${M}: use 'fairring' or 'nccl'`);
    const pipeline = pipelineSpec ?? auto;
    const layout = computeLayout(
      { memoryBytes: settings.memoryBytes, paddingBytes: settings.paddingBytes, parallelism: settings.parallelism, ...(settings.sliceBytes !== undefined ? { sliceBytes: settings.sliceBytes } : {}) },
      M,
      D,
    );
    const budgetBytes = D > 1 ? settings.memoryBytes + settings.paddingBytes : settings.memoryBytes;
    const nativeDevice = new nativeRuntime.Device(backend, ordinal);
    checkMemory(backend, [nativeDevice], [ordinal], { memoryBytes: settings.memoryBytes, paddingBytes: settings.paddingBytes, budgetBytes, allocatedBytes: layout.allocatedBytes });
    device = new Device(nativeRuntime, nativeDevice, place);

    // The communicators, one family after the other in the pipeline's order on every rank (a blocking NCCL
    // or Gloo connect in the thread pool must not wait on a peer that is connecting another one).
    const remote: RemoteRendezvous = { host: hello.host, store: storeCall(store) };
    const perFamily: Partial<Record<RankCommName, NativeComm>> = {};
    const everyone = Array.from({ length: job.worldSize }, (_, r) => r);
    const groupOf = (family: RankCommName): { members: number[]; name: string } | null => {
      if (family === 'world' || family === 'check') return { members: everyone, name: family };
      if (!uniform) return null;
      if (family === 'reduceScatter' || family === 'allGather') return D === 1 ? null : { members: placement.ranksByMachine[machine]!, name: `${family}/m${machine}` };
      return M === 1 ? null : { members: placement.ranksByMachine.map((rs) => rs[localIndex]!), name: `${family}/d${localIndex}` };
    };
    const commTimeout = Math.min(Math.max(rendezvousMs, 2 * settings.timeoutMs), 86_400_000);
    // The call check has a communicator of its own: its all-reduces run beside the data's, on another stream.
    const checkCalls = job.worldSize > 1 && checkCallsAsked;
    const families: readonly RankCommName[] = checkCalls ? [...pipeline.comms, 'check'] : pipeline.comms;
    // Every rank finds out at once, rather than all but rank 0 waiting out the rendezvous for an id never made.
    if (backend === 'cuda' && families.some((f) => groupOf(f) !== null)) requireNccl(`connect(): rank ${job.rank}`);
    for (const family of families) {
      const group = groupOf(family);
      if (group === null) continue;
      const me = group.members.indexOf(job.rank);
      const idKey = key(`comm/${group.name}`);
      let id: Uint8Array;
      if (me === 0) {
        id = nativeRuntime.uniqueId(backend);
        await store.set(idKey, id, { timeoutMs: rendezvousMs });
      } else {
        id = await store.get(idKey, { timeoutMs: rendezvousMs });
      }
      const made = await nativeRuntime
        .initComms(backend, id, group.members.length, [{ rank: me, device: nativeDevice }], commTimeout, group.members.length > 1 ? remote : undefined)
        .catch((e: unknown) => {
          if (e instanceof FairringError) throw e;
          throw new SetupError(`connect(): rank ${job.rank}'s ${family} communicator (${group.name}) could not be created: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
        });
      comms.push(...made);
      perFamily[family] = made[0]!;
    }

    const session = jobSession(store, server, key, job, checkCalls);
    return buildWorld({
      runtime: nativeRuntime,
      backend,
      topology,
      layout,
      devices: [device],
      comms: [perFamily],
      allComms: comms,
      pipeline,
      timeoutMs: settings.timeoutMs,
      scheduler: asyncScheduler,
      timings: settings.timings,
      budgetBytes,
      session,
    });
  } catch (e) {
    for (const c of comms) closeQuietly(c);
    if (device !== null) closeQuietly(device);
    client?.close();
    if (server !== null) {
      await server.drained(rendezvousMs);
      await server.close();
    }
    throw allocationError(e, 'connect()', settings.memoryBytes, settings.paddingBytes);
  }
}

/** Connects to this world's store, retrying while a previous world's store (another token) still answers. */
async function joinStore(job: JobEnv, token: string, timeoutMs: number): Promise<StoreClient> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await StoreClient.connect(job.storeAddr, job.storePort, token, { timeoutMs: Math.max(1, deadline - Date.now()) });
    } catch (e) {
      const refused = e instanceof ArgumentError && e.message.startsWith('store refused the token');
      if (!refused) throw e;
      if (Date.now() >= deadline) {
        const err = new RendezvousTimeoutError('connect', [], timeoutMs, `to ${job.storeAddr}:${job.storePort}`);
        err.message += ` (last error: ${e.message}; is FAIRRING_TOKEN the same on every rank?)`;
        throw err;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** The store as the addon's Gloo rendezvous calls it. */
function storeCall(store: StoreClient): StoreCall {
  return (op, k, value, timeoutMs, done) => {
    const answer = op === 'set' ? store.set(k, value ?? new Uint8Array(0), { timeoutMs }).then(() => undefined) : store.get(k, { timeoutMs });
    answer.then(
      (v) => done(null, v),
      (e: unknown) => done(e instanceof Error ? e.message : String(e)),
    );
  };
}

/** Barriers over the store, and leaving the job: every process waits (bounded) for the others before rank 0's store closes. */
function jobSession(store: StoreClient, server: StoreServer | null, key: (k: string) => string, job: JobEnv, checkCalls: boolean): WorldSession {
  let barriers = 0;
  const barrier = async (name: string, timeoutMs: number): Promise<void> => {
    const arrived = await store.add(key(`${name}/count`), 1, { timeoutMs });
    if (arrived === job.worldSize) await store.set(key(`${name}/done`), new Uint8Array(0), { timeoutMs });
    await store.wait([key(`${name}/done`)], { timeoutMs });
  };
  let closed = false;
  // Every process answers a roll call (absent()) as soon as one starts, whether it failed or not, and one that
  // leaves the job answers every later one (it is not gone); the standing wait does not keep the process alive,
  // and ends when the store closes.
  const present = (timeoutMs = 10_000): Promise<void> => store.set(key(`present/${job.rank}`), new Uint8Array(0), { timeoutMs });
  const answerRollCalls = (): void => {
    store.wait([key('rollcall')], { timeoutMs: 86_400_000, background: true }).then(
      () => present().catch(() => undefined),
      (e: unknown) => {
        if (e instanceof RendezvousTimeoutError) answerRollCalls();
      },
    );
  };
  answerRollCalls();
  return {
    checkCalls,
    barrier: (timeoutMs) => {
      if (closed) return Promise.reject(new ClosedError('barrier on a closed world'));
      return barrier(`barrier/${barriers++}`, timeoutMs);
    },
    absent: async (windowMs) => {
      try {
        // This process's answer first: it stands even when the store is too slow to confirm it in time.
        await Promise.all([present(windowMs), store.set(key('rollcall'), new Uint8Array(0), { timeoutMs: windowMs })]);
      } catch {
        return job.rank === 0 ? [] : [0];
      }
      const others = Array.from({ length: job.worldSize }, (_, r) => r).filter((r) => r !== job.rank);
      const missing = await Promise.all(
        others.map((r) =>
          store.get(key(`present/${r}`), { timeoutMs: windowMs }).then(
            () => null,
            () => r,
          ),
        ),
      );
      return missing.filter((r): r is number => r !== null);
    },
    close: async (failed) => {
      if (closed) return;
      closed = true;
      // Rank 0's store goes away only once every process has left, or after 30 s for one that never does (2 s
      // after a failure, when a rank may be gone for good). A process that died or hangs does not keep this one
      // from closing.
      const limitMs = failed ? 2_000 : 30_000;
      await Promise.allSettled([present(limitMs), barrier('close', limitMs)]);
      store.close();
      await server?.close();
    },
  };
}
