// A bounded pool of slots handed out first-come first-served. A slot comes back only when the work that last
// used it has completed on the device, so the pool bounds memory and slows a producer that outruns the devices.
import { Observable } from 'rxjs';

interface Waiter {
  deliver(slot: number): void;
}

export class SlotPool {
  private readonly free: number[];
  private readonly waiters: Waiter[] = [];
  private inUse = 0;
  private high = 0;

  constructor(
    readonly name: string,
    readonly size: number,
  ) {
    this.free = Array.from({ length: size }, (_, i) => i);
  }

  /** Slots handed out and not yet released, and the most there ever were at once. */
  get stats(): { size: number; inUse: number; highWater: number; waiting: number } {
    return { size: this.size, inUse: this.inUse, highWater: this.high, waiting: this.waiters.length };
  }

  /**
   * Emits one slot and completes, as soon as one is free and every earlier acquirer has been served.
   * Unsubscribing before delivery gives up the place in line.
   */
  acquire(): Observable<number> {
    return new Observable<number>((subscriber) => {
      const waiter: Waiter = {
        deliver: (slot) => {
          subscriber.next(slot);
          subscriber.complete();
        },
      };
      if (this.waiters.length === 0 && this.free.length > 0) {
        waiter.deliver(this.take());
        return undefined;
      }
      this.waiters.push(waiter);
      return () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
      };
    });
  }

  /** Returns the slot once `done$` emits or completes (the completion of its last use), or errors. */
  release(slot: number, done$: Observable<unknown>): void {
    let settled = false;
    const give = (): void => {
      if (settled) return;
      settled = true;
      this.giveBack(slot);
    };
    done$.subscribe({ next: give, complete: give, error: give });
  }

  private take(): number {
    const slot = this.free.shift()!;
    this.inUse++;
    this.high = Math.max(this.high, this.inUse);
    return slot;
  }

  private giveBack(slot: number): void {
    this.inUse--;
    this.free.push(slot);
    while (this.waiters.length > 0 && this.free.length > 0) this.waiters.shift()!.deliver(this.take());
  }
}
