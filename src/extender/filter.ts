// One verdict per node: can the pod's GPUs be placed there, under the
// placement's hard constraints? Pure; reads memoised NodeState answers.
import type { Placement } from "../policy/model.js";
import type { DraPlacement, GpuSetChoice, GpuSetConstraints, NodeState } from "../topology/node-state.js";
import type { PodIntent } from "./intent.js";
import { REASON_NOT_A_GPU_NODE, REASON_UNKNOWN_NODE, reasonDraFirstFit, reasonDraTooFewFree, reasonDraTooFewPublished, reasonTooFewGpus } from "./reasons.js";

export type NodeVerdict =
  | { readonly ok: true; readonly node: string; readonly state: NodeState; readonly choice: GpuSetChoice }
  | { readonly ok: false; readonly node: string; readonly reason: string; readonly resolvable: boolean };

/** The hard constraints a placement imposes on the GPU set. */
export function requiredConstraints(p: Placement): GpuSetConstraints {
  return { nvlinkRequired: p.gpuLinks === "NVLinkRequired", singleNuma: p.numa === "SingleNode" };
}

/** A node's answer for a pod shape, independent of the pod: memoised on the node state. */
export type VerdictCore =
  | { readonly ok: true; readonly choice: GpuSetChoice }
  | { readonly ok: false; readonly reason: string; readonly resolvable: boolean };

const UNKNOWN: VerdictCore = { ok: false, reason: REASON_UNKNOWN_NODE, resolvable: true };

/**
 * A DRA node: the scheduler's allocator, not kubelet, picks the devices, and it
 * takes the first free ones in slice order. The verdict is about that set, the
 * one the pod will really get, not about the best set the node has free.
 */
function draVerdict(state: NodeState, dra: DraPlacement, gpus: number, constraints: GpuSetConstraints): VerdictCore {
  if (dra.published < gpus) return { ok: false, reason: reasonDraTooFewPublished(gpus, dra.published), resolvable: false };
  const choice = state.firstFit(gpus);
  if (choice === undefined) {
    const free = dra.order.filter((i) => state.usable[i]).length;
    const healthy = dra.order.filter((i) => state.conditions[i]?.healthy !== false).length;
    return { ok: false, reason: reasonDraTooFewFree(gpus, free, dra.published, state.unhealthyCount), resolvable: healthy >= gpus };
  }
  const names = choice.gpus.map((g) => dra.deviceNames.get(g) ?? `gpu ${g}`);
  if (constraints.nvlinkRequired && !choice.allNvlink) return { ok: false, reason: reasonDraFirstFit(gpus, names, "NVLink-connected"), resolvable: true };
  if (constraints.singleNuma && choice.numaSpan !== 1) return { ok: false, reason: reasonDraFirstFit(gpus, names, "on one NUMA node"), resolvable: true };
  return { ok: true, choice };
}

function computeVerdict(state: NodeState, gpus: number, resource: string, constraints: GpuSetConstraints): VerdictCore {
  if (state.dra !== undefined) return draVerdict(state, state.dra, gpus, constraints);
  const total = state.node.topology.gpus.length;
  if (state.node.allocatable === 0 || total === 0) return { ok: false, reason: REASON_NOT_A_GPU_NODE, resolvable: false };
  if (Math.min(state.node.allocatable, total) < gpus) {
    return { ok: false, reason: reasonTooFewGpus(gpus, Math.min(state.node.allocatable, total), resource), resolvable: false };
  }
  const now = state.best(gpus, constraints);
  if (now.ok) return { ok: true, choice: now.choice };
  // Busy GPUs can be freed by preemption; unhealthy GPUs and the wiring cannot.
  const idle = state.bestIfIdle(gpus, constraints);
  const unhealthy = state.unhealthyCount > 0 ? ` (${state.unhealthyCount} GPU${state.unhealthyCount === 1 ? "" : "s"} unhealthy)` : "";
  return { ok: false, reason: unhealthy === "" ? now.reason : `${now.reason}${unhealthy}`, resolvable: idle.ok };
}

/** The verdict for `gpus` GPUs under `constraints`: computed once per node state, then a lookup. */
export function nodeVerdict(state: NodeState | undefined, gpus: number, resource: string, constraints: GpuSetConstraints): VerdictCore {
  if (state === undefined) return UNKNOWN;
  const key = gpus * 4 + (constraints.nvlinkRequired ? 2 : 0) + (constraints.singleNuma ? 1 : 0);
  const cached = state.memoGet(key) as VerdictCore | undefined;
  if (cached !== undefined) return cached;
  const computed = computeVerdict(state, gpus, resource, constraints);
  state.memoSet(key, computed);
  return computed;
}

export function filterNode(
  name: string,
  state: NodeState | undefined,
  intent: PodIntent,
  resource: string,
  constraints: GpuSetConstraints = requiredConstraints(intent.placement),
): NodeVerdict {
  const v = nodeVerdict(state, intent.gpus, resource, constraints);
  return v.ok ? { ok: true, node: name, state: state!, choice: v.choice } : { ok: false, node: name, reason: v.reason, resolvable: v.resolvable };
}
