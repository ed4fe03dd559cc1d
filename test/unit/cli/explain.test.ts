import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { runExplain, type Explanation } from "../../../src/cli/explain.js";
import type { ExplainSettings } from "../../../src/config.js";

const SERVING_POD = `apiVersion: v1
kind: Pod
metadata:
  name: llm-server
  namespace: serving
  labels: {topofit.io/workload: serving}
spec:
  containers:
    - name: vllm
      image: vllm/vllm-openai:v0.11.0
      resources: {limits: {nvidia.com/gpu: 1}}
`;

describe("runExplain", () => {
  let dir: string;
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const run = async (settings: Partial<ExplainSettings> & { podFile: string }) => {
    let out = "";
    const code = await runExplain({ namespaceLabels: {}, output: "text", ...settings }, (t) => (out += t));
    return { code, out };
  };
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "topofit-explain-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("prints every rule tried with its reason, the patch, and the resulting pod", async () => {
    const { code, out } = await run({ podFile: file("pod.yaml", SERVING_POD) });
    expect(code).toBe(0);
    expect(out).toMatch(/^Pod serving\/llm-server\n/);
    expect(out).toContain("GPUs requested: 1");
    expect(out).toMatch(/✘ training: namespace serving is not in \[ml-train\]/);
    expect(out).toMatch(/✔ inference: matched/);
    expect(out).not.toMatch(/any-gpu/);
    expect(out).toMatch(/JSON patch \(\d+ operations\):/);
    expect(out).toContain('"path":"/metadata/annotations","value":{"topofit.io/rule":"inference"');
    expect(out).toContain('"path":"/spec/priorityClassName","value":"gpu-inference"');
    const resulting = out.slice(out.indexOf("Resulting pod:") + "Resulting pod:".length);
    const pod = parse(resulting.replace(/^ {2}/gm, "")) as { metadata: { annotations: Record<string, string> }; spec: { priorityClassName: string } };
    expect(pod.metadata.annotations["topofit.io/rule"]).toBe("inference");
    expect(pod.spec.priorityClassName).toBe("gpu-inference");
  });

  it("uses --namespace for a manifest without one, and the namespace labels given", async () => {
    const policy = file(
      "policy.yaml",
      "apiVersion: topofit.io/v1alpha1\nkind: PlacementPolicy\nspec:\n  rules:\n    - name: vision\n      match: {namespaceSelector: {matchLabels: {team: vision}}}\n",
    );
    const podFile = file("bare.yaml", SERVING_POD.replace("  namespace: serving\n", ""));
    const matched = await run({ podFile, policyFile: policy, namespace: "lab", namespaceLabels: { team: "vision" }, output: "json" });
    const e = JSON.parse(matched.out) as Explanation;
    expect(e.namespace).toBe("lab");
    expect(e.decision).toBe("matched");
    expect(e.rule).toBe("vision");

    const unmatched = JSON.parse((await run({ podFile, policyFile: policy, namespace: "lab", output: "json" })).out) as Explanation;
    expect(unmatched.decision).toBe("unmatched");
    expect(unmatched.trials).toEqual([{ rule: "vision", matched: false, reason: expect.stringMatching(/^namespaceSelector: label team is absent/) }]);
  });

  it("says why a pod is not mutated when it is skipped", async () => {
    const { code, out } = await run({ podFile: file("cpu.yaml", SERVING_POD.replace("nvidia.com/gpu: 1", "cpu: 1")) });
    expect(code).toBe(0);
    expect(out).toMatch(/not mutated: requests none of nvidia\.com\/gpu/);
  });

  it("writes JSON with the decision, trials, patch and result", async () => {
    const { out } = await run({ podFile: file("pod.json.yaml", SERVING_POD), output: "json" });
    const e = JSON.parse(out) as Explanation;
    expect(e).toMatchObject({ pod: "llm-server", namespace: "serving", decision: "matched", rule: "inference", gpus: 1 });
    expect(e.trials.map((t) => t.rule)).toEqual(["training", "inference"]);
    expect(e.patch.length).toBeGreaterThan(0);
    expect((e.result as { metadata: { annotations: Record<string, string> } }).metadata.annotations["topofit.io/rule"]).toBe("inference");
  });

  it("exits 1 with every error when the policy is invalid", async () => {
    const { code, out } = await run({
      podFile: file("p.yaml", SERVING_POD),
      policyFile: file("bad-policy.yaml", "apiVersion: topofit.io/v1alpha1\nkind: PlacementPolicy\nspec:\n  gpuResources: [gpu]\n  rules: [{name: Bad}]\n"),
    });
    expect(code).toBe(1);
    expect(out).toContain("spec.gpuResources[0]");
    expect(out).toContain("spec.rules[0].name");
  });

  it("exits 1 when the file is not a Pod manifest", async () => {
    const { code, out } = await run({ podFile: file("deploy.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n") });
    expect(code).toBe(1);
    expect(out).toMatch(/does not hold a Pod manifest/);
  });
});
