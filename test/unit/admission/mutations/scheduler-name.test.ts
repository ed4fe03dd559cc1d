import { describe, expect, it } from "vitest";
import { injectSchedulerName } from "../../../../src/admission/mutations/scheduler-name.js";
import { pod } from "../../../builders/pod.js";
import { ruleFrom } from "../../../builders/policy.js";

describe("injectSchedulerName", () => {
  it.each<[string, string | undefined, string, number]>([
    ["sets the scheduler on a pod that names none", undefined, "topofit-scheduler", 0],
    ["replaces default-scheduler, which the apiserver defaults", "default-scheduler", "topofit-scheduler", 0],
    ["keeps a scheduler the pod chose, with a note", "volcano", "volcano", 1],
    ["leaves the rule's own scheduler as it is", "topofit-scheduler", "topofit-scheduler", 0],
  ])("%s", (_name, have, want, noteCount) => {
    const b = pod();
    if (have !== undefined) b.schedulerName(have);
    const p = b.build();
    const notes = injectSchedulerName(p, ruleFrom({ inject: { schedulerName: "topofit-scheduler" } }));
    expect(p.spec?.schedulerName).toBe(want);
    expect(notes).toHaveLength(noteCount);
  });

  it("leaves default-scheduler when the rule names no scheduler", () => {
    const p = pod().schedulerName("default-scheduler").build();
    injectSchedulerName(p, ruleFrom({}));
    expect(p.spec?.schedulerName).toBe("default-scheduler");
  });
});
