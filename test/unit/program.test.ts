// The Program packs ops for the native Queue and numbers records as the Queue does, also when a submit is
// refused or a stage throws halfway through packing.
import { expect } from 'chai';
import { Program, native } from '../../src/index.js';

describe('Program over the native CPU Queue', () => {
  function setup(): { program: Program; queue: InstanceType<typeof native.Queue>; stream: number; close(): void } {
    const device = new native.Device('cpu', 0);
    const s = new native.Stream(device);
    const queue = new native.Queue('cpu', () => undefined);
    const stream = queue.addStream(s);
    const program = new Program(queue);
    program.track(stream);
    return { program, queue, stream, close: () => (queue.close(), s.close()) };
  }

  it('numbers records as the Queue does, and drops empty groups', () => {
    const { program, queue, stream, close } = setup();
    expect(program.record(stream)).to.equal(1);
    program.beginGroup();
    program.endGroup();
    expect(program.record(stream)).to.equal(2);
    program.submit();
    expect(queue.records(stream)).to.equal(2);
    close();
  });

  it('discards what a stage packed before it threw, record numbers included', () => {
    const { program, queue, stream, close } = setup();
    program.record(stream);
    program.submit();
    program.record(stream);
    program.wait(stream, { stream, seq: 1 });
    program.discard();
    expect(program.recordsOf(stream)).to.equal(1);
    expect(program.record(stream)).to.equal(2);
    program.submit();
    expect(queue.records(stream)).to.equal(2);
    close();
  });

  it('gives the record numbers of a refused submit back', () => {
    const { program, queue, stream, close } = setup();
    program.record(stream);
    program.copy(stream, 7, 0, 7, 0, 8);
    expect(() => program.submit()).to.throw(RangeError, /ops\[1\] \(copy\): dst 7 is not a registered buffer/);
    expect([program.recordsOf(stream), queue.records(stream)]).to.deep.equal([0, 0]);
    expect(program.record(stream)).to.equal(1);
    close();
  });
});
