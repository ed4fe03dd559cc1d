// Namespace labels for match.namespaceSelector, from an informer.
import { CoreV1Api, makeInformer, type KubeConfig, type V1Namespace } from "@kubernetes/client-node";
import type { Logger } from "../telemetry/logger.js";

export interface NamespaceLabels {
  labels(namespace: string): Readonly<Record<string, string>> | undefined;
  stop(): Promise<void>;
}

export function watchNamespaceLabels(kc: KubeConfig, log: Logger): NamespaceLabels {
  const api = kc.makeApiClient(CoreV1Api);
  const informer = makeInformer<V1Namespace>(kc, "/api/v1/namespaces", () => api.listNamespace());
  informer.on("error", (err) => {
    log.warn({ err: String(err) }, "namespace watch failed; retrying in 3s");
    setTimeout(() => void informer.start().catch(() => undefined), 3000);
  });
  void informer.start().catch((err: unknown) => log.warn({ err: String(err) }, "namespace informer did not start"));
  return {
    labels: (namespace) => informer.get(namespace)?.metadata?.labels,
    stop: () => informer.stop(),
  };
}
