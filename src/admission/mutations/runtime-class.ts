import type { Rule } from "../../policy/model.js";
import type { PodWire } from "../schema.js";
import { specOf } from "./pod-spec.js";

/** Sets runtimeClassName when the pod names none. */
export function injectRuntimeClass(pod: PodWire, rule: Rule): readonly string[] {
  const want = rule.inject.runtimeClassName;
  if (want === undefined) return [];
  const spec = specOf(pod);
  if (spec.runtimeClassName === undefined || spec.runtimeClassName === null || spec.runtimeClassName === "") {
    spec.runtimeClassName = want;
    return [];
  }
  return spec.runtimeClassName === want ? [] : [`runtimeClassName: kept the pod's ${spec.runtimeClassName} (policy: ${want})`];
}
