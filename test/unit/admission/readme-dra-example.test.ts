// The README's "DRA: claim injection" example, checked against the code: the
// policy is valid, and the pod and template shown are what the webhook makes.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { repoRoot } from "../../../hack/cluster/binaries.js";
import { applyPatch } from "../../../src/admission/patch.js";
import { reviewPod } from "../../../src/admission/review.js";
import type { PodWire } from "../../../src/admission/schema.js";
import { loadPolicyText } from "../../../src/policy/load.js";
import { admissionCall } from "../../builders/admission-review.js";

function draSectionBlocks(): string[] {
  const readme = readFileSync(path.join(repoRoot, "README.md"), "utf8");
  const start = readme.indexOf("\n## DRA: claim injection\n");
  if (start < 0) throw new Error("README.md has no section \"DRA: claim injection\"");
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

const [policyYaml, podYaml, templateYaml] = draSectionBlocks();
const loaded = loadPolicyText(policyYaml ?? "");

describe("the README's DRA example", () => {
  it("has the policy, the admitted pod and the template", () => {
    expect([policyYaml, podYaml, templateYaml].every((b) => b !== undefined)).toBe(true);
  });

  it("is a valid policy, without warnings", () => {
    expect(loaded.ok ? [] : loaded.errors).toEqual([]);
    expect(loaded.warnings).toEqual([]);
  });

  it("admits the 4-GPU pod it describes as shown, with the template shown", () => {
    if (!loaded.ok) throw new Error("policy invalid");
    const input: PodWire = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "trainer-0", namespace: "ml-dra" },
      spec: { containers: [{ name: "trainer", image: "nvcr.io/nvidia/pytorch:25.09-py3", resources: { limits: { "nvidia.com/gpu": "4", memory: "64Gi" } } }] },
    };
    const d = reviewPod(admissionCall(input), { policy: loaded.policy, namespaceLabels: () => undefined });
    if (d.kind !== "matched") throw new Error(`expected a match, got ${d.kind}`);
    const out = applyPatch(input, d.patch);
    const shown = parse(podYaml!) as PodWire;
    expect(out.metadata?.annotations).toEqual(shown.metadata?.annotations);
    expect(out.spec?.containers?.[0]?.resources).toEqual(shown.spec?.containers?.[0]?.resources);
    expect(out.spec?.resourceClaims).toEqual(shown.spec?.resourceClaims);
    expect(out.spec?.schedulerName).toBe(shown.spec?.schedulerName);
    expect(out.spec?.tolerations).toEqual(shown.spec?.tolerations);
    expect(d.templates).toEqual([parse(templateYaml!)]);
  });
});
