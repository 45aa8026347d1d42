// Events: each record's completion time and error are fixed when it is recorded, because virtual work never
// depends on data; only what the host observes (completion) waits for the scheduler's clock.
import { defer, firstValueFrom, mergeMap, of, throwError, timer, type Observable } from 'rxjs';
import type { NativeDevice, NativeEvent } from '../../../src/native.js';
import type { VirtualContext } from './context.js';
import { deviceOf, sameDevice, type VirtualDevice } from './device.js';

/** One record of an event: when it completes and the error it carries. */
export interface EventRecord {
  readonly time: number;
  readonly error: string | null;
}

export interface EventState {
  readonly device: VirtualDevice;
  readonly timing: boolean;
  record: EventRecord | null;
  closed: boolean;
}

/** Emits once and completes when the event's latest record so far completes; errors if it failed. */
export function completion(ctx: VirtualContext, event: NativeEvent): Observable<void> {
  return defer(() => {
    const record = ctx.events.get(event, 'event').record;
    if (record === null) return of(undefined);
    const { time, error } = record;
    const outcome = error === null ? of(undefined) : throwError(() => new Error(error));
    const delay = time - ctx.now();
    return delay <= 0 ? outcome : timer(delay, ctx.scheduler).pipe(mergeMap(() => outcome));
  });
}

function completedAt(ctx: VirtualContext, record: EventRecord | null): number {
  if (record === null || record.time > ctx.now()) throw new Error('elapsedMs needs both events recorded and complete');
  if (record.error !== null) throw new Error(`elapsedMs of a failed event: ${record.error}`);
  return record.time;
}

export class EventHandle implements NativeEvent {
  readonly #ctx: VirtualContext;
  readonly #state: EventState;

  constructor(ctx: VirtualContext, device: NativeDevice, timing?: boolean) {
    if (timing !== undefined && typeof timing !== 'boolean') throw new TypeError('timing must be a boolean');
    this.#ctx = ctx;
    this.#state = { device: deviceOf(device, 'device'), timing: timing ?? false, record: null, closed: false };
    ctx.events.add(this, this.#state);
  }

  get closed(): boolean {
    return this.#state.closed;
  }

  /** The latest record; throws when the event was never recorded. */
  get latest(): EventRecord {
    if (this.#state.record === null) throw new TypeError('Event has not been recorded');
    return this.#state.record;
  }

  completion(): Promise<void> {
    this.#ctx.events.get(this, 'event');
    return firstValueFrom(completion(this.#ctx, this));
  }

  isComplete(): boolean {
    const record = this.#ctx.events.get(this, 'event').record;
    return record === null || record.time <= this.#ctx.now();
  }

  elapsedMs(end: NativeEvent): number {
    const a = this.#ctx.events.get(this, 'event');
    const b = this.#ctx.events.get(end, 'end');
    if (!a.timing || !b.timing) throw new TypeError('elapsedMs needs two events created with timing');
    if (!sameDevice(a.device, b.device)) throw new TypeError('elapsedMs needs two events of one device');
    return completedAt(this.#ctx, b.record) - completedAt(this.#ctx, a.record);
  }

  close(): void {
    this.#state.closed = true;
  }
}
