import { describe, expect, it } from "vitest";
import { injectPriorityClass } from "../../../../src/admission/mutations/priority-class.js";
import { pod } from "../../../builders/pod.js";
import { ruleFrom } from "../../../builders/policy.js";

describe("injectPriorityClass", () => {
  it.each<[string, string | undefined, "IfAbsent" | "Override" | undefined, string, boolean, number]>([
    // name, pod's class, mode, class after, priority fields dropped, notes
    ["sets the class on a pod that has none and drops the defaulted priority", undefined, undefined, "gpu-training", true, 0],
    ["keeps the pod's class under IfAbsent, with a note", "batch-low", "IfAbsent", "batch-low", false, 1],
    ["keeps the pod's class under the default mode (IfAbsent)", "batch-low", undefined, "batch-low", false, 1],
    ["replaces the pod's class under Override and drops the old priority", "batch-low", "Override", "gpu-training", true, 0],
    ["leaves a pod that already has the class as it is, priority included", "gpu-training", "Override", "gpu-training", false, 0],
    ["treats an empty class name as absent", "", "IfAbsent", "gpu-training", true, 0],
  ])("%s", (_name, have, mode, want, dropped, noteCount) => {
    const b = pod().priority(have === "batch-low" ? 100 : 0);
    if (have !== undefined) b.priorityClassName(have);
    const p = b.build();
    const notes = injectPriorityClass(p, ruleFrom({ inject: { priorityClassName: "gpu-training", ...(mode ? { priorityClassMode: mode } : {}) } }));
    expect(p.spec?.priorityClassName).toBe(want);
    // Dropped fields are left undefined, which the patch (and any JSON) turns into their removal.
    expect(p.spec?.priority === undefined).toBe(dropped);
    expect(p.spec?.preemptionPolicy === undefined).toBe(dropped);
    expect(Object.keys(JSON.parse(JSON.stringify(p.spec ?? {}))).includes("priority")).toBe(!dropped);
    expect(notes).toHaveLength(noteCount);
  });

  it("names both classes in the note when it keeps the pod's", () => {
    const p = pod().priorityClassName("batch-low").build();
    const [note] = injectPriorityClass(p, ruleFrom({ inject: { priorityClassName: "gpu-training" } }));
    expect(note).toMatch(/batch-low.*gpu-training/);
  });

  it("is idempotent under Override", () => {
    const p = pod().priorityClassName("batch-low").priority(100).build();
    const rule = ruleFrom({ inject: { priorityClassName: "gpu-training", priorityClassMode: "Override" } });
    injectPriorityClass(p, rule);
    const once = structuredClone(p);
    injectPriorityClass(p, rule);
    expect(p).toEqual(once);
  });

  it("does nothing when the rule names no class", () => {
    const p = pod().priority(0).build();
    injectPriorityClass(p, ruleFrom({}));
    expect(p.spec).toEqual({ containers: [], priority: 0, preemptionPolicy: "PreemptLowerPriority" });
  });
});
