// The decision record read later by the extender. A pod cannot grant itself a
// rule or a placement: every topofit.io/ annotation it brought is replaced.
import type { Rule } from "../../policy/model.js";
import { GPUS_ANNOTATION, PLACEMENT_ANNOTATION, RULE_ANNOTATION, TOPOFIT_PREFIX } from "../keys.js";
import type { PodWire } from "../schema.js";
import type { MutationContext } from "./index.js";

function foreignAnnotations(pod: PodWire): Record<string, string> {
  const current = pod.metadata?.annotations;
  const out: Record<string, string> = {};
  if (current === null || typeof current !== "object") return out;
  for (const [k, v] of Object.entries(current)) if (!k.startsWith(TOPOFIT_PREFIX)) out[k] = v;
  return out;
}

/**
 * Writes topofit.io/rule and topofit.io/placement; and, for a pod whose GPUs
 * come from resource claims (which the extender cannot read off its
 * containers), topofit.io/gpus with their number.
 */
export function recordDecision(pod: PodWire, rule: Rule, ctx?: Pick<MutationContext, "claimGpus">): readonly string[] {
  pod.metadata ??= {};
  const claimGpus = ctx?.claimGpus;
  const dropped = Object.keys(pod.metadata.annotations ?? {}).filter(
    (k) => k.startsWith(TOPOFIT_PREFIX) && k !== RULE_ANNOTATION && k !== PLACEMENT_ANNOTATION && (k !== GPUS_ANNOTATION || claimGpus === undefined),
  );
  pod.metadata.annotations = { ...foreignAnnotations(pod), [RULE_ANNOTATION]: rule.name, [PLACEMENT_ANNOTATION]: rule.placementAnnotation };
  if (claimGpus !== undefined) pod.metadata.annotations[GPUS_ANNOTATION] = String(claimGpus);
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
