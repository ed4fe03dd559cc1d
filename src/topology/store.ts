// TopologyStore: the extender's long-lived view of GPU nodes. It is fed by the
// node and pod informers (or by full Node objects in requests), by DCGM, and
// by the in-flight ledger of reservations the extender makes itself; it hands
// out immutable NodeState snapshots, rebuilt only for nodes that changed.
import { parseQuantity } from "../admission/gpu-request.js";
import type { NodeWire } from "../extender/schema.js";
import type { Placement } from "../policy/model.js";
import type { Logger } from "../telemetry/logger.js";
import { GPU_TOPOLOGY_ANNOTATION } from "./annotation.js";
import { buildNodeTopology } from "./build.js";
import { cliqueOf, costClassOf, networkPath } from "./labels.js";
import type { GpuCondition, GpuNode } from "./model.js";
import { makeNodeState, type DcgmFreshness, type DraPlacement, type NodeState } from "./node-state.js";
import { mapDevicesToGpus, type DraNodeView } from "./dra.js";
import type { ClaimGpus } from "./dra-store.js";
import type { PodClaimsWire } from "./dra-schema.js";

export type ClaimGpuCounter = (pod: PodClaimsWire) => ClaimGpus;
import { chooseGpuSet } from "./gpu-set.js";
import { BUILTIN_PROFILES, type TopologyProfile } from "./profiles.js";

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

/** DCGM's view of one node, as the DCGM store reports it. */
export interface DcgmNodeView {
  readonly freshness: DcgmFreshness;
  /** By GPU index. */
  readonly conditions: ReadonlyMap<number, GpuCondition>;
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
  readonly onPredictionChecked?: (check: { pod: string; node: string; predicted: readonly number[]; observed: readonly number[]; agreed: boolean }) => void;
  /** Live mean GPU utilisation of a node (DCGM), read at scoring time. */
  readonly load?: (node: string) => number | undefined;
  /** GPUs a pod asks for through DRA ResourceClaims (the DraStore), when DRA is watched. */
  readonly claimGpus?: ClaimGpuCounter;
}

interface NodeEntry {
  readonly fingerprint: string;
  readonly node: GpuNode;
  /** What the node was built from, to rebuild it when the profiles change. */
  readonly source: NodeWire;
  readonly resourceVersion?: string;
}

export class TopologyStore {
  readonly #opts: TopologyStoreOptions;
  readonly #nodes = new Map<string, NodeEntry>();
  readonly #pods = new Map<string, PodRecord>();
  readonly #podsByNode = new Map<string, Set<string>>();
  readonly #reservations = new Map<string, Reservation>();
  readonly #reservationsByNode = new Map<string, Set<string>>();
  readonly #states = new Map<string, NodeState>();
  #dcgm: ReadonlyMap<string, DcgmNodeView> = new Map();
  /** DRA GPU devices and their allocation, for nodes a GPU driver publishes on. */
  readonly #dra = new Map<string, DraNodeView>();
  /** Predicted GPU sets of pods DCGM has not attributed yet, by pod key. */
  readonly #predictions = new Map<string, { node: string; gpus: readonly number[] }>();
  #version = 0;
  #nextExpiry = Number.POSITIVE_INFINITY;

  constructor(opts: TopologyStoreOptions) {
    this.#opts = opts;
  }

