// One verdict per node: can the pod's GPUs be placed there, under the
// placement's hard constraints? Pure; reads memoised NodeState answers.
import type { Placement } from "../policy/model.js";
import type { GpuSetChoice, GpuSetConstraints, NodeState } from "../topology/node-state.js";
import type { PodIntent } from "./intent.js";
import { REASON_NOT_A_GPU_NODE, REASON_UNKNOWN_NODE, reasonTooFewGpus } from "./reasons.js";

export type NodeVerdict =
  | { readonly ok: true; readonly node: string; readonly state: NodeState; readonly choice: GpuSetChoice }
  | { readonly ok: false; readonly node: string; readonly reason: string; readonly resolvable: boolean };

/** The hard constraints a placement imposes on the GPU set. */
export function requiredConstraints(p: Placement): GpuSetConstraints {
  return { nvlinkRequired: p.gpuLinks === "NVLinkRequired", singleNuma: p.numa === "SingleNode" };
}

export function filterNode(
  name: string,
  state: NodeState | undefined,
  intent: PodIntent,
  resource: string,
  constraints: GpuSetConstraints = requiredConstraints(intent.placement),
): NodeVerdict {
  if (state === undefined) return { ok: false, node: name, reason: REASON_UNKNOWN_NODE, resolvable: true };
  const total = state.node.topology.gpus.length;
  if (state.node.allocatable === 0 || total === 0) return { ok: false, node: name, reason: REASON_NOT_A_GPU_NODE, resolvable: false };
  if (Math.min(state.node.allocatable, total) < intent.gpus) {
    return { ok: false, node: name, reason: reasonTooFewGpus(intent.gpus, Math.min(state.node.allocatable, total), resource), resolvable: false };
  }
  const now = state.best(intent.gpus, constraints);
  if (now.ok) return { ok: true, node: name, state, choice: now.choice };
  // Busy GPUs can be freed by preemption; unhealthy GPUs and the wiring cannot.
  const idle = state.bestIfIdle(intent.gpus, constraints);
  const unhealthy = state.unhealthyCount > 0 ? ` (${state.unhealthyCount} GPU${state.unhealthyCount === 1 ? "" : "s"} unhealthy)` : "";
  return { ok: false, node: name, reason: `${now.reason}${unhealthy}`, resolvable: idle.ok };
}
