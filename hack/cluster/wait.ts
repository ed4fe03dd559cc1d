// Polling helper shared by the control plane and the end-to-end tests.

export interface WaitForOptions {
  /** Give up after this many milliseconds. Default 30 000. */
  timeoutMs?: number;
  /** Pause between attempts. Default 250. */
  intervalMs?: number;
  /** What is being waited for; it names the condition in the timeout error. */
  what: string;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Calls `fn` until it returns a value other than `undefined`, `null` or
 * `false`, and resolves with that value. A throw from `fn` counts as "not yet";
 * the last one is quoted in the timeout error.
 */
export async function waitFor<T>(
  fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  options: WaitForOptions,
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const intervalMs = options.intervalMs ?? 250;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== null && value !== false) return value;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const detail = lastError === undefined ? "" : ` (last error: ${errorMessage(lastError)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${options.what}${detail}`);
    }
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
