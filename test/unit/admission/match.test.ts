import { describe, expect, it } from "vitest";
import { matchRule, type PodFacts } from "../../../src/admission/match.js";
import type { RuleSpec } from "../../../src/policy/schema.js";
import { loadPolicy, policyDocument } from "../../builders/policy.js";

function facts(over: Partial<PodFacts> = {}): PodFacts {
  return {
    namespace: "ml-train",
    labels: { "topofit.io/workload": "training" },
    gpus: 4,
    namespaceLabels: { "kubernetes.io/metadata.name": "ml-train", team: "vision" },
    ...over,
  };
}

function policyOf(...rules: RuleSpec[]) {
  return loadPolicy(policyDocument({ rules }));
}

describe("matchRule", () => {
  it("picks the first rule that matches and stops there", () => {
    const p = policyOf({ name: "big", match: { gpus: { min: 8 } } }, { name: "ml", match: { namespaces: ["ml-train"] } }, { name: "any" });
    const out = matchRule(p, facts());
    expect(out.rule?.name).toBe("ml");
    expect(out.trials.map((t) => [t.rule, t.matched])).toEqual([
      ["big", false],
      ["ml", true],
    ]);
    expect(out.trials[1]?.reason).toBe("matched");
  });

  it("matches no rule when none holds, with a trial for each", () => {
    const p = policyOf({ name: "a", match: { namespaces: ["x"] } }, { name: "b", match: { gpus: { max: 1 } } });
    const out = matchRule(p, facts());
    expect(out.rule).toBeUndefined();
    expect(out.trials.map((t) => t.matched)).toEqual([false, false]);
  });

  it("matches nothing with an empty policy", () => {
    expect(matchRule(policyOf(), facts())).toEqual({ trials: [] });
  });

  it("lets a rule with an empty match take every GPU pod", () => {
    expect(matchRule(policyOf({ name: "any", match: {} }), facts({ namespace: "anything", labels: {}, gpus: 1 })).rule?.name).toBe("any");
  });

  it.each<[string, RuleSpec["match"], Partial<PodFacts>, RegExp]>([
    ["the namespace is not in the rule's list", { namespaces: ["ml-prod", "ml-dev"] }, { namespace: "default" }, /namespace default is not in \[ml-prod, ml-dev\]/],
    [
      "a namespaceSelector label is missing",
      { namespaceSelector: { matchLabels: { team: "nlp" } } },
      {},
      /^namespaceSelector: .*team.*nlp/,
    ],
    [
      "a namespaceSelector expression fails",
      { namespaceSelector: { matchExpressions: [{ key: "gpu-quota", operator: "Exists" }] } },
      {},
      /^namespaceSelector: .*gpu-quota/,
    ],
    [
      "a podSelector label is absent",
      { podSelector: { matchLabels: { "topofit.io/workload": "inference" } } },
      { labels: {} },
      /^podSelector: label topofit\.io\/workload is absent/,
    ],
    [
      "a podSelector label has another value",
      { podSelector: { matchLabels: { "topofit.io/workload": "inference" } } },
      {},
      /^podSelector: label topofit\.io\/workload=training.*inference/,
    ],
    ["the pod asks for fewer GPUs than gpus.min", { gpus: { min: 8 } }, { gpus: 1 }, /requests 1 GPU\b.*at least 8/],
    ["the pod asks for more GPUs than gpus.max", { gpus: { max: 2 } }, { gpus: 4 }, /requests 4 GPUs.*at most 2/],
  ])("gives a reason naming the cause when %s", (_name, match, over, reason) => {
    const out = matchRule(policyOf({ name: "r", ...(match ? { match } : {}) }), facts(over));
    expect(out.rule).toBeUndefined();
    expect(out.trials).toHaveLength(1);
    expect(out.trials[0]?.matched).toBe(false);
    expect(out.trials[0]?.reason).toMatch(reason);
  });

  it.each<[string, RuleSpec["match"]]>([
    ["the namespace is listed", { namespaces: ["ml-train"] }],
    ["the namespace labels match", { namespaceSelector: { matchLabels: { team: "vision" } } }],
    ["the pod labels match", { podSelector: { matchExpressions: [{ key: "topofit.io/workload", operator: "In", values: ["training"] }] } }],
    ["the GPU count equals gpus.min", { gpus: { min: 4 } }],
    ["the GPU count equals gpus.max", { gpus: { max: 4 } }],
    ["every condition holds", { namespaces: ["ml-train"], podSelector: { matchLabels: { "topofit.io/workload": "training" } }, gpus: { min: 2, max: 8 } }],
  ])("matches when %s", (_name, match) => {
    expect(matchRule(policyOf({ name: "r", ...(match ? { match } : {}) }), facts()).rule?.name).toBe("r");
  });
});
