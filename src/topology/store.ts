// TopologyStore: the extender's long-lived view of GPU nodes. It is fed by the
// node and pod informers (or by full Node objects in requests), by DCGM, and
// by the in-flight ledger of reservations the extender makes itself; it hands
// out immutable NodeState snapshots, rebuilt only for nodes that changed.
//
// A change marks the node's state stale; stale states are rebuilt together
// right after the change's event-loop turn (or on demand, if a request asks
// first), so a burst of pod events for one node costs one rebuild, and the
// rebuild is not paid inside a scheduling request. Rebuilt states join the
// GpuShape of nodes alike, whose GPU-set answers are usually already known.
import { parseQuantity } from "../admission/gpu-request.js";
import type { NodeWire } from "../extender/schema.js";
import type { Placement } from "../policy/model.js";
import type { Logger } from "../telemetry/logger.js";
import { GPU_TOPOLOGY_ANNOTATION } from "./annotation.js";
import { buildNodeTopology } from "./build.js";
import { GpuShapes, type GpuShape } from "./gpu-shape.js";
import { cliqueOf, costClassOf, networkPath } from "./labels.js";
import type { GpuNode, GpuNodeTopology } from "./model.js";
import { evaluateGpuSet } from "./gpu-set.js";
import { makeNodeState, type LoadSlot, type NodeState } from "./node-state.js";
import { occupancyOf, type BoundPod, type DcgmNodeView, type PendingReservation } from "./occupancy.js";
import { BUILTIN_PROFILES, type TopologyProfile } from "./profiles.js";
import { mapDevicesToGpus, type DraNodeView } from "./dra.js";
import type { ClaimGpus } from "./dra-store.js";
import type { PodClaimsWire } from "./dra-schema.js";

export type { DcgmNodeView } from "./occupancy.js";

/** Counts the GPUs a pod asks for through DRA ResourceClaims (the DraStore). */
export type ClaimGpuCounter = (pod: PodClaimsWire) => ClaimGpus;

/** A GPU pod as the store tracks it. */
export interface PodRecord {
  readonly uid: string;
  /** "namespace/name" */
  readonly key: string;
  readonly nodeName?: string;
  readonly gpus: number;
  readonly placement: Placement;
  /** "namespace/value" of its group label, for multi-node locality. */
  readonly group?: string;
}

export interface Reservation {
  readonly podUid: string;
  readonly podKey: string;
  readonly node: string;
  readonly gpus: readonly number[];
  readonly group?: string;
  readonly expiresAt: number;
}

/** A predicted GPU set compared with the one the pod got. */
export interface PredictionCheck {
  readonly pod: string;
  readonly node: string;
  /** Ascending GPU indices. */
  readonly predicted: readonly number[];
  readonly observed: readonly number[];
  /** The very same GPUs. */
  readonly agreed: boolean;
  /** Other GPUs, but as good a set: the same bottleneck and total pair bandwidth and NUMA span. */
  readonly equivalent: boolean;
}

/** Compares a predicted set with the observed one on `topology`. */
export function checkPrediction(topology: GpuNodeTopology, pod: string, node: string, predictedGpus: readonly number[], observedGpus: readonly number[]): PredictionCheck {
  const predicted = [...predictedGpus].sort((a, b) => a - b);
  const observed = [...observedGpus].sort((a, b) => a - b);
  const agreed = predicted.length === observed.length && observed.every((g, i) => g === predicted[i]);
  let equivalent = false;
  const n = topology.gpus.length;
  if (!agreed && predicted.length === observed.length && predicted.length > 0 && [...predicted, ...observed].every((g) => g >= 0 && g < n)) {
    const figures = (gpus: readonly number[]) => {
      const only = Array.from({ length: n }, (_, i) => gpus.includes(i));
      const c = evaluateGpuSet(topology, only, gpus);
      return `${c.bottleneckGBps}/${c.totalGBps}/${c.numaSpan}`;
    };
    equivalent = figures(predicted) === figures(observed);
  }
  return { pod, node, predicted, observed, agreed, equivalent };
}

