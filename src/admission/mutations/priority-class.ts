import type { Rule } from "../../policy/model.js";
import type { PodWire } from "../schema.js";
import { specOf } from "./pod-spec.js";

/**
 * Sets priorityClassName (IfAbsent: only when the pod names none). When the name
 * changes, the integer priority and preemptionPolicy that the Priority admission
 * plugin already derived from the old class are dropped, so that the plugin,
 * re-run by the API server after a webhook mutation, derives them from the new one.
 */
export function injectPriorityClass(pod: PodWire, rule: Rule): readonly string[] {
  const want = rule.inject.priorityClassName;
  if (want === undefined) return [];
  const spec = specOf(pod);
  const have = typeof spec.priorityClassName === "string" && spec.priorityClassName !== "" ? spec.priorityClassName : undefined;
  if (have === want) return [];
  if (have !== undefined && rule.inject.priorityClassMode === "IfAbsent") {
    return [`priorityClassName: kept the pod's ${have} (policy: ${want}, mode IfAbsent)`];
  }
  spec.priorityClassName = want;
  // Assigning undefined (not delete) keeps the object's shape fast; the diff and JSON drop the keys all the same.
  if (spec.priority !== undefined) spec.priority = undefined;
  if (spec.preemptionPolicy !== undefined) spec.preemptionPolicy = undefined;
  return [];
}
