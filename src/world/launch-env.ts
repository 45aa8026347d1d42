// The shape of a job (this process's rank, the world's size, who is on this machine, where rank 0's store is),
// read from the environment variables that launchers set: torchrun, Open MPI's mpirun, Slurm's srun, or our own
// FAIRRING_* names. A pure function of the environment it is given (pass process.env), which connect() reads
// to join one process per device into a world. docs/api.md, "Job environment (for connect())", has the precedence table.
import { ArgumentError } from '../errors.js';

/** Where a job's shape came from. */
export type JobSource = 'torchrun' | 'openmpi' | 'slurm' | 'fairring' | 'overrides';

/** This process's place in a job of one process per GPU. */
export interface JobEnv {
  /** Global rank of this process, 0 ≤ rank < worldSize. */
  rank: number;
  /** Number of processes in the job. */
  worldSize: number;
  /** Rank of this process among those on its machine, 0 ≤ localRank < localWorldSize. */
  localRank: number;
  /** Number of processes on this machine. */
  localWorldSize: number;
  /** Host of rank 0 (torchrun's rendezvous host). */
  masterAddr: string;
  /** Port of torchrun's rendezvous on masterAddr (recent torchrun serves its own store there). */
  masterPort: number;
  /** Host of our store: FAIRRING_STORE_ADDR, else masterAddr. */
  storeAddr: string;
  /** Port of our store: FAIRRING_STORE_PORT, else masterPort + 1. */
  storePort: number;
  /** FAIRRING_MACHINE_ID: a name for this machine, when the host name does not tell machines apart. */
  machineId?: string;
  /** FAIRRING_TOKEN: a shared secret for the store. Never printed in error messages. */
  token?: string;
  /** Which launcher's variables gave rank and worldSize ('fairring' for none: the single-process default). */
  source: JobSource;
}

/** torchrun's default rendezvous port, used when no MASTER_PORT is set. */
export const defaultMasterPort = 29500;

const loopback = '127.0.0.1';

type Env = Readonly<Record<string, string | undefined>>;

/** A variable's value, with the empty string read as unset (a shell's `export X=` sets nothing useful). */
function get(env: Env, name: string): string | undefined {
  const v = env[name];
  if (v === undefined) return undefined;
  const t = v.trim();
  return t === '' ? undefined : t;
}

function quote(value: string): string {
  return JSON.stringify(value);
}

function fail(message: string): never {
  throw new ArgumentError(message);
}

/** A non-negative integer from a variable, or an ArgumentError naming it, its value and the fix. */
function int(name: string, value: string, fix: string): number {
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    fail(`${name}=${quote(value)} is not a non-negative integer; ${fix}`);
  }
  return Number(value);
}

function port(name: string, value: string, fix: string): number {
  const p = int(name, value, fix);
  if (p < 1 || p > 65535) fail(`${name}=${quote(value)} is not a port (1-65535); ${fix}`);
  return p;
}

/** A variable that must be present because others of its launcher are. */
function need(env: Env, name: string, present: string, fix: string): string {
  const v = get(env, name);
  if (v === undefined) fail(`${name} is not set, but ${present} is: the launcher's variables are partial; ${fix}`);
  return v;
}

/**
 * Slurm's tasks-per-node forms ('4', '4(x2)', '2(x3),1') expanded to one count per node: '2(x3),1' → [2, 2, 2, 1].
 * Throws an ArgumentError naming `name` for any other form.
 */
export function expandTasksPerNode(name: string, value: string): number[] {
  const counts: number[] = [];
  for (const part of value.split(',')) {
    const m = /^\s*([0-9]+)\s*(?:\(\s*x\s*([0-9]+)\s*\))?\s*$/.exec(part);
    if (m === null || m[1] === undefined) {
      fail(`${name}=${quote(value)} is not a Slurm tasks-per-node list such as '4', '4(x2)' or '2(x3),1'; unset it or fix its form`);
    }
    const count = Number(m[1]);
    const times = m[2] === undefined ? 1 : Number(m[2]);
    if (count < 1 || times < 1 || times > 1_000_000) {
      fail(`${name}=${quote(value)} has a count or repeat below 1 (or an absurd repeat); unset it or fix its form`);
    }
    for (let i = 0; i < times; i++) counts.push(count);
  }
  return counts;
}

