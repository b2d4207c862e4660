// Waiting for a condition in a test: poll it against a deadline instead of sleeping a fixed time
// and hoping, so a slow machine waits longer and a fast one does not wait at all.
import { setTimeout as sleep } from "node:timers/promises";

/**
 * Calls `check` every `intervalMs` until it returns something other than undefined, and returns
 * that; throws "timed out after <ms> ms waiting for <what>" at the deadline. An error thrown by
 * `check` ends the wait at once (e.g. the process being waited for exited).
 */
export async function until<T>(
  what: string,
  ms: number,
  check: () => T | undefined | Promise<T | undefined>,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}
