// Policies for tests, always built through the real loader so that defaults
// and validation are the production ones.
import type { Policy, Rule } from "../../src/policy/model.js";
import { formatIssue } from "../../src/policy/model.js";
import { loadPolicyText } from "../../src/policy/load.js";
import type { PlacementPolicyDocument, RuleSpec } from "../../src/policy/schema.js";

/** A PlacementPolicy document with the given spec. */
export function policyDocument(spec: Partial<PlacementPolicyDocument["spec"]> = {}): PlacementPolicyDocument {
  return { apiVersion: "topofit.io/v1alpha1", kind: "PlacementPolicy", metadata: { name: "test" }, spec };
}

/** Loads a document (or YAML text); throws with every error if it is invalid (a test bug). */
export function loadPolicy(doc: PlacementPolicyDocument | string): Policy {
  const loaded = loadPolicyText(typeof doc === "string" ? doc : JSON.stringify(doc));
  if (!loaded.ok) throw new Error(`test policy is invalid:\n${loaded.errors.map(formatIssue).join("\n")}`);
  return loaded.policy;
}

/** The single Rule a one-rule policy yields. */
export function ruleFrom(spec: Omit<RuleSpec, "name"> & { name?: string }): Rule {
  const rule = loadPolicy(policyDocument({ rules: [{ name: "r", ...spec }] })).rules[0];
  if (rule === undefined) throw new Error("no rule");
  return rule;
}
