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
  it('writes nothing at all to a stream that is not a terminal', () => {
    const out = captured(false);
    const p = sliceProgress(3, out.stream);
    p.tick();
    p.tick();
    p.tick();
    p.stop();
    expect(out.text()).to.equal('');
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
