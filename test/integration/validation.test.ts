// Argument validation, error codes and close paths on the CPU backend: every wrong option, tensor or call is an
// error of a documented class with a stable code, a message naming the thing and the fix, and leaves nothing
// allocated or running behind.
import { expect } from 'chai';
import { Observable, asyncScheduler, pipe, subscribeOn } from 'rxjs';
import { runNodeScript } from '../helpers/child.js';
import fs from 'node:fs';
import vm from 'node:vm';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ArgumentError,
  ClosedError,
  ContractError,
  MismatchError,
  FairringError,
  LayoutError,
  StageError,
  RendezvousTimeoutError,
  SetupError,
  TimeoutError,
  native,
  nativeRuntime,
  readyPipelines,
  simulate,
  Tensor,
  type EngineContext,
  type PipelineSpec,
  type Runtime,
  type SimulateOptions,
  type World,
} from '../../src/index.js';
import { errorCodes } from '../../src/errors.js';
import type { NativeDevice } from '../../src/native.js';
import { MAX_TIMEOUT_MS } from '../../src/world/options.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const distIndex = path.join(root, 'dist', 'src', 'index.js');

/** Live OS threads of this process (every CPU-backend stream is one); null where /proc is not available. */
function threads(): number | null {
  try {
    return Number(/^Threads:\s+(\d+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]);
  } catch {
    return null;
  }
}

/**
 * The thread count once the process-wide threads a world starts on first use (the CPU executor) are up: what a
 * failed build must come back to.
 */
async function baselineThreads(): Promise<number | null> {
  await (await simulate({ machines: 1, devicesPerMachine: 1 })).close();
  return threads();
}

/** Waits (up to 2 s) for the thread count to come back to at most `baseline`, and returns it. */
async function threadsSettle(baseline: number | null): Promise<number | null> {
  const deadline = Date.now() + 2000;
  let now = threads();
  while (baseline !== null && now !== null && now > baseline && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    now = threads();
  }
  return now;
}

