// The JSON Patch is the diff between the pod as received and the mutated copy,
// so "add the whole map when absent" comes for free and a second pass over our
// own output yields an empty patch.
//
// The diff leans on the mutations being copy-on-write (see mutations/index.ts):
// a member the mutations did not touch is the very same reference in both pods
// and is skipped without being looked into, so the work is proportional to what
// changed, not to the size of the pod. Nothing is cloned: the values in "add"
// and "replace" operations are the mutated pod's own (read-only) members.
import fastJsonPatch from "fast-json-patch";
import type { PodWire } from "./schema.js";

export type PatchOperation = fastJsonPatch.Operation;

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** One reference token of a JSON Pointer (RFC 6901): "~" becomes "~0", "/" becomes "~1". */
function pointerToken(key: string): string {
  let out = "";
  let from = 0;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c === 0x7e || c === 0x2f) {
      out += `${key.slice(from, i)}${c === 0x7e ? "~0" : "~1"}`;
      from = i + 1;
    }
  }
  return from === 0 ? key : out + key.slice(from);
}

// Called through the prototype: cheaper than Object.hasOwn on this hot path (Node 20).
const hasOwn = Object.prototype.hasOwnProperty;

/** A member as JSON sees it: own, and not undefined (JSON.stringify drops those). */
function member(o: Json, key: string): unknown {
  return hasOwn.call(o, key) ? o[key] : undefined;
}

function diffObjects(a: Json, b: Json, path: string, ops: PatchOperation[]): void {
  // for...in reads the key list the object's hidden class caches; Object.keys would copy it.
  for (const key in a) {
    const before = a[key];
    if (before === undefined || before === b[key] || !hasOwn.call(a, key)) continue;
    const after = member(b, key);
    const at = `${path}/${pointerToken(key)}`;
    if (after === undefined) ops.push({ op: "remove", path: at });
    else diffValues(before, after, at, ops);
  }
  for (const key in b) {
    const after = b[key];
    if (after === undefined || !hasOwn.call(b, key) || member(a, key) !== undefined) continue;
    ops.push({ op: "add", path: `${path}/${pointerToken(key)}`, value: after });
  }
}

/**
 * Index by index over the common length, then appends in order or removes from
 * the end backwards, so every index is valid when its operation is applied.
 */
function diffArrays(a: readonly unknown[], b: readonly unknown[], path: string, ops: PatchOperation[]): void {
  const common = Math.min(a.length, b.length);
  for (let i = 0; i < common; i++) if (a[i] !== b[i]) diffValues(a[i], b[i], `${path}/${i}`, ops);
  for (let i = common; i < b.length; i++) ops.push({ op: "add", path: `${path}/${i}`, value: b[i] });
  for (let i = a.length - 1; i >= common; i--) ops.push({ op: "remove", path: `${path}/${i}` });
}

function diffValues(a: unknown, b: unknown, path: string, ops: PatchOperation[]): void {
  if (a === b) return;
  if (isObject(a) && isObject(b)) diffObjects(a, b, path, ops);
  else if (Array.isArray(a) && Array.isArray(b)) diffArrays(a, b, path, ops);
  else ops.push({ op: "replace", path, value: b });
}

export function buildPatch(original: PodWire, mutated: PodWire): PatchOperation[] {
  const ops: PatchOperation[] = [];
  diffObjects(original, mutated, "", ops);
  return ops;
}

/** Applies a patch to a copy of `pod` (used by explain and by tests). */
export function applyPatch(pod: PodWire, patch: readonly PatchOperation[]): PodWire {
  return fastJsonPatch.applyPatch(structuredClone(pod), [...patch], true, false).newDocument;
}
