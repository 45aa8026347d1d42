// The CUDA issuer's plan (native/src/issue_plan.h), asked of a CPU Queue with `plan`: which p2p groups merge
// into one NCCL group, and that no reordering it makes can change what the program computes.
import { expect } from 'chai';
import { native, OpCode, RecordMode, collectiveKinds, opWidth, type AddonQueue, type CollectiveKind, type NativeBuffer, type NativeComm, type NativeDevice, type NativeStream } from '../../src/native.js';
import { Program } from '../../src/runtime/program.js';
import { simulate } from '../../src/index.js';
import { mergeGroupsFor } from '../../src/world/build.js';
import { overriding, runtimeOverridingQueue } from '../helpers/queue.js';

/** One op of a program, as the plan checks need it. */
interface Op {
  code: number;
  streams: number[];
  comms: number[];
  /** wait: the record waited for; record: its own. */
  mark?: { stream: number; seq: number };
  timing?: boolean;
  p2p?: boolean;
}

const p2pKinds = [collectiveKinds.indexOf('send'), collectiveKinds.indexOf('recv')];

/** Splits a packed program into ops, with the streams, communicators and records of each (`base`: a stream's records before it). */
function opsOf(f: Float64Array, length: number, base: (stream: number) => number): Op[] {
  const ops: Op[] = [];
  const seqs = new Map<number, number>();
  for (let at = 0; at < length; ) {
    const code = f[at]!;
    if (code === OpCode.wait) {
      ops.push({ code, streams: [f[at + 1]!], comms: [], mark: { stream: f[at + 2]!, seq: f[at + 3]! } });
      at += opWidth.wait;
    } else if (code === OpCode.record) {
      const s = f[at + 1]!;
      seqs.set(s, (seqs.get(s) ?? base(s)) + 1);
      ops.push({ code, streams: [s], comms: [], mark: { stream: s, seq: seqs.get(s)! }, timing: f[at + 2] !== RecordMode.plain });
      at += opWidth.record;
    } else if (code === OpCode.copy) {
      ops.push({ code, streams: [f[at + 1]!], comms: [] });
      at += opWidth.copy;
    } else if (code === OpCode.reduce) {
      ops.push({ code, streams: [f[at + 1]!], comms: [] });
      at += opWidth.reduceBase + 2 * f[at + 8]!;
    } else {
      const n = f[at + 1]!;
      const op: Op = { code, streams: [], comms: [], p2p: true };
      for (let j = 0; j < n; j++) {
        const item = at + opWidth.groupBase + opWidth.groupItem * j;
        if (!op.streams.includes(f[item + 1]!)) op.streams.push(f[item + 1]!);
        if (!op.comms.includes(f[item + 2]!)) op.comms.push(f[item + 2]!);
        if (f[item] !== p2pKinds[0] && f[item] !== p2pKinds[1]) op.p2p = false;
      }
      ops.push(op);
      at += opWidth.groupBase + opWidth.groupItem * n;
    }
  }
  return ops;
}

/**
 * The plan of a program of fresh streams and its ops; replayed `iterations` times, every record and every wait
 * (all on the program's own records) moved on by the stream's records per iteration, as `replay` moves them.
 */
function planned(q: AddonQueue, f: Float64Array, length: number, iterations?: number): { plan: number[][]; ops: Op[] } {
  const once = opsOf(f, length, () => 0);
  if (iterations === undefined) return { plan: q.plan(f, length), ops: once };
  const perIteration = new Map<number, number>();
  for (const op of once) if (op.code === OpCode.record) perIteration.set(op.mark!.stream, (perIteration.get(op.mark!.stream) ?? 0) + 1);
  const ops = Array.from({ length: iterations }, (_, i) =>
    once.map((op) => (op.mark === undefined ? op : { ...op, timing: false, mark: { stream: op.mark.stream, seq: op.mark.seq + i * perIteration.get(op.mark.stream)! } })),
  ).flat();
  return { plan: q.plan(f, length, iterations), ops };
}

/**
 * Checks a plan against its program: every op once; merged sets only of p2p groups, at most `cap`, in program
 * order; a wait after the record it names; records of a stream in order; per communicator, groups in order; and
 * on a stream, an op goes before an earlier one only where that cannot change a result: a wait (on a record
 * issued already, so no cycle can form), or a merged group before a plain record.
 */
