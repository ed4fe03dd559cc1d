import type { PodWire } from "../schema.js";

/** Returns pod.spec, creating it when a malformed-but-accepted pod lacks one. */
export function specOf(pod: PodWire): NonNullable<PodWire["spec"]> {
  pod.spec ??= {};
  return pod.spec;
}
