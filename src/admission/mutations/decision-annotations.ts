// The decision record read later by the extender. A pod cannot grant itself a
// rule or a placement: every topofit.io/ annotation it brought is replaced.
import type { Rule } from "../../policy/model.js";
import { PLACEMENT_ANNOTATION, RULE_ANNOTATION, TOPOFIT_PREFIX } from "../keys.js";
import type { PodWire } from "../schema.js";

function foreignAnnotations(pod: PodWire): Record<string, string> {
  const current = pod.metadata?.annotations;
  const out: Record<string, string> = {};
  if (current === null || typeof current !== "object") return out;
  for (const [k, v] of Object.entries(current)) if (!k.startsWith(TOPOFIT_PREFIX)) out[k] = v;
  return out;
}

export function recordDecision(pod: PodWire, rule: Rule): readonly string[] {
  pod.metadata ??= {};
  const dropped = Object.keys(pod.metadata.annotations ?? {}).filter(
    (k) => k.startsWith(TOPOFIT_PREFIX) && k !== RULE_ANNOTATION && k !== PLACEMENT_ANNOTATION,
  );
  pod.metadata.annotations = { ...foreignAnnotations(pod), [RULE_ANNOTATION]: rule.name, [PLACEMENT_ANNOTATION]: rule.placementAnnotation };
  return dropped.length > 0 ? [`removed annotations only topofit may set: ${dropped.join(", ")}`] : [];
}

/** For GPU pods that matched no rule: remove any topofit.io/ annotation. */
export function stripDecision(pod: PodWire): readonly string[] {
  const current = pod.metadata?.annotations;
  if (current === undefined || current === null || typeof current !== "object") return [];
  const dropped = Object.keys(current).filter((k) => k.startsWith(TOPOFIT_PREFIX));
  if (dropped.length === 0 || pod.metadata === undefined) return [];
  pod.metadata.annotations = foreignAnnotations(pod);
  return [`removed annotations only topofit may set: ${dropped.join(", ")}`];
}
