// Watches one ConfigMap (through an informer over its namespace, which the
// least-privilege Role allows) and reports its content on every change.
import { CoreV1Api, makeInformer, type KubeConfig, type V1ConfigMap } from "@kubernetes/client-node";
import type { Logger } from "../telemetry/logger.js";
import { runInformer } from "./informer.js";

export interface ConfigMapRef {
  readonly namespace: string;
  readonly name: string;
}

export interface ConfigMapHandlers {
  /** The ConfigMap exists (initial list, create or update). */
  readonly onData: (cm: V1ConfigMap) => void;
  /** The initial list found no such ConfigMap, or it was deleted. */
  readonly onMissing: (why: "not-found" | "deleted") => void;
}

export interface ConfigMapWatch {
  /** Resolves after the first list. */
  readonly synced: Promise<void>;
  isSynced(): boolean;
  stop(): Promise<void>;
}

export function watchConfigMap(kc: KubeConfig, ref: ConfigMapRef, handlers: ConfigMapHandlers, log: Logger): ConfigMapWatch {
  const api = kc.makeApiClient(CoreV1Api);
  const informer = makeInformer<V1ConfigMap>(kc, `/api/v1/namespaces/${ref.namespace}/configmaps`, () =>
    api.listNamespacedConfigMap({ namespace: ref.namespace }),
  );
  let synced = false;
  let lastVersion: string | undefined;
  const mine = (cm: V1ConfigMap) => cm.metadata?.name === ref.name;
  const onChange = (cm: V1ConfigMap) => {
    if (!mine(cm) || !synced) return;
    if (cm.metadata?.resourceVersion === lastVersion) return;
    lastVersion = cm.metadata?.resourceVersion;
    handlers.onData(cm);
  };
  informer.on("add", onChange);
  informer.on("update", onChange);
  informer.on("delete", (cm) => {
    if (!mine(cm)) return;
    lastVersion = undefined;
    handlers.onMissing("deleted");
  });
  const running = runInformer(informer, `ConfigMap ${ref.namespace}/${ref.name}`, log);
  const synced$ = running.synced.then(() => {
    synced = true;
    const cm = informer.get(ref.name, ref.namespace);
    if (cm) {
      lastVersion = cm.metadata?.resourceVersion;
      handlers.onData(cm);
    } else {
      handlers.onMissing("not-found");
    }
  });
  return {
    synced: synced$,
    isSynced: () => synced,
    stop: () => running.stop(),
  };
}
