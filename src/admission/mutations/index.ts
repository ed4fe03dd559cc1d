// The ordered list of mutations applied to a pod that matched a rule. A new
// mutation is a new file here plus one entry in MUTATIONS.
import type { Rule } from "../../policy/model.js";
import type { PodWire } from "../schema.js";
import { recordDecision } from "./decision-annotations.js";
import { injectNodeAffinity } from "./node-affinity.js";
import { injectNodeSelector } from "./node-selector.js";
import { injectPriorityClass } from "./priority-class.js";
import { injectRuntimeClass } from "./runtime-class.js";
import { injectSchedulerName } from "./scheduler-name.js";
import { injectTolerations } from "./tolerations.js";

/**
 * Changes `pod` for `rule`; returns notes worth telling the user (kept values,
 * conflicts). `pod`, `pod.metadata` and `pod.spec` are private copies; anything
 * deeper is shared with the original and must be replaced, never written into.
 */
export type Mutation = (pod: PodWire, rule: Rule) => readonly string[];

export const MUTATIONS: readonly { readonly name: string; readonly apply: Mutation }[] = [
  { name: "tolerations", apply: injectTolerations },
  { name: "nodeSelector", apply: injectNodeSelector },
  { name: "nodeAffinity", apply: injectNodeAffinity },
  { name: "priorityClass", apply: injectPriorityClass },
  { name: "schedulerName", apply: injectSchedulerName },
  { name: "runtimeClass", apply: injectRuntimeClass },
  { name: "decisionAnnotations", apply: recordDecision },
];

export { stripDecision } from "./decision-annotations.js";

