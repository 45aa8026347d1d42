import { expect } from 'chai';
import { InvalidArgumentError } from 'commander';
import { formatSize, listOf, nonNegativeInt, positiveInt, size, sizeRange } from '../../src/cli/args.js';
import { pairedRatio, spread } from '../../src/cli/bench/stats.js';

describe('cli argument parsers', () => {
  it('reads sizes with binary units', () => {
    expect(['4096', '64K', '64KiB', '25M', '25MiB', '1GiB', '1.5K'].map(size)).to.deep.equal([4096, 65536, 65536, 25 << 20, 25 << 20, 2 ** 30, 1536]);
    for (const bad of ['0', '', 'x', '1.1', '-4K', '4TiB']) expect(() => size(bad), bad).to.throw(InvalidArgumentError, /positive whole number of bytes/);
  });

  it('expands a size range into powers of two', () => {
    expect(sizeRange('4KiB..32KiB')).to.deep.equal([4096, 8192, 16384, 32768]);
    expect(sizeRange('1MiB..1MiB')).to.deep.equal([2 ** 20]);
    expect(() => sizeRange('4KiB')).to.throw(InvalidArgumentError, /LO\.\.HI/);
    expect(() => sizeRange('3KiB..8KiB')).to.throw(InvalidArgumentError, /powers of two/);
    expect(() => sizeRange('8KiB..4KiB')).to.throw(InvalidArgumentError, /must not exceed/);
  });

  it('takes integers', () => {
    expect(positiveInt('3')).to.equal(3);
    expect(nonNegativeInt('0')).to.equal(0);
    for (const bad of ['0', '-1', '1.5', 'two', '']) expect(() => positiveInt(bad), bad).to.throw(InvalidArgumentError, /positive integer/);
  });

  it('takes lists of known, distinct names', () => {
    const parse = listOf(['a', 'b', 'c']);
    expect(parse('a,c')).to.deep.equal(['a', 'c']);
    expect(() => parse('a,d')).to.throw(InvalidArgumentError, 'Unknown: d. Known: a, b, c.');
    expect(() => parse('a,a')).to.throw(InvalidArgumentError, /twice/);
  });

  it('formats sizes', () => {
    expect([4096, 25 << 20, 2 ** 30, 1000].map(formatSize)).to.deep.equal(['4 KiB', '25 MiB', '1 GiB', '1000 B']);
  });
});

describe('bench statistics', () => {
  it('gives the median and the range', () => {
    expect(spread([3, 1, 2])).to.deep.equal({ median: 2, min: 1, max: 3 });
    expect(spread([4, 1, 2, 3]).median).to.equal(2.5);
  });

  it('takes the median of ratios of runs side by side, not the ratio of medians', () => {
    expect(pairedRatio([2, 10, 3], [1, 4, 3])).to.deep.equal({ median: 2, min: 1, max: 2.5 });
    expect(() => pairedRatio([1], [1, 2])).to.throw(RangeError);
  });
});