/** Top-level comma-separated items of a Slurm host list (commas inside brackets do not split). */
function hostListItems(name: string, value: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '[') {
      if (depth > 0) fail(`${name}=${quote(value)} has nested brackets; it is not a Slurm host list`);
      depth++;
    } else if (c === ']') {
      if (depth === 0) fail(`${name}=${quote(value)} has an unmatched ']'; it is not a Slurm host list`);
      depth--;
    } else if (c === ',' && depth === 0) {
      items.push(value.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) fail(`${name}=${quote(value)} has an unmatched '['; it is not a Slurm host list`);
  items.push(value.slice(start));
  return items;
}

/**
 * The first host of a Slurm host list: 'gpu[01-04,07],cpu3' → 'gpu01', 'rack[2-3]-n[08-09]' → 'rack2-n08'
 * (each bracket takes its first entry, keeping its zero padding). Throws an ArgumentError naming `name`.
 */
export function firstSlurmHost(name: string, value: string): string {
  const first = hostListItems(name, value.trim())[0] ?? '';
  const host = first.replace(/\[([^\]]*)\]/g, (_all, inner: string) => {
    const entry = inner.split(',')[0] ?? '';
    const m = /^([0-9]+)(?:-([0-9]+))?$/.exec(entry.trim());
    if (m === null || m[1] === undefined) {
      fail(`${name}=${quote(value)} has a bracket [${inner}] that is not a list of numbers or ranges such as [01-04,07]`);
    }
    return m[1];
  });
  if (!/^[A-Za-z0-9._-]+$/.test(host)) {
    fail(`${name}=${quote(value)} does not start with a host name (read ${quote(host)}); it is not a Slurm host list`);
  }
  return host;
}

/** The fields a launcher gives; addresses and ports are resolved afterwards. */
interface Shape {
  rank: number;
  worldSize: number;
  localRank: number;
  localWorldSize: number;
  /** Rank 0's host as the launcher tells it, and which variable told it. */
  masterAddr?: { value: string; from: string };
  source: JobSource;
  /** Variable names for error messages. */
  names: { rank: string; worldSize: string; localRank: string; localWorldSize: string };
  /** How to give rank 0's host to this launcher, for the error when a multi-node job lacks it. */
  addrFix: string;
}

