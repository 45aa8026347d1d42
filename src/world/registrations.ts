// Tensors registered with a world's Queue. A registration outlives the jobs that use it, so a tensor reduced
// again costs no native call; it is dropped when the tensor is closed and unused, or after the tensor was
// garbage-collected, so the queue never keeps a dropped tensor's memory.
import type { NativeQueue } from '../native.js';
import type { Tensor } from '../runtime/device.js';
import type { Program } from '../runtime/program.js';

interface Registration {
  index: number;
  /** Jobs (or reference loops) using it. */
  uses: number;
}

export class Registrations {
  private readonly registered = new WeakMap<Tensor, Registration>();
  private readonly collected = new FinalizationRegistry<number>((index) => this.drop(index));

  /** `released()`: the queue has let go of every buffer already (the world is closing). */
  constructor(
    private readonly queue: NativeQueue,
    private readonly program: Pick<Program, 'flush'>,
    private readonly released: () => boolean,
  ) {}

  /** The tensors' queue indices; each use is given back with `unregister`. */
  register(tensors: readonly Tensor[]): number[] {
    const indices: number[] = [];
    for (const t of tensors) {
      let entry = this.registered.get(t);
      if (entry === undefined) {
        const created: Registration = { index: this.queue.addBuffer(t.buffer), uses: 0 };
        entry = created;
        this.registered.set(t, created);
        this.collected.register(t, created.index, created);
        t.onClose(() => {
          if (created.uses === 0) this.forget(t, created);
        });
      }
      entry.uses++;
      indices.push(entry.index);
    }
    return indices;
  }

  unregister(tensors: readonly Tensor[]): void {
    for (const t of tensors) {
      const entry = this.registered.get(t);
      if (entry !== undefined && --entry.uses === 0 && t.closed) this.forget(t, entry);
    }
  }

  private forget(t: Tensor, entry: Registration): void {
    if (this.registered.get(t) !== entry) return;
    this.registered.delete(t);
    this.collected.unregister(entry);
    this.drop(entry.index);
  }

  private drop(index: number): void {
    if (this.released()) return;
    // Units not yet flushed may name the buffer (a job failed and ended before they went out): they go first,
    // or a buffer registered next at the same index would take their place.
    this.program.flush();
    this.queue.removeBuffer(index);
  }
}