export interface TopologyStoreOptions {
  readonly log: Logger;
  /** The GPU resource name counted in status.allocatable (the policy's first gpuResources entry). */
  readonly gpuResource: () => string;
  readonly profiles?: () => readonly TopologyProfile[];
  /** How long a reservation waits for its pod to show up bound. Default 30 s. */
  readonly reservationTtlMs?: number;
  readonly now?: () => number;
  /**
   * Called once per pod when DCGM first shows which GPUs the device plugin gave
   * it, with the set topofit had predicted: how often they agree is reported.
   */
  readonly onPredictionChecked?: (check: PredictionCheck) => void;
  /** Where a node's live mean GPU utilisation (DCGM) is read at scoring time; asked for when its state is built. */
  readonly loadOf?: (node: string) => LoadSlot;
  /** GPUs a pod asks for through DRA ResourceClaims (the DraStore), when DRA is watched. */
  readonly claimGpus?: ClaimGpuCounter;
}

/** What the store keeps of a Node: the built model and what a rebuild needs, nothing else. */
interface NodeEntry {
  node: GpuNode;
  /** The topology annotation's text, if the node has one. */
  annotation: string | undefined;
  /** status.allocatable as the Node reported it (a few quantities), for rebuilds under another GPU resource name. */
  allocatableList: Readonly<Record<string, string>>;
  /** The GPU resource name `node.allocatable` was read for. */
  resource: string;
  resourceVersion: string | undefined;
  /** Current state; undefined when something changed since it was built. */
  state: NodeState | undefined;
}

const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({});

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  let count = 0;
  for (const k in b) {
    if (a[k] !== b[k]) return false;
    count += 1;
  }
  for (const _ in a) count -= 1;
  return count === 0;
}

/** Nodes of one rack or leaf share one network path object (capped; beyond it, paths are not shared). */
const NETWORK_PATHS = new Map<string, readonly (readonly [string, string])[]>();

function sharedNetworkPath(labels: Readonly<Record<string, string>>): readonly (readonly [string, string])[] {
  const path = networkPath(labels);
  const key = path.map(([level, value]) => `${level}=${value}`).join("\n");
  const known = NETWORK_PATHS.get(key);
  if (known) return known;
  const frozen = Object.freeze(path.map((p) => Object.freeze(p)));
  if (NETWORK_PATHS.size < 100_000) NETWORK_PATHS.set(key, frozen);
  return frozen;
}

function addTo<K, V>(index: Map<K, Set<V>>, key: K, value: V): void {
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(value);
}

function removeFrom<K, V>(index: Map<K, Set<V>>, key: K, value: V): void {
  const set = index.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) index.delete(key);
}

export class TopologyStore {
  readonly #opts: TopologyStoreOptions;
  readonly #nodes = new Map<string, NodeEntry>();
  /** Bumped whenever a node entry is added, replaced or removed (not when only its state is invalidated). */
  #entriesEpoch = 0;
  /** Entries of frozen name lists resolved before (see statesOf), valid while #entriesEpoch is unchanged. */
  readonly #resolved = new WeakMap<readonly string[], { readonly epoch: number; readonly entries: readonly (NodeEntry | undefined)[] }>();
  readonly #pods = new Map<string, PodRecord>();
  readonly #podsByNode = new Map<string, Set<string>>();
  readonly #podsByGroup = new Map<string, Set<string>>();
  readonly #reservations = new Map<string, Reservation>();
  readonly #reservationsByNode = new Map<string, Set<string>>();
  readonly #shapes = new GpuShapes();
  readonly #dcgm = new Map<string, DcgmNodeView>();
  /** DRA GPU devices and their allocation, for nodes a GPU driver publishes on. */
  readonly #dra = new Map<string, DraNodeView>();
  /** Predicted GPU sets of pods DCGM has not attributed yet, by pod key. */
  readonly #predictions = new Map<string, { node: string; gpus: readonly number[] }>();
  /** Nodes whose state is stale, to rebuild after this event-loop turn. */
  #stale = new Set<string>();
  #flush: NodeJS.Immediate | undefined;
  #version = 0;
  #nextExpiry = Number.POSITIVE_INFINITY;

