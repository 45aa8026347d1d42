// The Program packs ops for the native Queue, numbers records as the Queue does, and hands the units committed
// in one JS turn to the Queue in one call; a unit the Queue refuses is reported, never thrown at the flush.
import { expect } from 'chai';
import { Program, native } from '../../src/index.js';
import { overriding } from '../helpers/queue.js';

describe('Program over the native CPU Queue', () => {
  function setup(): { program: Program; queue: InstanceType<typeof native.Queue>; stream: number; calls: number[]; close(): void } {
    const device = new native.Device('cpu', 0);
    const s = new native.Stream(device);
    const queue = new native.Queue('cpu', () => undefined);
    const stream = queue.addStream(s);
    // Every submit call's length, to see how units are batched.
    const calls: number[] = [];
    const counting = overriding(queue, (q) => ({
      submit: (ops, length) => {
        calls.push(length);
        q.submit(ops, length);
      },
    }));
    const program = new Program(counting);
    program.track(stream);
    return { program, queue, stream, calls, close: () => (queue.close(), s.close()) };
  }

  it('numbers records as the Queue does, and drops empty groups', () => {
    const { program, queue, stream, close } = setup();
    expect(program.record(stream)).to.equal(1);
    program.beginGroup();
    program.endGroup();
    expect(program.record(stream)).to.equal(2);
    program.commit();
    program.flush();
    expect(queue.records(stream)).to.equal(2);
    close();
  });

  it('hands the units of one turn to the Queue in one call, at a flush or else in a microtask', async () => {
    const { program, queue, stream, calls, close } = setup();
    for (let i = 0; i < 3; i++) {
      program.record(stream);
      program.commit();
    }
    expect(queue.records(stream)).to.equal(0);
    program.flush();
    program.flush();
    expect([calls, queue.records(stream)]).to.deep.equal([[12], 3]);
    program.record(stream);
    program.commit();
    program.record(stream);
    program.commit();
    await Promise.resolve();
    expect([calls, queue.records(stream)]).to.deep.equal([[12, 8], 5]);
    close();
  });

  it('asking the Queue about a record flushes it first', () => {
    const { program, stream, close } = setup();
    const seq = program.record(stream);
    program.commit();
    expect(program.want(stream, seq)).to.be.a('number');
    close();
  });

  it('discards what a stage packed since the last commit, record numbers included, and keeps what was committed', () => {
    const { program, queue, stream, close } = setup();
    program.record(stream);
    program.commit();
    program.record(stream);
    program.wait(stream, { stream, seq: 1 });
    program.discard();
    expect(program.recordsOf(stream)).to.equal(1);
    expect(program.record(stream)).to.equal(2);
    program.commit();
    program.flush();
    expect(queue.records(stream)).to.equal(2);
    close();
  });

  it('replays a capture: waits on captured records renumbered to the replay, waits on earlier ones kept, marks at the last records', () => {
    const device = new native.Device('cpu', 0);
    const raw = [new native.Stream(device), new native.Stream(device)];
    const queue = new native.Queue('cpu', () => undefined);
    const [a, b] = raw.map((s) => queue.addStream(s)) as [number, number];
    const replays: number[][] = [];
    const program = new Program(
      overriding(queue, (q) => ({
        replay: (ops, length, iterations) => {
          replays.push(Array.from(ops.subarray(0, length)));
          return q.replay(ops, length, iterations);
        },
      })),
    );
    program.track(a);
    program.track(b);
    const before = program.record(a);
    program.commit();
    program.flush();
    program.beginCapture();
    const captured = program.record(b);
    program.wait(a, { stream: b, seq: captured });
    program.wait(b, { stream: a, seq: before });
    program.record(a);
    program.commit();
    const capture = program.endCapture();
    // Work between the capture and the replay moves the replay's numbers on: b has records 1 to 3 by then.
    program.record(b);
    program.record(b);
    program.commit();
    const { last: marks } = program.replay(capture, 3);
    // The replay's first iteration records b:4 and a:3; its wait on b:1 becomes one on b:4, the one on a:1 stays.
    expect(replays).to.deep.equal([[2, b, 0, 0, 1, a, b, 4, 1, b, a, before, 2, a, 0, 0]]);
    expect(marks).to.have.deep.members([
      { stream: b, seq: 6 },
      { stream: a, seq: 5 },
    ]);
    expect([queue.records(a), queue.records(b)]).to.deep.equal([5, 6]);
    queue.close();
    raw.forEach((s) => s.close());
  });

  it('a refused unit: those before it are issued, it and those after are dropped and reported with their records, and the program takes no more', () => {
    const { program, queue, stream, calls, close } = setup();
    const reports: Array<[string, Array<[number, number]>]> = [];
    program.onRefused = (error, abandoned) => reports.push([error.message, [...abandoned]]);
    program.record(stream);
    program.commit();
    program.record(stream);
    program.copy(stream, 7, 0, 7, 0, 8);
    program.commit((cause) => new Error(`unit 2: ${(cause as Error).message}`));
    program.record(stream);
    program.commit();
    program.flush();
    // The batch (4 + 11 + 4 fields), then unit by unit: the first, then the refused second.
    expect(calls).to.deep.equal([19, 4, 11]);
    expect(queue.records(stream)).to.equal(1);
    expect(reports).to.have.length(1);
    expect(reports[0]![0]).to.match(/^unit 2: ops\[1\] \(copy\): dst 7 is not a registered buffer/);
    expect(reports[0]![1]).to.deep.equal([[stream, 2]]);
    expect(program.want(stream, 3)).to.equal(0);
    expect(() => program.record(stream)).to.throw(/^unit 2: /);
    expect(() => program.commit()).to.throw(/^unit 2: /);
    program.flush();
    expect(queue.records(stream)).to.equal(1);
    close();
  });

  it('a refusal while a unit is being packed: packing it fails with the refusal, and the program stays consistent', () => {
    const { program, queue, stream, close } = setup();
    let refused: Error | null = null;
    program.onRefused = (error) => (refused = error);
    program.record(stream);
    program.copy(stream, 7, 0, 7, 0, 8);
    program.commit();
    program.beginGroup();
    // Asking about a record flushes the committed unit, which the Queue refuses, with the group still open.
    expect(program.want(stream, 1)).to.equal(0);
    expect(refused).to.be.instanceOf(RangeError);
    expect(() => program.item('send', stream, 0, 'float32', null, 1, 0, 0, -1, -1, 0)).to.throw(RangeError, /dst 7 is not a registered buffer/);
    program.endGroup();
    program.discard();
    expect(() => program.commit()).to.throw(RangeError, /dst 7 is not a registered buffer/);
    expect(queue.records(stream)).to.equal(0);
    close();
  });
});
