import type { Rule } from "../../policy/model.js";
import { DEFAULT_SCHEDULER_NAME } from "../keys.js";
import type { PodWire } from "../schema.js";
import { specOf } from "./pod-spec.js";

/** Routes the pod to the rule's scheduler unless the pod already chose a non-default one. */
export function injectSchedulerName(pod: PodWire, rule: Rule): readonly string[] {
  const want = rule.inject.schedulerName;
  if (want === undefined) return [];
  const spec = specOf(pod);
  const have = spec.schedulerName;
  if (have === undefined || have === "" || have === DEFAULT_SCHEDULER_NAME) {
    spec.schedulerName = want;
    return [];
  }
  return have === want ? [] : [`schedulerName: kept the pod's ${have} (policy: ${want})`];
}
