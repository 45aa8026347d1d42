// Telling a hang from an outcome in a test: a promise raced against a timer, the timer cleared either way.

/** Settles as `p` does, or with `late` once `ms` passed first. */
export async function orAfter<T, L>(p: Promise<T>, ms: number, late: L): Promise<T | L> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([p, new Promise<L>((resolve) => (timer = setTimeout(() => resolve(late), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
