import type { Rule } from "../../policy/model.js";
import type { PodWire } from "../schema.js";
import { extensibleCopy, specOf } from "./pod-spec.js";

/** Adds the rule's nodeSelector keys; the pod's own value for a key wins unless the rule says Override. */
export function injectNodeSelector(pod: PodWire, rule: Rule): readonly string[] {
  const wanted = Object.entries(rule.inject.nodeSelector);
  if (wanted.length === 0) return [];
  const spec = specOf(pod);
  const current = spec.nodeSelector !== null && typeof spec.nodeSelector === "object" ? spec.nodeSelector : {};
  const next: Record<string, string> = extensibleCopy(current);
  const notes: string[] = [];
  for (const [k, v] of wanted) {
    const have = current[k];
    if (have === undefined || rule.inject.nodeSelectorMode === "Override") next[k] = v;
    else if (have !== v) notes.push(`nodeSelector ${k}: kept the pod's value ${have} (policy: ${v}, mode IfAbsent)`);
  }
  spec.nodeSelector = next;
  return notes;
}
