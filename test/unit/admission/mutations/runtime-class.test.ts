import { describe, expect, it } from "vitest";
import { injectRuntimeClass } from "../../../../src/admission/mutations/runtime-class.js";
import { pod } from "../../../builders/pod.js";
import { ruleFrom } from "../../../builders/policy.js";

describe("injectRuntimeClass", () => {
  it.each<[string, string | undefined, string, number]>([
    ["sets the runtime class on a pod that names none", undefined, "nvidia", 0],
    ["keeps a runtime class the pod chose, with a note", "kata-nvidia", "kata-nvidia", 1],
    ["leaves the rule's own runtime class as it is", "nvidia", "nvidia", 0],
  ])("%s", (_name, have, want, noteCount) => {
    const b = pod();
    if (have !== undefined) b.runtimeClassName(have);
    const p = b.build();
    const notes = injectRuntimeClass(p, ruleFrom({ inject: { runtimeClassName: "nvidia" } }));
    expect(p.spec?.runtimeClassName).toBe(want);
    expect(notes).toHaveLength(noteCount);
  });

  it("does nothing when the rule names no runtime class", () => {
    const p = pod().build();
    injectRuntimeClass(p, ruleFrom({}));
    expect(p.spec?.runtimeClassName).toBeUndefined();
  });
});
