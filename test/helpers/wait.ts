/** Polls `cond` every 25 ms; fails with `what` after `timeoutMs` rather than hanging to the runner's timeout. */
export async function until(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`still waiting after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Resolves once `value` has stayed the same for `quietMs` (polled every 25 ms): whatever
 * moved it has stopped. Fails with `what` after `timeoutMs`.
 */
export async function still(what: string, value: () => number, quietMs: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = value();
  let since = Date.now();
  while (Date.now() - since < quietMs) {
    if (Date.now() > deadline) throw new Error(`still moving after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
    const now = value();
    if (now !== last) [last, since] = [now, Date.now()];
  }
}
