// Data-parallel training with fairring-rx, no ML framework: least-squares regression of a linear model on
// synthetic data. Every process is one rank (start them with `fairring-rx launch`); rank 0's initial weights are
// broadcast; each rank computes the gradient on its shard of the data; the gradient, cut into buckets, flows
// through world.allReduceEach$ (which pulls a bucket only when the pools can admit it) into an all-reduce; every
// rank applies the same update. At the end the weights are compared across ranks (bit for bit) and with one
// process training on all the data (within a tolerance); the exit status says whether both hold.
//
//   npx fairring-rx launch --nproc-per-node 2 -- node dist/examples/train.js [--backend cuda] [--steps 30]
import { lastValueFrom } from 'rxjs';
import { connect, type Tensor, type World } from '../src/index.js';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
};
const backend = flag('backend', 'cpu') as 'cpu' | 'cuda';
const steps = Number(flag('steps', '30'));
const features = 2048;
const bucketFeatures = 512;
const samples = 512;
const learningRate = 0.5;
/** Largest difference allowed between the data-parallel weights and one process's (float32 sums in another order). */
const tolerance = 1e-5;

/** The same pseudo-random numbers in every process (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Sample i: features x (1/√features scale) and target y = x·w* + noise. */
function dataset(): { x: Float32Array[]; y: Float32Array } {
  const r = random(7);
  const truth = Float32Array.from({ length: features }, () => r() * 2 - 1);
  const x = Array.from({ length: samples }, () => Float32Array.from({ length: features }, () => (r() * 2 - 1) / Math.sqrt(features)));
  const y = Float32Array.from(x, (xi) => xi.reduce((s, v, j) => s + v * truth[j]!, 0) + (r() - 0.5) * 0.01);
  return { x, y };
}

/** The gradient of the mean squared error over `rows`, each row's part divided by all samples, into `grad`. */
function gradient(w: Float32Array, data: ReturnType<typeof dataset>, rows: readonly number[], grad: Float32Array): void {
  grad.fill(0);
  for (const i of rows) {
    const xi = data.x[i]!;
    let err = -data.y[i]!;
    for (let j = 0; j < features; j++) err += xi[j]! * w[j]!;
    const scale = (2 * err) / samples;
    for (let j = 0; j < features; j++) grad[j] = Math.fround(grad[j]! + scale * xi[j]!);
  }
}

function step(w: Float32Array, grad: Float32Array): void {
  for (let j = 0; j < features; j++) w[j] = Math.fround(w[j]! - learningRate * grad[j]!);
}

async function train(world: World): Promise<Float32Array> {
  const me = world.devices[0]!;
  const ranks = world.topology.machines * world.topology.devicesPerMachine;
  const data = dataset();
  const shard = Array.from({ length: samples }, (_, i) => i).filter((i) => i % ranks === me.rank);
  // Rank 0 draws the initial weights; the others start from garbage and receive them.
  const init = random(me.rank === 0 ? 11 : 1000 + me.rank);
  const w = Float32Array.from({ length: features }, () => init() - 0.5);
  const weights = await me.upload(w);
  await world.broadcast([weights], { root: 0 });
  w.set((await weights.download()) as Float32Array);
  weights.close();

  const grad = new Float32Array(features);
  for (let s = 0; s < steps; s++) {
    gradient(w, data, shard, grad);
    const buckets: Tensor[] = [];
    // A generator: allReduceEach$ asks for the next bucket only when the engine can admit it.
    async function* produce(): AsyncGenerator<readonly Tensor[]> {
      for (let b = 0; b < features; b += bucketFeatures) {
        const t = await me.upload(grad.subarray(b, b + bucketFeatures));
        buckets.push(t);
        yield [t];
      }
    }
    await lastValueFrom(world.allReduceEach$(produce(), { op: 'sum' }), { defaultValue: undefined });
    for (const [k, t] of buckets.entries()) {
      grad.set((await t.download()) as Float32Array, k * bucketFeatures);
      t.close();
    }
    step(w, grad);
  }
  return w;
}

/** One process on all the data, for comparison. */
function trainAlone(): Float32Array {
  const data = dataset();
  const init = random(11);
  const w = Float32Array.from({ length: features }, () => init() - 0.5);
  const grad = new Float32Array(features);
  const all = Array.from({ length: samples }, (_, i) => i);
  for (let s = 0; s < steps; s++) {
    gradient(w, data, all, grad);
    step(w, grad);
  }
  return w;
}

function loss(w: Float32Array): number {
  const data = dataset();
  let sum = 0;
  for (let i = 0; i < samples; i++) {
    let err = -data.y[i]!;
    for (let j = 0; j < features; j++) err += data.x[i]![j]! * w[j]!;
    sum += err * err;
  }
  return sum / samples;
}

const world = await connect({ backend });
const me = world.devices[0]!;
const w = await train(world);
// Bit-for-bit equal everywhere: rank 0's weights broadcast and compared with this rank's.
const theirs = await me.upload(w);
await world.broadcast([theirs], { root: 0 });
const rank0 = (await theirs.download()) as Float32Array;
theirs.close();
const equal = Buffer.compare(Buffer.from(rank0.buffer, rank0.byteOffset, rank0.byteLength), Buffer.from(w.buffer)) === 0;
let ok = equal;
console.log(`rank ${me.rank}: weights equal to rank 0's bit for bit: ${equal}`);
if (me.rank === 0) {
  const alone = trainAlone();
  const diff = w.reduce((m, v, j) => Math.max(m, Math.abs(v - alone[j]!)), 0);
  ok &&= diff <= tolerance;
  console.log(`${steps} steps on ${world.topology.machines} x ${world.topology.devicesPerMachine} ranks (${backend}, pipeline ${world.pipelineName}): loss ${loss(w).toExponential(3)}`);
  console.log(`largest difference from one process on all the data: ${diff.toExponential(2)} (tolerance ${tolerance})`);
}
await world.barrier();
await world.close();
process.exitCode = ok ? 0 : 1;
