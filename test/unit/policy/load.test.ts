import { describe, expect, it } from "vitest";
import { formatIssue } from "../../../src/policy/model.js";
import { digestOf, loadPolicyText } from "../../../src/policy/load.js";

const MINIMAL = "apiVersion: topofit.io/v1alpha1\nkind: PlacementPolicy\nspec: {}\n";

describe("loadPolicyText", () => {
  it("loads YAML", () => {
    const r = loadPolicyText(`${MINIMAL.replace("spec: {}", "spec:\n  rules:\n    - name: a")}`);
    expect(r.ok && r.policy.rules.map((x) => x.name)).toEqual(["a"]);
  });

  it("loads the same policy written as JSON", () => {
    const r = loadPolicyText(JSON.stringify({ apiVersion: "topofit.io/v1alpha1", kind: "PlacementPolicy", spec: { rules: [{ name: "a" }] } }));
    expect(r.ok && r.policy.rules.map((x) => x.name)).toEqual(["a"]);
  });

  it.each([
    ["an empty string", ""],
    ["only whitespace", "  \n\t\n"],
  ])("rejects %s as an empty document", (_name, text) => {
    const r = loadPolicyText(text);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.errors.map(formatIssue)).toEqual(["the policy document is empty"]);
  });

  it("reports a duplicate key with the line and column where it occurs", () => {
    const r = loadPolicyText("apiVersion: topofit.io/v1alpha1\nkind: PlacementPolicy\nkind: PlacementPolicy\nspec: {}\n");
    expect(r.ok).toBe(false);
    expect(!r.ok && r.errors[0]?.message).toMatch(/^not valid YAML\/JSON at line 3, column 1: /);
  });

  it.each([
    ["an unterminated quote", 'apiVersion: "topofit.io/v1alpha1\nkind: PlacementPolicy\n'],
    ["an unclosed flow mapping", "apiVersion: topofit.io/v1alpha1\nkind: PlacementPolicy\nspec: {rules: [{name: a}\n"],
    ["a bad indentation", "apiVersion: topofit.io/v1alpha1\nkind: PlacementPolicy\nspec:\n  rules:\n    - name: a\n   match: {}\n"],
  ])("reports %s as a YAML error with a line and column", (_name, text) => {
    const r = loadPolicyText(text);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.errors.every((e) => /^not valid YAML\/JSON at line \d+, column \d+: \S/.test(e.message))).toBe(true);
  });

  it("reports a YAML scalar document as not an object", () => {
    const r = loadPolicyText("just some text\n");
    expect(!r.ok && r.errors[0]?.message).toMatch(/must be an object.*"just some text"/);
  });

  it("passes validation errors through with their paths", () => {
    const r = loadPolicyText(`${MINIMAL.replace("spec: {}", "spec:\n  gpuResources: [gpu]")}`);
    expect(!r.ok && r.errors.map((e) => e.path)).toEqual(["spec.gpuResources[0]"]);
  });

  it("passes warnings through on a valid policy", () => {
    const r = loadPolicyText(`${MINIMAL.replace("spec: {}", "spec:\n  rules: [{name: all}, {name: never}]")}`);
    expect(r.ok).toBe(true);
    expect(r.warnings.map((w) => w.path)).toEqual(["spec.rules[1]"]);
  });

  it("gives the digest of the text, so equal text has equal digests and any edit changes it", () => {
    const a = loadPolicyText(MINIMAL);
    const b = loadPolicyText(MINIMAL);
    const c = loadPolicyText(`${MINIMAL}# a comment\n`);
    expect(a.ok && b.ok && c.ok).toBe(true);
    if (!a.ok || !b.ok || !c.ok) return;
    expect(a.digest).toBe(b.digest);
    expect(a.digest).toBe(digestOf(MINIMAL));
    expect(c.digest).not.toBe(a.digest);
  });
});

describe("loadPolicyText on hostile input", () => {
  it("rejects a YAML alias bomb instead of throwing", () => {
    const lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 8; i++) lines.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(", ")}]`);
    const r = loadPolicyText(`${lines.join("\n")}\n`);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.errors[0]?.message).toMatch(/^not valid YAML\/JSON: .*alias/i);
  });
});
