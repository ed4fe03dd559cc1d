// Node and pod informers that keep the TopologyStore current for the extender.
//
// The informers keep every Node and every Pod of the cluster, so each object
// is cut down, as it arrives, to what the extender reads: managedFields, node
// images and conditions, pod environments, volumes and statuses are dropped
// from the cache. The initial lists are read in pages, each page cut down
// before the next is asked for.
import { CoreV1Api, makeInformer, type KubeConfig, type V1Container, type V1ListMeta, type V1Node, type V1Pod } from "@kubernetes/client-node";
import type { PodWire } from "../admission/schema.js";
import type { NodeWire } from "../extender/schema.js";
import type { Logger } from "../telemetry/logger.js";
import { runInformer } from "./informer.js";

export interface SchedulingWatchHandlers {
  readonly upsertNode: (node: NodeWire) => void;
  readonly deleteNode: (name: string) => void;
  /** Called for every pod; the handler decides whether it is a GPU pod. */
  readonly upsertPod: (pod: PodWire, uid: string) => void;
  readonly deletePod: (uid: string) => void;
}

/** Which annotations of Nodes and Pods the handlers read; every other annotation is dropped from the cache. */
export interface KeptAnnotations {
  readonly node: readonly string[];
  readonly pod: readonly string[];
}

export interface SchedulingWatch {
  readonly synced: Promise<void>;
  isSynced(): boolean;
  stop(): Promise<void>;
}

/**
 * The informer's object, read as the wire shape. Nothing the handlers read
 * differs between the two (names, labels, annotations, resources, nodeName,
 * allocatable); only timestamps would be Dates rather than strings. No deep
 * copy is made: with thousands of nodes and pods, copying every object on
 * every event cost more than handling it.
 */
function asWire<T>(o: V1Node | V1Pod): T {
  return o as unknown as T;
}

function keep(from: Record<string, string> | undefined, keys: readonly string[]): Record<string, string> | undefined {
  if (from === undefined) return undefined;
  let out: Record<string, string> | undefined;
  for (const k of keys) if (from[k] !== undefined) (out ??= {})[k] = from[k];
  return out;
}

/** Cuts a Node down, in place, to its name, version, labels, the kept annotations and status.allocatable. */
export function compactNode(n: V1Node, annotations: readonly string[]): V1Node {
  const m = n.metadata;
  n.metadata = m && { name: m.name, resourceVersion: m.resourceVersion, labels: m.labels, annotations: keep(m.annotations, annotations) };
  n.spec = undefined;
  n.status = n.status && { allocatable: n.status.allocatable };
  return n;
}

const containerResources = (c: V1Container): V1Container => ({ name: c.name, resources: c.resources, ...(c.restartPolicy !== undefined ? { restartPolicy: c.restartPolicy } : {}) });

/**
 * Cuts a Pod down, in place, to its identity, labels, the kept annotations, the
 * containers' resources, its resource claims (DRA), nodeName and phase.
 */
export function compactPod(p: V1Pod, annotations: readonly string[]): V1Pod {
  const m = p.metadata;
  p.metadata = m && { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, labels: m.labels, annotations: keep(m.annotations, annotations) };
  const spec = p.spec;
  p.spec = spec && {
    nodeName: spec.nodeName,
    containers: (spec.containers ?? []).map(containerResources),
    ...(spec.initContainers ? { initContainers: spec.initContainers.map(containerResources) } : {}),
    ...(spec.resourceClaims ? { resourceClaims: spec.resourceClaims } : {}),
  };
  const status = p.status;
  p.status = status && { phase: status.phase, ...(status.resourceClaimStatuses ? { resourceClaimStatuses: status.resourceClaimStatuses } : {}) };
  return p;
}

/** Lists every object in pages of 500, cutting each page down before asking for the next. */
async function listInPages<T>(page: (next: string | undefined) => Promise<{ metadata?: V1ListMeta; items: T[] }>, compact: (o: T) => T): Promise<{ metadata: V1ListMeta; items: T[] }> {
  const items: T[] = [];
  let resourceVersion: string | undefined;
  let next: string | undefined;
  do {
    const list = await page(next);
    resourceVersion ??= list.metadata?.resourceVersion;
    for (const o of list.items) items.push(compact(o));
    next = list.metadata?._continue || undefined;
  } while (next !== undefined);
  return { metadata: { resourceVersion }, items };
}

export function watchSchedulingState(kc: KubeConfig, h: SchedulingWatchHandlers, log: Logger, kept: KeptAnnotations): SchedulingWatch {
  const api = kc.makeApiClient(CoreV1Api);
  const nodes = makeInformer<V1Node>(kc, "/api/v1/nodes", () =>
    listInPages((next) => api.listNode({ limit: 500, ...(next ? { _continue: next } : {}) }), (n) => compactNode(n, kept.node)),
  );
  const pods = makeInformer<V1Pod>(kc, "/api/v1/pods", () =>
    listInPages((next) => api.listPodForAllNamespaces({ limit: 500, ...(next ? { _continue: next } : {}) }), (p) => compactPod(p, kept.pod)),
  );
  // Watched objects are cut down as they arrive (the informer caches the very object it hands over).
  const onNode = (n: V1Node) => h.upsertNode(asWire<NodeWire>(compactNode(n, kept.node)));
  nodes.on("add", onNode);
  nodes.on("update", onNode);
  nodes.on("delete", (n) => n.metadata?.name && h.deleteNode(n.metadata.name));
  const onPod = (p: V1Pod) => {
    compactPod(p, kept.pod);
    const uid = p.metadata?.uid;
    if (!uid) return;
    if (p.status?.phase === "Succeeded" || p.status?.phase === "Failed") h.deletePod(uid);
    else h.upsertPod(asWire<PodWire>(p), uid);
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
