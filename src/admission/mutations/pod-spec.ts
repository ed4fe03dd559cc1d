import type { PodWire } from "../schema.js";

/** Returns pod.spec, creating it when a malformed-but-accepted pod lacks one. */
export function specOf(pod: PodWire): NonNullable<PodWire["spec"]> {
  pod.spec ??= {};
  return pod.spec;
}

/**
 * A shallow copy that the caller goes on to extend. Object.assign rather than
 * spread: V8 gives a spread copy a hidden class of its own, and every member
 * added to it then builds new ones (several µs a call); members added to an
 * Object.assign copy follow transitions V8 has cached. (Members named
 * __proto__ never get here: the JSON body parser rejects them.)
 */
export function extensibleCopy<T extends object>(o: T): T {
  return Object.assign({}, o);
}
