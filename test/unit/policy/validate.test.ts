import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { loadPolicyText } from "../../../src/policy/load.js";
import { formatIssue, type PolicyIssue } from "../../../src/policy/model.js";
import { pointerToPath, validatePolicyDocument } from "../../../src/policy/validate.js";
import { policyDocument } from "../../builders/policy.js";

type Doc = Record<string, unknown>;

/** A valid one-rule document that each case breaks in one place. */
function baseDoc(): Doc {
  return policyDocument({
    rules: [
      {
        name: "training",
        match: { namespaces: ["ml-train"], gpus: { min: 2 } },
        inject: { tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }] },
      },
    ],
  }) as unknown as Doc;
}

function errorsOf(doc: unknown): readonly PolicyIssue[] {
  const r = validatePolicyDocument(doc);
  return r.ok ? [] : r.errors;
}

function rule0(doc: Doc): Record<string, any> {
  return (doc.spec as any).rules[0];
}

describe("validatePolicyDocument", () => {
  it("accepts the base document used by the cases below", () => {
    const r = validatePolicyDocument(baseDoc());
    expect(r.ok).toBe(true);
    expect(r.warnings).toEqual([]);
  });

  it("reports a misspelt enum value with its full path, the allowed values and the bad value", () => {
    const doc = policyDocument({
      rules: [
        { name: "a", match: { gpus: { min: 4 } } },
        { name: "b", inject: { tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedul" as "NoSchedule" }] } },
      ],
    });
    expect(errorsOf(doc).map(formatIssue)).toEqual([
      'spec.rules[1].inject.tolerations[0].effect: must be one of NoSchedule, PreferNoSchedule, NoExecute (got "NoSchedul")',
    ]);
  });

  // Each case: what is broken, how, and the path + message fragments the error must carry.
  it.each<[string, (d: Doc) => void, string, RegExp]>([
    [
      "an unknown field in inject is an error that lists the known fields",
      (d) => (rule0(d).inject.tolerationz = []),
      "spec.rules[0].inject.tolerationz",
      /unknown field.*tolerations, nodeSelector, nodeSelectorMode, nodeAffinity, priorityClassName, priorityClassMode, schedulerName, runtimeClassName/,
    ],
    [
      "an unknown field at the top level is an error",
      (d) => (d.specification = {}),
      "specification",
      /unknown field.*apiVersion, kind, metadata, spec/,
    ],
    [
      "an unknown field in a toleration is an error",
      (d) => (rule0(d).inject.tolerations[0].effects = "NoSchedule"),
      "spec.rules[0].inject.tolerations[0].effects",
      /unknown field.*key, operator, value, effect, tolerationSeconds/,
    ],
    ["a wrong apiVersion is an error naming the expected one", (d) => (d.apiVersion = "topofit.io/v1"), "apiVersion", /topofit\.io\/v1alpha1.*"topofit\.io\/v1"/],
    ["a wrong kind is an error naming the expected one", (d) => (d.kind = "PlacementPolicies"), "kind", /PlacementPolicy.*"PlacementPolicies"/],
    ["a missing spec is an error", (d) => delete d.spec, "spec", /is required/],
    ["a rule without a name is an error", (d) => delete rule0(d).name, "spec.rules[0].name", /is required/],
    ["a negative gpus.min is an error", (d) => (rule0(d).match.gpus.min = -1), "spec.rules[0].match.gpus.min", />= 0.*-1/],
    ["a fractional gpus.min is an error", (d) => (rule0(d).match.gpus.min = 1.5), "spec.rules[0].match.gpus.min", /integer/],
    [
      "a non-string nodeSelector value is an error at its quoted key",
      (d) => (rule0(d).inject.nodeSelector = { "nvidia.com/gpu.count": 8 }),
      'spec.rules[0].inject.nodeSelector["nvidia.com/gpu.count"]',
      /string.*8/,
    ],
    [
      "a preferred term weight above 100 is an error",
      (d) => (rule0(d).inject.nodeAffinity = { preferred: [{ weight: 101, matchExpressions: [{ key: "a", operator: "Exists" }] }] }),
      "spec.rules[0].inject.nodeAffinity.preferred[0].weight",
      /<= 100.*101/,
    ],
    ["an invalid placement strategy is an error", (d) => (rule0(d).placement = { strategy: "Pack" }), "spec.rules[0].placement.strategy", /BinPack, Spread.*"Pack"/],
    ["an invalid injection mode is an error", (d) => (rule0(d).inject.priorityClassMode = "Always"), "spec.rules[0].inject.priorityClassMode", /IfAbsent, Override/],
  ])("shape: %s", (_name, breakIt, path, message) => {
    const doc = baseDoc();
    breakIt(doc);
    const errors = errorsOf(doc);
    expect(errors.map((e) => e.path)).toContain(path);
    expect(errors.find((e) => e.path === path)?.message).toMatch(message);
  });

  it.each<[string, (d: Doc) => void, string, RegExp]>([
    [
      "a duplicate rule name is an error pointing at the first use",
      (d) => (d.spec as any).rules.push({ name: "training" }),
      "spec.rules[1].name",
      /duplicates.*spec\.rules\[0\]/,
    ],
    ["an upper-case rule name is an error", (d) => (rule0(d).name = "Training"), "spec.rules[0].name", /"Training".*not a valid rule name/],
    [
      "a label key with a space is an error",
      (d) => (rule0(d).match.podSelector = { matchLabels: { "bad key": "x" } }),
      'spec.rules[0].match.podSelector.matchLabels["bad key"]',
      /label key "bad key"/,
    ],
    [
      "a label key with an invalid prefix is an error",
      (d) => (rule0(d).match.podSelector = { matchLabels: { "Example.COM/team": "x" } }),
      'spec.rules[0].match.podSelector.matchLabels["Example.COM/team"]',
      /prefix/,
    ],
    [
      "a label value starting with a dash is an error",
      (d) => (rule0(d).inject.nodeSelector = { "nvidia.com/gpu.product": "-H100" }),
      'spec.rules[0].inject.nodeSelector["nvidia.com/gpu.product"]',
      /label value "-H100"/,
    ],
    [
      "a label value longer than 63 characters is an error",
      (d) => (rule0(d).match.namespaceSelector = { matchLabels: { team: "x".repeat(64) } }),
      "spec.rules[0].match.namespaceSelector.matchLabels.team",
      /label value/,
    ],
    [
      "In without values is an error",
      (d) => (rule0(d).match.podSelector = { matchExpressions: [{ key: "app", operator: "In" }] }),
      "spec.rules[0].match.podSelector.matchExpressions[0].values",
      /non-empty.*In/,
    ],
    [
      "NotIn with an empty list is an error",
      (d) => (rule0(d).match.podSelector = { matchExpressions: [{ key: "app", operator: "NotIn", values: [] }] }),
      "spec.rules[0].match.podSelector.matchExpressions[0].values",
      /non-empty.*NotIn/,
    ],
    [
      "Exists with values is an error",
      (d) => (rule0(d).match.namespaceSelector = { matchExpressions: [{ key: "team", operator: "Exists", values: ["a"] }] }),
      "spec.rules[0].match.namespaceSelector.matchExpressions[0].values",
      /empty.*Exists/,
    ],
    [
      "Gt with a non-integer is an error",
      (d) => (rule0(d).inject.nodeAffinity = { required: [{ matchExpressions: [{ key: "nvidia.com/gpu.count", operator: "Gt", values: ["four"] }] }] }),
      "spec.rules[0].inject.nodeAffinity.required[0].matchExpressions[0].values",
      /exactly one integer.*Gt/,
    ],
    [
      "Lt with two values is an error",
      (d) => (rule0(d).inject.nodeAffinity = { preferred: [{ weight: 10, matchExpressions: [{ key: "nvidia.com/gpu.count", operator: "Lt", values: ["4", "8"] }] }] }),
      "spec.rules[0].inject.nodeAffinity.preferred[0].matchExpressions[0].values",
      /exactly one integer.*Lt/,
    ],
    [
      "a required node-affinity term with no requirement is an error",
      (d) => (rule0(d).inject.nodeAffinity = { required: [{}] }),
      "spec.rules[0].inject.nodeAffinity.required[0]",
      /at least one/,
    ],
    [
      "matchFields on anything but metadata.name is an error",
      (d) => (rule0(d).inject.nodeAffinity = { required: [{ matchFields: [{ key: "spec.unschedulable", operator: "In", values: ["false"] }] }] }),
      "spec.rules[0].inject.nodeAffinity.required[0].matchFields[0].key",
      /metadata\.name/,
    ],
    [
      "a toleration with an empty key and operator Equal is an error",
      (d) => (rule0(d).inject.tolerations = [{ key: "", operator: "Equal", value: "x" }]),
      "spec.rules[0].inject.tolerations[0].operator",
      /must be Exists when key is empty/,
    ],
    [
      "a toleration with no key and no operator (so Equal) is an error",
      (d) => (rule0(d).inject.tolerations = [{ effect: "NoSchedule" }]),
      "spec.rules[0].inject.tolerations[0].operator",
      /must be Exists when key is empty/,
    ],
    [
      "a toleration with operator Exists and a value is an error",
      (d) => (rule0(d).inject.tolerations = [{ key: "nvidia.com/gpu", operator: "Exists", value: "present" }]),
      "spec.rules[0].inject.tolerations[0].value",
      /empty when operator is Exists/,
    ],
    [
      "tolerationSeconds with effect NoSchedule is an error",
      (d) => (rule0(d).inject.tolerations = [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule", tolerationSeconds: 60 }]),
      "spec.rules[0].inject.tolerations[0].tolerationSeconds",
      /only valid with effect NoExecute/,
    ],
    [
      "tolerationSeconds with no effect is an error",
      (d) => (rule0(d).inject.tolerations = [{ key: "nvidia.com/gpu", operator: "Exists", tolerationSeconds: 60 }]),
      "spec.rules[0].inject.tolerations[0].tolerationSeconds",
      /only valid with effect NoExecute/,
    ],
    ["gpus.min greater than gpus.max is an error", (d) => (rule0(d).match.gpus = { min: 8, max: 4 }), "spec.rules[0].match.gpus", /min \(8\).*max \(4\)/],
    ["a gpuResources entry without a domain is an error", (d) => ((d.spec as any).gpuResources = ["gpu"]), "spec.gpuResources[0]", /<domain>\/<name>/],
    ["a gpuResources entry with an empty name is an error", (d) => ((d.spec as any).gpuResources = ["nvidia.com/"]), "spec.gpuResources[0]", /<domain>\/<name>/],
    ["a gpuResources entry in kubernetes.io is an error", (d) => ((d.spec as any).gpuResources = ["kubernetes.io/gpu"]), "spec.gpuResources[0]", /kubernetes\.io/],
    [
      "a gpuResources entry in a kubernetes.io subdomain is an error",
      (d) => ((d.spec as any).gpuResources = ["nvidia.com/gpu", "gpu.kubernetes.io/h100"]),
      "spec.gpuResources[1]",
      /kubernetes\.io/,
    ],
    ["an empty gpuResources list is an error", (d) => ((d.spec as any).gpuResources = []), "spec.gpuResources", /at least one/],
    ["an invalid excluded namespace is an error", (d) => ((d.spec as any).excludedNamespaces = ["Kube_System"]), "spec.excludedNamespaces[0]", /not a valid namespace/],
    ["an invalid namespace in a rule is an error", (d) => (rule0(d).match.namespaces = ["ml.train"]), "spec.rules[0].match.namespaces[0]", /not a valid namespace/],
    ["an invalid priority class name is an error", (d) => (rule0(d).inject.priorityClassName = "GPU_Training"), "spec.rules[0].inject.priorityClassName", /"GPU_Training"/],
    ["an invalid scheduler name is an error", (d) => (rule0(d).inject.schedulerName = "my scheduler"), "spec.rules[0].inject.schedulerName", /"my scheduler"/],
  ])("semantics: %s", (_name, breakIt, path, message) => {
    const doc = baseDoc();
    breakIt(doc);
    const errors = errorsOf(doc);
    expect(errors.map((e) => e.path)).toContain(path);
    expect(errors.find((e) => e.path === path)?.message).toMatch(message);
  });

  it("returns every shape error at once, not only the first", () => {
    const doc = baseDoc();
    doc.kind = "Policy";
    rule0(doc).inject.tolerationz = [];
    rule0(doc).match.gpus.min = -3;
    (doc.spec as any).rules.push({ name: "b", placement: { numa: "Single" } });
    expect(errorsOf(doc).map((e) => e.path).sort()).toEqual(
      ["kind", "spec.rules[0].inject.tolerationz", "spec.rules[0].match.gpus.min", "spec.rules[1].placement.numa"].sort(),
    );
  });

  it("returns every semantic error at once, not only the first", () => {
    const doc = baseDoc();
    rule0(doc).match.gpus = { min: 8, max: 4 };
    rule0(doc).inject.tolerations = [{ key: "a", operator: "Exists", effect: "NoSchedule", tolerationSeconds: 5 }];
    (doc.spec as any).rules.push({ name: "training", match: { podSelector: { matchExpressions: [{ key: "app", operator: "In" }] } } });
    expect(errorsOf(doc).map((e) => e.path).sort()).toEqual(
      [
        "spec.rules[0].match.gpus",
        "spec.rules[0].inject.tolerations[0].tolerationSeconds",
        "spec.rules[1].name",
        "spec.rules[1].match.podSelector.matchExpressions[0].values",
      ].sort(),
    );
  });

  it("returns shape and semantic errors together when the shape errors leave the types intact", () => {
    const doc = baseDoc();
    doc.kind = "Policy";
    rule0(doc).inject.tolerationz = [];
    rule0(doc).match.gpus = { min: 8, max: 4 };
    rule0(doc).inject.tolerations[0].effect = "NoSchedul";
    (doc.spec as any).rules.push({ name: "training", match: { gpus: { min: -1 } } });
    expect(errorsOf(doc).map((e) => e.path).sort()).toEqual(
      [
        "kind",
        "spec.rules[0].inject.tolerationz",
        "spec.rules[0].inject.tolerations[0].effect",
        "spec.rules[1].match.gpus.min",
        "spec.rules[0].match.gpus",
        "spec.rules[1].name",
      ].sort(),
    );
  });

  it.each<[string, (d: Doc) => void, string]>([
    ["a rule name of the wrong type", (d) => (rule0(d).name = 42), "spec.rules[0].name"],
    ["a missing rule name", (d) => delete rule0(d).name, "spec.rules[0].name"],
    ["tolerations that are not a list", (d) => (rule0(d).inject.tolerations = { key: "a" }), "spec.rules[0].inject.tolerations"],
    ["a missing spec", (d) => delete d.spec, "spec"],
  ])("reports %s without crashing in the semantic checks", (_name, breakIt, path) => {
    const doc = baseDoc();
    breakIt(doc);
    (doc.spec as any)?.rules?.push({ name: "dup" }, { name: "dup" });
    expect(errorsOf(doc).map((e) => e.path)).toContain(path);
  });

  it.each([
    ["null", null],
    ["a string", "PlacementPolicy"],
    ["an array", []],
  ])("rejects a document that is %s", (_name, doc) => {
    const errors = errorsOf(doc);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toMatch(/must be an object/);
  });

  describe("warnings", () => {
    it("warns that rules after a catch-all are never reached, and stays valid", () => {
      const r = validatePolicyDocument(policyDocument({ rules: [{ name: "any-gpu" }, { name: "training", match: { gpus: { min: 8 } } }, { name: "late" }] }));
      expect(r.ok).toBe(true);
      expect(r.warnings.map((w) => w.path)).toEqual(["spec.rules[1]", "spec.rules[2]"]);
      expect(r.warnings[0]?.message).toMatch(/never reached.*"any-gpu"/);
    });

    it.each<[string, Record<string, unknown>]>([
      ["a rule limited to namespaces", { namespaces: ["ml"] }],
      ["a rule with a pod selector", { podSelector: { matchLabels: { app: "x" } } }],
      ["a rule with a namespace selector", { namespaceSelector: { matchExpressions: [{ key: "team", operator: "Exists" }] } }],
      ["a rule needing at least 2 GPUs", { gpus: { min: 2 } }],
      ["a rule allowing at most 4 GPUs", { gpus: { max: 4 } }],
    ])("does not treat %s as a catch-all", (_name, match) => {
      const r = validatePolicyDocument(policyDocument({ rules: [{ name: "first", match }, { name: "second" }] }));
      expect(r.ok).toBe(true);
      expect(r.warnings).toEqual([]);
    });

    it("treats gpus.min 1 as a catch-all, since every GPU pod asks for at least one", () => {
      const r = validatePolicyDocument(policyDocument({ rules: [{ name: "first", match: { gpus: { min: 1 } } }, { name: "second" }] }));
      expect(r.warnings.map((w) => w.path)).toEqual(["spec.rules[1]"]);
    });

    it("warns about a rule namespace that excludedNamespaces removes", () => {
      const r = validatePolicyDocument(policyDocument({ excludedNamespaces: ["kube-system"], rules: [{ name: "sys", match: { namespaces: ["kube-system"] } }] }));
      expect(r.ok).toBe(true);
      expect(r.warnings.map((w) => w.path)).toEqual(["spec.rules[0].match.namespaces[0]"]);
    });

    it("warns about a mode set without the value it applies to", () => {
      const r = validatePolicyDocument(policyDocument({ rules: [{ name: "a", inject: { priorityClassMode: "Override", nodeSelectorMode: "Override" } }] }));
      expect(r.warnings.map((w) => w.path).sort()).toEqual(["spec.rules[0].inject.nodeSelectorMode", "spec.rules[0].inject.priorityClassMode"]);
    });
  });
});

describe("pointerToPath", () => {
  it.each([
    ["", ""],
    ["/spec/rules/1/inject/tolerations/0/effect", "spec.rules[1].inject.tolerations[0].effect"],
    ["/spec/rules/0/inject/nodeSelector/nvidia.com~1gpu.product", 'spec.rules[0].inject.nodeSelector["nvidia.com/gpu.product"]'],
    ["/spec/rules/0/match/podSelector/matchLabels/a~0b", 'spec.rules[0].match.podSelector.matchLabels["a~b"]'],
  ])("renders the JSON pointer %j as %j", (pointer, path) => {
    expect(pointerToPath(pointer)).toBe(path);
  });
});

describe("validatePolicyDocument on arbitrary input", () => {
  /** A valid value for a field most of the time, any JSON value otherwise. */
  const or = <T>(valid: fc.Arbitrary<T>) => fc.oneof({ arbitrary: valid, weight: 4 }, { arbitrary: fc.jsonValue({ maxDepth: 2 }), weight: 1 });
  const toleration = fc.record(
    { key: or(fc.constantFrom("", "nvidia.com/gpu")), operator: or(fc.constantFrom("Exists", "Equal", "exists")), effect: or(fc.constantFrom("NoSchedule", "NoExecute", "NoSchedul")), tolerationSeconds: or(fc.integer({ min: -5, max: 5 })) },
    { requiredKeys: [] },
  );
  const selector = fc.record(
    { matchLabels: or(fc.dictionary(fc.constantFrom("app", "bad key", "a/b"), fc.constantFrom("x", "-y"))), matchExpressions: or(fc.array(fc.record({ key: or(fc.constantFrom("app", "")), operator: or(fc.constantFrom("In", "Exists", "Gt")), values: or(fc.array(fc.constantFrom("1", "a"), { maxLength: 2 })) }, { requiredKeys: [] }), { maxLength: 2 })) },
    { requiredKeys: [] },
  );
  const rule = fc.record(
    {
      name: or(fc.constantFrom("a", "a", "B", "")),
      unknownField: fc.constant(1),
      match: or(fc.record({ namespaces: or(fc.array(fc.constantFrom("ml", "Bad_NS"))), podSelector: or(selector), namespaceSelector: or(selector), gpus: or(fc.record({ min: or(fc.integer({ min: -1, max: 9 })), max: or(fc.integer({ min: -1, max: 9 })) }, { requiredKeys: [] })) }, { requiredKeys: [] })),
      inject: or(fc.record({ tolerations: or(fc.array(or(toleration), { maxLength: 2 })), nodeSelector: or(fc.dictionary(fc.constantFrom("a", "b/c"), fc.constantFrom("x", "-"))), nodeAffinity: or(fc.record({ required: or(fc.array(or(fc.record({ matchExpressions: or(fc.array(or(fc.record({ key: fc.constant("k"), operator: or(fc.constantFrom("In", "Gt")) })), { maxLength: 2 })) }, { requiredKeys: [] })), { maxLength: 2 })), preferred: or(fc.array(or(fc.record({ weight: or(fc.integer({ min: 0, max: 101 })) })), { maxLength: 2 })) }, { requiredKeys: [] })), priorityClassName: or(fc.constantFrom("ok", "Not OK")), priorityClassMode: or(fc.constantFrom("IfAbsent", "Always")) }, { requiredKeys: [] })),
    },
    { requiredKeys: [] },
  );
  const doc = fc.record(
    {
      apiVersion: or(fc.constantFrom("topofit.io/v1alpha1", "topofit.io/v1")),
      kind: or(fc.constant("PlacementPolicy")),
      extra: fc.constant(true),
      spec: or(fc.record({ gpuResources: or(fc.array(fc.constantFrom("nvidia.com/gpu", "gpu", "kubernetes.io/x"))), excludedNamespaces: or(fc.array(fc.constantFrom("kube-system", "X"))), rules: or(fc.array(or(rule), { maxLength: 3 })) }, { requiredKeys: [] })),
    },
    { requiredKeys: [] },
  );

  it("never throws, and every error has a message", () => {
    fc.assert(
      fc.property(doc, (d) => {
        const r = validatePolicyDocument(d);
        if (!r.ok) {
          expect(r.errors.length).toBeGreaterThan(0);
          for (const e of r.errors) expect(e.message.length).toBeGreaterThan(0);
        }
        // and the loader agrees on the same document sent as text
        expect(loadPolicyText(JSON.stringify(d)).ok).toBe(r.ok);
      }),
      { numRuns: 300 },
    );
  });
});
