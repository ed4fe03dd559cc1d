// One admission decision: decide whether the pod is ours, pick the rule, apply
// the mutations to a clone, and diff. Pure: no I/O, no logging.
import type { Policy, Rule } from "../policy/model.js";
import type { AdmissionCall } from "./decode.js";
import { countPodGpus } from "./gpu-request.js";
import { matchRule, type RuleTrial } from "./match.js";
import { MUTATIONS, stripDecision } from "./mutations/index.js";
import { extensibleCopy } from "./mutations/pod-spec.js";
import { buildPatch, type PatchOperation } from "./patch.js";
import type { PodWire } from "./schema.js";

export type SkipReason = "not-a-pod-create" | "excluded-namespace" | "no-gpu-request";

export type Decision =
  | { readonly kind: "skipped"; readonly reason: SkipReason; readonly detail: string }
  | {
      readonly kind: "matched";
      readonly rule: Rule;
      readonly gpus: number;
      readonly patch: readonly PatchOperation[];
      readonly mutated: PodWire;
      readonly notes: readonly string[];
      readonly trials: readonly RuleTrial[];
    }
  | {
      readonly kind: "unmatched";
      readonly gpus: number;
      readonly patch: readonly PatchOperation[];
      readonly mutated: PodWire;
      readonly notes: readonly string[];
      readonly trials: readonly RuleTrial[];
    };

export interface ReviewContext {
  readonly policy: Policy;
  /** Labels of a namespace, when known (namespace informer); undefined otherwise. */
  readonly namespaceLabels: (namespace: string) => Readonly<Record<string, string>> | undefined;
}

/**
 * Copies the two levels that mutations write to (the pod, its metadata and its
 * spec). Mutations are copy-on-write below that: they replace the arrays and
 * maps they change and never write into the objects they received, so the
 * original pod stays intact for the diff without a deep clone on the hot path.
 */
function copyForMutation(pod: PodWire): PodWire {
  const out = extensibleCopy(pod);
  if (pod.metadata !== null && typeof pod.metadata === "object") out.metadata = extensibleCopy(pod.metadata);
  if (pod.spec !== null && typeof pod.spec === "object") out.spec = extensibleCopy(pod.spec);
  return out;
}

function labelsOf(pod: PodWire): Readonly<Record<string, string>> {
  const l = pod.metadata?.labels;
  return l !== null && typeof l === "object" ? l : {};
}

export function reviewPod(call: AdmissionCall, ctx: ReviewContext): Decision {
  const pod = call.pod;
  if (pod === undefined) {
    return { kind: "skipped", reason: "not-a-pod-create", detail: `${call.operation} ${call.kind}${call.subResource ? `/${call.subResource}` : ""}` };
  }
  const { policy } = ctx;
  if (policy.excludedNamespaces.has(call.namespace)) {
    return { kind: "skipped", reason: "excluded-namespace", detail: `namespace ${call.namespace} is excluded by policy` };
  }
  const gpus = countPodGpus(pod, policy.gpuResourceSet);
  if (gpus === 0) {
    return { kind: "skipped", reason: "no-gpu-request", detail: `requests none of ${policy.gpuResources.join(", ")}` };
  }
  const namespaceLabels = ctx.namespaceLabels(call.namespace) ?? { "kubernetes.io/metadata.name": call.namespace };
  const { rule, trials } = matchRule(policy, { namespace: call.namespace, labels: labelsOf(pod), gpus, namespaceLabels });
  const mutated = copyForMutation(pod);
  if (rule === undefined) {
    const notes = stripDecision(mutated);
    return { kind: "unmatched", gpus, patch: buildPatch(pod, mutated), mutated, notes, trials };
  }
  const notes: string[] = [];
  for (const m of MUTATIONS) notes.push(...m.apply(mutated, rule));
  return { kind: "matched", rule, gpus, patch: buildPatch(pod, mutated), mutated, notes, trials };
}
