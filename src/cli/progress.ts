// Slice progress for the demo: a cli-progress bar where the stream is a terminal; where it is piped or
// redirected, a plain line at each quarter, so logs and captured output never carry carriage returns or cursor
// codes.
import { Presets, SingleBar } from 'cli-progress';

export interface Progress {
  /** One more slice done. */
  tick(): void;
  /** Draws the final state and ends the bar's line. */
  stop(): void;
}

export function sliceProgress(total: number, stream: NodeJS.WriteStream = process.stdout): Progress {
  if (!stream.isTTY) {
    let done = 0;
    let quarter = 0;
    return {
      tick: () => {
        done++;
        const reached = Math.min(4, Math.floor((done * 4) / total));
        if (reached > quarter) {
          quarter = reached;
          stream.write(`progress: ${done}/${total} slices (${quarter * 25}%)\n`);
        }
      },
      stop: () => undefined,
    };
  }
  const bar = new SingleBar({ format: '[{bar}] {value}/{total} slices', barsize: 30, stream, hideCursor: true }, Presets.legacy);
  bar.start(total, 0);
  return { tick: () => bar.increment(), stop: () => bar.stop() };
}
