// Fairring's memory layout: how a memory budget, a padding budget and a minimum parallelism become a slot
// size, a slice size and the number of padding and staging slots.
import { ArgumentError, LayoutError } from '../errors.js';

/** Every slot and slice is a whole number of elements of any dtype: multiples of the largest element. */
export const ALIGNMENT = 8;

/** Slices in flight at most: each holds device-side records and host bookkeeping. */
export const MAX_PARALLELISM = 1 << 16;

export interface LayoutOptions {
  /** Budget for staging (and, at one device per machine, padding) memory per device. */
  memoryBytes: number;
  /** Budget for padding slots per device when devices per machine > 1. */
  paddingBytes: number;
  /** Slices processed concurrently, at least. */
  parallelism: number;
  /** Cut tensors into slices of at most this many bytes, so that stages overlap inside one all-reduce. */
  sliceBytes?: number;
}

export interface Layout {
  /**
   * Bytes of one staging slot (one device per machine): the M−1 rows a slice receives from the other machines
   * (its own row stays in place); 0 when the slice's own rows serve as staging.
   */
  slotBytes: number;
  /** Largest slice in bytes for pipelines that stage (a multiple of D·M·8; Infinity when not sliced). */
  sliceBytes: number;
  /** Largest slice for pipelines without staging (e.g. `nccl`): the `sliceBytes` option alone, or Infinity. */
  unstagedSliceBytes: number;
  paddingSlots: number;
  stagingSlots: number;
  /** Slices in flight at most, at every D and M: the number of padding (and staging) slots. */
  parallelism: number;
  /** Bytes of one padding slot: D·M elements of the largest dtype. */
  paddingSlotBytes: number;
  /** Device memory the layout allocates per device. */
  allocatedBytes: number;
}

function roundDown(value: number, factor: number): number {
  return Math.floor(value / factor) * factor;
}

export function computeLayout(options: LayoutOptions, machines: number, devicesPerMachine: number): Layout {
  if (options === null || typeof options !== 'object') {
    throw new ArgumentError(`computeLayout takes { memoryBytes, paddingBytes, parallelism, sliceBytes? }, got ${String(options)}`);
  }
  for (const [name, v] of [['machines', machines], ['devicesPerMachine', devicesPerMachine]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new ArgumentError(`${name} must be a positive integer, got ${String(v)}`);
  }
  const { memoryBytes, paddingBytes, parallelism } = options;
  // Values of the wrong kind are ArgumentErrors; a LayoutError is a budget that cannot hold the layout.
  for (const [name, v] of [['memoryBytes', memoryBytes], ['paddingBytes', paddingBytes]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new ArgumentError(`${name} must be a non-negative safe integer (bytes, 0..${Number.MAX_SAFE_INTEGER}), got ${String(v)}`);
    }
  }
  if (!Number.isSafeInteger(parallelism) || parallelism < 1 || parallelism > MAX_PARALLELISM) {
    throw new ArgumentError(`parallelism must be an integer from 1 to ${MAX_PARALLELISM} (slices in flight), got ${String(parallelism)}`);
  }
  if (options.sliceBytes !== undefined && (!Number.isSafeInteger(options.sliceBytes) || options.sliceBytes < 1)) {
    throw new ArgumentError(`sliceBytes must be a positive safe integer (bytes per slice, 1..${Number.MAX_SAFE_INTEGER}), got ${String(options.sliceBytes)}`);
  }
  for (const [name, v] of [['machines', machines], ['devicesPerMachine', devicesPerMachine]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new ArgumentError(`${name} must be a positive integer, got ${String(v)}`);
  }
  const ranks = machines * devicesPerMachine;
  const paddingSlotBytes = ranks * ALIGNMENT;
  const paddingFits = Math.floor(paddingBytes / paddingSlotBytes);
  if (parallelism > paddingFits && devicesPerMachine > 1) {
    throw new LayoutError(
      `paddingBytes ${paddingBytes} holds ${paddingFits} padding slots of ${paddingSlotBytes} bytes (D·M·${ALIGNMENT}); ` +
        `parallelism ${parallelism} needs at least ${parallelism * paddingSlotBytes}: raise paddingBytes or lower parallelism`,
    );
  }
  let sliceBytes = Infinity;
  let slotBytes = 0;
  let stagingSlots = 0;
  if (devicesPerMachine === 1 && machines > 1) {
    // Padding and its staging twin come out of the memory budget; the rest is cut into a share per slice in
    // flight, the largest slice, whose staging slot holds the M−1 rows of the other machines.
    const paddingMemory = 2 * parallelism * paddingSlotBytes;
    const share = roundDown(Math.max(0, memoryBytes - paddingMemory) / parallelism, paddingSlotBytes);
    if (share === 0) {
      throw new LayoutError(
        `memoryBytes ${memoryBytes} cannot hold ${parallelism} staging slots of at least ${paddingSlotBytes} bytes ` +
          `plus ${paddingMemory} bytes of padding for ${machines} machines; raise memoryBytes or lower parallelism`,
      );
    }
    sliceBytes = share;
    slotBytes = (share / machines) * (machines - 1);
    stagingSlots = parallelism;
  }
  let unstagedSliceBytes = Infinity;
  if (options.sliceBytes !== undefined) {
    const wanted = roundDown(options.sliceBytes, paddingSlotBytes);
    if (wanted === 0) {
      throw new LayoutError(
        `sliceBytes ${options.sliceBytes} cannot hold one row per rank: a slice needs at least D·M·${ALIGNMENT} = ${paddingSlotBytes} bytes ` +
          `for ${machines} machine(s) x ${devicesPerMachine} device(s); raise sliceBytes`,
      );
    }
    sliceBytes = Math.min(sliceBytes, wanted);
    unstagedSliceBytes = wanted;
  }
  // The in-flight bound is the slot count: every slice in flight may hold one padding slot.
  const paddingSlots = parallelism;
  const stagingPaddingBytes = stagingSlots * paddingSlotBytes;
  return {
    slotBytes,
    sliceBytes,
    unstagedSliceBytes,
    paddingSlots,
    stagingSlots,
    parallelism,
    paddingSlotBytes,
    allocatedBytes: paddingSlots * paddingSlotBytes + stagingSlots * slotBytes + stagingPaddingBytes,
  };
}
