import { describe, expect, it } from "vitest";
import { injectNodeSelector } from "../../../../src/admission/mutations/node-selector.js";
import { pod } from "../../../builders/pod.js";
import { ruleFrom } from "../../../builders/policy.js";

const H100 = { "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3" };

describe("injectNodeSelector", () => {
  it.each<[string, Record<string, string> | undefined, "IfAbsent" | "Override" | undefined, Record<string, string>, number]>([
    ["sets the selector on a pod with none", undefined, undefined, H100, 0],
    ["adds the key next to the pod's own keys", { "kubernetes.io/os": "linux" }, "IfAbsent", { "kubernetes.io/os": "linux", ...H100 }, 0],
    ["keeps the pod's value for the same key under IfAbsent (the default)", { "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB" }, undefined, { "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB" }, 1],
    ["replaces the pod's value under Override", { "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB", zone: "a" }, "Override", { ...H100, zone: "a" }, 0],
    ["says nothing when the pod already has the same value", { ...H100 }, "IfAbsent", H100, 0],
  ])("%s", (_name, have, mode, want, noteCount) => {
    const p = have ? pod().nodeSelector(have).build() : pod().build();
    const notes = injectNodeSelector(p, ruleFrom({ inject: { nodeSelector: H100, ...(mode ? { nodeSelectorMode: mode } : {}) } }));
    expect(p.spec?.nodeSelector).toEqual(want);
    expect(notes).toHaveLength(noteCount);
  });

  it("names the key, both values and the mode in the note when it keeps the pod's value", () => {
    const p = pod().nodeSelector({ "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB" }).build();
    const [note] = injectNodeSelector(p, ruleFrom({ inject: { nodeSelector: H100 } }));
    expect(note).toContain("nvidia.com/gpu.product");
    expect(note).toContain("NVIDIA-A100-SXM4-80GB");
    expect(note).toContain("NVIDIA-H100-80GB-HBM3");
    expect(note).toContain("IfAbsent");
  });

  it("leaves a pod with no selector without one when the rule has none", () => {
    const p = pod().build();
    injectNodeSelector(p, ruleFrom({}));
    expect(p.spec?.nodeSelector).toBeUndefined();
  });
});