function checkPlan(ops: Op[], plan: number[][], cap: number): void {
  const position = new Map<number, number>();
  plan.forEach((step, i) => {
    if (step.length > 1) {
      expect(step.length, `merged set ${i}`).to.be.at.most(cap);
      for (const o of step) expect(ops[o]!.p2p, `op ${o} in merged set ${i} is a p2p group`).to.equal(true);
      expect([...step].sort((a, b) => a - b), `merged set ${i} in program order`).to.deep.equal(step);
    }
    for (const o of step) {
      expect(position.has(o), `op ${o} issued twice`).to.equal(false);
      position.set(o, i);
    }
  });
  expect(position.size, 'every op issued').to.equal(ops.length);
  const merged = new Set(plan.filter((s) => s.length > 1).flat());
  const recordAt = new Map<string, number>();
  ops.forEach((op, i) => {
    if (op.code === OpCode.record) recordAt.set(`${op.mark!.stream}:${op.mark!.seq}`, i);
  });
  ops.forEach((y, j) => {
    if (y.code === OpCode.wait) {
      const r = recordAt.get(`${y.mark!.stream}:${y.mark!.seq}`);
      if (r !== undefined) expect(position.get(r)!, `wait ${j} after record ${r}`).to.be.below(position.get(j)!);
    }
    for (let i = 0; i < j; i++) {
      const x = ops[i]!;
      const sharesStream = x.streams.some((s) => y.streams.includes(s));
      const sharesComm = x.comms.some((c) => y.comms.includes(c));
      const [px, py] = [position.get(i)!, position.get(j)!];
      if (sharesComm) expect(px, `groups ${i} and ${j} on one communicator keep their order`).to.be.at.most(py);
      if (!sharesStream || px < py || (px === py && merged.has(i))) continue;
      const plainRecord = x.code === OpCode.record && x.timing !== true;
      const allowed = y.code === OpCode.wait || (merged.has(j) && plainRecord);
      expect(allowed, `op ${j} (code ${y.code}) issued before op ${i} (code ${x.code}) of the same stream`).to.equal(true);
    }
  });
}

