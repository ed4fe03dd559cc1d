// Keeps one informer running: lists until the API answers, restarts the watch
// after an error, and stops cleanly on shutdown.
import type { Informer, KubernetesObject } from "@kubernetes/client-node";
import type { Logger } from "../telemetry/logger.js";

/** Plain JSON view of a client object (its Date fields become strings, as on the wire). */
export function toWire<T>(o: unknown): T {
  return JSON.parse(JSON.stringify(o)) as T;
}

export interface RunningInformer {
  /** Resolves once the first list has arrived. */
  readonly synced: Promise<void>;
  isSynced(): boolean;
  stop(): Promise<void>;
}

export function runInformer<T extends KubernetesObject>(informer: Informer<T>, name: string, log: Logger, retryMs = 3000): RunningInformer {
  let stopped = false;
  let synced = false;
  informer.on("error", (err: unknown) => {
    if (stopped) return;
    log.warn({ err: String(err), informer: name }, `${name} watch failed; retrying`);
    setTimeout(() => {
      if (!stopped) void informer.start().catch(() => undefined);
    }, retryMs).unref();
  });
  const syncedP = (async () => {
    while (!stopped) {
      try {
        await informer.start();
        synced = true;
        return;
      } catch (err) {
        log.warn({ err: String(err), informer: name }, `cannot list ${name} yet; retrying`);
        await new Promise((r) => setTimeout(r, retryMs).unref());
      }
    }
  })();
  return {
    synced: syncedP,
    isSynced: () => synced,
    stop: async () => {
      stopped = true;
      await informer.stop();
    },
  };
}
