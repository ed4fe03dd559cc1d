import { describe, expect, it } from "vitest";
import type { LabelSelectorSpec } from "../../../src/policy/schema.js";
import { explainLabelSelector } from "../../../src/policy/selector.js";

const labels = { app: "trainer", "topofit.io/workload": "training", team: "vision" };

describe("explainLabelSelector", () => {
  it.each<[string, LabelSelectorSpec]>([
    ["an empty selector", {}],
    ["matchLabels that all hold", { matchLabels: { app: "trainer", team: "vision" } }],
    ["In with the label's value", { matchExpressions: [{ key: "topofit.io/workload", operator: "In", values: ["inference", "training"] }] }],
    ["NotIn without the label's value", { matchExpressions: [{ key: "team", operator: "NotIn", values: ["nlp"] }] }],
    ["NotIn on an absent label", { matchExpressions: [{ key: "tier", operator: "NotIn", values: ["gold"] }] }],
    ["Exists on a present label", { matchExpressions: [{ key: "app", operator: "Exists" }] }],
    ["DoesNotExist on an absent label", { matchExpressions: [{ key: "tier", operator: "DoesNotExist" }] }],
  ])("holds for %s", (_name, sel) => {
    expect(explainLabelSelector(sel, labels)).toBeUndefined();
  });

  it.each<[string, LabelSelectorSpec, RegExp]>([
    ["a matchLabels key that is absent", { matchLabels: { tier: "gold" } }, /label tier is absent.*gold/],
    ["a matchLabels value that differs", { matchLabels: { team: "nlp" } }, /label team=vision.*want nlp/],
    ["In without the label's value", { matchExpressions: [{ key: "team", operator: "In", values: ["nlp", "speech"] }] }, /team=vision.*nlp, speech/],
    ["In on an absent label", { matchExpressions: [{ key: "tier", operator: "In", values: ["gold"] }] }, /tier is absent.*gold/],
    ["NotIn with the label's value", { matchExpressions: [{ key: "team", operator: "NotIn", values: ["vision"] }] }, /team=vision is excluded/],
    ["Exists on an absent label", { matchExpressions: [{ key: "tier", operator: "Exists" }] }, /tier is absent/],
    ["DoesNotExist on a present label", { matchExpressions: [{ key: "app", operator: "DoesNotExist" }] }, /app exists/],
    [
      "matchLabels that hold but an expression that does not",
      { matchLabels: { app: "trainer" }, matchExpressions: [{ key: "team", operator: "In", values: ["nlp"] }] },
      /team/,
    ],
  ])("fails for %s, naming the label", (_name, sel, why) => {
    expect(explainLabelSelector(sel, labels)).toMatch(why);
  });
});
