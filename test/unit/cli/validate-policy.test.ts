import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runValidatePolicy } from "../../../src/cli/validate-policy.js";
import { EMBEDDED_POLICY_YAML } from "../../../src/policy/embedded.js";

const BAD = `apiVersion: topofit.io/v1alpha1
kind: PlacementPolicy
spec:
  gpuResources: [gpu]
  rules:
    - name: training
      match: {gpus: {min: 8, max: 4}}
    - name: training
      inject:
        tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule, tolerationSeconds: 30}]
`;

describe("runValidatePolicy", () => {
  let dir: string;
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "topofit-validate-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("exits 0 on the example policy and lists its rules", async () => {
    const lines: string[] = [];
    const code = await runValidatePolicy([file("example.yaml", EMBEDDED_POLICY_YAML)], (l) => lines.push(l));
    expect(code).toBe(0);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/example\.yaml: valid \(3 rules: training, inference, any-gpu\)/);
  });

  it("exits 1 on a bad policy and prints every error with its path, one per line", async () => {
    const lines: string[] = [];
    const path = file("bad.yaml", BAD);
    const code = await runValidatePolicy([path], (l) => lines.push(l));
    expect(code).toBe(1);
    expect(lines[0]).toBe(`${path}: 4 errors`);
    expect(lines.slice(1).map((l) => l.trim().split(":")[0]).sort()).toEqual(
      ["spec.gpuResources[0]", "spec.rules[0].match.gpus", "spec.rules[1].inject.tolerations[0].tolerationSeconds", "spec.rules[1].name"].sort(),
    );
    expect(lines.slice(1).every((l) => l.startsWith("  "))).toBe(true);
  });

  it("exits 1 when any one of several files is bad, and reports each", async () => {
    const lines: string[] = [];
    const good = file("good.yaml", EMBEDDED_POLICY_YAML);
    const missing = join(dir, "missing.yaml");
    const code = await runValidatePolicy([good, missing], (l) => lines.push(l));
    expect(code).toBe(1);
    expect(lines[0]).toMatch(/good\.yaml: valid/);
    expect(lines[1]).toMatch(/missing\.yaml: cannot read: ENOENT/);
  });

  it("prints a YAML error with its line and column", async () => {
    const lines: string[] = [];
    const code = await runValidatePolicy([file("broken.yaml", "apiVersion: topofit.io/v1alpha1\nkind: PlacementPolicy\nkind: x\n")], (l) => lines.push(l));
    expect(code).toBe(1);
    expect(lines[1]).toMatch(/line 3, column 1/);
  });

  it("prints warnings without failing", async () => {
    const lines: string[] = [];
    const code = await runValidatePolicy(
      [file("warn.yaml", "apiVersion: topofit.io/v1alpha1\nkind: PlacementPolicy\nspec:\n  rules: [{name: all}, {name: never}]\n")],
      (l) => lines.push(l),
    );
    expect(code).toBe(0);
    expect(lines[1]).toMatch(/^ {2}warning: spec\.rules\[1\]: is never reached/);
  });
});
