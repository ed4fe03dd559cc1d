import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { claimTemplateFor, claimTemplateName } from "../../../src/admission/claim-template.js";
import type { Rule } from "../../../src/policy/model.js";
import type { DraInjectSpec } from "../../../src/policy/schema.js";
import { loadPolicy, policyDocument } from "../../builders/policy.js";

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const HOPPER = 'device.attributes["gpu.nvidia.com"].architecture == "Hopper"';

function draRule(name = "train", dra: Partial<DraInjectSpec> = {}): Rule {
  const policy = loadPolicy(
    policyDocument({ rules: [{ name, inject: { dra: { deviceClassName: "gpu.nvidia.com", convertExtendedResources: true, ...dra } } }] }),
  );
  return policy.rules[0]!;
}

function template(rule: Rule, namespace: string, count: number) {
  return claimTemplateFor(rule, rule.inject.dra!, namespace, count);
}

describe("claimTemplateFor", () => {
  it("writes a resource.k8s.io/v1 template: double spec, one ExactCount request under `exactly`, selectors and constraints", () => {
    const rule = draRule("train", { selectors: [HOPPER], matchAttributes: ["gpu.nvidia.com/productName"] });
    const t = template(rule, "ml", 2);
    expect(t).toEqual({
      apiVersion: "resource.k8s.io/v1",
      kind: "ResourceClaimTemplate",
      metadata: {
        name: t.metadata.name,
        namespace: "ml",
        labels: { "app.kubernetes.io/managed-by": "topofit", "topofit.io/rule": "train" },
      },
      spec: {
        spec: {
          devices: {
            requests: [{ name: "gpus", exactly: { deviceClassName: "gpu.nvidia.com", allocationMode: "ExactCount", count: 2, selectors: [{ cel: { expression: HOPPER } }] } }],
            constraints: [{ requests: ["gpus"], matchAttribute: "gpu.nvidia.com/productName" }],
          },
        },
      },
    });
    expect(t.metadata.name).toMatch(/^topofit-train-2gpu-[0-9a-f]{8}$/);
  });

  it("leaves out selectors and constraints when the rule has none", () => {
    const t = template(draRule(), "ml", 1);
    expect(t.spec.spec.devices).toEqual({ requests: [{ name: "gpus", exactly: { deviceClassName: "gpu.nvidia.com", allocationMode: "ExactCount", count: 1 } }] });
  });

  it("names the template the same in every namespace, and after every policy load", () => {
    const a = template(draRule("train", { selectors: [HOPPER] }), "ml", 4);
    const b = template(draRule("train", { selectors: [HOPPER] }), "team-b", 4);
    expect(b.metadata.name).toBe(a.metadata.name);
    expect(b.metadata.namespace).toBe("team-b");
  });

  it.each<[string, () => string]>([
    ["another count", () => template(draRule("train", { selectors: [HOPPER] }), "ml", 2).metadata.name],
    ["another selector", () => template(draRule("train", { selectors: [`${HOPPER} && true`] }), "ml", 4).metadata.name],
    ["an added constraint", () => template(draRule("train", { selectors: [HOPPER], matchAttributes: ["gpu.nvidia.com/productName"] }), "ml", 4).metadata.name],
    ["another rule, same content", () => template(draRule("serve", { selectors: [HOPPER] }), "ml", 4).metadata.name],
  ])("gives %s a new name (a template's spec cannot be updated)", (_name, other) => {
    const base = template(draRule("train", { selectors: [HOPPER] }), "ml", 4).metadata.name;
    expect(other()).not.toBe(base);
  });

  it("hands out a frozen spec: a caller cannot change the template of later pods", () => {
    const t = template(draRule(), "ml", 3);
    expect(() => {
      (t.spec.spec.devices.requests[0]!.exactly as { count: number }).count = 9;
    }).toThrow(TypeError);
    expect(template(draRule(), "ml", 3).spec.spec.devices.requests[0]?.exactly.count).toBe(3);
  });
});

describe("claimTemplateName", () => {
  it("is a DNS subdomain of at most 253 characters for any valid rule name and count", () => {
    const ruleName = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
    const spec = fc.record({ expression: fc.string({ maxLength: 200 }) }).map(({ expression }) => ({
      devices: { requests: [{ name: "gpus", exactly: { deviceClassName: "gpu.nvidia.com", selectors: [{ cel: { expression } }] } }] },
    }));
    fc.assert(
      fc.property(ruleName, fc.integer({ min: 1, max: 100_000 }), spec, (rule, count, s) => {
        const name = claimTemplateName(rule, count, s);
        return name.length <= 253 && DNS_SUBDOMAIN.test(name) && name.startsWith(`topofit-${rule}-${count}gpu-`);
      }),
      { numRuns: 500 },
    );
  });

  it("is a function of its inputs only", () => {
    const spec = { devices: { requests: [{ name: "gpus", exactly: { deviceClassName: "gpu.nvidia.com", count: 2 } }] } };
    expect(claimTemplateName("r", 2, spec)).toBe(claimTemplateName("r", 2, structuredClone(spec)));
  });
});
