// The reduction rules of docs/semantics.md, drawn at random (fast-check): dtype, op, topology, size and values,
// extremes included, on every pipeline that applies, against one host reference (test/helpers/data.ts), and
// every rank's result bitwise identical to rank 0's.
import { expect } from 'chai';
import fc from 'fast-check';
import { auto, dtypes, fairring, local, nccl, reduceOps, simulate, type DType, type ReduceOp, type World } from '../../src/index.js';
import type { PipelineOption } from '../../src/engine/pipeline.js';
import { elementSize, hostArray, isFloat, type HostArray } from '../../src/runtime/dtype.js';
import { readNumber, writeNumber } from '../helpers/float16.js';
import { describeBackends } from '../helpers/backends.js';
import { bytesOf, combineInt, contributions, maxOf, minOf } from '../helpers/data.js';

const pipelines: Record<string, PipelineOption> = { auto, fairring, local, nccl };

/** Largest finite value, smallest normal and mantissa bits of each float dtype. */
const floats: Record<string, { max: number; minNormal: number; bits: number }> = {
  float16: { max: 65504, minNormal: 2 ** -14, bits: 10 },
  bfloat16: { max: 3.3895313892515355e38, minNormal: 2 ** -126, bits: 7 },
  float32: { max: 3.4028234663852886e38, minNormal: 2 ** -126, bits: 23 },
  float64: { max: Number.MAX_VALUE, minNormal: 2 ** -1022, bits: 52 },
};

const ints: Record<string, { min: bigint; max: bigint }> = {
  int8: { min: -128n, max: 127n },
  uint8: { min: 0n, max: 255n },
  int32: { min: -(2n ** 31n), max: 2n ** 31n - 1n },
  int64: { min: -(2n ** 63n), max: 2n ** 63n - 1n },
};

/** The spacing of dtype's values at |x| (the subnormal spacing below the normal range). */
function ulp(dtype: DType, x: number): number {
  const f = floats[dtype]!;
  const a = Math.max(Math.abs(x), f.minNormal);
  return 2 ** (Math.floor(Math.log2(a)) - f.bits);
}

function floatValue(dtype: DType): fc.Arbitrary<number> {
  const f = floats[dtype]!;
  const special = fc.constantFrom(NaN, Infinity, -Infinity, -0, 0, f.max, -f.max, f.minNormal, -f.minNormal, f.max / 2, 1, -1);
  return fc.oneof(
    { arbitrary: fc.double({ min: -100, max: 100, noNaN: true }), weight: 8 },
    { arbitrary: special, weight: 2 },
    { arbitrary: fc.double(), weight: 1 },
  );
}

function intValue(dtype: DType): fc.Arbitrary<bigint> {
  const { min, max } = ints[dtype]!;
  return fc.oneof(
    { arbitrary: fc.bigInt({ min: min > -100n ? min : -100n, max: 100n }), weight: 4 },
    { arbitrary: fc.constantFrom(min, max, min + 1n, max - 1n, 0n), weight: 2 },
    { arbitrary: fc.bigInt({ min, max }), weight: 2 },
  );
}

interface Case {
  machines: number;
  devices: number;
  dtype: DType;
  op: ReduceOp;
  n: number;
  values: Array<number | bigint>;
}

function inputsOf(c: Case): HostArray[] {
  const ranks = c.machines * c.devices;
  return Array.from({ length: ranks }, (_, r) => {
    const a = hostArray(c.dtype, new ArrayBuffer(c.n * elementSize(c.dtype)));
    for (let i = 0; i < c.n; i++) {
      const v = c.values[r * c.n + i]!;
      if (c.dtype === 'int64') (a as BigInt64Array)[i] = v as bigint;
      else writeNumber(c.dtype, a, i, Number(v));
    }
    return a;
  });
}

