import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { applyPatch, buildPatch, type PatchOperation } from "../../../src/admission/patch.js";
import type { PodWire } from "../../../src/admission/schema.js";
import { pod } from "../../builders/pod.js";

describe("buildPatch", () => {
  it("is empty for equal pods", () => {
    expect(buildPatch(pod().gpus(1).build(), pod().gpus(1).build())).toEqual([]);
  });

  it.each<[string, Record<string, string> | undefined, { op: string; path: string }]>([
    ["adds the whole map when the pod had no annotations", undefined, { op: "add", path: "/metadata/annotations" }],
    ["adds one member, escaping the /, when the map exists", { a: "b" }, { op: "add", path: "/metadata/annotations/topofit.io~1rule" }],
  ])("%s", (_name, before, want) => {
    const original = before ? pod().annotations(before).build() : pod().build();
    const mutated = structuredClone(original);
    mutated.metadata!.annotations = { ...(before ?? {}), "topofit.io/rule": "r" };
    const ops = buildPatch(original, mutated);
    expect(ops).toHaveLength(1);
    expect(ops[0]).toMatchObject(want);
    expect(applyPatch(original, ops)).toEqual(mutated);
  });

  it("escapes ~ as ~0 and / as ~1", () => {
    const original = pod().nodeSelector({}).build();
    const mutated = pod().nodeSelector({ "a~b/c": "x" }).build();
    expect(buildPatch(original, mutated)).toEqual([{ op: "add", path: "/spec/nodeSelector/a~0b~1c", value: "x" }]);
  });

  it("treats a member set to undefined as removed, as JSON does", () => {
    const original = pod().build();
    original.spec!.priority = 100;
    const mutated = { ...original, spec: { ...original.spec, priority: undefined } };
    expect(buildPatch(original, mutated)).toEqual([{ op: "remove", path: "/spec/priority" }]);
  });

  it.each<[string, unknown[], unknown[], PatchOperation[]]>([
    ["appends at the next indexes, in order", [1, 2], [1, 2, 3, 4], [{ op: "add", path: "/spec/x/2", value: 3 }, { op: "add", path: "/spec/x/3", value: 4 }]],
    ["removes from the end backwards", [1, 2, 3, 4], [1, 2], [{ op: "remove", path: "/spec/x/3" }, { op: "remove", path: "/spec/x/2" }]],
    ["replaces a changed element in place", [1, { a: 1 }], [1, { a: 2 }], [{ op: "replace", path: "/spec/x/1/a", value: 2 }]],
    ["replaces an element whose type changed", [{ a: 1 }], [[1]], [{ op: "replace", path: "/spec/x/0", value: [1] }]],
  ])("arrays: %s", (_name, before, after, want) => {
    const original: PodWire = { spec: { x: before } };
    const mutated: PodWire = { spec: { x: after } };
    expect(buildPatch(original, mutated)).toEqual(want);
    expect(applyPatch(original, want)).toEqual(mutated);
  });

  it("does not look into members the mutated pod shares with the original", () => {
    const shared = { containers: [{ name: "a" }] };
    const original: PodWire = { spec: { ...shared, schedulerName: "a" } };
    const mutated: PodWire = { spec: { ...shared, schedulerName: "b" } };
    // A getter that throws would be hit by a diff that walks into shared subtrees.
    Object.defineProperty(shared.containers, "0", {
      get() {
        throw new Error("walked into a shared member");
      },
    });
    expect(buildPatch(original, mutated)).toEqual([{ op: "replace", path: "/spec/schedulerName", value: "b" }]);
  });
});

// ------------------------------------------------------------ properties

const KEYS = ["a", "b", "c", "a/b", "c~d", "~1", ""] as const;
const json: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: "small" }, fc.constant(null), fc.boolean(), fc.integer(), fc.string({ maxLength: 3 }), tie("array"), tie("object")),
  array: fc.array(tie("value"), { maxLength: 4 }),
  object: fc.dictionary(fc.constantFrom(...KEYS), tie("value"), { maxKeys: 4 }),
})).value;
const jsonObject = fc.dictionary(fc.constantFrom(...KEYS), json, { maxKeys: 5 });

/** A small deterministic generator, so that one seed gives one derivation. */
function random(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

/**
 * A copy-on-write edit of `v`, as the mutations make: untouched members stay
 * the same references, changed containers are new objects.
 */
function derive(v: unknown, next: () => number, fresh: unknown[]): unknown {
  const r = next();
  if (r < 0.45) return v;
  if (r < 0.6 || v === null || typeof v !== "object") return fresh.length > 0 ? fresh.pop() : v;
  if (Array.isArray(v)) {
    const out = v.map((x) => derive(x, next, fresh));
    if (next() < 0.3) out.push(fresh.pop() ?? 0);
    if (next() < 0.2) out.splice(Math.floor(next() * out.length), 1);
    return out;
  }
  return deriveMembers(v as Record<string, unknown>, next, fresh);
}

function deriveMembers(v: Record<string, unknown>, next: () => number, fresh: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    const c = next();
    if (c < 0.15) continue;
    out[k] = c < 0.25 ? undefined : derive(x, next, fresh);
  }
  if (next() < 0.3) out[KEYS[Math.floor(next() * KEYS.length)]!] = fresh.pop() ?? "x";
  return out;
}

const asJson = (v: unknown) => JSON.parse(JSON.stringify(v)) as unknown;

describe("buildPatch properties", () => {
  it("applied to any object, its patch gives any other object", () => {
    fc.assert(
      fc.property(jsonObject, jsonObject, (a, b) => {
        expect(applyPatch(a as PodWire, buildPatch(a as PodWire, b as PodWire))).toEqual(b);
      }),
      { numRuns: 500 },
    );
  });

  it("applied to an object, its patch gives a copy-on-write edit of it, and every operation is about a real change", () => {
    fc.assert(
      fc.property(jsonObject, fc.array(json, { maxLength: 10 }), fc.integer(), (a, fresh, seed) => {
        const b = deriveMembers(a, random(seed), [...fresh]) as PodWire;
        // Applied as the API server receives it: JSON, where members set to undefined are absent.
        const ops = asJson(buildPatch(a as PodWire, b)) as PatchOperation[];
        expect(applyPatch(a as PodWire, ops)).toEqual(asJson(b));
        expect(buildPatch(asJson(b) as PodWire, b)).toEqual([]);
        if (JSON.stringify(a) === JSON.stringify(b)) expect(ops).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });
});

describe("applyPatch", () => {
  it("leaves the pod it is given untouched", () => {
    const original = pod().build();
    const before = structuredClone(original);
    applyPatch(original, [{ op: "add", path: "/spec/runtimeClassName", value: "nvidia" }]);
    expect(original).toEqual(before);
  });

  it("refuses an operation whose parent does not exist", () => {
    expect(() => applyPatch(pod().build(), [{ op: "add", path: "/metadata/annotations/topofit.io~1rule", value: "r" }])).toThrow();
  });
});
