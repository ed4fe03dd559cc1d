// One admission decision: decide whether the pod is ours, pick the rule, apply
// the mutations to a clone, and diff. Pure: no I/O, no logging. The templates a
// decision relies on are created by the caller, which decides again with
// conversion blocked when they cannot be.
import type { Policy, Rule } from "../policy/model.js";
import type { AdmissionCall } from "./decode.js";
import { countClaimGpus, countPodGpus, podResourceClaims, type ClaimTemplateDevices } from "./gpu-request.js";
import { matchRule, type RuleTrial } from "./match.js";
import { MUTATIONS, stripDecision, type MutationContext } from "./mutations/index.js";
import { extensibleCopy } from "./mutations/pod-spec.js";
import { buildPatch, type PatchOperation } from "./patch.js";
import type { PodWire, ResourceClaimTemplateWire } from "./schema.js";

export type SkipReason = "not-a-pod-create" | "excluded-namespace" | "no-gpu-request" | "uncounted-claims";

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
      /** ResourceClaimTemplates the mutated pod refers to; they must exist before the pod is admitted as mutated. */
      readonly templates: readonly ResourceClaimTemplateWire[];
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
  /** ResourceClaimTemplates in the cluster, for pods that ask for GPUs through claims; without it none are known. */
  readonly claimTemplate?: (namespace: string, name: string) => ClaimTemplateDevices | undefined;
  /** Set when GPU requests must not be converted into claims: why (shown to the user). */
  readonly conversionBlocked?: string;
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
  const requested = countPodGpus(pod, policy.gpuResourceSet);
  let gpus = requested;
  let claimGpus: number | undefined;
  const notes: string[] = [];
  const claims = podResourceClaims(pod);
  if (claims.length > 0) {
    const counted = countClaimGpus(claims, call.namespace, ctx.claimTemplate ?? (() => undefined), policy.dra.gpuDeviceClasses);
    if (counted.uncounted.length > 0 && requested === 0) {
      return { kind: "skipped", reason: "uncounted-claims", detail: `cannot tell how many GPUs the pod's claims hold: ${counted.uncounted.join("; ")}` };
    }
    notes.push(...counted.notes, ...counted.uncounted.map((u) => `not counted: ${u}`));
    gpus += counted.gpus;
    if (counted.gpus > 0) claimGpus = gpus;
  }
  if (gpus === 0) {
    const classes = claims.length > 0 ? ` and its claims hold no device of class ${[...policy.dra.gpuDeviceClasses].join(", ")}` : "";
    return { kind: "skipped", reason: "no-gpu-request", detail: `requests none of ${policy.gpuResources.join(", ")}${classes}` };
  }
  const namespaceLabels = ctx.namespaceLabels(call.namespace) ?? { "kubernetes.io/metadata.name": call.namespace };
  const { rule, trials } = matchRule(policy, { namespace: call.namespace, labels: labelsOf(pod), gpus, namespaceLabels });
  const mutated = copyForMutation(pod);
  if (rule === undefined) {
    notes.push(...stripDecision(mutated));
    return { kind: "unmatched", gpus, patch: buildPatch(pod, mutated), mutated, notes, trials };
  }
  const mctx: { -readonly [K in keyof MutationContext]: MutationContext[K] } = { policy, namespace: call.namespace, gpus, templates: [] };
  if (ctx.conversionBlocked !== undefined) mctx.conversionBlocked = ctx.conversionBlocked;
  if (claimGpus !== undefined) mctx.claimGpus = claimGpus;
  for (const m of MUTATIONS) {
    const said = m.apply(mutated, rule, mctx);
    // Most mutations have nothing to say: no spread call for them.
    for (let i = 0; i < said.length; i++) notes.push(said[i]!);
  }
  return { kind: "matched", rule, gpus, patch: buildPatch(pod, mutated), mutated, notes, trials, templates: mctx.templates };
}
