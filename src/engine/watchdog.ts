// One timer for the oldest deadline of what a caller keeps in flight, oldest first: the engine's slices (timed
// from admission) and the call check's checks both time out this way, on their own clocks.
import type { Unsubscribable } from 'rxjs';

/** What a watchdog's timer runs on: the world's scheduler (virtual time in marble tests), or `unrefClock`. */
export interface WatchdogClock {
  now(): number;
  schedule(work: () => void, delayMs: number): Unsubscribable;
}

/** Wall time, with timers that do not keep the process alive. */
export const unrefClock: WatchdogClock = {
  now: () => Date.now(),
  schedule(work, delayMs) {
    const timer = setTimeout(work, delayMs);
    timer.unref();
    return { unsubscribe: () => clearTimeout(timer) };
  },
};

export class Watchdog {
  private timer: Unsubscribable | null = null;

  /**
   * `oldestDeadline` gives the earliest deadline still open, or null when nothing is; `fire` runs when the timer
   * set for it goes off (the deadline may have moved meanwhile) and arms the watchdog again as it needs.
   */
  constructor(
    private readonly clock: WatchdogClock,
    private readonly oldestDeadline: () => number | null,
    private readonly fire: () => void,
  ) {}

  /** Sets the timer for the oldest deadline, unless one is set already or nothing is open. */
  arm(): void {
    if (this.timer !== null) return;
    const at = this.oldestDeadline();
    if (at === null) return;
    this.timer = this.clock.schedule(() => {
      this.timer = null;
      this.fire();
    }, Math.max(0, at - this.clock.now()));
  }

  disarm(): void {
    this.timer?.unsubscribe();
    this.timer = null;
  }
}