const torchrunVars = ['RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'LOCAL_WORLD_SIZE'] as const;
const ompiVars = ['OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE', 'OMPI_COMM_WORLD_LOCAL_RANK', 'OMPI_COMM_WORLD_LOCAL_SIZE'] as const;

function fromTorchrun(env: Env): Shape | null {
  const present = torchrunVars.find((n) => get(env, n) !== undefined);
  if (present === undefined) return null;
  const fix = 'start the processes with torchrun, or set RANK, WORLD_SIZE, LOCAL_RANK and LOCAL_WORLD_SIZE together';
  const [rank, worldSize, localRank, localWorldSize] = torchrunVars.map((n) => int(n, need(env, n, present, fix), fix)) as [number, number, number, number];
  const addr = get(env, 'MASTER_ADDR');
  return {
    rank,
    worldSize,
    localRank,
    localWorldSize,
    ...(addr === undefined ? {} : { masterAddr: { value: addr, from: 'MASTER_ADDR' } }),
    source: 'torchrun',
    names: { rank: 'RANK', worldSize: 'WORLD_SIZE', localRank: 'LOCAL_RANK', localWorldSize: 'LOCAL_WORLD_SIZE' },
    addrFix: 'torchrun sets MASTER_ADDR from --rdzv-endpoint / --master-addr; set MASTER_ADDR to the host of rank 0',
  };
}

function fromOpenMpi(env: Env): Shape | null {
  const present = ompiVars.find((n) => get(env, n) !== undefined);
  if (present === undefined) return null;
  const fix = 'start the processes with Open MPI\'s mpirun, which sets all OMPI_COMM_WORLD_* variables';
  const rankText = get(env, 'OMPI_COMM_WORLD_RANK') ?? get(env, 'PMIX_RANK');
  const rankName = get(env, 'OMPI_COMM_WORLD_RANK') !== undefined ? 'OMPI_COMM_WORLD_RANK' : 'PMIX_RANK';
  if (rankText === undefined) fail(`OMPI_COMM_WORLD_RANK is not set (nor PMIX_RANK), but ${present} is: the launcher's variables are partial; ${fix}`);
  const rank = int(rankName, rankText, fix);
  const pmix = get(env, 'PMIX_RANK');
  if (pmix !== undefined && rankName === 'OMPI_COMM_WORLD_RANK') {
    const p = int('PMIX_RANK', pmix, fix);
    if (p !== rank) {
      fail(`PMIX_RANK=${quote(pmix)} disagrees with OMPI_COMM_WORLD_RANK=${quote(rankText)}: one of them is stale (inherited from an outer launcher); unset PMIX_RANK or start the processes with one launcher`);
    }
  }
  const [, worldSize, localRank, localWorldSize] = ompiVars.map((n, i) => (i === 0 ? 0 : int(n, need(env, n, present, fix), fix))) as [number, number, number, number];
  // mpirun has no rank-0 host variable: FAIRRING_STORE_ADDR (or an exported MASTER_ADDR) names it.
  const fromStore = get(env, 'FAIRRING_STORE_ADDR');
  const fromMaster = get(env, 'MASTER_ADDR');
  const masterAddr =
    fromStore !== undefined ? { value: fromStore, from: 'FAIRRING_STORE_ADDR' } : fromMaster !== undefined ? { value: fromMaster, from: 'MASTER_ADDR' } : undefined;
  return {
    rank,
    worldSize,
    localRank,
    localWorldSize,
    ...(masterAddr === undefined ? {} : { masterAddr }),
    source: 'openmpi',
    names: { rank: rankName, worldSize: 'OMPI_COMM_WORLD_SIZE', localRank: 'OMPI_COMM_WORLD_LOCAL_RANK', localWorldSize: 'OMPI_COMM_WORLD_LOCAL_SIZE' },
    addrFix: 'mpirun does not say which host runs rank 0: pass it, e.g. mpirun -x FAIRRING_STORE_ADDR=<host of rank 0> …',
  };
}

function fromSlurm(env: Env): Shape | null {
  const present = get(env, 'SLURM_PROCID') !== undefined ? 'SLURM_PROCID' : undefined;
  if (present === undefined) return null;
  const fix = 'start one task per GPU with srun (e.g. srun --ntasks-per-node=<GPUs per node> node train.mjs)';
  const rank = int('SLURM_PROCID', need(env, 'SLURM_PROCID', present, fix), fix);
  const sizeName = get(env, 'SLURM_NTASKS') !== undefined ? 'SLURM_NTASKS' : get(env, 'SLURM_NPROCS') !== undefined ? 'SLURM_NPROCS' : 'SLURM_NTASKS';
  const worldSize = int(sizeName, need(env, sizeName, present, fix), fix);
  const localRank = int('SLURM_LOCALID', need(env, 'SLURM_LOCALID', present, fix), fix);

  // The step's own tasks-per-node first (what srun launched), then the requested --ntasks-per-node.
  const perNodeName = get(env, 'SLURM_STEP_TASKS_PER_NODE') !== undefined ? 'SLURM_STEP_TASKS_PER_NODE' : 'SLURM_NTASKS_PER_NODE';
  const perNodeText = get(env, perNodeName);
  if (perNodeText === undefined) {
    fail(`SLURM_STEP_TASKS_PER_NODE and SLURM_NTASKS_PER_NODE are not set, but SLURM_PROCID is: the tasks on this node are unknown; ${fix}`);
  }
  const counts = expandTasksPerNode(perNodeName, perNodeText);
  let localWorldSize: number;
  if (counts.length === 1) {
    localWorldSize = counts[0] as number;
  } else {
    const nodeText = get(env, 'SLURM_NODEID');
    if (nodeText === undefined) {
      fail(`SLURM_NODEID is not set, but ${perNodeName}=${quote(perNodeText)} lists ${counts.length} nodes: this node's task count is unknown; ${fix}`);
    }
    const node = int('SLURM_NODEID', nodeText, fix);
    const c = counts[node];
    if (c === undefined) {
      fail(`SLURM_NODEID=${quote(nodeText)} is not below the ${counts.length} nodes of ${perNodeName}=${quote(perNodeText)}: one of them is stale; ${fix}`);
    }
    localWorldSize = c;
    const total = counts.reduce((a, b) => a + b, 0);
    if (total !== worldSize) {
      fail(`${perNodeName}=${quote(perNodeText)} adds up to ${total} tasks but ${sizeName}=${quote(String(worldSize))}: one of them is stale; ${fix}`);
    }
  }

  const listName = get(env, 'SLURM_STEP_NODELIST') !== undefined ? 'SLURM_STEP_NODELIST' : get(env, 'SLURM_JOB_NODELIST') !== undefined ? 'SLURM_JOB_NODELIST' : 'SLURM_NODELIST';
  const list = get(env, listName);
  const exported = get(env, 'MASTER_ADDR');
  const masterAddr =
    exported !== undefined ? { value: exported, from: 'MASTER_ADDR' } : list !== undefined ? { value: firstSlurmHost(listName, list), from: listName } : undefined;
  return {
    rank,
    worldSize,
    localRank,
    localWorldSize,
    ...(masterAddr === undefined ? {} : { masterAddr }),
    source: 'slurm',
    names: { rank: 'SLURM_PROCID', worldSize: sizeName, localRank: 'SLURM_LOCALID', localWorldSize: perNodeName },
    addrFix: 'Slurm sets SLURM_STEP_NODELIST / SLURM_JOB_NODELIST in a job step started by srun; or set MASTER_ADDR to the host of rank 0',
  };
}

function single(): Shape {
  return {
    rank: 0,
    worldSize: 1,
    localRank: 0,
    localWorldSize: 1,
    source: 'fairring',
    names: { rank: 'rank', worldSize: 'worldSize', localRank: 'localRank', localWorldSize: 'localWorldSize' },
    addrFix: 'set MASTER_ADDR or FAIRRING_STORE_ADDR to the host of rank 0',
  };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

function checkCount(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    fail(`overrides.${name} must be an integer ≥ ${min}, got ${String(value)}`);
  }
  return value;
}

const overrideKeys = new Set<string>(['rank', 'worldSize', 'localRank', 'localWorldSize', 'masterAddr', 'masterPort', 'storeAddr', 'storePort', 'machineId', 'token', 'source']);

/**
 * The shape of this process's job from the launcher's environment (pass `process.env`), for a one-process-per-GPU
 * connect(). Precedence: `overrides` > torchrun (RANK, WORLD_SIZE, …) > Open MPI (OMPI_COMM_WORLD_*) > Slurm
 * (SLURM_PROCID, …) > the single-process default (rank 0 of 1 on 127.0.0.1). Slurm's variables are ignored when
 * Open MPI's are present (an mpirun inside an sbatch). FAIRRING_STORE_ADDR, FAIRRING_STORE_PORT (default
 * masterPort + 1), FAIRRING_MACHINE_ID and FAIRRING_TOKEN complete it. Throws an ArgumentError naming the variable,
 * its value and the fix when a launcher's variables are partial or inconsistent. Reads nothing but its arguments.
 */
export function jobFromEnv(env: Env, overrides?: Partial<JobEnv>): JobEnv {
  if (env === null || typeof env !== 'object') fail(`env must be an object of environment variables, got ${String(env)}`);
  if (overrides !== undefined) {
    if (typeof overrides !== 'object' || overrides === null) fail(`overrides must be an object such as { rank: 0 }, got ${String(overrides)}`);
    const unknown = Object.keys(overrides).filter((k) => !overrideKeys.has(k));
    if (unknown.length > 0) fail(`overrides take no key ${unknown.map((k) => `'${k}'`).join(', ')} (keys: ${[...overrideKeys].join(', ')})`);
  }
  const o: Partial<JobEnv> = {};
  for (const [k, v] of Object.entries(overrides ?? {})) if (v !== undefined) (o as Record<string, unknown>)[k] = v;

  const shape = fromTorchrun(env) ?? fromOpenMpi(env) ?? fromSlurm(env) ?? single();
  const names = { ...shape.names };
  const overridden = (k: keyof Shape['names']): boolean => {
    if (o[k] === undefined) return false;
    names[k] = `overrides.${k}`;
    return true;
  };
  const rank = overridden('rank') ? checkCount('rank', o.rank, 0) : shape.rank;
  const worldSize = overridden('worldSize') ? checkCount('worldSize', o.worldSize, 1) : shape.worldSize;
  const localRank = overridden('localRank') ? checkCount('localRank', o.localRank, 0) : shape.localRank;
  const localWorldSize = overridden('localWorldSize') ? checkCount('localWorldSize', o.localWorldSize, 1) : shape.localWorldSize;

  const fixShape = 'the launcher\'s variables disagree (stale ones inherited from an outer launcher?); start the processes with one launcher or pass overrides';
  if (worldSize < 1) fail(`${names.worldSize}=${quote(String(worldSize))} must be at least 1; ${fixShape}`);
  if (localWorldSize < 1) fail(`${names.localWorldSize}=${quote(String(localWorldSize))} must be at least 1; ${fixShape}`);
  if (rank >= worldSize) fail(`${names.rank}=${quote(String(rank))} is not below ${names.worldSize}=${quote(String(worldSize))}; ${fixShape}`);
  if (localRank >= localWorldSize) {
    fail(`${names.localRank}=${quote(String(localRank))} is not below ${names.localWorldSize}=${quote(String(localWorldSize))}; ${fixShape}`);
  }
  if (localWorldSize > worldSize) {
    fail(`${names.localWorldSize}=${quote(String(localWorldSize))} is above ${names.worldSize}=${quote(String(worldSize))}; ${fixShape}`);
  }
  const multiNode = localWorldSize < worldSize;

  // Rank 0's host.
  let masterAddr: string;
  let addrFrom: string;
  if (o.masterAddr !== undefined) {
    if (typeof o.masterAddr !== 'string' || o.masterAddr.trim() === '') fail(`overrides.masterAddr must be a host name or address, got ${quote(String(o.masterAddr))}`);
    masterAddr = o.masterAddr.trim();
    addrFrom = 'overrides.masterAddr';
  } else if (shape.masterAddr !== undefined) {
    masterAddr = shape.masterAddr.value;
    addrFrom = shape.masterAddr.from;
  } else if (get(env, 'MASTER_ADDR') !== undefined || get(env, 'FAIRRING_STORE_ADDR') !== undefined) {
    // No launcher: MASTER_ADDR, else FAIRRING_STORE_ADDR, names rank 0's host.
    addrFrom = get(env, 'MASTER_ADDR') !== undefined ? 'MASTER_ADDR' : 'FAIRRING_STORE_ADDR';
    masterAddr = get(env, addrFrom) as string;
  } else if (!multiNode) {
    masterAddr = loopback;
    addrFrom = 'the single-machine default';
  } else {
    fail(
      `no host of rank 0 is set for a multi-node job (${names.worldSize}=${quote(String(worldSize))} processes, ` +
        `${names.localWorldSize}=${quote(String(localWorldSize))} on this machine): ${shape.addrFix}`,
    );
  }
  if (multiNode && isLoopback(masterAddr)) {
    fail(
      `${addrFrom}=${quote(masterAddr)} is a loopback address, but the job spans machines (${names.worldSize}=${quote(String(worldSize))}, ` +
        `${names.localWorldSize}=${quote(String(localWorldSize))}): other machines cannot reach it; set it to the host of rank 0`,
    );
  }

  // Ports: torchrun's MASTER_PORT (its store on recent torchrun), ours on the next port unless told.
  let masterPort: number;
  if (o.masterPort !== undefined) masterPort = checkPortOverride('masterPort', o.masterPort);
  else {
    const p = get(env, 'MASTER_PORT');
    masterPort = p === undefined ? defaultMasterPort : port('MASTER_PORT', p, 'set MASTER_PORT to a free TCP port on the host of rank 0 (torchrun\'s default is 29500)');
  }
  const storeAddrEnv = get(env, 'FAIRRING_STORE_ADDR');
  let storeAddr: string;
  if (o.storeAddr !== undefined) {
    if (typeof o.storeAddr !== 'string' || o.storeAddr.trim() === '') fail(`overrides.storeAddr must be a host name or address, got ${quote(String(o.storeAddr))}`);
    storeAddr = o.storeAddr.trim();
  } else storeAddr = storeAddrEnv ?? masterAddr;
  if (multiNode && isLoopback(storeAddr)) {
    const from = o.storeAddr !== undefined ? 'overrides.storeAddr' : storeAddrEnv !== undefined ? 'FAIRRING_STORE_ADDR' : addrFrom;
    fail(`${from}=${quote(storeAddr)} is a loopback address, but the job spans machines: other machines cannot reach it; set it to the host of rank 0`);
  }
  let storePort: number;
  if (o.storePort !== undefined) storePort = checkPortOverride('storePort', o.storePort);
  else {
    const p = get(env, 'FAIRRING_STORE_PORT');
    if (p !== undefined) storePort = port('FAIRRING_STORE_PORT', p, 'set FAIRRING_STORE_PORT to a free TCP port on the host of rank 0, or unset it for MASTER_PORT + 1');
    else {
      storePort = masterPort + 1;
      if (storePort > 65535) fail(`MASTER_PORT=${quote(String(masterPort))} leaves no next port for our store (MASTER_PORT + 1 > 65535); set FAIRRING_STORE_PORT`);
    }
  }
  if (shape.source === 'torchrun' && storePort === masterPort && storeAddr === masterAddr) {
    fail(
      `the store port ${storePort} is MASTER_PORT itself, where torchrun serves its own store; set FAIRRING_STORE_PORT to another port, or unset it for MASTER_PORT + 1`,
    );
  }

  const machineId = o.machineId ?? get(env, 'FAIRRING_MACHINE_ID');
  const token = o.token ?? get(env, 'FAIRRING_TOKEN');
  const shapeOverridden = o.rank !== undefined || o.worldSize !== undefined;
  const source: JobSource = o.source ?? (shapeOverridden ? 'overrides' : shape.source);
  return {
    rank,
    worldSize,
    localRank,
    localWorldSize,
    masterAddr,
    masterPort,
    storeAddr,
    storePort,
    ...(machineId === undefined ? {} : { machineId }),
    ...(token === undefined ? {} : { token }),
    source,
  };
}

function checkPortOverride(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) fail(`overrides.${name} must be a port (1-65535), got ${String(value)}`);
  return value;
}
