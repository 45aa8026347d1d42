import { expect } from 'chai';
import { Writable } from 'node:stream';
import { sliceProgress } from '../../src/cli/progress.js';

function captured(isTTY: boolean): { stream: NodeJS.WriteStream; text(): string } {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      text += chunk.toString();
      callback();
    },
  });
  return { stream: Object.assign(sink, { isTTY, columns: 100 }) as unknown as NodeJS.WriteStream, text: () => text };
}

describe('slice progress', () => {
  it('writes a plain line at each quarter reached to a stream that is not a terminal, no bar or control codes', () => {
    const out = captured(false);
    const p = sliceProgress(8, out.stream);
    for (let i = 0; i < 8; i++) p.tick();
    p.stop();
    expect(out.text()).to.equal('progress: 2/8 slices (25%)\nprogress: 4/8 slices (50%)\nprogress: 6/8 slices (75%)\nprogress: 8/8 slices (100%)\n');
    const few = captured(false);
    const q = sliceProgress(3, few.stream);
    for (let i = 0; i < 3; i++) q.tick();
    expect(few.text()).to.equal('progress: 1/3 slices (25%)\nprogress: 2/3 slices (50%)\nprogress: 3/3 slices (100%)\n');
  });

  it('draws a bar on a terminal, ending at the total with a newline', () => {
    const out = captured(true);
    const p = sliceProgress(4, out.stream);
    expect(out.text()).to.include('[------------------------------] 0/4 slices');
    for (let i = 0; i < 4; i++) p.tick();
    p.stop();
    expect(out.text()).to.include('[==============================] 4/4 slices');
    expect(out.text()).to.match(/\n$/);
  });
});
