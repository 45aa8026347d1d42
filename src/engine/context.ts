// What the stage operators work with: the topology, the layout, every local rank's streams, communicators and
// slot buffers, the pools, and the slice in flight with its byte views.
import type { DType, ReduceOp } from '../native.js';
import type { Device, RankPlace, Tensor } from '../runtime/device.js';
import type { Runtime } from '../runtime/runtime.js';
import { elementSize } from '../runtime/dtype.js';
import { ALIGNMENT, type Layout } from './layout.js';
import type { SlotPool, SlotRing } from './pool.js';
import type { Completions } from './completion.js';
import type { Mark, Program } from '../runtime/program.js';
import type { StageName } from '../errors.js';
import type { PipelineSpec } from './pipeline.js';

export type RankLayout = 'machine-major' | 'device-major';

export interface Topology {
  machines: number;
  devicesPerMachine: number;
  rankLayout: RankLayout;
}

export function globalRank(t: Topology, machine: number, local: number): number {
  return t.rankLayout === 'machine-major' ? machine * t.devicesPerMachine + local : local * t.machines + machine;
}

export function placeOf(t: Topology, rank: number): RankPlace {
  return t.rankLayout === 'machine-major'
    ? { rank, machine: Math.floor(rank / t.devicesPerMachine), local: rank % t.devicesPerMachine }
    : { rank, machine: rank % t.machines, local: Math.floor(rank / t.machines) };
}

/** The five streams of a rank, one per stage as in the seed; other pipelines reuse them. */
export type StreamName = 'reduceScatter' | 'collect' | 'add' | 'diffuse' | 'allGather';
export const streamNames: readonly StreamName[] = ['reduceScatter', 'collect', 'add', 'diffuse', 'allGather'];

/** Communicator families: per machine (D ranks), per rail (M ranks), or the whole world. */
export type CommName = 'reduceScatter' | 'collect' | 'diffuse' | 'allGather' | 'world';
/** A rank's communicators: the pipeline's families, and the call check's own, of the whole world (connect()). */
export type RankCommName = CommName | 'check';

export interface RankContext {
  device: Device;
  place: RankPlace;
  /** Queue indices of the rank's five stage streams, and of its device's own stream (uploads, downloads). */
  streams: Record<StreamName, number>;
  deviceStream: number;
  /** Queue indices of the rank's communicators. */
  comms: Partial<Record<RankCommName, number>>;
  /** Queue index of paddingSlots slots of D·M·8 bytes. */
  padding: number;
  /** One device per machine only: stagingSlots slots of slotBytes, and their padding twins of M·8 bytes. */
  staging: number;
  stagingPadding: number;
}

export interface TimingSwitch {
  /** Whether stages record timing events now (someone listens for timings). */
  readonly enabled: boolean;
}

export interface EngineContext {
  runtime: Runtime;
  topology: Topology;
  layout: Layout;
  /** Ranks this process drives, in global rank order. */
  ranks: RankContext[];
  /** Packs each stage's operations for every local rank into one Queue call. */
  program: Program;
  completions: Completions;
  /** In-flight tokens bound the slices on the devices; padding and staging slots are reused round-robin. */
  pools: { inflight: SlotPool; padding: SlotRing; staging: SlotRing };
  timing: TimingSwitch;
  timeoutMs: number;
}

/** One all-reduce call as the engine sees it. */
export interface Job {
  id: number;
  tensors: Tensor[];
  /** Queue indices of the tensors' buffers, registered for the job's lifetime. */
  buffers: number[];
  dtype: DType;
  op: ReduceOp;
  length: number;
  /** The ready pipeline it runs (the world's own, or the one a routing pipeline chose once for it). */
  route: PipelineSpec;
  sliceCount: number;
  /** Per local rank: recorded on the device's own stream when the call was made; the first stage waits on it. */
  start: Mark[];
  cancelled: boolean;
  /**
   * The call enqueued work of its own on the devices' own streams when submitted (a broadcast's zeros): a
   * failure cuts it short even before a slice of it is admitted.
   */
  touched: boolean;
  /** Its last slice passed finish: the devices' own streams' waits for it are packed (flushed with the next flush). */
  finished: boolean;
  /** The global rank a broadcast copies from; -1 for an all-reduce. The call check compares it across ranks. */
  root: number;
  /** Slices admitted and not yet settled. */
  live: number;
  /** Called once when the job is over: completed, failed, or cancelled with no slice left on the devices. */
  ended: () => void;
}