  #now(): number {
    return this.#opts.now?.() ?? Date.now();
  }

  #invalidate(node: string | undefined): void {
    if (node !== undefined) this.#states.delete(node);
  }

  /** Adds or updates a node; rebuilds its topology only when its labels, annotations or GPU count changed. */
  upsertNode(wire: NodeWire): GpuNode | undefined {
    const name = wire.metadata?.name;
    if (!name) return undefined;
    // The same resourceVersion is the same object: skip the fingerprint (full-Nodes requests resend every node).
    const rv = wire.metadata?.resourceVersion;
    const known = this.#nodes.get(name);
    if (rv !== undefined && rv !== "" && known?.resourceVersion === rv) return known.node;
    const labels = wire.metadata?.labels ?? {};
    const topologyAnnotation = wire.metadata?.annotations?.[GPU_TOPOLOGY_ANNOTATION];
    const annotations: Record<string, string> = topologyAnnotation !== undefined ? { [GPU_TOPOLOGY_ANNOTATION]: topologyAnnotation } : {};
    const resource = this.#opts.gpuResource();
    const fromStatus = Math.max(0, Math.floor(parseQuantity(wire.status?.allocatable?.[resource] ?? "0")) || 0);
    // A DRA node has no device plugin: its GPUs are the devices its ResourceSlices publish.
    const allocatable = Math.max(fromStatus, this.#dra.get(name)?.devices.length ?? 0);
    const fingerprint = JSON.stringify([labels, topologyAnnotation ?? "", allocatable, resource]);
    if (known?.fingerprint === fingerprint) {
      if (rv !== undefined) this.#nodes.set(name, { ...known, ...(rv !== "" ? { resourceVersion: rv } : {}) });
      return known.node;
    }
    const built = buildNodeTopology({
      labels,
      annotations,
      allocatableGpus: allocatable,
      profiles: this.#opts.profiles?.() ?? BUILTIN_PROFILES,
    });
    for (const w of built.warnings) this.#opts.log.warn({ node: name, warning: w }, "node topology");
    const clique = cliqueOf(labels);
    const node: GpuNode = {
      name,
      labels,
      topology: built.topology,
      allocatable,
      ...(clique ? { clique: clique.partition } : {}),
      network: networkPath(labels),
      costClass: costClassOf(labels),
    };
    // Keep only what a rebuild needs, not the whole Node object.
    const source: NodeWire = { metadata: { name, labels, annotations }, status: { allocatable: { [resource]: String(fromStatus) } } };
    this.#nodes.set(name, { fingerprint, node, source, ...(rv ? { resourceVersion: rv } : {}) });
    this.#invalidate(name);
    return node;
  }

  /** Rebuilds every node's topology, e.g. after the policy's profiles or GPU resource changed. */
  rebuildTopologies(): void {
    const sources = [...this.#nodes.values()].map((e) => e.source);
    this.#nodes.clear();
    this.#states.clear();
    for (const s of sources) this.upsertNode(s);
  }

  deleteNode(name: string): void {
    this.#nodes.delete(name);
    this.#invalidate(name);
  }

  hasNode(name: string): boolean {
    return this.#nodes.has(name);
  }

  nodeCount(): number {
    return this.#nodes.size;
  }

  /** Tracks a GPU pod (bound or not). A pod bound to a node settles its reservation. */
  upsertPod(pod: PodRecord): void {
    const prev = this.#pods.get(pod.uid);
    if (prev?.nodeName !== pod.nodeName) {
      if (prev?.nodeName) {
        this.#podsByNode.get(prev.nodeName)?.delete(pod.uid);
        this.#invalidate(prev.nodeName);
      }
      if (pod.nodeName) {
        let set = this.#podsByNode.get(pod.nodeName);
        if (!set) this.#podsByNode.set(pod.nodeName, (set = new Set()));
        set.add(pod.uid);
        this.#invalidate(pod.nodeName);
      }
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
      this.#podsByNode.get(prev.nodeName)?.delete(uid);
      this.#invalidate(prev.nodeName);
    }
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
    let set = this.#reservationsByNode.get(r.node);
    if (!set) this.#reservationsByNode.set(r.node, (set = new Set()));
    set.add(r.podUid);
    this.#invalidate(r.node);
  }

  #dropReservation(uid: string): void {
    const r = this.#reservations.get(uid);
    if (!r) return;
    this.#reservations.delete(uid);
    this.#reservationsByNode.get(r.node)?.delete(uid);
    this.#invalidate(r.node);
  }

  /** Drops `podUid`'s reservation, if any: the extender is deciding for that pod again. */
  release(podUid: string): void {
    this.#dropReservation(podUid);
  }

  reservationCount(): number {
    return this.#reservations.size;
  }

  /** Replaces the DCGM view; only nodes whose view changed are rebuilt. */
  setDcgm(view: ReadonlyMap<string, DcgmNodeView>): void {
    const old = this.#dcgm;
    this.#dcgm = view;
    for (const [node, v] of view) if (old.get(node) !== v) this.#invalidate(node);
    for (const node of old.keys()) if (!view.has(node)) this.#invalidate(node);
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
      this.#nodes.set(node, { fingerprint: entry.fingerprint, node: entry.node, source: entry.source });
      this.upsertNode(entry.source);
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
    observed.sort((a, b) => a - b);
    const predicted = [...r.gpus].sort((a, b) => a - b);
    const agreed = predicted.length === observed.length && observed.every((g, i) => g === predicted[i]);
    this.#opts.onPredictionChecked?.({ pod: r.podKey, node, predicted, observed, agreed });
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
    for (const p of this.#pods.values()) if (p.group === group) add(p.nodeName);
    for (const r of this.#reservations.values()) if (r.group === group) add(r.node);
    return out;
  }

  /** The node's current state, rebuilt if anything about it changed. Call expireReservations() once per request first. */
  state(name: string): NodeState | undefined {
    const cached = this.#states.get(name);
    if (cached !== undefined) return cached;
    const entry = this.#nodes.get(name);
    if (!entry) return undefined;
    const state = this.#build(entry.node);
    this.#states.set(name, state);
    return state;
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
    const n = node.topology.gpus.length;
    const busy = new Array<boolean>(n).fill(false);
    const conditions = new Array<GpuCondition | undefined>(n).fill(undefined);
    const assignments = new Map<string, number[]>();
    const view = this.#dcgm.get(node.name);
    const freshness: DcgmFreshness = view?.freshness ?? "unknown";
    const tracked = new Set<string>();
    for (const uid of this.#podsByNode.get(node.name) ?? []) {
      const p = this.#pods.get(uid);
      if (p) tracked.add(p.key);
    }
    const trackingPods = this.#pods.size > 0;
    if (view && freshness === "fresh") {
      for (const [idx, cond] of view.conditions) {
        if (idx < 0 || idx >= n) continue;
        conditions[idx] = cond;
        for (const podKey of cond.pods) {
          // A pod DCGM still shows but the API says is gone no longer holds the GPU.
          if (trackingPods && !tracked.has(podKey)) continue;
          busy[idx] = true;
          const list = assignments.get(podKey) ?? [];
          list.push(idx);
          assignments.set(podKey, list);
        }
      }
    }
    const dra = this.#draPlacement(node, busy, conditions, assignments);
    for (const [podKey, observed] of assignments) {
      const predicted = this.#predictions.get(podKey);
      if (predicted === undefined || predicted.node !== node.name) continue;
      this.#predictions.delete(podKey);
      const agreed = predicted.gpus.length === observed.length && [...observed].sort((a, b) => a - b).every((g, i) => g === predicted.gpus[i]);
      this.#opts.onPredictionChecked?.({ pod: podKey, node: node.name, predicted: predicted.gpus, observed, agreed });
    }
    const place = (podKey: string, want: number, preferred: readonly number[] | undefined) => {
      if (assignments.has(podKey) || want <= 0) return;
      let chosen: number[] = [];
      if (preferred && preferred.length === want && preferred.every((i) => i < n && !busy[i])) {
        chosen = [...preferred];
      } else {
        const free = busy.map((b) => !b);
        const pick = chooseGpuSet(node.topology, free, want, { nvlinkRequired: false, singleNuma: false });
        chosen = pick.ok ? [...pick.choice.gpus] : free.flatMap((f, i) => (f ? [i] : [])).slice(0, want);
      }
      for (const i of chosen) busy[i] = true;
      chosen.sort((a, b) => a - b);
      assignments.set(podKey, chosen);
      if (!this.#predictions.has(podKey)) this.#predictions.set(podKey, { node: node.name, gpus: chosen });
    };
    // On a DRA node a bound pod's GPUs are its claims' allocated devices, already counted above.
    for (const uid of dra ? [] : (this.#podsByNode.get(node.name) ?? [])) {
      const p = this.#pods.get(uid);
      if (!p) continue;
      const r = this.#reservations.get(uid);
      place(p.key, p.gpus, r?.node === node.name ? r.gpus : undefined);
    }
    for (const uid of this.#reservationsByNode.get(node.name) ?? []) {
      const r = this.#reservations.get(uid);
      if (r && !this.#pods.get(uid)?.nodeName) place(r.podKey, r.gpus.length, r.gpus);
    }
    this.#version += 1;
    const load = this.#opts.load;
    return makeNodeState({
      node,
      version: this.#version,
      busy,
      conditions,
      dcgm: freshness,
      assignments,
      ...(load ? { load: () => load(node.name) } : {}),
      ...(dra ? { dra } : {}),
    });
  }

  /**
   * On a DRA node the ResourceSlices say which GPUs exist to be allocated and
   * the claims which are taken: GPUs of the topology no device maps onto are
   * not handed out, allocated ones are busy, tainted ones unhealthy.
   */
  #draPlacement(node: GpuNode, busy: boolean[], conditions: (GpuCondition | undefined)[], assignments: Map<string, number[]>): DraPlacement | undefined {
    const view = this.#dra.get(node.name);
    if (!view) return undefined;
    const mapping = mapDevicesToGpus(node.topology, view.devices);
    const present = new Set<number>();
    const order: number[] = [];
    const deviceNames = new Map<number, string>();
    view.devices.forEach((d, i) => {
      const g = mapping[i];
      if (g === undefined) return;
      order.push(g);
      present.add(g);
      deviceNames.set(g, d.name);
      const claim = view.allocated.get(d.name);
      if (claim !== undefined) {
        busy[g] = true;
        const list = assignments.get(claim) ?? [];
        list.push(g);
        assignments.set(claim, list);
      }
      if (d.blocked !== undefined) {
        const c = conditions[g];
        conditions[g] = { ...(c ?? { pods: [] }), healthy: false, reasons: [...(c?.reasons ?? []), d.blocked] };
      }
    });
    for (let g = 0; g < busy.length; g++) if (!present.has(g)) busy[g] = true;
    if (order.length < view.devices.length) {
      this.#opts.log.warn({ node: node.name, published: view.devices.length, mapped: order.length }, "some DRA devices match no GPU of the node's topology");
    }
    return { order, deviceNames, published: view.devices.length };
  }
}
