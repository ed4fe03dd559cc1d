// Keeps the node's topology annotation in step with what nvidia-smi reports:
// collect, compare with the value on the Node, patch only when it differs.
// Runs at start and then on an interval with jitter; a failed collection or API
// call is retried with exponential backoff. A failure never writes anything, so
// the last good annotation stays on the node.
import { setTimeout as delay } from "node:timers/promises";
import type { NodeAnnotationPort } from "../kube/node-annotation.js";
import { describeApiError } from "../kube/node-annotation.js";
import type { Logger } from "../telemetry/logger.js";
import type { CollectResult } from "./collect.js";

export const DEFAULT_JITTER = 0.1;
export const DEFAULT_BACKOFF: Backoff = { initialMs: 5_000, factor: 2, maxMs: 5 * 60_000 };

export interface Backoff {
  readonly initialMs: number;
  readonly factor: number;
  /** Upper bound on one wait; the publish interval bounds it as well. */
  readonly maxMs: number;
}

export interface PublisherSettings {
  readonly nodeName: string;
  /** Between successful rounds. */
  readonly intervalMs: number;
  /** Each wait is spread uniformly over ±jitter of itself (default 0.1). */
  readonly jitter?: number;
  readonly backoff?: Backoff;
}

export interface PublisherDeps {
  readonly collect: () => Promise<CollectResult>;
  readonly port: NodeAnnotationPort;
  readonly log: Logger;
  /** In [0, 1); Math.random by default. */
  readonly random?: () => number;
  /** Waits ms or until the signal aborts; resolves either way. */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export type PublishOutcome =
  | { readonly result: "patched"; readonly value: string; readonly previous?: string; readonly warnings: readonly string[] }
  | { readonly result: "unchanged"; readonly value: string; readonly warnings: readonly string[] }
  | { readonly result: "collect-failed"; readonly reason: string; readonly warnings: readonly string[] }
  | { readonly result: "read-failed"; readonly reason: string; readonly warnings: readonly string[] }
  | { readonly result: "patch-failed"; readonly reason: string; readonly warnings: readonly string[] };

export function isFailure(o: PublishOutcome): o is Extract<PublishOutcome, { reason: string }> {
  return o.result === "collect-failed" || o.result === "read-failed" || o.result === "patch-failed";
}

/** One round: collect, read the node's value, patch when they differ. Never rejects. */
export async function publishOnce(nodeName: string, deps: Pick<PublisherDeps, "collect" | "port">): Promise<PublishOutcome> {
  let collected: CollectResult;
  try {
    collected = await deps.collect();
  } catch (err) {
    return { result: "collect-failed", reason: err instanceof Error ? err.message : String(err), warnings: [] };
  }
  const warnings = collected.warnings;
  if (!collected.ok) return { result: "collect-failed", reason: collected.reason, warnings };
  let current: string | undefined;
  try {
    current = await deps.port.get(nodeName);
  } catch (err) {
    return { result: "read-failed", reason: `cannot read node ${nodeName}: ${describeApiError(err)}`, warnings };
  }
  if (current === collected.value) return { result: "unchanged", value: collected.value, warnings };
  try {
    await deps.port.patch(nodeName, collected.value);
  } catch (err) {
    return { result: "patch-failed", reason: `cannot patch node ${nodeName}: ${describeApiError(err)}`, warnings };
  }
  return { result: "patched", value: collected.value, ...(current !== undefined ? { previous: current } : {}), warnings };
}

/** A wait spread uniformly over base·(1 ± fraction). */
export function jitterMs(baseMs: number, fraction: number, random: () => number): number {
  return Math.max(0, Math.round(baseMs * (1 + fraction * (2 * random() - 1))));
}

/** The wait after the n-th failure in a row (n >= 1), before jitter. */
export function backoffDelayMs(failures: number, backoff: Backoff, capMs = Infinity): number {
  const raw = backoff.initialMs * backoff.factor ** Math.max(0, failures - 1);
  return Math.min(raw, backoff.maxMs, capMs);
}

const sleepFor = (ms: number, signal: AbortSignal): Promise<void> => delay(ms, undefined, { signal }).catch(() => undefined);

/** Publishes at once and then on the interval, until the signal aborts. */
export async function runPublisher(settings: PublisherSettings, deps: PublisherDeps, signal: AbortSignal): Promise<void> {
  const { nodeName, intervalMs } = settings;
  const jitter = settings.jitter ?? DEFAULT_JITTER;
  const backoff = settings.backoff ?? DEFAULT_BACKOFF;
  const random = deps.random ?? Math.random;
  const sleep = deps.sleep ?? sleepFor;
  const log = deps.log.child({ node: nodeName });
  let failures = 0;
  let lastWarnings = "";
  while (!signal.aborted) {
    const outcome = await publishOnce(nodeName, deps);
    const warningsKey = outcome.warnings.join("\n");
    if (warningsKey !== lastWarnings) {
      for (const w of outcome.warnings) log.warn({ detail: w }, "topology collection warning");
      lastWarnings = warningsKey;
    }
    let waitMs: number;
    if (isFailure(outcome)) {
      failures++;
      waitMs = jitterMs(backoffDelayMs(failures, backoff, intervalMs), jitter, random);
      log.warn({ result: outcome.result, failures, retryInMs: waitMs, detail: outcome.reason }, "topology annotation not published; the node keeps its current value");
    } else {
      if (outcome.result === "patched") {
        log.info({ result: outcome.result, bytes: Buffer.byteLength(outcome.value), replaced: outcome.previous !== undefined, recoveredAfter: failures || undefined }, "topology annotation published");
      } else {
        log.debug({ result: outcome.result, recoveredAfter: failures || undefined }, "topology annotation up to date");
      }
      failures = 0;
      waitMs = jitterMs(intervalMs, jitter, random);
    }
    if (signal.aborted) break;
    await sleep(waitMs, signal);
  }
}