/** Checks one float element against the rules; returns a reason when it breaks them. */
function floatProblem(dtype: DType, op: ReduceOp, xs: number[], got: number): string | null {
  const f = floats[dtype]!;
  const n = xs.length;
  if (op === 'max' || op === 'min') {
    const want = op === 'max' ? maxOf(xs) : minOf(xs);
    if (Number.isNaN(want)) return Number.isNaN(got) ? null : `expected NaN (every input NaN)`;
    return got === want ? null : `expected ${want}`;
  }
  const terms = contributions(dtype, op, xs);
  if (terms.some(Number.isNaN)) return Number.isNaN(got) ? null : 'expected NaN (a NaN input)';
  if (op === 'prod') {
    if (terms.some((t) => !Number.isFinite(t))) return null;
    const big = terms.filter((t) => Math.abs(t) >= 1).reduce((a, t) => a * Math.abs(t), 1);
    const small = terms.filter((t) => Math.abs(t) < 1).reduce((a, t) => a * Math.abs(t), 1);
    // Only products no partial product of which overflows or leaves the normal range have one answer.
    if (big > f.max / 2) return null;
    const exact = terms.reduce((a, t) => a * t, 1);
    if (terms.includes(0)) return got === 0 ? null : 'expected 0';
    if (small < f.minNormal * 2 ** n) return null;
    return Math.abs(got - exact) <= 2 * n * ulp(dtype, exact) ? null : `expected ${exact} within ${2 * n} ulps`;
  }
  const plus = terms.includes(Infinity);
  const minus = terms.includes(-Infinity);
  if (plus && minus) return Number.isNaN(got) ? null : 'expected NaN (+Inf and -Inf)';
  const finite = terms.filter(Number.isFinite);
  const magnitude = finite.reduce((a, t) => a + Math.abs(t), 0);
  // Past the dtype's range some summation order may overflow: the rules leave the result open.
  if (magnitude > f.max) return null;
  if (plus || minus) return got === (plus ? Infinity : -Infinity) ? null : `expected ${plus ? '+' : '-'}Inf`;
  const exact = finite.reduce((a, t) => a + t, 0);
  // The stated bound is n ulps of Σ|terms|; float64's own reference sum may be off by as much again.
  const tol = (dtype === 'float64' ? 2 : 1) * n * ulp(dtype, magnitude);
  return Math.abs(got - exact) <= tol ? null : `expected ${exact} within ${tol}`;
}

function check(c: Case, inputs: HostArray[], outputs: HostArray[], what: string): void {
  const zero = bytesOf(outputs[0]!);
  outputs.forEach((o, r) => {
    if (!Buffer.from(bytesOf(o)).equals(Buffer.from(zero))) expect.fail(`${what}: rank ${r}'s result is not bitwise rank 0's`);
  });
  const got = outputs[0]!;
  for (let i = 0; i < c.n; i++) {
    if (isFloat(c.dtype)) {
      const xs = inputs.map((a) => readNumber(c.dtype, a, i));
      const g = readNumber(c.dtype, got, i);
      const problem = floatProblem(c.dtype, c.op, xs, g);
      if (problem !== null) expect.fail(`${what}: element ${i} of [${xs.join(', ')}] is ${g}: ${problem}`);
    } else {
      const xs = inputs.map((a) => BigInt(a[i]!));
      const want = combineInt(c.dtype, c.op, xs);
      const g = BigInt(got[i]!);
      if (g !== want) expect.fail(`${what}: element ${i} of [${xs.join(', ')}] is ${g}, expected ${want}`);
    }
  }
}

const topologies: Array<[number, number]> = [];
for (let m = 1; m <= 3; m++) for (let d = 1; d <= 3; d++) topologies.push([m, d]);

