// Records core/v1 Events (what `kubectl describe` shows) on objects topofit
// acts on, e.g. a rejected policy ConfigMap.
import { CoreV1Api, type KubeConfig, type V1ObjectReference } from "@kubernetes/client-node";
import type { Logger } from "../telemetry/logger.js";

export type EventRecorder = (obj: V1ObjectReference, type: "Normal" | "Warning", reason: string, message: string) => Promise<void>;

export function createEventRecorder(kc: KubeConfig, component: string, log: Logger): EventRecorder {
  const api = kc.makeApiClient(CoreV1Api);
  return async (obj, type, reason, message) => {
    const now = new Date();
    const namespace = obj.namespace ?? "default";
    try {
      await api.createNamespacedEvent({
        namespace,
        body: {
          metadata: { generateName: `${obj.name ?? "topofit"}.`, namespace },
          involvedObject: obj,
          type,
          reason,
          message: message.length > 1024 ? `${message.slice(0, 1021)}...` : message,
          source: { component },
          reportingComponent: component,
          reportingInstance: component,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
    } catch (err) {
      log.warn({ err: String(err), reason }, "could not record Event");
    }
  };
}
