import { describe, expect, it } from "vitest";
import { DEFAULT_PLACEMENT } from "../../../src/policy/defaults.js";
import { encodePlacement, formatIssue } from "../../../src/policy/model.js";
import { loadPolicy, policyDocument } from "../../builders/policy.js";

describe("policy defaults", () => {
  it("fills gpuResources, excludedNamespaces and defaultPlacement when the spec is empty", () => {
    const p = loadPolicy(policyDocument({}));
    expect(p.gpuResources).toEqual(["nvidia.com/gpu"]);
    expect([...p.gpuResourceSet]).toEqual(["nvidia.com/gpu"]);
    expect([...p.excludedNamespaces].sort()).toEqual(["kube-system", "topofit-system"]);
    expect(p.defaultPlacement).toEqual({ gpuLinks: "Any", numa: "Any", strategy: "BinPack" });
    expect(p.rules).toEqual([]);
  });

  it("keeps an explicitly empty excludedNamespaces list empty", () => {
    expect(loadPolicy(policyDocument({ excludedNamespaces: [] })).excludedNamespaces.size).toBe(0);
  });

  it("keeps the gpuResources given", () => {
    const p = loadPolicy(policyDocument({ gpuResources: ["nvidia.com/gpu", "nvidia.com/mig-1g.10gb"] }));
    expect([...p.gpuResourceSet]).toEqual(["nvidia.com/gpu", "nvidia.com/mig-1g.10gb"]);
  });

  it.each<[string, Record<string, string> | undefined, Record<string, string> | undefined, Record<string, string>]>([
    ["a rule with no placement takes the built-in default", undefined, undefined, { gpuLinks: "Any", numa: "Any", strategy: "BinPack" }],
    ["a rule with no placement takes spec.defaultPlacement", { numa: "SingleNode", strategy: "Spread" }, undefined, { gpuLinks: "Any", numa: "SingleNode", strategy: "Spread" }],
    [
      "a rule's partial placement is completed from spec.defaultPlacement",
      { gpuLinks: "NVLinkPreferred", numa: "Preferred" },
      { numa: "SingleNode" },
      { gpuLinks: "NVLinkPreferred", numa: "SingleNode", strategy: "BinPack" },
    ],
    [
      "a rule's full placement wins over spec.defaultPlacement",
      { gpuLinks: "NVLinkPreferred", numa: "Preferred", strategy: "Spread" },
      { gpuLinks: "NVLinkRequired", numa: "SingleNode", strategy: "BinPack" },
      { gpuLinks: "NVLinkRequired", numa: "SingleNode", strategy: "BinPack" },
    ],
  ])("%s", (_name, defaultPlacement, placement, want) => {
    const p = loadPolicy(
      policyDocument({ ...(defaultPlacement ? { defaultPlacement } : {}), rules: [{ name: "r", ...(placement ? { placement } : {}) }] } as never),
    );
    expect(p.rules[0]?.placement).toEqual(want);
    expect(JSON.parse(p.rules[0]?.placementAnnotation ?? "")).toEqual(want);
  });

  it("fills every omitted match and inject field of a bare rule", () => {
    const rule = loadPolicy(policyDocument({ rules: [{ name: "bare" }] })).rules[0];
    expect(rule?.index).toBe(0);
    expect(rule?.match).toEqual({ gpus: { min: 0 } });
    expect(rule?.inject).toEqual({
      tolerations: [],
      nodeSelector: {},
      nodeSelectorMode: "IfAbsent",
      requiredTerms: [],
      preferredTerms: [],
      priorityClassMode: "IfAbsent",
    });
  });

  it("turns match.namespaces into a set and keeps rule order in index", () => {
    const p = loadPolicy(policyDocument({ rules: [{ name: "a", match: { namespaces: ["x", "y"] } }, { name: "b" }] }));
    expect(p.rules.map((r) => [r.name, r.index])).toEqual([
      ["a", 0],
      ["b", 1],
    ]);
    expect([...(p.rules[0]?.match.namespaces ?? [])]).toEqual(["x", "y"]);
  });

  it("writes the placement annotation as compact JSON with keys gpuLinks, numa, strategy in that order", () => {
    const p = loadPolicy(policyDocument({ rules: [{ name: "r", placement: { strategy: "Spread", numa: "SingleNode", gpuLinks: "NVLinkRequired" } }] }));
    expect(p.rules[0]?.placementAnnotation).toBe('{"gpuLinks":"NVLinkRequired","numa":"SingleNode","strategy":"Spread"}');
  });
});

describe("encodePlacement", () => {
  it("orders keys gpuLinks, numa, strategy whatever order the object has", () => {
    expect(encodePlacement({ strategy: "BinPack", numa: "Any", gpuLinks: "Any" } as typeof DEFAULT_PLACEMENT)).toBe(
      '{"gpuLinks":"Any","numa":"Any","strategy":"BinPack"}',
    );
  });
});

describe("formatIssue", () => {
  it.each([
    [{ path: "spec.rules[0].name", message: "is required" }, "spec.rules[0].name: is required"],
    [{ path: "", message: "the policy document is empty" }, "the policy document is empty"],
  ])("formats %j as %j", (issue, text) => {
    expect(formatIssue(issue)).toBe(text);
  });
});
