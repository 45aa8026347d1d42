// From bench runs to rows, on hand-made runs whose figures are known: per-slice figures, nccl-tests' busbw, and
// ratios over side-by-side runs.
import { expect } from 'chai';
import type { Run, Series } from '../../src/cli/bench/measure.js';
import { summarize } from '../../src/cli/bench/summary.js';

function run(wallMs: number, stageMs: Record<string, number> = {}): Run {
  return { wallMs, slices: 10, jsBusyMs: wallMs / 2, loopBusy: 0.5, jsCpuMs: wallMs / 4, cpuMs: wallMs * 2, stageMs };
}

// 4 MB per rank per run; three runs each, the pairs side by side.
const runBytes = 4e6;
const series: Series[] = [
  { bytes: 4e5, pipeline: 'fairring', kind: 'pipeline', runBytes, runs: [run(2, { collect: 0.5, add: 0.1 }), run(4, { collect: 0.7 }), run(3, { collect: 0.6 })] },
  { bytes: 4e5, pipeline: 'nccl', kind: 'pipeline', runBytes, runs: [run(4), run(4), run(9)] },
  { bytes: 4e5, pipeline: 'fairring', kind: 'reference', runBytes, runs: [run(1), run(2), run(1)] },
];

describe('bench summary', () => {
  it('gives per-slice figures, algbw and busbw = algbw · 2(n−1)/n, each as median and range of the runs', () => {
    const [fairring] = summarize(series, 'nccl', 4);
    // Walls 2, 4, 3 ms for 10 slices: 200, 400, 300 µs per slice.
    expect(fairring!.wallUsPerSlice).to.deep.equal({ median: 300, min: 200, max: 400 });
    expect(fairring!.jsBusyUsPerSlice).to.deep.equal({ median: 150, min: 100, max: 200 });
    expect(fairring!.jsCpuUsPerSlice).to.deep.equal({ median: 75, min: 50, max: 100 });
    expect(fairring!.cpuUsPerSlice).to.deep.equal({ median: 600, min: 400, max: 800 });
    // 4 MB in 3 ms: algbw 4e6 / 3e-3 / 1e9 GB/s; at 4 ranks busbw is 1.5 times that.
    expect(fairring!.algbw.median).to.be.closeTo(4 / 3, 1e-12);
    expect(fairring!.busbw.median).to.be.closeTo(2, 1e-12);
    expect(fairring!.busbw.max).to.be.closeTo(3, 1e-12);
    expect(summarize(series, 'nccl', 2)[0]!.busbw.median).to.be.closeTo(4 / 3, 1e-12);
  });

  it('compares each pipeline with the baseline and with its own native loop over the runs side by side', () => {
    const [fairring, nccl, loop] = summarize(series, 'nccl', 4);
    // nccl time / fairring time per pair: 4/2, 4/4, 9/3.
    expect(fairring!.vsBaseline).to.deep.equal({ median: 2, min: 1, max: 3 });
    // loop time / fairring time per pair: 1/2, 2/4, 1/3.
    expect(fairring!.vsReference!.median).to.equal(0.5);
    expect(fairring!.vsReference!.min).to.be.closeTo(1 / 3, 1e-12);
    expect(nccl!.vsBaseline).to.deep.equal({ median: 1, min: 1, max: 1 });
    expect(nccl!.vsReference).to.equal(undefined);
    expect(loop!.kind).to.equal('reference');
  });

  it('names the stage with the largest median device time, over the runs that timed it', () => {
    const [fairring, nccl] = summarize(series, 'nccl', 4);
    expect(fairring!.busiestStage!.stage).to.equal('collect');
    expect(fairring!.busiestStage!.usPerSlice).to.deep.equal({ median: 600, min: 500, max: 700 });
    expect(nccl!.busiestStage).to.equal(undefined);
  });
});
