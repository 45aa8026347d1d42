// A bounded pool of slots handed out first-come first-served. A slot comes back only when the work that last
// used it has completed on the device, so the pool bounds memory and slows a producer that outruns the devices.
import { Observable, Subject } from 'rxjs';
import type { Mark } from '../runtime/program.js';

interface Waiter {
  deliver(slot: number): void;
}

export class SlotPool {
  private readonly free: number[];
  private readonly waiters: Waiter[] = [];
  private inUse = 0;
  private high = 0;
  private readonly returned = new Subject<void>();
  /** Emits each time a slot comes back, after waiting acquirers have been served. */
  readonly released$: Observable<void> = this.returned.asObservable();

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

  /** A slot at once if one is free and nobody waits for one, else null. */
  tryTake(): number | null {
    return this.waiters.length === 0 && this.free.length > 0 ? this.take() : null;
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

  /** Returns the slot at once. */
  give(slot: number): void {
    this.giveBack(slot);
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
    this.returned.next();
  }
}

/**
 * Slots reused round-robin as the seed does: a slot is handed out again without the host waiting, and the
 * first stage that writes it waits, on the device, for the records of its previous use. The in-flight
 * tokens keep at most `size` slices holding slots, so a slot is never handed out twice at once. In a live world
 * that wait is already met: slices settle in order and a token comes back only when its slice settled, so the
 * slot's previous user is done by the time its next one is admitted (the wait is left out when the host knows
 * it). It is what orders the native loop's replay, which has no tokens: captured programs keep every wait.
 */
export class SlotRing {
  private next = 0;
  private readonly lastUse: Array<Mark[] | null>;
  private readonly held: boolean[];
  private inUse = 0;
  private high = 0;

  constructor(
    readonly name: string,
    readonly size: number,
  ) {
    this.lastUse = Array.from({ length: size }, () => null);
    this.held = Array.from({ length: size }, () => false);
  }

  get stats(): { size: number; inUse: number; highWater: number; waiting: number } {
    return { size: this.size, inUse: this.inUse, highWater: this.high, waiting: 0 };
  }

  /** The next slot, and per local rank the record its previous use ended with (null: never used). */
  take(): { slot: number; after: Mark[] | null } {
    const slot = this.next;
    if (this.size === 0) throw new Error(`the ${this.name} ring has no slots`);
    if (this.held[slot]) throw new Error(`${this.name} slot ${slot} handed out twice: more slices in flight than slots`);
    this.next = (slot + 1) % this.size;
    this.held[slot] = true;
    this.inUse++;
    this.high = Math.max(this.high, this.inUse);
    return { slot, after: this.lastUse[slot] ?? null };
  }

  /**
   * The slot's last use was enqueued; `lastUse` (per local rank) is what its next user waits on. A slot given
   * back unused (null) by the slice that took it last is handed out next again, so slots stay in ring order.
   */
  give(slot: number, lastUse: Mark[] | null): void {
    if (!this.held[slot]) return;
    this.held[slot] = false;
    this.inUse--;
    if (lastUse !== null) this.lastUse[slot] = lastUse;
    else if ((slot + 1) % this.size === this.next) this.next = slot;
  }
}
