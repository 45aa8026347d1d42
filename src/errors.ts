// Errors as classes with fields, not strings to parse. Every class carries a stable `code` a program can switch
// on; the codes live in one table (`errorCodes`), which the classes read and docs/api.md lists.

/** The built-in stages; custom stages may use their own names. */
export type StageName = 'admit' | 'reduceScatter' | 'collect' | 'add' | 'diffuse' | 'allGather' | 'allReduce' | 'finish' | (string & {});

/** The one table of error codes: class name → stable code, with what each class means (docs/api.md lists it). */
export const errorCodes = {
  FairringError: { code: 'ERR_FAIRRING', meaning: 'base class of every error below; thrown as such only for a non-Error thrown by a pipeline while no slice is in it, and for an internal error while completed work was settled (a bug: the error thrown is its cause)' },
  ArgumentError: { code: 'ERR_FAIRRING_ARGUMENT', meaning: 'an option, tensor or call is wrong; nothing was allocated or enqueued' },
  LayoutError: { code: 'ERR_FAIRRING_LAYOUT', meaning: 'memoryBytes / paddingBytes / sliceBytes cannot hold the padding and staging slots of the topology' },
  StageError: { code: 'ERR_FAIRRING_STAGE', meaning: 'device work failed: rank, stage, slice, job, and the CUDA/NCCL/runtime error as cause' },
  TimeoutError: { code: 'ERR_FAIRRING_TIMEOUT', meaning: 'a slice did not settle within timeoutMs; the communicators were aborted' },
  ContractError: { code: 'ERR_FAIRRING_CONTRACT', meaning: 'a pipeline dropped, duplicated or reordered a slice, ran a stage twice for one slice, missed a stage the topology needs, took no slices, or completed before the world was closed' },
  ClosedError: { code: 'ERR_FAIRRING_CLOSED', meaning: 'the world, device or tensor was closed (or the world failed earlier) and takes no more work' },
  MismatchError: { code: 'ERR_FAIRRING_MISMATCH', meaning: 'ranks of a job called an all-reduce with different lengths, dtypes or ops, or a broadcast with different roots (connect() checks every call); the world failed' },
  SetupError: { code: 'ERR_FAIRRING_SETUP', meaning: "a world's communicators could not be created (NCCL, Gloo or in-process init failed); what was made is released" },
  RendezvousTimeoutError: { code: 'ERR_FAIRRING_RENDEZVOUS_TIMEOUT', meaning: 'a rendezvous store operation (connect, get, wait, set, add) did not complete within its timeoutMs' },
} as const;

export type FairringErrorName = keyof typeof errorCodes;
export type FairringErrorCode = (typeof errorCodes)[FairringErrorName]['code'];

export class FairringError extends Error {
  /** Stable code of this class (errorCodes). */
  static readonly code: FairringErrorCode = errorCodes.FairringError.code;
  /** Stable code a program can switch on: 'ERR_FAIRRING_ARGUMENT', 'ERR_FAIRRING_CLOSED', … (errorCodes). */
  readonly code: FairringErrorCode;
  /**
   * In a world across processes, after a stage failed or timed out: the global ranks that did not answer a
   * roll call of the job's processes (gone, most likely); also named in the message. Empty when all answered.
   */
  absentRanks: readonly number[] = [];

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    // A subclass of a subclass (user code) inherits its parent's code.
    this.code = (new.target as unknown as { code: FairringErrorCode }).code;
  }
}

/** Ranks called the same all-reduce (by sequence number) with different lengths, dtypes or ops. */
export class MismatchError extends FairringError {
  static override readonly code: FairringErrorCode = errorCodes.MismatchError.code;
}

/** A budget that cannot hold the topology's padding and staging slots. */
export class LayoutError extends FairringError {
  static override readonly code: FairringErrorCode = errorCodes.LayoutError.code;
}

/** A tensor, option or call that is wrong before anything is enqueued. */
export class ArgumentError extends FairringError {
  static override readonly code: FairringErrorCode = errorCodes.ArgumentError.code;
}

/** Work failed: which rank (global), stage and slice, and the CUDA/NCCL/runtime error underneath. */
export class StageError extends FairringError {
  static override readonly code: FairringErrorCode = errorCodes.StageError.code;

  constructor(
    readonly rank: number | null,
    readonly stage: StageName,
    readonly slice: number,
    readonly job: number,
    cause: unknown,
  ) {
    super(
      `all-reduce #${job} slice ${slice} failed in ${stage}${rank === null ? '' : ` on rank ${rank}`}: ${
        cause instanceof Error ? cause.message : String(cause)
      }`,
      { cause },
    );
  }
}

/** A slice did not complete within the world's timeout; the world's communicators were aborted. */
export class TimeoutError extends FairringError {
  static override readonly code: FairringErrorCode = errorCodes.TimeoutError.code;

  constructor(
    readonly stage: StageName,
    /** Global ranks whose event of that stage had not completed. */
    readonly ranks: readonly number[],
    readonly slice: number,
    readonly job: number,
    readonly timeoutMs: number,
    /**
     * True when the slice's work was complete on every rank and the pipeline held it after `stage`: an operator of
     * a custom pipeline that never passed it on (`ranks` is then empty).
     */
    readonly held = false,
  ) {
    super(
      held
        ? `all-reduce #${job} slice ${slice} did not come out of the pipeline within ${timeoutMs} ms: it finished ${stage} on every rank, ` +
            `and an operator after that stage held it; communicators aborted (a custom pipeline that filters, buffers or never passes a slice on)`
        : `all-reduce #${job} slice ${slice} did not finish ${stage}${ranks.length > 0 ? ` on rank(s) ${ranks.join(', ')}` : ''} within ${timeoutMs} ms; communicators aborted ` +
            (stage === 'callCheck'
              ? `(another rank of the job has not made this call: it stopped calling, closed its world, or is still busy; the ranks named are the ones that waited)`
              : `(a rank that stopped calling, a communicator mismatch, or a slice that needs longer: raise timeoutMs)`),
    );
  }
}

/** The world was closed, or failed earlier, so it takes no more work. */
export class ClosedError extends FairringError {
  static override readonly code: FairringErrorCode = errorCodes.ClosedError.code;
}

/** A world's communicators could not be created; the native error is the cause. */
export class SetupError extends FairringError {
  static override readonly code: FairringErrorCode = errorCodes.SetupError.code;
}

/** A pipeline broke its contract: every admitted slice must come out of it once, in order. */
export class ContractError extends FairringError {
  static override readonly code: FairringErrorCode = errorCodes.ContractError.code;
}

/** A rendezvous store operation did not complete in time: which operation, the keys it waited for, the timeout. */
export class RendezvousTimeoutError extends FairringError {
  static override readonly code: FairringErrorCode = errorCodes.RendezvousTimeoutError.code;

  constructor(
    readonly op: 'connect' | 'get' | 'wait' | 'set' | 'add',
    /** The keys waited for (for connect: none). */
    readonly keys: readonly string[],
    readonly timeoutMs: number,
    what: string,
  ) {
    super(
      `store ${op} ${what} did not complete within ${timeoutMs} ms (a rank that never started or never set the key, or a store that is unreachable: check the store address, or raise connect()'s rendezvousTimeoutMs or the store call's timeoutMs)`,
    );
  }
}
