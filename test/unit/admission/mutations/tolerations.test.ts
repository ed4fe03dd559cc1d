import { describe, expect, it } from "vitest";
import { injectTolerations } from "../../../../src/admission/mutations/tolerations.js";
import type { TolerationWire } from "../../../../src/admission/schema.js";
import type { TolerationSpec } from "../../../../src/policy/schema.js";
import { NOT_READY_TOLERATIONS, pod } from "../../../builders/pod.js";
import { ruleFrom } from "../../../builders/policy.js";

const GPU_TAINT: TolerationSpec = { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" };
const SPOT: TolerationSpec = { key: "karpenter.sh/capacity-type", operator: "Equal", value: "spot", effect: "NoSchedule" };

function run(existing: readonly TolerationWire[] | undefined, wanted: TolerationSpec[]): TolerationWire[] | undefined {
  const p = existing === undefined ? pod().build() : pod().tolerations(existing).build();
  const notes = injectTolerations(p, ruleFrom({ inject: { tolerations: wanted } }));
  expect(notes).toEqual([]);
  return p.spec?.tolerations;
}

describe("injectTolerations", () => {
  it("sets the rule's tolerations on a pod that has none", () => {
    expect(run(undefined, [GPU_TAINT, SPOT])).toEqual([GPU_TAINT, SPOT]);
  });

  it("appends after the tolerations the apiserver defaulted, keeping their order", () => {
    expect(run(NOT_READY_TOLERATIONS, [GPU_TAINT])).toEqual([...NOT_READY_TOLERATIONS, GPU_TAINT]);
  });

  it.each<[string, TolerationWire]>([
    ["an identical toleration", { ...GPU_TAINT }],
    ["the same toleration written in another key order", { effect: "NoSchedule", operator: "Exists", key: "nvidia.com/gpu" }],
  ])("does not append a toleration the pod already has: %s", (_name, have) => {
    expect(run([have], [GPU_TAINT])).toEqual([have]);
  });

  it("treats a missing operator as Equal on the pod side", () => {
    const have: TolerationWire = { key: "karpenter.sh/capacity-type", value: "spot", effect: "NoSchedule" };
    expect(run([have], [SPOT])).toEqual([have]);
  });

  it("treats a missing operator as Equal on the policy side", () => {
    const want: TolerationSpec = { key: "karpenter.sh/capacity-type", value: "spot", effect: "NoSchedule" };
    expect(run([SPOT], [want])).toEqual([SPOT]);
  });

  it.each<[string, TolerationWire]>([
    ["another effect", { ...GPU_TAINT, effect: "NoExecute" }],
    ["no effect", { key: "nvidia.com/gpu", operator: "Exists" }],
    ["another key", { ...GPU_TAINT, key: "amd.com/gpu" }],
    ["another value", { ...SPOT, value: "on-demand" }],
  ])("appends when the pod's toleration differs by %s", (_name, have) => {
    const want = have.key === SPOT.key ? SPOT : GPU_TAINT;
    expect(run([have], [want])).toEqual([have, want]);
  });

  it("appends only the missing ones when the pod has some", () => {
    expect(run([SPOT], [GPU_TAINT, SPOT])).toEqual([SPOT, GPU_TAINT]);
  });

  it("is idempotent", () => {
    const once = run(NOT_READY_TOLERATIONS, [GPU_TAINT, SPOT]);
    expect(run(once, [GPU_TAINT, SPOT])).toEqual(once);
  });

  it("leaves the pod alone when the rule has no tolerations", () => {
    const p = pod().build();
    injectTolerations(p, ruleFrom({}));
    expect(p.spec).toEqual({ containers: [] });
  });
});
