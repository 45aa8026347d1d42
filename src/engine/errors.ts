// Errors as classes with fields, not strings to parse.

/** The built-in stages; custom stages may use their own names. */
export type StageName = 'admit' | 'reduceScatter' | 'collect' | 'add' | 'diffuse' | 'allGather' | 'allReduce' | 'finish' | (string & {});

export class FairringError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A budget that cannot hold the topology's padding and staging slots. */
export class LayoutError extends FairringError {}

/** A tensor, option or call that is wrong before anything is enqueued. */
export class ArgumentError extends FairringError {}

/** Work failed: which rank (global), stage and slice, and the CUDA/NCCL/runtime error underneath. */
export class StageError extends FairringError {
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
  constructor(
    readonly stage: StageName,
    /** Global ranks whose event of that stage had not completed. */
    readonly ranks: readonly number[],
    readonly slice: number,
    readonly job: number,
    readonly timeoutMs: number,
  ) {
    super(
      `all-reduce #${job} slice ${slice} did not finish ${stage} on rank(s) ${ranks.join(', ')} within ${timeoutMs} ms; communicators aborted`,
    );
  }
}

/** The world was closed, or failed earlier, so it takes no more work. */
export class ClosedError extends FairringError {}

/** A pipeline broke its contract: every admitted slice must come out of it once, in order. */
export class ContractError extends FairringError {}
