// The decision record read later by the extender. A pod cannot grant itself a
// rule or a placement: every topofit.io/ annotation it brought is replaced.
import type { Rule } from "../../policy/model.js";
import { GPUS_ANNOTATION, PLACEMENT_ANNOTATION, RULE_ANNOTATION, TOPOFIT_PREFIX } from "../keys.js";
import type { PodWire } from "../schema.js";
import type { MutationContext } from "./index.js";

/** The pod's annotations split into the ones it may set and the topofit.io/ keys it brought. */
function splitAnnotations(pod: PodWire): { readonly foreign: Record<string, string>; readonly ours: string[] } {
  const current = pod.metadata?.annotations;
  const foreign: Record<string, string> = {};
  const ours: string[] = [];
  if (current === null || typeof current !== "object") return { foreign, ours };
  for (const k in current) {
    if (!Object.hasOwn(current, k)) continue;
    if (k.startsWith(TOPOFIT_PREFIX)) ours.push(k);
    else foreign[k] = current[k]!;
  }
  return { foreign, ours };
}

const removedNote = (keys: readonly string[]) => `removed annotations only topofit may set: ${keys.join(", ")}`;

/**
 * Writes topofit.io/rule and topofit.io/placement; and, for a pod whose GPUs
 * come from resource claims (which the extender cannot read off its
 * containers), topofit.io/gpus with their number.
 */
export function recordDecision(pod: PodWire, rule: Rule, ctx?: Pick<MutationContext, "claimGpus">): readonly string[] {
  pod.metadata ??= {};
  const claimGpus = ctx?.claimGpus;
  const { foreign, ours } = splitAnnotations(pod);
  const dropped = ours.filter((k) => k !== RULE_ANNOTATION && k !== PLACEMENT_ANNOTATION && (k !== GPUS_ANNOTATION || claimGpus === undefined));
  foreign[RULE_ANNOTATION] = rule.name;
  foreign[PLACEMENT_ANNOTATION] = rule.placementAnnotation;
  if (claimGpus !== undefined) foreign[GPUS_ANNOTATION] = String(claimGpus);
  pod.metadata.annotations = foreign;
  return dropped.length > 0 ? [removedNote(dropped)] : [];
}

/** For GPU pods that matched no rule: remove any topofit.io/ annotation. */
export function stripDecision(pod: PodWire): readonly string[] {
  const { foreign, ours } = splitAnnotations(pod);
  if (ours.length === 0 || pod.metadata === undefined) return [];
  pod.metadata.annotations = foreign;
  return [removedNote(ours)];
}
