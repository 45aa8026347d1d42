// The state one virtual runtime shares between its handles: the scheduler whose clock it runs on, the models
// and log, and which handles belong to it.
import type { SchedulerLike } from 'rxjs';
import type { BufferState } from './buffers.js';
import type { CommState } from './comms.js';
import type { EventState } from './events.js';
import { OpModel, type VirtualRuntimeOptions } from './model.js';
import type { StreamState } from './streams.js';

/** The states of one runtime's handles of one type, found from the handle objects. */
export class Registry<S extends { closed: boolean }> {
  readonly #type: string;
  readonly #states = new WeakMap<object, S>();

  constructor(type: string) {
    this.#type = type;
  }

  add(handle: object, state: S): void {
    this.#states.set(handle, state);
  }

  /** The state of `v`, a live handle of this runtime; `name` names the argument in errors. */
  get(v: unknown, name: string): S {
    const state = typeof v === 'object' && v !== null ? this.#states.get(v) : undefined;
    if (state === undefined) throw new TypeError(`${name} must be a ${this.#type} of this runtime`);
    if (state.closed) throw new TypeError(`${this.#type} is closed`);
    return state;
  }
}

export class VirtualContext {
  readonly scheduler: SchedulerLike;
  readonly model: OpModel;
  readonly buffers = new Registry<BufferState>('Buffer');
  readonly streams = new Registry<StreamState>('Stream');
  readonly events = new Registry<EventState>('Event');
  readonly comms = new Registry<CommState>('Comm');
  /** Buffers created and not yet closed. */
  readonly liveBuffers = new Set<object>();
  #nextStream = 0;
  #nextUniqueId = 0;

  constructor(scheduler: SchedulerLike, options: VirtualRuntimeOptions) {
    this.scheduler = scheduler;
    this.model = new OpModel(options);
  }

  now(): number {
    return this.scheduler.now();
  }

  /** Streams are numbered from 0 in creation order. */
  nextStreamId(): number {
    return this.#nextStream++;
  }

  nextUniqueId(): number {
    return this.#nextUniqueId++;
  }
}
