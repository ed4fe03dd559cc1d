import { describe, expect, it } from "vitest";
import type { PatchOperation } from "../../../src/admission/patch.js";
import { admissionReviewText, respondToDecision } from "../../../src/admission/respond.js";
import type { Decision } from "../../../src/admission/review.js";
import { pod } from "../../builders/pod.js";
import { ruleFrom } from "../../builders/policy.js";

const OPS: PatchOperation[] = [{ op: "add", path: "/spec/runtimeClassName", value: "nvidia" }];

function matched(patch: PatchOperation[], notes: string[] = []): Decision {
  return { kind: "matched", rule: ruleFrom({ name: "training" }), gpus: 1, patch, mutated: pod().build(), notes, trials: [], templates: [] };
}

describe("respondToDecision", () => {
  it("answers a skipped call with only uid and allowed: no patch, no patchType", () => {
    const r = respondToDecision("u-1", { kind: "skipped", reason: "no-gpu-request", detail: "requests none of nvidia.com/gpu" });
    expect(r).toEqual({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response: { uid: "u-1", allowed: true } });
  });

  it("sends a patch as base64 of the JSON Patch array, with patchType JSONPatch", () => {
    const r = respondToDecision("u-2", matched(OPS));
    expect(r.apiVersion).toBe("admission.k8s.io/v1");
    expect(r.kind).toBe("AdmissionReview");
    expect(r.response.uid).toBe("u-2");
    expect(r.response.allowed).toBe(true);
    expect(r.response.patchType).toBe("JSONPatch");
    expect(JSON.parse(Buffer.from(r.response.patch ?? "", "base64").toString("utf8"))).toEqual(OPS);
  });

  it("sends neither patch nor patchType when the patch is empty", () => {
    const r = respondToDecision("u-3", matched([]));
    expect(r.response).not.toHaveProperty("patch");
    expect(r.response).not.toHaveProperty("patchType");
    expect(r.response.allowed).toBe(true);
  });

  it("records the rule in auditAnnotations, and none for an unmatched GPU pod", () => {
    expect(respondToDecision("u", matched([])).response.auditAnnotations).toEqual({ rule: "training" });
    const unmatched: Decision = { kind: "unmatched", gpus: 1, patch: [], mutated: pod().build(), notes: [], trials: [] };
    expect(respondToDecision("u", unmatched).response.auditAnnotations).toEqual({ rule: "none" });
  });

  it("turns notes into warnings prefixed with topofit, at most 8, each at most 120 characters", () => {
    const notes = ["short note", "x".repeat(300), ...Array.from({ length: 10 }, (_, i) => `note ${i}`)];
    const warnings = respondToDecision("u", matched(OPS, notes)).response.warnings ?? [];
    expect(warnings).toHaveLength(8);
    expect(warnings[0]).toBe("topofit: short note");
    expect(warnings.every((w) => w.startsWith("topofit: ") && w.length <= 120)).toBe(true);
    expect(warnings[1]?.endsWith("...")).toBe(true);
  });

  it("sends no warnings field when there are no notes", () => {
    expect(respondToDecision("u", matched(OPS)).response).not.toHaveProperty("warnings");
  });
});

describe("admissionReviewText", () => {
  const unmatched: Decision = { kind: "unmatched", gpus: 1, patch: [], mutated: pod().build(), notes: [], trials: [] };
  it.each<[string, string, Decision]>([
    ["a skipped call", "u-1", { kind: "skipped", reason: "no-gpu-request", detail: "requests none of nvidia.com/gpu" }],
    ["a patch", "u-2", matched(OPS)],
    ["an empty patch", "u-3", matched([])],
    ["an unmatched GPU pod", "u-4", unmatched],
    ["notes that need escaping", 'u-"5"\\', matched(OPS, ['kept "a\\b"', "line\nbreak", "tab\tand \u0001 control", "ünïcödé ✓ \ud83d\ude80"])],
    ["patch values that need escaping", "u-6", matched([{ op: "add", path: "/metadata/annotations/a~1b", value: '{"q":"\\"x\\""}\n' }])],
  ])("writes %s exactly as JSON.stringify does", (_name, uid, decision) => {
    const wire = respondToDecision(uid, decision);
    expect(admissionReviewText(wire)).toBe(JSON.stringify(wire));
  });

  it("writes allowed: false and a status when a response carries them", () => {
    const wire = respondToDecision("u", matched([]));
    const denied = { ...wire, response: { ...wire.response, allowed: false, status: { code: 403, message: 'no "way"' } } };
    expect(JSON.parse(admissionReviewText(denied))).toEqual(denied);
  });
});
