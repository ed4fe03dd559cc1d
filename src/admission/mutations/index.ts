// The ordered list of mutations applied to a pod that matched a rule. A new
// mutation is a new file here plus one entry in MUTATIONS.
import type { Policy, Rule } from "../../policy/model.js";
import type { PodWire, ResourceClaimTemplateWire } from "../schema.js";
import { recordDecision } from "./decision-annotations.js";
import { injectNodeAffinity } from "./node-affinity.js";
import { injectNodeSelector } from "./node-selector.js";
import { injectPriorityClass } from "./priority-class.js";
import { convertGpusToClaims } from "./resource-claims.js";
import { injectRuntimeClass } from "./runtime-class.js";
import { injectSchedulerName } from "./scheduler-name.js";
import { injectTolerations } from "./tolerations.js";

/** What a mutation may need beyond the pod and the rule; shared by the mutations of one review. */
export interface MutationContext {
  readonly policy: Policy;
  /** request.namespace. */
  readonly namespace: string;
  /** The pod's GPU count, as its rule matched it. */
  readonly gpus: number;
  /** Why GPU requests must stay extended resources this time (their templates could not be ensured); undefined: convert as the rule says. */
  readonly conversionBlocked?: string;
  /** Out: the ResourceClaimTemplates the mutated pod refers to and that must exist. */
  readonly templates: ResourceClaimTemplateWire[];
  /** GPUs the pod holds through resource claims, in all; recorded on the pod when set. */
  claimGpus?: number;
}

/**
 * Changes `pod` for `rule`; returns notes worth telling the user (kept values,
 * conflicts). `pod`, `pod.metadata` and `pod.spec` are private copies; anything
 * deeper is shared with the original and must be replaced, never written into.
 */
export type Mutation = (pod: PodWire, rule: Rule, ctx: MutationContext) => readonly string[];

export const MUTATIONS: readonly { readonly name: string; readonly apply: Mutation }[] = [
  { name: "tolerations", apply: injectTolerations },
  { name: "nodeSelector", apply: injectNodeSelector },
  { name: "nodeAffinity", apply: injectNodeAffinity },
  { name: "priorityClass", apply: injectPriorityClass },
  { name: "schedulerName", apply: injectSchedulerName },
  { name: "runtimeClass", apply: injectRuntimeClass },
  { name: "resourceClaims", apply: convertGpusToClaims },
  { name: "decisionAnnotations", apply: recordDecision },
];

export { stripDecision } from "./decision-annotations.js";

