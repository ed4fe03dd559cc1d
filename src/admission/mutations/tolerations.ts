import type { Rule } from "../../policy/model.js";
import type { TolerationSpec } from "../../policy/schema.js";
import type { PodWire, TolerationWire } from "../schema.js";
import { specOf } from "./pod-spec.js";

function sameToleration(a: TolerationWire, b: TolerationSpec): boolean {
  return (
    (a.key ?? "") === (b.key ?? "") &&
    (a.operator ?? "Equal") === (b.operator ?? "Equal") &&
    (a.value ?? "") === (b.value ?? "") &&
    (a.effect ?? "") === (b.effect ?? "") &&
    a.tolerationSeconds === b.tolerationSeconds
  );
}

function toWire(t: TolerationSpec): TolerationWire {
  const out: TolerationWire = {};
  if (t.key !== undefined) out.key = t.key;
  if (t.operator !== undefined) out.operator = t.operator;
  if (t.value !== undefined) out.value = t.value;
  if (t.effect !== undefined) out.effect = t.effect;
  if (t.tolerationSeconds !== undefined) out.tolerationSeconds = t.tolerationSeconds;
  return out;
}

/** Appends the rule's tolerations that the pod does not already carry. */
export function injectTolerations(pod: PodWire, rule: Rule): readonly string[] {
  if (rule.inject.tolerations.length === 0) return [];
  const spec = specOf(pod);
  const existing = Array.isArray(spec.tolerations) ? spec.tolerations : [];
  const missing = rule.inject.tolerations.filter((t) => !existing.some((e) => e !== null && typeof e === "object" && sameToleration(e, t)));
  if (missing.length > 0) spec.tolerations = [...existing, ...missing.map(toWire)];
  return [];
}