describeBackends('reduction semantics', ({ backend, deviceCount }) => {
  const worlds = new Map<string, Promise<World>>();
  const fitting = topologies.filter(([m, d]) => m * d <= deviceCount);
  const world = (m: number, d: number, pipeline: string): Promise<World> => {
    const key = `${m}x${d} ${pipeline}`;
    let w = worlds.get(key);
    if (w === undefined) {
      w = simulate({ backend, machines: m, devicesPerMachine: d, pipeline: pipelines[pipeline]!, timeoutMs: 60000 });
      worlds.set(key, w);
    }
    return w;
  };
  after(async () => {
    for (const w of worlds.values()) await (await w).close();
  });

  async function run(c: Case): Promise<void> {
    const inputs = inputsOf(c);
    const names = ['auto', 'fairring', 'nccl', ...(c.machines === 1 ? ['local'] : [])];
    for (const name of names) {
      const w = await world(c.machines, c.devices, name);
      const opts = c.dtype === 'float16' || c.dtype === 'bfloat16' ? { dtype: c.dtype } : {};
      const tensors = await Promise.all(w.devices.map((d, r) => d.upload(inputs[r]!, opts)));
      await w.allReduce(tensors, { op: c.op });
      const outputs = await Promise.all(tensors.map((t) => t.download()));
      tensors.forEach((t) => t.close());
      check(c, inputs, outputs, `${name} ${c.machines}x${c.devices} ${c.dtype} ${c.op} n=${c.n}`);
    }
  }

  const cases = (): fc.Arbitrary<Case> => fc
    .record({ topology: fc.constantFrom(...fitting), dtype: fc.constantFrom(...dtypes), op: fc.constantFrom(...reduceOps), n: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 300 })) })
    .chain(({ topology: [machines, devices], dtype, op, n }) => {
      const count = machines * devices * n;
      const values: fc.Arbitrary<Array<number | bigint>> = isFloat(dtype)
        ? fc.array(floatValue(dtype), { minLength: count, maxLength: count })
        : fc.array(intValue(dtype), { minLength: count, maxLength: count });
      return values.map((v) => ({ machines, devices, dtype, op, n, values: v }));
    });

  it('every pipeline, topology and dtype follows the rules, bitwise identical on every rank', async () => {
    await fc.assert(fc.asyncProperty(cases(), run), { numRuns: backend === 'cpu' ? 300 : 120 });
  });

  const examples: Array<[string, Omit<Case, 'values' | 'n'>, Array<number | bigint>]> = [
    ['float32 avg of 3e38 does not overflow', { machines: 2, devices: 2, dtype: 'float32', op: 'avg' }, [3e38, 3e38, 3e38, 3e38]],
    ['float16 avg of 40000 does not overflow', { machines: 3, devices: 3, dtype: 'float16', op: 'avg' }, Array<number>(9).fill(40000)],
    ['float16 avg of 40000 at one device per machine', { machines: 3, devices: 1, dtype: 'float16', op: 'avg' }, [40000, 40000, 40000]],
    ['int32 avg wraps the sum, then divides', { machines: 2, devices: 2, dtype: 'int32', op: 'avg' }, [1500000000n, 1500000000n, 1500000000n, 1500000000n]],
    ['int8 avg truncates toward zero', { machines: 3, devices: 3, dtype: 'int8', op: 'avg' }, [-1n, -1n, -1n, -1n, -1n, 0n, 0n, 0n, 0n]],
    ['max ignores a NaN whichever rank holds it', { machines: 2, devices: 2, dtype: 'float32', op: 'max' }, [0, 1, NaN, 3]],
    ['min ignores NaNs unless every input is NaN', { machines: 2, devices: 2, dtype: 'bfloat16', op: 'min' }, [NaN, NaN, NaN, NaN]],
  ];
  for (const [title, c, values] of examples) {
    it(title, async function () {
      if (c.machines * c.devices > deviceCount) this.skip();
      await run({ ...c, n: 1, values });
    });
  }

  it('the examples give the values of the rules', async function () {
    if (4 > deviceCount) this.skip();
    const cases: Array<[DType, ReduceOp, Array<number | bigint>, number | bigint]> = [
      ['float32', 'avg', [3e38, 3e38, 3e38, 3e38], Math.fround(3e38)],
      ['int32', 'avg', [1500000000n, 1500000000n, 1500000000n, 1500000000n], 426258176n],
      ['float32', 'max', [0, 1, NaN, 3], 3],
    ];
    for (const [dtype, op, values, want] of cases) {
      for (const name of ['fairring', 'nccl']) {
        const w = await world(2, 2, name);
        const tensors = await Promise.all(w.devices.map((d, r) => d.upload(inputsOf({ machines: 2, devices: 2, dtype, op, n: 1, values })[r]!)));
        await w.allReduce(tensors, { op });
        const got = await tensors[3]!.download();
        tensors.forEach((t) => t.close());
        expect(typeof want === 'bigint' ? BigInt(got[0]!) : readNumber(dtype, got, 0), `${name} ${dtype} ${op}`).to.equal(want);
      }
    }
  });
});