describe("the CUDA issuer's plan (Queue.plan, asked of a CPU Queue)", () => {
  const ranks = 2;
  let devices: NativeDevice[] = [];
  let streams: NativeStream[] = [];
  let buffers: NativeBuffer[] = [];
  let comms: NativeComm[][] = [];

  before(async () => {
    devices = Array.from({ length: ranks }, (_, i) => new native.Device('cpu', i));
    comms = [];
    for (let family = 0; family < 3; family++) {
      comms.push(await native.initComms('cpu', native.uniqueId('cpu'), ranks, devices.map((device, rank) => ({ rank, device })), 30000));
    }
  });
  after(() => {
    for (const h of [...streams, ...buffers, ...comms.flat()]) h.close();
  });

  /** A queue with per rank: streams admit, collect, add, diffuse; collect and diffuse communicators; a 4 MiB buffer. */
  /** With `iterations`, flushes ask for the plan of the program replayed that many times. */
  function world(mergeGroups: number, iterations?: number) {
    const queue = new native.Queue('cpu', () => undefined, mergeGroups);
    const rank = devices.map((device, r) => {
      const own = Array.from({ length: 4 }, () => new native.Stream(device));
      const buffer = new native.Buffer(device, 4 << 20);
      streams.push(...own);
      buffers.push(buffer);
      const [admit, collect, add, diffuse] = own.map((s) => queue.addStream(s));
      return {
        admit: admit!,
        collect: collect!,
        add: add!,
        diffuse: diffuse!,
        buffer: queue.addBuffer(buffer),
        commCollect: queue.addComm(comms[0]![r]!),
        commDiffuse: queue.addComm(comms[1]![r]!),
        commOther: queue.addComm(comms[2]![r]!),
      };
    });
    // The program packer the engine uses; a flush asks for the plan instead of issuing.
    const plans: Array<{ plan: number[][]; ops: Op[] }> = [];
    const program = new Program(
      overriding(queue, (q) => ({
        submit: (ops, length) => plans.push(planned(q as AddonQueue, ops, length, iterations)),
      })),
    );
    for (const r of rank) for (const s of [r.admit, r.collect, r.add, r.diffuse]) program.track(s);
    return { queue, rank, program, plans };
  }

  /** The stages of one slice at one device per machine, as the engine packs them (elements per transfer: count). */
  function slice(w: ReturnType<typeof world>, k: number, count: number, options: { timing?: boolean; collective?: boolean } = {}): void {
    const p = w.program;
    const kind = (send: boolean): CollectiveKind => (options.collective ? 'allReduce' : send ? 'send' : 'recv');
    const exchange = (stream: 'collect' | 'diffuse', comm: 'commCollect' | 'commDiffuse') => {
      p.beginGroup();
      w.rank.forEach((r) => {
        for (let peer = 0; peer < ranks; peer++) {
          if (options.collective) {
            if (peer === 0) p.item('allReduce', r[stream], r[comm], 'float32', 'sum', count, r.buffer, 0, r.buffer, 0, -1);
            continue;
          }
          p.item(kind(true), r[stream], r[comm], 'float32', null, count, r.buffer, 0, -1, -1, peer);
          p.item(kind(false), r[stream], r[comm], 'float32', null, count, -1, -1, r.buffer, 4 * count * (peer + 1), peer);
        }
      });
      p.endGroup();
    };
    const admitted = w.rank.map((r) => ({ stream: r.admit, seq: p.record(r.admit) }));
    // A stage: waits, a timing start where timed, its work, its record (the timing end where timed).
    const stage = (stream: 'collect' | 'add' | 'diffuse', after: Array<{ stream: number; seq: number }>, work: () => void) => {
      const starts = w.rank.map((r, i) => {
        p.wait(r[stream], after[i]!);
        return options.timing ? p.record(r[stream], RecordMode.timingStart) : 0;
      });
      work();
      return w.rank.map((r, i) => ({ stream: r[stream], seq: options.timing ? p.record(r[stream], RecordMode.timingEnd, starts[i]!) : p.record(r[stream]) }));
    };
    const collected = stage('collect', admitted, () => exchange('collect', 'commCollect'));
    const added = stage('add', collected, () => {
      for (const r of w.rank) p.reduce(r.add, 'float32', 'sum', 4, 1, r.buffer, 0, [r.buffer, 16, r.buffer, 32]);
    });
    stage('diffuse', added, () => exchange('diffuse', 'commDiffuse'));
    p.commit(undefined, k);
  }

  function planOf(w: ReturnType<typeof world>): { plan: number[][]; ops: Op[] } {
    w.program.flush();
    expect(w.plans).to.have.length(1);
    return w.plans[0]!;
  }

  const groupsOf = (ops: Op[]) => ops.flatMap((op, i) => (op.code === OpCode.group ? [i] : []));

  it('merges the collect groups of the slices of one program into one NCCL group, and their diffuse groups into another, whatever their size', () => {
    for (const count of [1024, (1 << 18) + 1]) {
      const w = world(8);
      for (let k = 0; k < 3; k++) slice(w, k, count);
      const { plan, ops } = planOf(w);
      checkPlan(ops, plan, 8);
      const groups = groupsOf(ops);
      const sets = plan.filter((s) => s.length > 1);
      expect(sets, `collect groups, then diffuse groups (${count} elements)`).to.deep.equal([
        [groups[0], groups[2], groups[4]],
        [groups[1], groups[3], groups[5]],
      ]);
      w.queue.close();
    }
  });

  it('with mergeGroups 1, issues in program order', () => {
    const w = world(1);
    for (let k = 0; k < 3; k++) slice(w, k, 1024);
    const { plan, ops } = planOf(w);
    expect(plan).to.deep.equal(ops.map((_, i) => [i]));
    w.queue.close();
  });

  it('merges at most mergeGroups groups into one', () => {
    const w = world(4);
    for (let k = 0; k < 10; k++) slice(w, k, 256);
    const { plan, ops } = planOf(w);
    checkPlan(ops, plan, 4);
    expect(plan.filter((s) => s.length > 1).map((s) => s.length)).to.deep.equal([4, 4, 4, 4, 2, 2]);
    w.queue.close();
  });

  it('never merges a timed stage (its timing start stays before its group) or collectives', () => {
    for (const [what, count, options] of [
      ['timed', 1024, { timing: true }],
      ['collectives', 1024, { collective: true }],
    ] as const) {
      const w = world(8);
      for (let k = 0; k < 3; k++) slice(w, k, count, options);
      const { plan, ops } = planOf(w);
      checkPlan(ops, plan, 8);
      expect(plan.filter((s) => s.length > 1), what).to.deep.equal([]);
      w.queue.close();
    }
  });

  it('a replayed program: its iterations plan as one, records and waits moved on per iteration, merging across them', () => {
    const w = world(8, 3);
    for (let k = 0; k < 3; k++) slice(w, k, 1024);
    const { plan, ops } = planOf(w);
    checkPlan(ops, plan, 8);
    const sets = plan.filter((step) => step.length > 1);
    const opsPerIteration = ops.length / 3;
    expect(sets.some((set) => new Set(set.map((o) => Math.floor(o / opsPerIteration))).size > 1), 'a set spans iterations').to.equal(true);
    const groups = new Set(groupsOf(ops));
    const groupCalls = plan.filter((step) => step.some((o) => groups.has(o))).length;
    expect([groups.size, groupCalls], '18 groups in 4 NCCL calls: 9 collects and 9 diffuses, 8 to a call').to.deep.equal([18, 4]);
    w.queue.close();
  });

  it('random programs: every plan keeps what the program computes', () => {
    let seed = (Math.random() * 2 ** 32) >>> 0;
    const random = (): number => {
      seed = (seed + 0x6d2b79f5) >>> 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
    };
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const startSeed = seed;
    for (let trial = 0; trial < 60; trial++) {
      const cap = pick([2, 3, 8]);
      // Half of the programs replayed, their iterations planned as one.
      const w = world(cap, pick([undefined, undefined, 2, 3]));
      const p = w.program;
      const recorded: Array<{ stream: number; seq: number }> = [];
      const streamsOf = (r: (typeof w.rank)[number]) => [r.admit, r.collect, r.add, r.diffuse];
      for (let n = 0; n < 60; n++) {
        const r = pick(w.rank);
        const s = pick(streamsOf(r));
        const what = random();
        if (what < 0.2 && recorded.length > 0) {
          p.wait(s, pick(recorded));
        } else if (what < 0.45) {
          recorded.push({ stream: s, seq: p.record(s, random() < 0.15 ? RecordMode.timingStart : RecordMode.plain) });
        } else if (what < 0.55) {
          p.reduce(s, 'float32', 'sum', 4, 1, r.buffer, 0, [r.buffer, 16]);
        } else {
          const comm = pick(['commCollect', 'commDiffuse', 'commOther'] as const);
          const collective = random() < 0.2;
          const count = random() < 0.1 ? (1 << 18) + 1 : 64;
          p.beginGroup();
          for (const x of w.rank) {
            const xs = pick(streamsOf(x));
            if (collective) {
              p.item('allReduce', xs, x[comm], 'float32', 'sum', count, x.buffer, 0, x.buffer, 0, -1);
            } else {
              p.item('send', xs, x[comm], 'float32', null, count, x.buffer, 0, -1, -1, 1 - w.rank.indexOf(x));
              p.item('recv', xs, x[comm], 'float32', null, count, -1, -1, x.buffer, 4 * count, 1 - w.rank.indexOf(x));
            }
          }
          p.endGroup();
        }
      }
      p.commit();
      const { plan, ops } = planOf(w);
      try {
        checkPlan(ops, plan, cap);
      } catch (e) {
        throw new Error(`trial ${trial} of seed ${startSeed}: ${(e as Error).message}`);
      }
      w.queue.close();
    }
  });

  it("the engine's merge cap: a quarter of the slices in flight, never below 2 (the issuer's direct path) nor above 4", () => {
    const caps = [1, 2, 3, 4, 5, 8, 9, 16, 32, 1024].map((p) => mergeGroupsFor(p));
    expect(caps).to.deep.equal([2, 2, 2, 2, 2, 2, 2, 4, 4, 4]);
  });

  it("the engine's own programs: a job's slices admitted together at 2 x 1 merge their collect and diffuse groups, every plan keeping the rules", async () => {
    const seen: Array<{ plan: number[][]; ops: Op[] }> = [];
    const runtime = runtimeOverridingQueue((q) => ({
      submit: (ops, length) => {
        seen.push({ plan: (q as AddonQueue).plan(ops, length), ops: opsOf(ops, length, (stream) => q.records(stream)) });
        q.submit(ops, length);
      },
    }));
    // 64 KiB of staging at one device per machine: slices of about 8 KiB, so the job below has 9 and a tail.
    const world = await simulate({ machines: 2, devicesPerMachine: 1, pipeline: 'fairring', runtime, memoryBytes: 65536 });
    try {
      const n = 16384 + 5;
      const inputs = world.devices.map(() => Float32Array.from({ length: n }, () => Math.random() - 0.5));
      const tensors = await Promise.all(world.devices.map((d, r) => d.upload(inputs[r]!)));
      await world.allReduce(tensors);
      for (const t of tensors) {
        const got = await t.download();
        for (let i = 0; i < n; i++) expect(got[i]).to.be.closeTo(inputs[0]![i]! + inputs[1]![i]!, 1e-6);
      }
    } finally {
      await world.close();
    }
    // The engine's cap at the default parallelism (8): 2 groups into one.
    expect(mergeGroupsFor(8)).to.equal(2);
    for (const { plan, ops } of seen) checkPlan(ops, plan, mergeGroupsFor(8));
    const sizes = seen.flatMap(({ plan }) => plan.filter((step) => step.length > 1).map((step) => step.length));
    expect(Math.max(0, ...sizes), 'groups merged into one at most').to.equal(mergeGroupsFor(8));
  });
});
