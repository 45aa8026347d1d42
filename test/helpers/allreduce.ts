// Shared checks of whole all-reduces: fresh random inputs per rank, a float64 (or exact integer) host
// reference, every rank compared; and the memory bounds a world must keep.
import { expect } from 'chai';
import { native, type DType, type ReduceOp, type StageTiming, type World } from '../../src/index.js';
import type { HostArray } from '../../src/runtime/dtype.js';
import { EXACT_SUM_RANKS, expectClose, gridArray, randomArray, reference } from './data.js';

/**
 * Uploads fresh random data to every rank, all-reduces, and checks every rank against the host reference. A
 * sum gets data whose every rounding is exact (gridArray), and must match the reference exactly.
 */
export async function checkAllReduce(world: World, dtype: DType, op: ReduceOp, n: number): Promise<void> {
  const exact = op === 'sum' && world.topology.machines * world.topology.devicesPerMachine <= EXACT_SUM_RANKS;
  const inputs = world.devices.map(() => (exact ? gridArray(dtype, n) : randomArray(dtype, n)));
  const opts = dtype === 'float16' || dtype === 'bfloat16' ? { dtype } : {};
  const tensors = await Promise.all(world.devices.map((d, i) => d.upload(inputs[i]!, opts)));
  await world.allReduce(tensors, { op });
  const expected = reference(dtype, op, inputs, n);
  const outputs: HostArray[] = await Promise.all(tensors.map((t) => t.download()));
  outputs.forEach((o, r) => expectClose(dtype, op, world.devices.length, o, expected, `${dtype} ${op} n=${n} rank ${r}`, exact));
  tensors.forEach((t) => t.close());
}

/** The stream each stage of the built-in pipelines runs on. */
const builtInStreamOf: Record<string, string> = {
  admit: 'reduceScatter',
  reduceScatter: 'reduceScatter',
  allReduce: 'reduceScatter',
  collect: 'collect',
  add: 'add',
  diffuse: 'diffuse',
  allGather: 'allGather',
  finish: 'allGather',
};

/**
 * A checked all-reduce of n float32 in several slices with timings on (a native world): every stage timing starts
 * inside the call's window on native.clockMs()'s clock and ends inside it, and on each rank each stage of a
 * slice starts once the stage before it ended (a stage's timing start follows its wait on the one before).
 * `slackMs` covers CUDA's reading of the device's timer against the host's clock. Returns the timings.
 */
export async function checkStageTimeline(world: World, n: number, slackMs = 0.05): Promise<StageTiming[]> {
  const timings: StageTiming[] = [];
  const sub = world.timings$.subscribe((t) => timings.push(t));
  const started = native.clockMs();
  try {
    await checkAllReduce(world, 'float32', 'sum', n);
  } finally {
    sub.unsubscribe();
  }
  const ended = native.clockMs();
  expect(timings.length, 'timings').to.be.greaterThan(0);
  const chains = new Map<string, StageTiming[]>();
  for (const t of timings) {
    const where = `${t.stage} of slice ${t.slice} on rank ${t.rank}`;
    expect(t.startMs, `${where} started`).to.be.within(started - slackMs, ended + slackMs);
    expect(t.startMs + t.ms, `${where} ended`).to.be.at.most(ended + slackMs);
    expect(t.stream, `${where}'s stream`).to.equal(builtInStreamOf[t.stage]);
    const key = `${t.job}:${t.slice}:${t.rank}`;
    const chain = chains.get(key) ?? [];
    if (chain.length === 0) chains.set(key, chain);
    chain.push(t);
  }
  for (const chain of chains.values()) {
    for (let i = 1; i < chain.length; i++) {
      const [before, t] = [chain[i - 1]!, chain[i]!];
      expect(t.startMs, `${t.stage} of slice ${t.slice} on rank ${t.rank} starts after its ${before.stage} ended`).to.be.at.least(before.startMs + before.ms - slackMs);
    }
  }
  return timings;
}

/**
 * The native reference loop computes what it replays: fresh random float32 on every rank, in `buckets` buckets
 * (one all-reduce, or a list of them submitted at once), summed once by the captured iteration and then
 * `iterations` more times, so every rank ends with R^iterations times the float64 sum of the inputs (R ranks).
 * Iterations that overlapped where the program orders them (a stage of the next reading a buffer the last still
 * writes) would not.
 */
export async function checkReferenceLoop(world: World, n: number, iterations: number, buckets = 1): Promise<void> {
  const inputs = Array.from({ length: buckets }, () => world.devices.map(() => randomArray('float32', n)));
  const tensors = await Promise.all(inputs.map((bucket) => Promise.all(world.devices.map((d, i) => d.upload(bucket[i]!)))));
  const result = await world.referenceLoop(buckets === 1 ? tensors[0]! : tensors, { iterations });
  expect(result.wallMs).to.be.above(0);
  const ranks = world.devices.length;
  const scale = ranks ** iterations;
  for (const [b, bucket] of tensors.entries()) {
    const expected = reference('float32', 'sum', inputs[b]!, n) as number[];
    for (const [r, t] of bucket.entries()) {
      const got = (await t.download()) as Float32Array;
      // A plain loop: Float32Array.from with a map function takes seconds over 20 M elements.
      for (let i = 0; i < got.length; i++) got[i] = got[i]! / scale;
      expectClose('float32', 'sum', ranks * (iterations + 1), got, expected, `bucket ${b}, rank ${r}, after ${iterations} replays`);
    }
  }
  tensors.flat().forEach((t) => t.close());
}

/** Allocation within budget, pools never past their size, and every slot back once its last use completed
 *  (a staging slot returns when its add stage completes, which the host may learn just after the job's end). */
export async function expectWithinBudget(world: World): Promise<void> {
  const m = world.memory();
  expect(m.allocatedBytes).to.be.at.most(m.budgetBytes);
  for (const [name, p] of Object.entries(m.pools)) expect(p.highWater, `${name} high water`).to.be.at.most(p.size);
  const deadline = Date.now() + 2000;
  while (Object.values(world.memory().pools).some((p) => p.inUse > 0) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  for (const [name, p] of Object.entries(world.memory().pools)) expect(p.inUse, `${name} in use after the work`).to.equal(0);
}

