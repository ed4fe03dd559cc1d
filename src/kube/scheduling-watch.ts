// Node and pod informers that keep the TopologyStore current for the extender.
import { CoreV1Api, makeInformer, type KubeConfig, type V1Node, type V1Pod } from "@kubernetes/client-node";
import type { PodWire } from "../admission/schema.js";
import type { NodeWire } from "../extender/schema.js";
import type { Logger } from "../telemetry/logger.js";

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

/** Plain JSON view of a client object (its Date fields become strings, as on the wire). */
function plain<T>(o: unknown): T {
  return JSON.parse(JSON.stringify(o)) as T;
}

export function watchSchedulingState(kc: KubeConfig, h: SchedulingWatchHandlers, log: Logger): SchedulingWatch {
  const api = kc.makeApiClient(CoreV1Api);
  const nodes = makeInformer<V1Node>(kc, "/api/v1/nodes", () => api.listNode());
  const pods = makeInformer<V1Pod>(kc, "/api/v1/pods", () => api.listPodForAllNamespaces());
  const onNode = (n: V1Node) => h.upsertNode(plain<NodeWire>(n));
  nodes.on("add", onNode);
  nodes.on("update", onNode);
  nodes.on("delete", (n) => n.metadata?.name && h.deleteNode(n.metadata.name));
  const onPod = (p: V1Pod) => {
    const uid = p.metadata?.uid;
    if (!uid) return;
    if (p.status?.phase === "Succeeded" || p.status?.phase === "Failed") h.deletePod(uid);
    else h.upsertPod(plain<PodWire>(p), uid);
  };
  pods.on("add", onPod);
  pods.on("update", onPod);
  pods.on("delete", (p) => p.metadata?.uid && h.deletePod(p.metadata.uid));
  let synced = false;
  let stopped = false;
  const restartOnError = (name: string, informer: { start(): Promise<void> }) => (err: unknown) => {
    if (stopped) return;
    log.warn({ err: String(err), informer: name }, "watch failed; retrying in 3s");
    setTimeout(() => {
      if (!stopped) void informer.start().catch(() => undefined);
    }, 3000).unref();
  };
  nodes.on("error", restartOnError("nodes", nodes));
  pods.on("error", restartOnError("pods", pods));
  const start = async (name: string, informer: { start(): Promise<void> }) => {
    while (!stopped) {
      try {
        await informer.start();
        return;
      } catch (err) {
        log.warn({ err: String(err), informer: name }, "cannot list yet; retrying in 3s");
        await new Promise((r) => setTimeout(r, 3000));
      }
    }
  };
  const syncedP = Promise.all([start("nodes", nodes), start("pods", pods)]).then(() => {
    synced = true;
  });
  return {
    synced: syncedP,
    isSynced: () => synced,
    stop: async () => {
      stopped = true;
      await nodes.stop();
      await pods.stop();
    },
  };
}
