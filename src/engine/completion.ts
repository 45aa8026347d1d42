// Completion as the host learns it: the Queue reports, in bulk, how far each stream has completed; this turns
// those reports into per-record notifications (as Observables for users, as callbacks for the engine) without
// a promise or a timer per record. A report wakes the JS thread, so the Queue sends one only once a stream
// reaches the record waited for first on it (want): other completions come along with it.
import { Observable } from 'rxjs';
import type { NativeEvent } from '../native.js';
import type { Mark } from '../runtime/program.js';
import { nativeRuntime, type Runtime } from '../runtime/runtime.js';

/** Emits once and completes when the event's latest record (at subscription) completes; errors if it failed. */
export function completion(event: NativeEvent, runtime: Runtime = nativeRuntime): Observable<void> {
  return runtime.completion(event);
}

interface Waiter {
  seq: number;
  done(error: string | null): void;
}

interface StreamState {
  completed: number;
  /** The record the Queue was asked to report (want), Infinity when none. */
  asked: number;
  failedFrom: number;
  error: string;
  /** Records from here on never reached the Queue (abandon): they fail without a report. */
  abandonedFrom: number;
  abandonError: string;
  /** Ascending by seq: records are registered in the order they were made. */
  waiters: Waiter[];
  head: number;
}

/** What a Queue timing says of a timing end record: its device time from its start, and the start's time. */
export interface RecordTiming {
  ms: number;
  /** On the runtime's clock (Runtime.now()). */
  startMs: number;
}

export class Completions {
  private readonly streams: StreamState[] = [];
  private readonly timings = new Map<number, RecordTiming>();

  /**
   * Told of an error a callback threw while a report or an abandon woke it; the other callbacks still run. The
   * engine's callbacks do not throw, so this is a bug: the world fails with it. Without a handler the error is
   * thrown from a microtask of its own (an uncaught exception), not lost in the Queue's callback.
   */
  onCallbackError: ((error: unknown) => void) | null = null;

  /** `want` is the Queue's: a report asked for once the stream reaches seq; how far it is known complete. */
  constructor(private readonly want: (stream: number, seq: number) => number) {}

  /** The Queue's progress callback. */
  readonly onProgress = (done: Float64Array, errors: readonly string[], timings: Float64Array): void => {
    for (let i = 0; i + 3 < timings.length; i += 4) this.timings.set(key(timings[i]!, timings[i + 1]!), { ms: timings[i + 2]!, startMs: timings[i + 3]! });
    for (let i = 0; i * 3 + 2 < done.length; i++) {
      const s = this.state(done[i * 3]!);
      s.completed = Math.max(s.completed, done[i * 3 + 1]!);
      if (s.completed >= s.asked) s.asked = Infinity;
      const failedFrom = done[i * 3 + 2]!;
      if (failedFrom > 0 && (s.failedFrom === 0 || failedFrom < s.failedFrom)) {
        s.failedFrom = failedFrom;
        s.error = errors[i] ?? 'failed';
      }
      this.wake(s, done[i * 3]!);
    }
  };

  /** Whether the record has completed: null while pending, '' when it succeeded, else its error. */
  status(mark: Mark): string | null {
    const s = this.state(mark.stream);
    if (mark.seq >= s.abandonedFrom) return s.abandonError;
    if (mark.seq > s.completed) return null;
    return s.failedFrom > 0 && mark.seq >= s.failedFrom ? s.error : '';
  }

  /** Calls back once a report covers the record (with its error, or null), at once if one did already. */
  whenDone(mark: Mark, done: (error: string | null) => void): void {
    const status = this.status(mark);
    if (status !== null) {
      done(status === '' ? null : status);
      return;
    }
    const s = this.state(mark.stream);
    if (mark.seq < s.asked) {
      this.want(mark.stream, mark.seq);
      s.asked = mark.seq;
      // Asking flushes what is packed; a refusal there abandons records.
      if (mark.seq >= s.abandonedFrom) {
        done(s.abandonError);
        return;
      }
    }
    const w = s.waiters;
    // Kept sorted: a record registered late (a timing start, an older mark) goes before later ones.
    let at = w.length;
    while (at > s.head && w[at - 1]!.seq > mark.seq) at--;
    w.splice(at, 0, { seq: mark.seq, done });
  }

  /** The record's completion as an Observable: emits once and completes, or errors with a failed record. */
  reached$(mark: Mark): Observable<void> {
    return new Observable<void>((subscriber) => {
      let live = true;
      this.whenDone(mark, (error) => {
        if (!live) return;
        if (error === null) {
          subscriber.next();
          subscriber.complete();
        } else {
          subscriber.error(new Error(error));
        }
      });
      return () => {
        live = false;
      };
    });
  }

  /**
   * Records of the stream from `from` on will never exist (the Queue refused them): they count as failed with
   * `error`, and their waiters hear so now.
   */
  abandon(stream: number, from: number, error: string): void {
    const s = this.state(stream);
    if (from >= s.abandonedFrom) return;
    s.abandonedFrom = from;
    s.abandonError = `never issued: ${error}`;
    const w = s.waiters;
    const gone = w.splice(s.head).filter((waiter) => {
      if (waiter.seq < from) w.push(waiter);
      return waiter.seq >= from;
    });
    for (const waiter of gone) this.call(waiter, s.abandonError);
  }

  /** Device time of a timing end record and when its start was reached, once reported; taken out when read. */
  takeTiming(mark: Mark): RecordTiming | undefined {
    const k = key(mark.stream, mark.seq);
    const timing = this.timings.get(k);
    this.timings.delete(k);
    return timing;
  }

  /**
   * Like status(), but asks the Queue about a record no report covered yet (a completion nothing waits for is
   * not reported): for diagnostics, such as where a timed-out slice stands.
   */
  statusNow(mark: Mark): string | null {
    const status = this.status(mark);
    if (status !== null) return status;
    const s = this.state(mark.stream);
    s.completed = Math.max(s.completed, this.want(mark.stream, mark.seq));
    s.asked = Math.min(s.asked, mark.seq);
    return this.status(mark);
  }

  private state(stream: number): StreamState {
    let s = this.streams[stream];
    if (s === undefined) {
      s = { completed: 0, asked: Infinity, failedFrom: 0, error: '', abandonedFrom: Infinity, abandonError: '', waiters: [], head: 0 };
      this.streams[stream] = s;
    }
    return s;
  }

  private call(waiter: Waiter, error: string | null): void {
    try {
      waiter.done(error);
    } catch (e) {
      const told = this.onCallbackError;
      if (told === null) {
        queueMicrotask(() => {
          throw e;
        });
      } else {
        told(e);
      }
    }
  }

  private wake(s: StreamState, stream: number): void {
    const w = s.waiters;
    while (s.head < w.length && w[s.head]!.seq <= s.completed) {
      const waiter = w[s.head]!;
      s.head++;
      this.call(waiter, s.failedFrom > 0 && waiter.seq >= s.failedFrom ? s.error : null);
    }
    // The Queue reports only what is asked for: the next waiter's record.
    if (s.head < w.length && w[s.head]!.seq < s.asked) {
      s.asked = w[s.head]!.seq;
      this.want(stream, s.asked);
    }
    if (s.head > 64 && s.head * 2 > w.length) {
      w.splice(0, s.head);
      s.head = 0;
    }
  }
}

function key(stream: number, seq: number): number {
  return stream * 2 ** 32 + seq;
}
