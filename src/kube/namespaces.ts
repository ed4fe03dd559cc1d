// Namespace labels for match.namespaceSelector, from an informer.
import { CoreV1Api, makeInformer, type KubeConfig, type V1Namespace } from "@kubernetes/client-node";
import type { Logger } from "../telemetry/logger.js";
import { runInformer } from "./informer.js";

export interface NamespaceLabels {
  labels(namespace: string): Readonly<Record<string, string>> | undefined;
  /** True once the first list has arrived. */
  isSynced(): boolean;
  stop(): Promise<void>;
}

export function watchNamespaceLabels(kc: KubeConfig, log: Logger): NamespaceLabels {
  const api = kc.makeApiClient(CoreV1Api);
  const informer = makeInformer<V1Namespace>(kc, "/api/v1/namespaces", () => api.listNamespace());
  const running = runInformer(informer, "namespaces", log);
  return {
    labels: (namespace) => informer.get(namespace)?.metadata?.labels,
    isSynced: () => running.isSynced(),
    stop: () => running.stop(),
  };
}