  constructor(opts: TopologyStoreOptions) {
    this.#opts = opts;
  }

  #now(): number {
    return this.#opts.now?.() ?? Date.now();
  }

  #invalidate(node: string | undefined): void {
    if (node === undefined) return;
    const entry = this.#nodes.get(node);
    if (entry?.state === undefined) return;
    entry.state = undefined;
    this.#markStale(node);
  }

  #markStale(node: string): void {
    this.#stale.add(node);
    this.#flush ??= setImmediate(() => this.#rebuildStale()).unref();
  }

  /** Rebuilds the states changes made stale, and drops GPU shapes no node uses any more. */
  #rebuildStale(): void {
    this.#flush = undefined;
    const stale = this.#stale;
    this.#stale = new Set();
    for (const name of stale) this.state(name);
    if (this.#shapes.size() > 2 * this.#nodes.size + 1024) this.#shapes.prune(this.#liveShapes());
  }

  *#liveShapes(): Iterable<GpuShape> {
    for (const e of this.#nodes.values()) if (e.state) yield e.state.shape;
  }

  /** Adds or updates a node; rebuilds its topology only when its labels, topology annotation or GPU count changed. */
  upsertNode(wire: NodeWire): GpuNode | undefined {
    const name = wire.metadata?.name;
    if (!name) return undefined;
    // The same resourceVersion is the same object: nothing to compare (full-Nodes requests resend every node).
    const rv = wire.metadata?.resourceVersion;
    const known = this.#nodes.get(name);
    if (rv !== undefined && rv !== "" && known?.resourceVersion === rv) return known.node;
    const labels = wire.metadata?.labels ?? NO_LABELS;
    const annotation = wire.metadata?.annotations?.[GPU_TOPOLOGY_ANNOTATION];
    const allocatableList = wire.status?.allocatable ?? NO_LABELS;
    const resource = this.#opts.gpuResource();
    // A DRA node has no device plugin: its GPUs are the devices its ResourceSlices publish.
    const allocatable = Math.max(Math.max(0, Math.floor(parseQuantity(allocatableList[resource] ?? "0")) || 0), this.#dra.get(name)?.devices.length ?? 0);
    if (known && known.annotation === annotation && known.resource === resource && known.node.allocatable === allocatable && sameLabels(known.node.labels, labels)) {
      if (rv !== undefined && rv !== "") known.resourceVersion = rv;
      known.allocatableList = allocatableList;
      return known.node;
    }
    const node = this.#buildNode(name, labels, annotation, allocatable);
    this.#nodes.set(name, { node, annotation, allocatableList, resource, resourceVersion: rv !== "" ? rv : undefined, state: undefined });
    this.#entriesEpoch += 1;
    this.#markStale(name);
    return node;
  }

  #buildNode(name: string, labels: Readonly<Record<string, string>>, annotation: string | undefined, allocatable: number): GpuNode {
    const built = buildNodeTopology({
      labels,
      annotations: annotation !== undefined ? { [GPU_TOPOLOGY_ANNOTATION]: annotation } : {},
      allocatableGpus: allocatable,
      profiles: this.#opts.profiles?.() ?? BUILTIN_PROFILES,
    });
    for (const w of built.warnings) this.#opts.log.warn({ node: name, warning: w }, "node topology");
    const clique = cliqueOf(labels);
    return {
      name,
      labels,
      topology: built.topology,
      allocatable,
      ...(clique ? { clique: clique.partition } : {}),
      network: sharedNetworkPath(labels),
      costClass: costClassOf(labels),
    };
  }

  /** Rebuilds every node's topology, e.g. after the policy's profiles or GPU resource changed. */
  rebuildTopologies(): void {
    const entries = [...this.#nodes.values()];
    this.#nodes.clear();
    this.#entriesEpoch += 1;
    this.#shapes.clear();
    this.#stale.clear();
    for (const e of entries) this.upsertNode(TopologyStore.#wireOf(e));
  }

  /** The Node as the store keeps it, to feed upsertNode again. */
  static #wireOf(e: NodeEntry): NodeWire {
    return {
      metadata: { name: e.node.name, labels: e.node.labels, ...(e.annotation !== undefined ? { annotations: { [GPU_TOPOLOGY_ANNOTATION]: e.annotation } } : {}) },
      status: { allocatable: e.allocatableList },
    };
  }

  /**
   * Sets (or clears) the DRA devices of a node. A change in how many GPUs it
   * publishes rebuilds its topology (GFD labels may be all a DRA node has).
   */
  setDra(node: string, view: DraNodeView | undefined): void {
    const before = this.#dra.get(node)?.devices.length ?? 0;
    if (view) this.#dra.set(node, view);
    else this.#dra.delete(node);
    const entry = this.#nodes.get(node);
    if (entry && (view?.devices.length ?? 0) !== before) {
      entry.resourceVersion = undefined;
      this.upsertNode(TopologyStore.#wireOf(entry));
    }
    this.#invalidate(node);
  }

  /** GPUs `pod` asks for through ResourceClaims; undefined when DRA is not watched. */
  get claimGpus(): ClaimGpuCounter | undefined {
    return this.#opts.claimGpus;
  }

  /** The in-flight reservation of a pod, if any. */
  reservationOf(podUid: string): Reservation | undefined {
    return this.#reservations.get(podUid);
  }

  /**
   * A DRA claim of `podUid` was allocated `devices` on `node`: the reservation
   * made for it has served its purpose (the devices now count as taken), and
   * its GPU set is compared with what the allocator chose.
   */
  settleDraAllocation(podUid: string, node: string, devices: readonly string[]): void {
    const r = this.#reservations.get(podUid);
    if (!r) return;
    this.#dropReservation(podUid);
    const view = this.#dra.get(node);
    const entry = this.#nodes.get(node);
    if (r.node !== node || !view || !entry) return;
    const mapping = mapDevicesToGpus(entry.node.topology, view.devices);
    const observed = devices.flatMap((d) => {
      const i = view.devices.findIndex((x) => x.name === d);
      const g = i >= 0 ? mapping[i] : undefined;
      return g !== undefined ? [g] : [];
    });
    this.#opts.onPredictionChecked?.(checkPrediction(entry.node.topology, r.podKey, node, r.gpus, observed));
  }

  deleteNode(name: string): void {
    if (this.#nodes.delete(name)) this.#entriesEpoch += 1;
    this.#stale.delete(name);
  }

  hasNode(name: string): boolean {
    return this.#nodes.has(name);
  }

  nodeCount(): number {
    return this.#nodes.size;
  }

  /** How many distinct GPU shapes the current node states fall into (for benchmarks and diagnostics). */
  shapeCount(): number {
    return this.#shapes.size();
  }

  /** Tracks a GPU pod (bound or not). A pod bound to a node settles its reservation. */
  upsertPod(pod: PodRecord): void {
    const prev = this.#pods.get(pod.uid);
    if (prev?.nodeName !== pod.nodeName) {
      if (prev?.nodeName) {
        removeFrom(this.#podsByNode, prev.nodeName, pod.uid);
        this.#invalidate(prev.nodeName);
      }
      if (pod.nodeName) {
        addTo(this.#podsByNode, pod.nodeName, pod.uid);
        this.#invalidate(pod.nodeName);
      }
    } else if (pod.nodeName && prev !== undefined && (prev.gpus !== pod.gpus || prev.key !== pod.key)) {
      this.#invalidate(pod.nodeName);
    }
    if (prev?.group !== pod.group) {
      if (prev?.group !== undefined) removeFrom(this.#podsByGroup, prev.group, pod.uid);
      if (pod.group !== undefined) addTo(this.#podsByGroup, pod.group, pod.uid);
    }
    this.#pods.set(pod.uid, pod);
    if (pod.nodeName) {
      // Keep the reservation's GPU choice as the prediction when it is for this node.
      const r = this.#reservations.get(pod.uid);
      if (r && r.node !== pod.nodeName) this.#dropReservation(pod.uid);
    }
  }

  deletePod(uid: string): void {
    const prev = this.#pods.get(uid);
    if (prev?.nodeName) {
      removeFrom(this.#podsByNode, prev.nodeName, uid);
      this.#invalidate(prev.nodeName);
    }
    if (prev?.group !== undefined) removeFrom(this.#podsByGroup, prev.group, uid);
    this.#pods.delete(uid);
    if (prev) this.#predictions.delete(prev.key);
    this.#dropReservation(uid);
  }

  /** Records that the extender expects `podUid` on `node` using `gpus`, until it shows up bound or the TTL passes. */
  reserve(r: Omit<Reservation, "expiresAt">): void {
    if (this.#pods.get(r.podUid)?.nodeName !== undefined) return;
    this.#dropReservation(r.podUid);
    const full: Reservation = { ...r, expiresAt: this.#now() + (this.#opts.reservationTtlMs ?? 30_000) };
    this.#nextExpiry = Math.min(this.#nextExpiry, full.expiresAt);
    this.#reservations.set(r.podUid, full);
    addTo(this.#reservationsByNode, r.node, r.podUid);
    this.#invalidate(r.node);
  }

  #dropReservation(uid: string): void {
    const r = this.#reservations.get(uid);
    if (!r) return;
    this.#reservations.delete(uid);
    removeFrom(this.#reservationsByNode, r.node, uid);
    this.#invalidate(r.node);
  }

  /** Drops `podUid`'s reservation, if any: the extender is deciding for that pod again. */
  release(podUid: string): void {
    this.#dropReservation(podUid);
  }

  reservationCount(): number {
    return this.#reservations.size;
  }

  /** Replaces the whole DCGM view; only nodes whose view changed are rebuilt. */
  setDcgm(view: ReadonlyMap<string, DcgmNodeView>): void {
    const gone = [...this.#dcgm.keys()].filter((node) => !view.has(node));
    this.updateDcgm(new Map<string, DcgmNodeView | undefined>([...view, ...gone.map((node) => [node, undefined] as const)]));
  }

  /** Replaces the DCGM views of the nodes given (undefined: the node has none any more); others keep theirs. */
  updateDcgm(changes: ReadonlyMap<string, DcgmNodeView | undefined>): void {
    for (const [node, v] of changes) {
      if (this.#dcgm.get(node) === v) continue;
      if (v === undefined) this.#dcgm.delete(node);
      else this.#dcgm.set(node, v);
      this.#invalidate(node);
    }
  }

  /** Nodes (and their cliques/network paths) where members of `group` run or are reserved. */
  groupPlacements(group: string): readonly GpuNode[] {
    const out: GpuNode[] = [];
    const seen = new Set<string>();
    const add = (name: string | undefined) => {
      if (!name || seen.has(name)) return;
      seen.add(name);
      const n = this.#nodes.get(name)?.node;
      if (n) out.push(n);
    };
    for (const uid of this.#podsByGroup.get(group) ?? []) add(this.#pods.get(uid)?.nodeName);
    for (const r of this.#reservations.values()) if (r.group === group) add(r.node);
    return out;
  }

  /** The node's current state, rebuilt if anything about it changed. Call expireReservations() once per request first. */
  state(name: string): NodeState | undefined {
    const entry = this.#nodes.get(name);
    if (entry === undefined) return undefined;
    return (entry.state ??= this.#build(entry.node));
  }

  /**
   * The states of `names`, in order (undefined for nodes the store does not
   * know): what state() gives for each. A frozen list passed before (the very
   * array: extender requests that repeat a node list get the same one, see
   * extender/body.ts) is not looked up name by name again as long as no node
   * was added, replaced or removed meanwhile. With `into`, that array is
   * filled (and its length set) instead of a new one.
   */
  statesOf(names: readonly string[], into?: (NodeState | undefined)[]): (NodeState | undefined)[] {
    const reusable = Object.isFrozen(names);
    let resolved = reusable ? this.#resolved.get(names) : undefined;
    if (resolved === undefined || resolved.epoch !== this.#entriesEpoch) {
      resolved = { epoch: this.#entriesEpoch, entries: names.map((n) => this.#nodes.get(n)) };
      if (reusable) this.#resolved.set(names, resolved);
    }
    const entries = resolved.entries;
    let out: (NodeState | undefined)[];
    if (into !== undefined) {
      out = into;
      out.length = entries.length;
    } else out = new Array<NodeState | undefined>(entries.length);
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i];
      out[i] = entry === undefined ? undefined : (entry.state ??= this.#build(entry.node));
    }
    return out;
  }

  /** Drops reservations past their TTL (cheap when none is due: one clock read). */
  expireReservations(): void {
    if (this.#reservations.size === 0) return;
    const now = this.#now();
    if (now < this.#nextExpiry) return;
    let next = Number.POSITIVE_INFINITY;
    for (const [uid, r] of [...this.#reservations]) {
      if (r.expiresAt <= now) this.#dropReservation(uid);
      else next = Math.min(next, r.expiresAt);
    }
    this.#nextExpiry = next;
  }

  #build(node: GpuNode): NodeState {
    const name = node.name;
    this.#stale.delete(name);
    const bound: BoundPod[] = [];
    const onNode = new Set<string>();
    for (const uid of this.#podsByNode.get(name) ?? []) {
      const p = this.#pods.get(uid);
      if (!p) continue;
      onNode.add(p.key);
      // The GPUs reserved for it here, else the ones predicted for it before: a pod keeps its GPUs from one rebuild to the next.
      const r = this.#reservations.get(uid);
      const predicted = this.#predictions.get(p.key);
      const reserved = r?.node === name ? r.gpus : predicted?.node === name ? predicted.gpus : undefined;
      bound.push(reserved !== undefined ? { key: p.key, gpus: p.gpus, reserved } : { key: p.key, gpus: p.gpus });
    }
    const reservations: PendingReservation[] = [];
    for (const uid of this.#reservationsByNode.get(name) ?? []) {
      const r = this.#reservations.get(uid);
      if (r && !this.#pods.get(uid)?.nodeName) reservations.push({ podKey: r.podKey, gpus: r.gpus });
    }
    const occupancy = occupancyOf({
      topology: node.topology,
      dcgm: this.#dcgm.get(name),
      bound,
      reservations,
      knownPod: this.#pods.size > 0 ? (key) => onNode.has(key) : undefined,
      predicted: (key) => this.#predictions.get(key)?.gpus,
      ...(this.#dra.has(name) ? { dra: this.#dra.get(name)! } : {}),
    });
    if (occupancy.unmappedDevices > 0) {
      this.#opts.log.warn({ node: name, unmapped: occupancy.unmappedDevices }, "some DRA devices match no GPU of the node's topology");
    }
    for (const podKey of occupancy.observed) {
      const predicted = this.#predictions.get(podKey);
      if (predicted === undefined || predicted.node !== name) continue;
      this.#predictions.delete(podKey);
      const observed = occupancy.assignments.get(podKey)!;
      this.#opts.onPredictionChecked?.(checkPrediction(node.topology, podKey, name, predicted.gpus, observed));
    }
    for (const podKey of occupancy.newPredictions) this.#predictions.set(podKey, { node: name, gpus: occupancy.assignments.get(podKey)! });
    this.#version += 1;
    const loadOf = this.#opts.loadOf;
    return makeNodeState(
      {
        node,
        version: this.#version,
        busy: occupancy.busy,
        conditions: occupancy.conditions,
        dcgm: occupancy.freshness,
        assignments: occupancy.assignments,
        ...(loadOf ? { load: loadOf(name) } : {}),
        ...(occupancy.dra ? { dra: occupancy.dra } : {}),
      },
      this.#shapes,
    );
  }
}
