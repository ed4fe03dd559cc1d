// Node and pod informers that keep the TopologyStore current for the extender.
import { CoreV1Api, makeInformer, type KubeConfig, type V1Node, type V1Pod } from "@kubernetes/client-node";
import type { PodWire } from "../admission/schema.js";
import type { NodeWire } from "../extender/schema.js";
import type { Logger } from "../telemetry/logger.js";
import { runInformer, toWire } from "./informer.js";

export interface SchedulingWatchHandlers {
  readonly upsertNode: (node: NodeWire) => void;
  readonly deleteNode: (name: string) => void;
  /** Called for every pod; the handler decides whether it is a GPU pod. */
  readonly upsertPod: (pod: PodWire, uid: string) => void;
  readonly deletePod: (uid: string) => void;
}

export interface SchedulingWatch {
  readonly synced: Promise<void>;
  isSynced(): boolean;
  stop(): Promise<void>;
}

export function watchSchedulingState(kc: KubeConfig, h: SchedulingWatchHandlers, log: Logger): SchedulingWatch {
  const api = kc.makeApiClient(CoreV1Api);
  const nodes = makeInformer<V1Node>(kc, "/api/v1/nodes", () => api.listNode());
  const pods = makeInformer<V1Pod>(kc, "/api/v1/pods", () => api.listPodForAllNamespaces());
  const onNode = (n: V1Node) => h.upsertNode(toWire<NodeWire>(n));
  nodes.on("add", onNode);
  nodes.on("update", onNode);
  nodes.on("delete", (n) => n.metadata?.name && h.deleteNode(n.metadata.name));
  const onPod = (p: V1Pod) => {
    const uid = p.metadata?.uid;
    if (!uid) return;
    if (p.status?.phase === "Succeeded" || p.status?.phase === "Failed") h.deletePod(uid);
    else h.upsertPod(toWire<PodWire>(p), uid);
  };
  pods.on("add", onPod);
  pods.on("update", onPod);
  pods.on("delete", (p) => p.metadata?.uid && h.deletePod(p.metadata.uid));
  const running = [runInformer(nodes, "nodes", log), runInformer(pods, "pods", log)];
  return {
    synced: Promise.all(running.map((r) => r.synced)).then(() => undefined),
    isSynced: () => running.every((r) => r.isSynced()),
    stop: async () => {
      await Promise.all(running.map((r) => r.stop()));
    },
  };
}
