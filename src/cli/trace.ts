// Per-stage timings as a Chrome trace-event file (loads in Perfetto and chrome://tracing): one process per rank,
// one thread per stream within it (in pipeline order: reduceScatter, collect, add, diffuse, allGather; admit and
// the nccl pipeline's allReduce share reduceScatter's, finish allGather's), one complete event per stage and slice
// (named by its stage, its category the pipeline), placed
// where the stage started on its device (StageTiming.startMs) in microseconds on the host's monotonic clock
// (viewers show them from the trace's first event). Processes on one host share that clock, so their traces
// merge into one timeline. A timing whose start is unknown (NaN) has no place on it and is left out.
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import type { StageTiming } from '../world/engine.js';
import { streamNames } from '../engine/context.js';

/** A stage timing and the pipeline it came from (its events' category). */
export interface TracedTiming extends StageTiming {
  pipeline: string;
}

export type TraceEvent =
  | { ph: 'M'; name: 'process_name' | 'thread_name'; pid: number; tid: number; args: { name: string } }
  | { ph: 'M'; name: 'process_sort_index' | 'thread_sort_index'; pid: number; tid: number; args: { sort_index: number } }
  | {
      ph: 'X';
      name: string;
      cat: string;
      pid: number;
      tid: number;
      /** Microseconds. */
      ts: number;
      dur: number;
      args: { job: number; slice: number; bytes: number };
    };

export interface ChromeTrace {
  traceEvents: TraceEvent[];
  displayTimeUnit: 'ms';
}

export function chromeTrace(timings: Iterable<TracedTiming>): ChromeTrace {
  const meta: TraceEvent[] = [];
  const complete: TraceEvent[] = [];
  const ranks = new Set<number>();
  const all = [...timings].filter((t) => Number.isFinite(t.startMs));
  /** Per rank: the thread ids of its tracks named so far (a stream's is its place in pipeline order, from 1). */
  const tracks = new Map<number, Set<number>>();
  for (const t of all) {
    if (!ranks.has(t.rank)) {
      ranks.add(t.rank);
      tracks.set(t.rank, new Set());
      meta.push(
        { ph: 'M', name: 'process_name', pid: t.rank, tid: 0, args: { name: `rank ${t.rank}` } },
        { ph: 'M', name: 'process_sort_index', pid: t.rank, tid: 0, args: { sort_index: t.rank } },
      );
    }
    const rankTracks = tracks.get(t.rank)!;
    const tid = streamNames.indexOf(t.stream) + 1;
    if (!rankTracks.has(tid)) {
      rankTracks.add(tid);
      meta.push(
        { ph: 'M', name: 'thread_name', pid: t.rank, tid, args: { name: `${t.stream} stream` } },
        { ph: 'M', name: 'thread_sort_index', pid: t.rank, tid, args: { sort_index: tid } },
      );
    }
    complete.push({
      ph: 'X',
      name: t.stage,
      cat: t.pipeline,
      pid: t.rank,
      tid,
      ts: t.startMs * 1000,
      dur: t.ms * 1000,
      args: { job: t.job, slice: t.slice, bytes: t.bytes },
    });
  }
  return { traceEvents: [...meta, ...complete], displayTimeUnit: 'ms' };
}

/** Where the process whose first global rank is `rank` writes its trace: `file` for rank 0, else `file` with
 *  `.rank<rank>` before its extension (bench-trace.json: bench-trace.rank2.json). */
export function tracePath(file: string, rank: number): string {
  if (rank === 0) return file;
  const ext = path.extname(file);
  return `${file.slice(0, file.length - ext.length)}.rank${rank}${ext}`;
}

export async function writeTrace(file: string, timings: Iterable<TracedTiming>): Promise<void> {
  await writeFile(file, JSON.stringify(chromeTrace(timings)));
}