export interface StageMark {
  stage: StageName;
  /** The stream of every local rank it ran on. */
  stream: StreamName;
  /** Per local rank; timing starts exist only while timings are recorded. */
  start: Mark[] | null;
  end: Mark[];
  bytes: number;
}

/** Where a slice is: in the pipeline, settling (its last records issued), or settled. */
export type SliceState = 'pipeline' | 'settling' | 'settled';

export interface Slice {
  job: Job;
  index: number;
  /** Elements: where the slice starts in the tensors, and how many. */
  offset: number;
  count: number;
  /** The D·M grid: main = D·M·chunk elements go through the stages in place; the tail (< D·M) in padding. */
  chunk: number;
  tail: number;
  /** Slots held: an in-flight token, a padding slot for a tail, a staging slot at one device per machine. */
  inflight: number | null;
  padding: number | null;
  staging: number | null;
  /** Per local rank: the record the next stage waits on, and the stream it is on (null: the device's own). */
  ready: Mark[];
  readyOn: StreamName | null;
  marks: StageMark[];
  /** Runtime clock at admission: the timeout runs from here. */
  admittedAt: number;
  /** The ready pipeline the slice's job runs (the world's own, or the one a routing pipeline chose). */
  route: PipelineSpec;
  state: SliceState;
  /** The slice's byte views, made by its first stage and shared by the others. */
  views: SliceViews | null;
}

/** Byte offsets of the slice's grid cells and of its padding and staging, for rank `r` of the context. */
export class SliceViews {
  readonly esz: number;
  readonly machines: number;
  readonly devices: number;

  constructor(
    private readonly ctx: EngineContext,
    readonly slice: Slice,
  ) {
    this.esz = elementSize(slice.job.dtype);
    this.machines = ctx.topology.machines;
    this.devices = ctx.topology.devicesPerMachine;
  }

  get mainCount(): number {
    return this.slice.chunk * this.machines * this.devices;
  }

  /** Queue index of rank r's tensor. */
  tensor(r: number): number {
    return this.slice.job.buffers[r]!;
  }

  /** Row d of the grid: the M chunks device d owns after the reduce-scatter. */
  row(d: number): number {
    return (this.slice.offset + d * this.machines * this.slice.chunk) * this.esz;
  }

  cell(d: number, m: number): number {
    return this.row(d) + m * this.slice.chunk * this.esz;
  }

  tailOffset(): number {
    return (this.slice.offset + this.mainCount) * this.esz;
  }

  paddingRow(d: number): number {
    return this.slice.padding! * this.ctx.layout.paddingSlotBytes + d * this.machines * this.esz;
  }

  paddingCell(d: number, m: number): number {
    return this.paddingRow(d) + m * this.esz;
  }

  /** Where rank r receives machine m's chunk in the collect stage: the neighbour's row when D > 1. */
  stagingBuffer(r: number): number {
    return this.devices > 1 ? this.tensor(r) : this.ctx.ranks[r]!.staging;
  }

  /** Machine m's row (m is not rank r's machine: its own row stays in the slice). */
  stagingOffset(r: number, m: number): number {
    const place = this.ctx.ranks[r]!.place;
    if (this.devices > 1) return this.cell((place.local + 1) % this.devices, m);
    const row = m < place.machine ? m : m - 1;
    return this.slice.staging! * this.ctx.layout.slotBytes + row * this.slice.chunk * this.esz;
  }

  stagingPaddingBuffer(r: number): number {
    const rank = this.ctx.ranks[r]!;
    return this.devices > 1 ? rank.padding : rank.stagingPadding;
  }

  stagingPaddingOffset(r: number, m: number): number {
    if (this.devices > 1) return this.paddingCell((this.ctx.ranks[r]!.place.local + 1) % this.devices, m);
    return (this.slice.staging! * this.machines + m) * ALIGNMENT;
  }
}
