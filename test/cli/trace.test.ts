import { expect } from 'chai';
import { chromeTrace, tracePath, type TraceEvent, type TracedTiming } from '../../src/cli/trace.js';

/** The stream each stage runs on in the built-in pipelines. */
const streamOf = { admit: 'reduceScatter', reduceScatter: 'reduceScatter', allReduce: 'reduceScatter', collect: 'collect', add: 'add', diffuse: 'diffuse', allGather: 'allGather', finish: 'allGather' } as const;

function timing(rank: number, stage: keyof typeof streamOf, slice: number, startMs: number, ms: number, pipeline = 'fairring'): TracedTiming {
  return { job: 1, slice, rank, stage, stream: streamOf[stage], startMs, ms, bytes: 1024 * (slice + 1), pipeline };
}

describe('chromeTrace', () => {
  // Starts on the runtime's clock (an arbitrary origin), not in arrival order.
  const timings = [
    timing(0, 'collect', 0, 5000.25, 0.5),
    timing(1, 'collect', 0, 5000.125, 0.25),
    timing(0, 'add', 0, 5000.75, 0.1),
    timing(0, 'collect', 1, 5001, 0.75),
    timing(0, 'allReduce', 0, 5000, 2, 'nccl'),
    timing(0, 'admit', 1, 5000.5, 0.25),
  ];
  const trace = chromeTrace(timings);
  const complete = trace.traceEvents.filter((e): e is Extract<TraceEvent, { ph: 'X' }> => e.ph === 'X');
  const meta = (name: string): TraceEvent[] => trace.traceEvents.filter((e) => e.ph === 'M' && e.name === name);

  it('is a JSON object of trace events that survives a round trip', () => {
    expect(JSON.parse(JSON.stringify(trace))).to.deep.equal(trace);
    expect(trace.displayTimeUnit).to.equal('ms');
  });

  it('names one process per rank, pid = rank', () => {
    expect(meta('process_name').map((e) => [e.pid, e.args])).to.deep.equal([
      [0, { name: 'rank 0' }],
      [1, { name: 'rank 1' }],
    ]);
  });

  it('names one thread per stream within each rank, its id the stream\'s place in pipeline order', () => {
    expect(meta('thread_name').map((e) => [e.pid, e.tid, e.args])).to.deep.equal([
      [0, 2, { name: 'collect stream' }],
      [1, 2, { name: 'collect stream' }],
      [0, 3, { name: 'add stream' }],
      [0, 1, { name: 'reduceScatter stream' }],
    ]);
    expect(meta('thread_sort_index').map((e) => [e.pid, e.tid, e.args])).to.deep.equal([
      [0, 2, { sort_index: 2 }],
      [1, 2, { sort_index: 2 }],
      [0, 3, { sort_index: 3 }],
      [0, 1, { sort_index: 1 }],
    ]);
  });

  it('has one complete event per timing, in microseconds, placed at its start on the clock', () => {
    expect(complete).to.have.length(timings.length);
    const collect0 = complete.filter((e) => e.pid === 0 && e.tid === 2);
    expect(collect0.map((e) => [e.ts, e.dur])).to.deep.equal([
      [5000250, 500],
      [5001000, 750],
    ]);
    expect(complete.find((e) => e.pid === 1)).to.include({ name: 'collect', cat: 'fairring', ts: 5000125, dur: 250 });
    expect(complete.find((e) => e.name === 'add')).to.include({ pid: 0, tid: 3, ts: 5000750 });
    // Stages that share a stream share its track: the nccl pipeline's allReduce and fairring's admit.
    expect(complete.find((e) => e.name === 'allReduce')).to.include({ pid: 0, tid: 1, cat: 'nccl', ts: 5000000, dur: 2000 });
    expect(complete.find((e) => e.name === 'admit')).to.include({ pid: 0, tid: 1, cat: 'fairring', ts: 5000500, dur: 250 });
    expect(collect0[1]!.args).to.deep.equal({ job: 1, slice: 1, bytes: 2048 });
  });

  it('leaves out a timing whose start is unknown (NaN)', () => {
    const known = chromeTrace([timing(0, 'collect', 0, 20, 1), timing(0, 'collect', 1, Number.NaN, 1), timing(0, 'collect', 2, 21.5, 1)]);
    const events = known.traceEvents.filter((e): e is Extract<TraceEvent, { ph: 'X' }> => e.ph === 'X');
    expect(events.map((e) => [e.args.slice, e.ts])).to.deep.equal([
      [0, 20000],
      [2, 21500],
    ]);
    expect(JSON.parse(JSON.stringify(known))).to.deep.equal(known);
  });

  it('names each process\'s file by its first rank: rank 0 the file given, rank k beside it', () => {
    expect(tracePath('bench-trace.json', 0)).to.equal('bench-trace.json');
    expect(tracePath('out/bench-trace.json', 3)).to.equal('out/bench-trace.rank3.json');
    expect(tracePath('v1.2/trace', 1)).to.equal('v1.2/trace.rank1');
  });

  it('is empty for no timings', () => {
    expect(chromeTrace([]).traceEvents).to.deep.equal([]);
  });
});
