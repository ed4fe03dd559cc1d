import { describe, expect, it } from "vitest";
import { applyPatch, buildPatch } from "../../../src/admission/patch.js";
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
