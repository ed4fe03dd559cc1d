// Namespace labels for match.namespaceSelector, from an informer.
import { CoreV1Api, makeInformer, type KubeConfig, type V1Namespace } from "@kubernetes/client-node";
import type { Logger } from "../telemetry/logger.js";

export interface NamespaceLabels {
  labels(namespace: string): Readonly<Record<string, string>> | undefined;
  /** True once the first list has arrived. */
  isSynced(): boolean;
  stop(): Promise<void>;
}

export function watchNamespaceLabels(kc: KubeConfig, log: Logger): NamespaceLabels {
  const api = kc.makeApiClient(CoreV1Api);
  const informer = makeInformer<V1Namespace>(kc, "/api/v1/namespaces", () => api.listNamespace());
  let stopped = false;
  informer.on("error", (err) => {
    if (stopped) return;
    log.warn({ err: String(err) }, "namespace watch failed; retrying in 3s");
    setTimeout(() => {
      if (!stopped) void informer.start().catch(() => undefined);
    }, 3000).unref();
  });
  let synced = false;
  void (async () => {
    while (!stopped) {
      try {
        await informer.start();
        synced = true;
        return;
      } catch (err) {
        log.warn({ err: String(err) }, "cannot list namespaces yet; retrying in 3s");
        await new Promise((r) => setTimeout(r, 3000));
      }
    }
  })();
  return {
    labels: (namespace) => informer.get(namespace)?.metadata?.labels,
    isSynced: () => synced,
    stop: async () => {
      stopped = true;
      await informer.stop();
    },
  };
}
