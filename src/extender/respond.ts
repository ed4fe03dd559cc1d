// The only translation from filter/prioritize outcomes to the extender wire
// format: PascalCase keys, the node field that matches the request's mode, and
// a bare array of {Host, Score} for prioritize.
import type { ExtenderCall } from "./decode.js";
import type { FilterOutcome, PrioritizeOutcome } from "./review.js";
import type { ExtenderFilterResultWire, HostPriorityWire, NodeWire } from "./schema.js";

export function respondToFilter(call: ExtenderCall, outcome: FilterOutcome): ExtenderFilterResultWire {
  const failed: Record<string, string> = {};
  const unresolvable: Record<string, string> = {};
  const passed = new Set<string>();
  for (let i = 0; i < outcome.names.length; i++) {
    const node = outcome.names[i]!;
    const v = outcome.cores[i]!;
    if (outcome.passThrough || v.ok) passed.add(node);
    else if (v.resolvable) failed[node] = v.reason;
    else unresolvable[node] = v.reason;
  }
  const base = { FailedNodes: failed, FailedAndUnresolvableNodes: unresolvable, Error: "" };
  if (call.nodes.mode === "names") return { ...base, NodeNames: call.nodes.names.filter((n) => passed.has(n)), Nodes: null };
  const items: NodeWire[] = call.nodes.nodes.filter((n) => passed.has(n.metadata?.name ?? ""));
  return { ...base, Nodes: { metadata: {}, items }, NodeNames: null };
}

export function respondToPrioritize(outcome: PrioritizeOutcome): HostPriorityWire[] {
  const out: HostPriorityWire[] = outcome.scores.map((s) => ({ Host: s.node, Score: s.score }));
  for (const n of outcome.infeasible) out.push({ Host: n, Score: 0 });
  return out;
}

export function filterError(message: string): ExtenderFilterResultWire {
  return { FailedNodes: {}, FailedAndUnresolvableNodes: {}, Error: message };
}