async function caught(run: () => unknown): Promise<Error> {
  try {
    await run();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

/**
 * Expects simulate(options) to reject fast with `Class`, its code and a message matching every pattern, and no
 * thread left running (nothing was allocated: there is no world whose memory() could be read).
 */
async function refused(options: unknown, Class: typeof FairringError, ...patterns: RegExp[]): Promise<Error> {
  const before = await baselineThreads();
  const t0 = performance.now();
  const e = await caught(() => simulate(options as SimulateOptions));
  // No rendezvous or timeout (120 s by default) in between: the bound leaves room for a loaded machine.
  expect(performance.now() - t0, 'rejected fast').to.be.below(10_000);
  expect(e, e.stack).to.be.instanceOf(Class);
  expect((e as FairringError).code).to.equal(Class.code);
  expect(e.name).to.equal(Class.name);
  for (const p of patterns) expect(e.message).to.match(p);
  expect(await threadsSettle(before), 'threads after the rejection').to.be.at.most(before ?? Infinity);
  return e;
}

const base = { machines: 2, devicesPerMachine: 2 } as const;

describe('validation, error codes and close paths [cpu]', () => {
  const worlds: World[] = [];
  const open = async (options: SimulateOptions = base): Promise<World> => {
    const w = await simulate(options);
    worlds.push(w);
    return w;
  };
  afterEach(async () => {
    for (const w of worlds.splice(0)) await w.close();
  });

  describe('errors', () => {
    it('every error class has a stable code from the one table, and keeps its fields', () => {
      const classes = { FairringError, ArgumentError, LayoutError, StageError, TimeoutError, ContractError, ClosedError, MismatchError, SetupError, RendezvousTimeoutError };
      expect(Object.keys(errorCodes).sort()).to.deep.equal(Object.keys(classes).sort());
      expect(Object.values(errorCodes).map((e) => e.code)).to.deep.equal([
        'ERR_FAIRRING',
        'ERR_FAIRRING_ARGUMENT',
        'ERR_FAIRRING_LAYOUT',
        'ERR_FAIRRING_STAGE',
        'ERR_FAIRRING_TIMEOUT',
        'ERR_FAIRRING_CONTRACT',
        'ERR_FAIRRING_CLOSED',
        'ERR_FAIRRING_MISMATCH',
        'ERR_FAIRRING_SETUP',
        'ERR_FAIRRING_RENDEZVOUS_TIMEOUT',
      ]);
      for (const [name, Class] of Object.entries(classes)) {
        expect(Class.code, name).to.equal(errorCodes[name as keyof typeof errorCodes].code);
      }
      expect(new ArgumentError('x').code).to.equal('ERR_FAIRRING_ARGUMENT');
      expect(new LayoutError('x').code).to.equal('ERR_FAIRRING_LAYOUT');
      expect(new ClosedError('x').code).to.equal('ERR_FAIRRING_CLOSED');
      expect(new ContractError('x').code).to.equal('ERR_FAIRRING_CONTRACT');
      expect(new FairringError('x').code).to.equal('ERR_FAIRRING');
      const cause = new Error('NCCL said no');
      const se = new StageError(3, 'collect', 5, 7, cause);
      expect([se.code, se.name, se.rank, se.stage, se.slice, se.job, se.cause]).to.deep.equal(['ERR_FAIRRING_STAGE', 'StageError', 3, 'collect', 5, 7, cause]);
      expect(se.message).to.equal('all-reduce #7 slice 5 failed in collect on rank 3: NCCL said no');
      const te = new TimeoutError('diffuse', [1, 2], 4, 9, 300);
      expect([te.code, te.stage, te.ranks, te.slice, te.job, te.timeoutMs, te.held]).to.deep.equal(['ERR_FAIRRING_TIMEOUT', 'diffuse', [1, 2], 4, 9, 300, false]);
      expect(te.message).to.match(/did not finish diffuse on rank\(s\) 1, 2 within 300 ms; communicators aborted .*raise timeoutMs/);
      const held = new TimeoutError('collect', [], 4, 9, 300, true);
      expect(held.message).to.equal(
        'all-reduce #9 slice 4 did not come out of the pipeline within 300 ms: it finished collect on every rank, and an operator after that stage held it; ' +
          'communicators aborted (a custom pipeline that filters, buffers or never passes a slice on)',
      );
      // A user's subclass inherits its parent's code; every error is still an Error.
      class MyError extends ArgumentError {}
      expect(new MyError('x')).to.include({ code: 'ERR_FAIRRING_ARGUMENT', name: 'MyError' }).and.be.instanceOf(Error);
    });

    it('a call check that timed out says another rank has not made the call, not that its own ranks stopped', () => {
      const e = new TimeoutError('callCheck', [0], 0, 7, 1000);
      expect(e.message).to.equal(
        'all-reduce #7 slice 0 did not finish callCheck on rank(s) 0 within 1000 ms; communicators aborted (another rank of the job has not made this call: it stopped calling, closed its world, or is still busy; the ranks named are the ones that waited)',
      );
    });

    it('docs/api.md lists every code of the table and every export of src/index.ts', () => {
      const api = fs.readFileSync(path.join(root, 'docs', 'api.md'), 'utf8');
      for (const [name, { code, meaning }] of Object.entries(errorCodes)) expect(api, name).to.contain(`| \`${name}\` | \`${code}\` | ${meaning} |`);
      const index = fs.readFileSync(path.join(root, 'src', 'index.ts'), 'utf8');
      const names = [...index.matchAll(/export (?:type )?\{([^}]*)\}/g)].flatMap((m) =>
        m[1]!.split(',').map((s) => s.trim().replace(/^type\s+/, '')).filter((s) => s !== ''),
      );
      expect(names.length).to.be.above(40);
      for (const n of names) expect(api, n).to.match(new RegExp(`\\b${n}\\b`));
      expect(api).not.to.match(/\.\.\/shared|#\d{2,}/);
    });
  });

  describe('simulate() options, checked before anything is allocated', () => {
    it('machines and devicesPerMachine: positive integers with a maximum', async () => {
      await refused({ machines: 0, devicesPerMachine: 2 }, ArgumentError, /^machines must be an integer from 1 to 1024 .*got 0$/);
      await refused({ machines: 1.5, devicesPerMachine: 2 }, ArgumentError, /machines .*got 1\.5/);
      await refused({ machines: '2', devicesPerMachine: 2 }, ArgumentError, /machines .*got "2"/);
      await refused({ machines: 2 }, ArgumentError, /devicesPerMachine must be an integer from 1 to 256 .*got undefined/);
      await refused({ machines: 2, devicesPerMachine: 1e6 }, ArgumentError, /devicesPerMachine .*got 1000000/);
      await refused({ machines: 64, devicesPerMachine: 64 }, ArgumentError, /at most 1024 ranks .*64 x 64 = 4096/);
      await refused(null, ArgumentError, /simulate\(\) takes an options object/);
    });

    it('unknown option names are refused, naming them and the options there are', async () => {
      await refused({ ...base, paralelism: 4 }, ArgumentError, /no option 'paralelism' \(its options: machines, devicesPerMachine, .*parallelism/);
      await refused({ ...base, op: 'sum' }, ArgumentError, /no option 'op'/);
    });

    it('backend, rankLayout, timings and deviceOrdinals', async () => {
      await refused({ ...base, backend: 'gpu' }, ArgumentError, /backend must be 'cpu' or 'cuda', got "gpu"/);
      await refused({ ...base, rankLayout: 'row-major' }, ArgumentError, /rankLayout must be 'machine-major' or 'device-major', got "row-major"/);
      await refused({ ...base, timings: 'yes' }, ArgumentError, /timings must be true or false, got "yes"/);
      await refused({ ...base, deviceOrdinals: [0, 1, 2, 3] }, ArgumentError, /deviceOrdinals applies to backend 'cuda' only/);
      await refused({ ...base, deviceOrdinals: 3 }, ArgumentError, /deviceOrdinals must be an array/);
      // null is not "the default": it is refused as any other wrong value.
      await refused({ ...base, backend: null }, ArgumentError, /backend must be 'cpu' or 'cuda', got null/);
      await refused({ ...base, rankLayout: null }, ArgumentError, /rankLayout must be 'machine-major' or 'device-major', got null/);
      await refused([], ArgumentError, /takes an options object such as .*, got \[\]/);
    });

    it('memoryBytes and paddingBytes: non-negative safe integers, within the device memory', async () => {
      await refused({ ...base, memoryBytes: -1 }, ArgumentError, /memoryBytes must be a non-negative safe integer .*got -1/);
      await refused({ ...base, paddingBytes: 1.5 }, ArgumentError, /paddingBytes .*got 1\.5/);
      await refused({ ...base, memoryBytes: NaN }, ArgumentError, /memoryBytes .*got NaN/);
      await refused({ ...base, memoryBytes: 2 ** 50 }, ArgumentError, /memoryBytes 1125899906842624 is larger than the memory of cpu:0 \(\d+ bytes of memory\): give 0\.\.\d+/);
      const total = new native.Device('cpu', 0).totalMemory;
      await refused({ ...base, memoryBytes: total, paddingBytes: 1 << 20 }, ArgumentError, /memoryBytes \+ paddingBytes = \d+ is larger than the memory/);
      // The CPU devices share the host's memory: 3 staging layouts, each 2/3 of a budget of 2/3 of it, do not fit.
      await refused({ machines: 3, devicesPerMachine: 1, memoryBytes: Math.floor((total / 3) * 2) }, ArgumentError, /the layout needs \d+ bytes per rank, \d+ for the 3 rank\(s\)/);
      // A budget that cannot hold the layout is still a LayoutError.
      await refused({ ...base, paddingBytes: 100 }, LayoutError, /paddingBytes 100 holds 3 padding slots .*raise paddingBytes or lower parallelism/);
    });

    it('parallelism: 1..65536', async () => {
      await refused({ ...base, parallelism: 0 }, ArgumentError, /parallelism must be an integer from 1 to 65536 .*got 0/);
      await refused({ ...base, parallelism: 65537 }, ArgumentError, /got 65537/);
      await refused({ ...base, parallelism: 2.5 }, ArgumentError, /got 2\.5/);
    });

    it('sliceBytes: a positive safe integer (-64 used to loop until the process aborted)', async () => {
      await refused({ ...base, sliceBytes: -64 }, ArgumentError, /sliceBytes must be an integer from 1 to 9007199254740991 .*got -64/);
      await refused({ ...base, sliceBytes: 0 }, ArgumentError, /sliceBytes .*got 0/);
      await refused({ ...base, sliceBytes: 64.5 }, ArgumentError, /sliceBytes .*got 64\.5/);
      // Too small for one row per rank: the layout cannot hold it.
      await refused({ ...base, sliceBytes: 8 }, LayoutError, /sliceBytes 8 cannot hold one row per rank: .*at least D·M·8 = 32 .*raise sliceBytes/);
    });

    it('timeoutMs: 1..86,400,000 ms, and 13 h is accepted', async () => {
      await refused({ ...base, timeoutMs: 0 }, ArgumentError, /timeoutMs must be an integer from 1 to 86400000 .*got 0/);
      await refused({ ...base, timeoutMs: MAX_TIMEOUT_MS + 1 }, ArgumentError, /got 86400001/);
      await refused({ ...base, timeoutMs: 1.5 }, ArgumentError, /got 1\.5/);
      for (const timeoutMs of [13 * 3600 * 1000, MAX_TIMEOUT_MS]) {
        const w = await open({ ...base, timeoutMs });
        const ts = await Promise.all(w.devices.map((d) => d.upload(new Float32Array([d.rank, 1]))));
        await w.allReduce(ts);
        expect(Array.from(await ts[0]!.download() as Float32Array)).to.deep.equal([6, 4]);
      }
    });

    it("pipeline: a PipelineSpec, a function, or a ready pipeline's name", async () => {
      for (const name of Object.keys(readyPipelines)) {
        const w = await open({ machines: 1, devicesPerMachine: 2, pipeline: name });
        expect(w.pipelineName).to.equal(name);
        const ts = await Promise.all(w.devices.map((d) => d.upload(new Int32Array([d.rank + 1, 10]))));
        await w.allReduce(ts);
        expect(Array.from(await ts[1]!.download() as Int32Array)).to.deep.equal([3, 20]);
      }
      await refused({ ...base, pipeline: 'ring' }, ArgumentError, /pipeline "ring" is not a ready pipeline: use 'fairring' \| 'local' \| 'nccl'/);
      await refused({ ...base, pipeline: {} }, ArgumentError, /pipeline must be .*: name must be a non-empty string/);
      await refused({ ...base, pipeline: { name: 'x', padded: true, comms: ['ring'], build: () => (s: unknown) => s } }, ArgumentError, /comms must be an array of/);
      await refused({ ...base, pipeline: 42 }, ArgumentError, /pipeline must be .*got 42: it is not an object/);
      await refused({ ...base, pipeline: 'local' }, ArgumentError, /the local pipeline runs on one machine, not 2/);
      // A custom pipeline's own mistakes at build time, as ArgumentErrors naming it.
      await refused({ ...base, pipeline: () => { throw new Error('boom'); } }, ArgumentError, /^the custom pipeline threw while it was built: boom$/);
      await refused({ ...base, pipeline: () => { throw 'a string'; } }, ArgumentError, /^the custom pipeline threw while it was built: a string$/);
      await refused({ ...base, pipeline: () => 42 }, ArgumentError, /^the custom pipeline built 42, not an operator over slices/);
      await refused({ ...base, pipeline: () => () => 42 }, ArgumentError, /^the custom pipeline's operator returned 42, not an Observable of slices$/);
      await refused({ ...base, pipeline: () => () => { throw new Error('bad input'); } }, ArgumentError, /^the custom pipeline threw when applied to its input: bad input$/);
    });

    it("a routing pipeline's select that throws or returns no pipeline: an ArgumentError before anything is enqueued", async () => {
      for (const [select, pattern] of [
        [() => { throw new Error('no route'); }, /^the mine pipeline's select threw for 8 bytes: no route$/],
        [() => 7, /^the mine pipeline's select returned 7 for 8 bytes, not a pipeline/],
      ] as const) {
        const w = await open({ ...base, pipeline: { ...readyPipelines.fairring!, name: 'mine', select } as unknown as PipelineSpec });
        const ts = await Promise.all(w.devices.map((d) => d.upload(new Float32Array([1, 2]))));
        const e = await caught(() => w.allReduce(ts));
        expect(e).to.be.instanceOf(ArgumentError);
        expect(e.message).to.match(pattern);
        expect(w.memory().pools.inflight.highWater).to.equal(0);
      }
    });

    it('a pipeline that never subscribes to its input: its all-reduces fail with a ContractError after timeoutMs, a broadcast\'s tensors refuse to download, and close() returns', async () => {
      const never = await simulate({ ...base, timeoutMs: 300, pipeline: () => () => new Observable<never>(() => undefined) });
      await never.close();
      const w = await simulate({ ...base, timeoutMs: 300, pipeline: () => () => new Observable<never>(() => undefined) });
      const ts = await Promise.all(w.devices.map((d) => d.upload(new Float32Array([d.rank + 1, 2]))));
      const other = await Promise.all(w.devices.map((d) => d.upload(new Float32Array([d.rank + 1, 2]))));
      const t0 = performance.now();
      const [e, b] = await Promise.all([caught(() => w.allReduce(ts)), caught(() => w.broadcast(other, { root: 0 }))]);
      expect(performance.now() - t0, 'after timeoutMs, not at once').to.be.within(250, 10_000);
      expect(e).to.be.instanceOf(ContractError);
      expect(e.message).to.match(/^the custom pipeline took no slices for 300 ms: it did not subscribe to its input/);
      expect(b).to.be.instanceOf(ContractError);
      // Nothing of the all-reduce ran; the broadcast had zeroed the other ranks' tensors: their contents are undefined.
      expect(Array.from(await ts[1]!.download() as Float32Array)).to.deep.equal([2, 2]);
      expect(await caught(() => other[1]!.download())).to.be.instanceOf(ClosedError);
      expect(await caught(() => w.allReduce(ts))).to.be.instanceOf(ClosedError);
      await w.close();
    });

    it('a pipeline that subscribes to its input late (subscribeOn) takes the all-reduces submitted before', async () => {
      const late = (ctx: EngineContext) => pipe(readyPipelines.fairring!.build(ctx), subscribeOn(asyncScheduler));
      const w = await open({ ...base, pipeline: late });
      const ts = await Promise.all(w.devices.map((d) => d.upload(new Float32Array([d.rank + 1, 2]))));
      await w.allReduce(ts);
      expect(Array.from(await ts[3]!.download() as Float32Array)).to.deep.equal([10, 8]);
    });

    it('a simulate() that fails part way frees what it made, and says so once', async function () {
      if (threads() === null) this.skip();
      // Allocation failing late (a budget within totalMemory the device cannot give at the time): the native
      // error of the fourth buffer, for real.
      let buffers = 0;
      const lateOom = Object.create(nativeRuntime) as Runtime;
      lateOom.Buffer = function (device: NativeDevice, bytes: number) {
        return new nativeRuntime.Buffer(device, ++buffers === 4 ? 2 ** 50 : bytes);
      } as unknown as Runtime['Buffer'];
      const before = await baselineThreads();
      const t0 = performance.now();
      const e = await caught(() => simulate({ ...base, runtime: lateOom }));
      expect(performance.now() - t0).to.be.below(10_000);
      expect(e).to.be.instanceOf(ArgumentError).with.property('code', 'ERR_FAIRRING_ARGUMENT');
      expect(e.message).to.match(/^simulate\(\) could not allocate 1125899906842624 bytes on cpu:\d \(out of host memory\) for the world's padding and staging slots; lower memoryBytes/);
      expect(e.message.match(/1125899906842624/g)).to.have.length(1);
      expect(e.cause).to.be.instanceOf(Error);
      expect(await threadsSettle(before), 'threads after a failed build').to.be.at.most(before!);

      // initComms failing for one group while the others succeed: their communicators are freed too.
      let groups = 0;
      const commsFail = Object.create(nativeRuntime) as Runtime;
      commsFail.initComms = (...args) => (++groups === 3 ? Promise.reject(new Error('communicator refused (test)')) : nativeRuntime.initComms(...args));
      const e2 = await caught(() => simulate({ ...base, runtime: commsFail }));
      expect(e2).to.be.instanceOf(SetupError).with.property('code', 'ERR_FAIRRING_SETUP');
      expect(e2.message).to.match(/^simulate\(\): the \w+ communicator of global ranks [\d, ]+ could not be created: communicator refused \(test\)$/);
      expect((e2.cause as Error).message).to.equal('communicator refused (test)');
      expect(await threadsSettle(before), 'threads after initComms failed').to.be.at.most(before!);

      // The same world still builds afterwards, and a process whose simulate() failed exits by itself.
      const w = await open();
      expect(w.memory().allocatedBytes).to.be.above(0);
      const script = `
        import { simulate, nativeRuntime } from ${JSON.stringify(distIndex)};
        let n = 0;
        const rt = Object.create(nativeRuntime);
        rt.Buffer = function (d, b) { return new nativeRuntime.Buffer(d, ++n === 4 ? 2 ** 50 : b); };
        try { await simulate({ machines: 2, devicesPerMachine: 2, runtime: rt }); } catch (e) { console.log(e.code); }
      `;
      const child = await runNodeScript(script, 20000);
      const r = { code: child.code, out: child.stdout };
      expect(r).to.deep.equal({ code: 0, out: 'ERR_FAIRRING_ARGUMENT\n' });
    });
  });

  it('upload(): only Float32/Float64/Int8/Uint8/Int32/BigInt64 arrays, and Uint16Array with dtype float16 | bfloat16', async () => {
    const w = await open({ machines: 1, devicesPerMachine: 1 });
    const d = w.devices[0]!;
    const cases: Array<[unknown, unknown, RegExp]> = [
      [new Uint16Array(4), { dtype: 'float8' }, /^dtype must be 'float16' or 'bfloat16' .*got "float8"/],
      [new Float32Array(4), { dtype: 'float16' }, /dtype 'float16' is given only with a Uint16Array .*got Float32Array/],
      [new Uint32Array(4), {}, /data must be a Float32Array, .*; got Uint32Array$/],
      [new DataView(new ArrayBuffer(8)), {}, /got DataView$/],
      [[1, 2, 3], {}, /got \[1, 2, 3\]$/],
      [Array.from({ length: 1000 }, (_, i) => i), {}, /got \[0, 1, 2, 3, 4, 5, 6, 7, … \(1000 elements\)\]$/],
      [new Uint16Array(4), { dtype: 'x'.repeat(100000) }, /got "x{64}"… \(100000 characters\); other dtypes/],
      [new Float32Array(4), { dtype: 'float16', stream: 1 }, /upload takes no option 'stream'/],
    ];
    for (const [data, options, pattern] of cases) {
      const e = await caught(() => d.upload(data as ArrayBufferView, options as { dtype?: 'float16' }));
      expect(e, String(pattern)).to.be.instanceOf(ArgumentError).with.property('code', 'ERR_FAIRRING_ARGUMENT');
      expect(e.message).to.match(pattern);
    }
    expect(await caught(() => d.upload(new Uint16Array(4))))
      .to.be.instanceOf(ArgumentError)
      .with.property('message')
      .match(/a Uint16Array carries float16 or bfloat16 values: pass \{ dtype: 'float16' \| 'bfloat16' \}/);
    const t = await d.upload(new Uint16Array([0x3c00, 0x4000]), { dtype: 'bfloat16' });
    expect([t.dtype, t.length]).to.deep.equal(['bfloat16', 2]);
    t.close();
    // A DataView that calls itself a Float64Array is still a DataView.
    const fake = new DataView(new ArrayBuffer(16));
    Object.defineProperty(fake, Symbol.toStringTag, { value: 'Float64Array' });
    expect(await caught(() => d.upload(fake))).to.be.instanceOf(ArgumentError).with.property('message').match(/^data must be a Float32Array/);
    // Arrays made in another realm (a vm context, as test runners' sandboxes make them) are the same types.
    const foreign = vm.runInNewContext('[new Float64Array([1.5, -2]), new Uint16Array([0x3c00])]') as [Float64Array, Uint16Array];
    const f = await d.upload(foreign[0]);
    expect([f.dtype, f.length, Array.from(await f.download() as Float64Array)]).to.deep.equal(['float64', 2, [1.5, -2]]);
    expect((await d.upload(foreign[1], { dtype: 'float16' })).dtype).to.equal('float16');
  });

  it('allReduce(): options it does not take are refused, op is checked against reduceOps', async () => {
    const w = await open();
    const ts = await Promise.all(w.devices.map((d) => d.upload(new Float32Array([1, 2]))));
    const cases: Array<[unknown, RegExp]> = [
      [{ op: 'sum', pipeline: 'nccl' }, /^allReduce takes no option 'pipeline' \(its only option is op\); the pipeline belongs to the world: simulate\(\{ pipeline \}\)$/],
      [{ opp: 'max' }, /allReduce takes no option 'opp'/],
      [{ op: 'mean' }, /^op must be one of 'sum', 'prod', 'max', 'min', 'avg', got 'mean'$/],
      [null, /^allReduce takes an options object such as \{ op: 'sum' \}, got null$/],
      [[], /^allReduce takes an options object such as \{ op: 'sum' \}, got \[\]$/],
      [{ op: null }, /^op must be one of 'sum', 'prod', 'max', 'min', 'avg', got null$/],
      [{ op: Object.create(null) }, /^op must be one of 'sum', 'prod', 'max', 'min', 'avg', got object \(no prototype\)$/],
    ];
    for (const [options, pattern] of cases) {
      const e = await caught(() => w.allReduce(ts, options as object));
      expect(e).to.be.instanceOf(ArgumentError).with.property('code', 'ERR_FAIRRING_ARGUMENT');
      expect(e.message).to.match(pattern);
    }
    const each = await caught(() => new Promise((resolve, reject) => w.allReduceEach$([ts], { pipeline: 'nccl' } as object).subscribe({ complete: () => resolve(undefined), error: reject })));
    expect(each).to.be.instanceOf(ArgumentError).with.property('message').match(/allReduceEach\$ takes no option 'pipeline'/);
    const loop = await caught(() => w.referenceLoop(ts, { iterations: 1, pipeline: 'nccl' } as { iterations: number }));
    expect(loop).to.be.instanceOf(ArgumentError).with.property('message').match(/referenceLoop takes no option 'pipeline' \(its options: op, iterations\)/);
    const tooMany = await caught(() => w.referenceLoop(ts, { iterations: 2 ** 32 }));
    expect(tooMany).to.be.instanceOf(ArgumentError).with.property('message').match(/^iterations must be an integer from 1 to 4294967295, got 4294967296$/);
    const noBucket = await caught(() => w.referenceLoop(null as unknown as typeof ts, { iterations: 1 }));
    expect(noBucket).to.be.instanceOf(ArgumentError).with.property('message').match(/^referenceLoop takes a bucket .* got null$/);
    const badBucket = await caught(() => w.referenceLoop([ts, [ts[0]!]], { iterations: 1 }));
    expect(badBucket).to.be.instanceOf(ArgumentError).with.property('message').match(/^referenceLoop \(bucket 1\) takes one tensor per local device: \d+ expected, got 1/);
    // Nothing was submitted: the world is idle and the tensors unchanged.
    expect(w.memory().pools.inflight.highWater).to.equal(0);
    expect(Array.from(await ts[0]!.download() as Float32Array)).to.deep.equal([1, 2]);
    await w.allReduce(ts, { op: 'max' });
    expect(Array.from(await ts[0]!.download() as Float32Array)).to.deep.equal([1, 2]);
    // A loop needs the world to itself: an all-reduce still under way is refused, not captured.
    const running = w.allReduce(ts, { op: 'max' });
    const busy = await caught(() => w.referenceLoop(ts, { iterations: 1 }));
    expect(busy).to.be.instanceOf(ArgumentError).with.property('message', 'referenceLoop needs an idle world: await every all-reduce first');
    await running;
  });

  it('new Tensor() checks what it is given; a tensor whose memory was closed is refused by allReduce and download', async () => {
    const w = await open({ machines: 1, devicesPerMachine: 2 });
    const d = w.devices[0]!;
    const t = await d.upload(new Float32Array(8));
    const cases: Array<[() => unknown, RegExp]> = [
      [() => new Tensor(d, t.buffer, 'float32', -8), /^new Tensor\(\): length must be a non-negative integer, got -8$/],
      [() => new Tensor(d, t.buffer, 'float32', 1.5), /^new Tensor\(\): length must be a non-negative integer, got 1.5$/],
      [() => new Tensor(d, t.buffer, 'float32', 9), /^new Tensor\(\): 9 x float32 is 36 bytes, more than its buffer's 32$/],
      [() => new Tensor(d, t.buffer, 'float33' as 'float32', 1), /^new Tensor\(\): dtype must be one of float16, .*, got "float33"$/],
      [() => new Tensor({} as typeof d, t.buffer, 'float32', 1), /^new Tensor\(\): device must be a Device/],
      [() => new Tensor(d, null as unknown as typeof t.buffer, 'float32', 1), /^new Tensor\(\): buffer must be a native Buffer/],
    ];
    for (const [make, pattern] of cases) {
      const e = await caught(make);
      expect(e).to.be.instanceOf(ArgumentError);
      expect(e.message).to.match(pattern);
    }
    expect(new Tensor(d, t.buffer, 'uint8', 32).byteLength).to.equal(32);
    const ts = await Promise.all(w.devices.map((x) => x.upload(new Float32Array([1, 2]))));
    ts[1]!.buffer.close();
    const e = await caught(() => w.allReduce(ts));
    expect(e).to.be.instanceOf(ArgumentError).with.property('message').match(/^tensors\[1\]'s memory was closed \(tensor.buffer.close\(\)\)/);
    expect(await caught(() => ts[1]!.download())).to.be.instanceOf(ClosedError);
    expect(Array.from(await ts[0]!.download() as Float32Array)).to.deep.equal([1, 2]);
  });

  it('upload() takes the data as it is when called: growing or detaching its buffer afterwards changes nothing', async () => {
    const w = await open({ machines: 1, devicesPerMachine: 1 });
    // A resizable ArrayBuffer (ES2024; Node 20 has it, this project's TypeScript lib does not declare it).
    const Resizable = ArrayBuffer as unknown as new (bytes: number, options: { maxByteLength: number }) => ArrayBuffer & { resize(bytes: number): void };
    const grown = new Resizable(16, { maxByteLength: 4096 });
    new Float32Array(grown).set([1, 2, 3, 4]);
    const pending = w.devices[0]!.upload(new Float32Array(grown));
    grown.resize(4096);
    const t = await pending;
    expect(t.length).to.equal(4);
    expect(Array.from(await t.download() as Float32Array)).to.deep.equal([1, 2, 3, 4]);
    const detached = new Float32Array([5, 6]);
    const pending2 = w.devices[0]!.upload(detached);
    structuredClone(detached.buffer, { transfer: [detached.buffer] });
    const t2 = await pending2;
    expect(Array.from(await t2.download() as Float32Array)).to.deep.equal([5, 6]);
  });

  it('a tensor of another world is named as such, with the fix', async () => {
    const a = await open({ machines: 1, devicesPerMachine: 2 });
    const b = await open({ machines: 1, devicesPerMachine: 2 });
    const ta = await Promise.all(a.devices.map((d) => d.upload(new Float32Array(4))));
    const tb = await Promise.all(b.devices.map((d) => d.upload(new Float32Array(4))));
    const e = await caught(() => a.allReduce([tb[0]!, ta[1]!]));
    expect(e).to.be.instanceOf(ArgumentError).with.property('code', 'ERR_FAIRRING_ARGUMENT');
    expect(e.message).to.equal(
      "tensors[0] belongs to another world (it was uploaded to a device of a different simulate() call): upload it with this world's world.devices[0].upload(data)",
    );
    expect(e.message).not.to.match(/rank 0, expected rank 0/);
    // Same world, wrong order: still named by rank.
    expect((await caught(() => a.allReduce([ta[1]!, ta[0]!]))).message).to.match(/tensors\[0\] lives on rank 1, expected rank 0: pass one tensor per device, in world.devices order/);
  });

  it('all-reduces still waiting behind an earlier one on the same tensors when close() is called reject with a ClosedError; the running one completes', async () => {
    const w = await simulate({ machines: 2, devicesPerMachine: 1 });
    const ts = await Promise.all(w.devices.map((d) => d.upload(new Float32Array(1 << 16).fill(1))));
    const first = w.allReduce(ts);
    const queued = [1, 2, 3].map(() => caught(() => w.allReduce(ts)));
    const closed = w.close();
    await first;
    for (const e of await Promise.all(queued)) {
      expect(e).to.be.instanceOf(ClosedError).with.property('code', 'ERR_FAIRRING_CLOSED');
      expect(e.message).to.equal('the world was closed (world.close()) before this all-reduce started: create a new world to run it');
    }
    await closed;
    expect(w.memory().pools.inflight.inUse).to.equal(0);
  });

  it('work after close() is rejected with a ClosedError, not the addon TypeError', async () => {
    const w = await simulate({ machines: 1, devicesPerMachine: 2 });
    const ts = await Promise.all(w.devices.map((d) => d.upload(new Float32Array([1, 2]))));
    await w.allReduce(ts);
    await w.close();
    const checks: Array<[string, () => unknown, RegExp]> = [
      ['download', () => ts[0]!.download(), /^download on device rank 0 after it was closed \(world.close\(\) closes its devices\): download results before closing the world/],
      ['upload', () => w.devices[1]!.upload(new Float32Array(2)), /^upload on device rank 1 after it was closed/],
      ['sync', () => w.devices[0]!.sync(), /^sync on device rank 0 after it was closed/],
      ['allReduce', () => w.allReduce(ts), /^allReduce on a closed world \(world.close\(\) was called\): create a new world with simulate\(\)$/],
      ['referenceLoop', () => w.referenceLoop(ts, { iterations: 1 }), /^referenceLoop on a closed world/],
      ['barrier', () => w.barrier(), /^barrier on a closed world \(world.close\(\) was called\)$/],
    ];
    for (const [what, run, pattern] of checks) {
      const e = await caught(run);
      expect(e, what).to.be.instanceOf(ClosedError).with.property('code', 'ERR_FAIRRING_CLOSED');
      expect(e.message, what).to.match(pattern);
    }
    expect(w.devices[0]!.closed).to.equal(true);
    // A closed tensor, too.
    const w2 = await open({ machines: 1, devicesPerMachine: 1 });
    const t = await w2.devices[0]!.upload(new Float32Array(2));
    t.close();
    expect(await caught(() => t.download())).to.be.instanceOf(ClosedError).with.property('message').match(/the tensor \(rank 0\) is closed: download before tensor.close\(\)/);
    // close() is idempotent.
    await w.close();
  });
});
