// From runs to rows: per-slice figures of every run, their median and spread, and ratios to the baseline and
// to the native reference loop over runs that ran side by side.
import type { Run, Series } from './measure.js';
import { pairedRatio, spread, type Spread } from './stats.js';

/** One run's figures. busbw as nccl-tests define it: algbw · 2(n−1)/n, algbw = bytes per rank / time. */
export interface RunFigures {
  wallUsPerSlice: number;
  jsBusyUsPerSlice: number;
  /** The event loop's occupancy, 0 to 1. */
  loopBusy: number;
  jsCpuUsPerSlice: number;
  cpuUsPerSlice: number;
  algbw: number;
  busbw: number;
}

export interface Row {
  /** Bytes per bucket and rank. */
  bytes: number;
  pipeline: string;
  kind: Series['kind'];
  slicesPerRun: number;
  wallUsPerSlice: Spread;
  jsBusyUsPerSlice: Spread;
  loopBusy: Spread;
  jsCpuUsPerSlice: Spread;
  cpuUsPerSlice: Spread;
  algbw: Spread;
  busbw: Spread;
  /** The stage with the largest median device time per rank and slice (with timings). */
  busiestStage?: { stage: string; usPerSlice: Spread };
  /** Throughput relative to the baseline pipeline at the same size (its time / this time, over paired runs). */
  vsBaseline: Spread;
  /** Throughput relative to the native reference loop at the same size, where there is one. */
  vsReference?: Spread;
  runs: Array<Run & RunFigures>;
}

function runFigures(run: Run, runBytes: number, ranks: number): RunFigures {
  const algbw = runBytes / (run.wallMs / 1000) / 1e9;
  return {
    wallUsPerSlice: (run.wallMs * 1000) / run.slices,
    jsBusyUsPerSlice: (run.jsBusyMs * 1000) / run.slices,
    loopBusy: run.loopBusy,
    jsCpuUsPerSlice: (run.jsCpuMs * 1000) / run.slices,
    cpuUsPerSlice: (run.cpuMs * 1000) / run.slices,
    algbw,
    busbw: (algbw * 2 * (ranks - 1)) / ranks,
  };
}

export function summarize(series: readonly Series[], baseline: string, ranks: number): Row[] {
  return series.map((s) => {
    const peers = series.filter((p) => p.bytes === s.bytes);
    const base = peers.find((p) => p.kind === 'pipeline' && p.pipeline === baseline)!;
    // Each pipeline against the native loop that re-issues its own program.
    const reference = peers.find((p) => p.kind === 'reference' && p.pipeline === s.pipeline);
    const runs = s.runs.map((r) => ({ ...r, ...runFigures(r, s.runBytes, ranks) }));
    const of = (key: keyof RunFigures): Spread => spread(runs.map((r) => r[key]));
    const busiest = busiestStage(s.runs);
    return {
      bytes: s.bytes,
      pipeline: s.pipeline,
      kind: s.kind,
      slicesPerRun: s.runs[0]!.slices,
      wallUsPerSlice: of('wallUsPerSlice'),
      jsBusyUsPerSlice: of('jsBusyUsPerSlice'),
      loopBusy: of('loopBusy'),
      jsCpuUsPerSlice: of('jsCpuUsPerSlice'),
      cpuUsPerSlice: of('cpuUsPerSlice'),
      algbw: of('algbw'),
      busbw: of('busbw'),
      ...(busiest !== undefined ? { busiestStage: busiest } : {}),
      vsBaseline: pairedRatio(wallMs(base), wallMs(s)),
      ...(reference !== undefined ? { vsReference: pairedRatio(wallMs(reference), wallMs(s)) } : {}),
      runs,
    };
  });
}

function wallMs(s: Series): number[] {
  return s.runs.map((r) => r.wallMs);
}

function busiestStage(runs: readonly Run[]): Row['busiestStage'] {
  const stages = new Set(runs.flatMap((r) => Object.keys(r.stageMs)));
  let busiest: Row['busiestStage'];
  for (const stage of stages) {
    const us = spread(runs.flatMap((r) => (r.stageMs[stage] !== undefined ? [r.stageMs[stage] * 1000] : [])));
    if (busiest === undefined || us.median > busiest.usPerSlice.median) busiest = { stage, usPerSlice: us };
  }
  return busiest;
}
