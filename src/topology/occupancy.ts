// Which GPUs of a node are taken, and by whom: the one place that answers it.
// Every source of "this GPU is in use" meets here, most trusted first:
//   1. DCGM's attribution of a GPU to a pod (fresh data only), for pods the
//      API still has;
//   2. pods bound to the node that DCGM does not show yet: their reserved GPUs
//      if topofit reserved some there, else the set topofit would pick
//      (a prediction, checked against DCGM once it shows the pod);
//   3. the in-flight ledger: GPUs reserved for pods not bound yet.
// On a DRA node, step 2 is replaced by the devices ResourceClaims hold (a
// bound pod's GPUs are its claims' devices), GPUs that no published device
// maps onto are never free, and a tainted device is unhealthy.
// Health comes from DCGM (and DRA device taints). Pure: no I/O, no clock.
import { mapDevicesToGpus, type DraNodeView } from "./dra.js";
import type { DraPlacement } from "./gpu-shape.js";
import { chooseGpuSet } from "./gpu-set.js";
import type { GpuCondition, GpuNodeTopology } from "./model.js";
import type { DcgmFreshness } from "./node-state.js";

/** DCGM's view of one node, as the DCGM store reports it. */
export interface DcgmNodeView {
  readonly freshness: DcgmFreshness;
  /** By GPU index. */
  readonly conditions: ReadonlyMap<number, GpuCondition>;
}

/** A pod bound to the node, as the API reports it. */
export interface BoundPod {
  readonly key: string;
  readonly gpus: number;
  /** The GPUs it is expected to hold when DCGM does not say: reserved for it, or predicted earlier. */
  readonly reserved?: readonly number[];
}

/** A reservation on the node for a pod not bound yet. */
export interface PendingReservation {
  readonly podKey: string;
  readonly gpus: readonly number[];
}

export interface OccupancyInput {
  readonly topology: GpuNodeTopology;
  readonly dcgm: DcgmNodeView | undefined;
  readonly bound: readonly BoundPod[];
  readonly reservations: readonly PendingReservation[];
  /**
   * Whether `podKey` is a pod the API knows on this node; undefined when no
   * pods are tracked at all (no pod informer), and DCGM is trusted as it is.
   */
  readonly knownPod: ((podKey: string) => boolean) | undefined;
  /** The GPU set predicted earlier for a pod, kept until DCGM shows it. */
  readonly predicted: (podKey: string) => readonly number[] | undefined;
  /** The node's DRA devices and which claims hold them, when a GPU driver publishes on it. */
  readonly dra?: DraNodeView;
}

export interface Occupancy {
  readonly busy: readonly boolean[];
  readonly conditions: readonly (GpuCondition | undefined)[];
  readonly freshness: DcgmFreshness;
  /** GPU indices by pod key, observed or predicted, ascending within a pod. */
  readonly assignments: ReadonlyMap<string, readonly number[]>;
  /** Pods whose GPUs DCGM attributed (the rest of `assignments` is predicted). */
  readonly observed: ReadonlySet<string>;
  /** Pods whose GPUs were predicted here and had no prediction before. */
  readonly newPredictions: readonly string[];
  /** DRA nodes: the order the allocator hands GPUs out in. */
  readonly dra?: DraPlacement;
  /** DRA devices that match no GPU of the topology. */
  readonly unmappedDevices: number;
}

/** Applies a DRA node's devices: unpublished GPUs are taken, claimed ones busy, tainted ones unhealthy. */
function applyDra(
  topology: GpuNodeTopology,
  view: DraNodeView,
  busy: boolean[],
  conditions: (GpuCondition | undefined)[],
  assignments: Map<string, number[]>,
): { placement: DraPlacement; unmapped: number } {
  const mapping = mapDevicesToGpus(topology, view.devices);
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
      let list = assignments.get(claim);
      if (list === undefined) assignments.set(claim, (list = []));
      list.push(g);
    }
    if (d.blocked !== undefined) {
      const c = conditions[g];
      conditions[g] = { ...(c ?? { pods: [] }), healthy: false, reasons: [...(c?.reasons ?? []), d.blocked] };
    }
  });
  for (let g = 0; g < busy.length; g++) if (!present.has(g)) busy[g] = true;
  return { placement: { order, deviceNames, published: view.devices.length }, unmapped: view.devices.length - order.length };
}

const NO_CONSTRAINTS = { nvlinkRequired: false, singleNuma: false } as const;

export function occupancyOf(input: OccupancyInput): Occupancy {
  const n = input.topology.gpus.length;
  const busy = new Array<boolean>(n).fill(false);
  const conditions = new Array<GpuCondition | undefined>(n).fill(undefined);
  const assignments = new Map<string, number[]>();
  const observed = new Set<string>();
  const newPredictions: string[] = [];
  const view = input.dcgm;
  const freshness: DcgmFreshness = view?.freshness ?? "unknown";
  if (view && freshness === "fresh") {
    for (const [idx, cond] of view.conditions) {
      if (idx < 0 || idx >= n) continue;
      conditions[idx] = cond;
      for (const podKey of cond.pods) {
        // A pod DCGM still shows but the API says is gone no longer holds the GPU.
        if (input.knownPod !== undefined && !input.knownPod(podKey)) continue;
        busy[idx] = true;
        let list = assignments.get(podKey);
        if (list === undefined) assignments.set(podKey, (list = []));
        list.push(idx);
        observed.add(podKey);
      }
    }
  }
  const place = (podKey: string, want: number, preferred: readonly number[] | undefined) => {
    if (assignments.has(podKey) || want <= 0) return;
    let chosen: number[];
    if (preferred && preferred.length === want && preferred.every((i) => i < n && !busy[i])) {
      chosen = [...preferred];
    } else {
      const free = busy.map((b) => !b);
      const pick = chooseGpuSet(input.topology, free, want, NO_CONSTRAINTS);
      chosen = pick.ok ? [...pick.choice.gpus] : free.flatMap((f, i) => (f ? [i] : [])).slice(0, want);
    }
    for (const i of chosen) busy[i] = true;
    chosen.sort((a, b) => a - b);
    assignments.set(podKey, chosen);
    if (input.predicted(podKey) === undefined) newPredictions.push(podKey);
  };
  const dra = input.dra ? applyDra(input.topology, input.dra, busy, conditions, assignments) : undefined;
  // On a DRA node a bound pod's GPUs are its claims' devices, counted above.
  if (!dra) for (const p of input.bound) place(p.key, p.gpus, p.reserved);
  for (const r of input.reservations) place(r.podKey, r.gpus.length, r.gpus);
  return { busy, conditions, freshness, assignments, observed, newPredictions, ...(dra ? { dra: dra.placement } : {}), unmappedDevices: dra?.unmapped ?? 0 };
}
