// The JSON Patch is the diff between the pod as received and the mutated copy,
// so escaping (`nvidia.com~1gpu`) and "add the whole map when absent" come for
// free, and a second pass over our own output yields an empty patch.
import fastJsonPatch from "fast-json-patch";
import type { PodWire } from "./schema.js";

export type PatchOperation = fastJsonPatch.Operation;

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/**
 * Keeps only the members of `a` and `b` that are not the same reference, so the
 * diff skips the subtrees the copy-on-write mutations left alone (containers,
 * volumes, ...). Paths are unchanged because members keep their keys.
 */
function changedMembers(a: Json, b: Json): [Json, Json] {
  const pa: Json = {};
  const pb: Json = {};
  for (const k of Object.keys(a)) if (a[k] !== b[k]) pa[k] = a[k];
  for (const k of Object.keys(b)) if (a[k] !== b[k] && k in b) pb[k] = b[k];
  for (const k of Object.keys(pa)) if (!(k in b)) delete pb[k];
  return [pa, pb];
}

export function buildPatch(original: PodWire, mutated: PodWire): PatchOperation[] {
  const [a, b] = changedMembers(original, mutated);
  for (const section of ["metadata", "spec"] as const) {
    const x = a[section];
    const y = b[section];
    if (isObject(x) && isObject(y)) [a[section], b[section]] = changedMembers(x, y);
  }
  return fastJsonPatch.compare(a, b);
}

/** Applies a patch to a copy of `pod` (used by explain and by tests). */
export function applyPatch(pod: PodWire, patch: readonly PatchOperation[]): PodWire {
  return fastJsonPatch.applyPatch(structuredClone(pod), [...patch], true, false).newDocument;
}
