import { describe, expect, it } from "vitest";
import { PolicyStore, describeRejection, type ReloadOutcome } from "../../../src/policy/store.js";

const policy = (rule: string) => `apiVersion: topofit.io/v1alpha1\nkind: PlacementPolicy\nspec:\n  rules: [{name: ${rule}}]\n`;
const INVALID = "apiVersion: topofit.io/v1alpha1\nkind: PlacementPolicy\nspec:\n  gpuResources: [gpu]\n  rules: [{name: Bad}]\n";

function recording(): { store: PolicyStore; seen: ReloadOutcome[] } {
  const store = new PolicyStore();
  const seen: ReloadOutcome[] = [];
  store.onReload((o) => seen.push(o));
  return { store, seen };
}

describe("PolicyStore", () => {
  it("is not ready and has no policy before the first load", () => {
    const store = new PolicyStore();
    expect(store.ready()).toBe(false);
    expect(store.current()).toBeUndefined();
  });

  it("applies a valid policy as generation 1 and becomes ready", () => {
    const { store } = recording();
    const o = store.apply(policy("a"), "file:/p.yaml");
    expect(o.result).toBe("applied");
    expect(store.ready()).toBe(true);
    expect(store.current()?.generation).toBe(1);
    expect(store.current()?.source).toBe("file:/p.yaml");
    expect(store.current()?.policy.rules.map((r) => r.name)).toEqual(["a"]);
  });

  it("bumps the generation on every applied change", () => {
    const { store } = recording();
    store.apply(policy("a"), "embedded");
    store.apply(policy("b"), "embedded");
    const o = store.apply(policy("a"), "embedded");
    expect(o.result).toBe("applied");
    expect(store.current()?.generation).toBe(3);
  });

  it("reports the same content from the same source as unchanged and keeps the snapshot", () => {
    const { store } = recording();
    store.apply(policy("a"), "configmap:topofit-system/topofit-policy");
    const before = store.current();
    const o = store.apply(policy("a"), "configmap:topofit-system/topofit-policy");
    expect(o.result).toBe("unchanged");
    expect(store.current()).toBe(before);
    expect(store.current()?.generation).toBe(1);
  });

  it("applies the same content from a different source as a new generation", () => {
    const { store } = recording();
    store.apply(policy("a"), "embedded");
    expect(store.apply(policy("a"), "configmap:topofit-system/topofit-policy").result).toBe("applied");
    expect(store.current()?.generation).toBe(2);
    expect(store.current()?.source).toBe("configmap:topofit-system/topofit-policy");
  });

  it("rejects an invalid policy with every error and keeps the previous snapshot in force", () => {
    const { store } = recording();
    store.apply(policy("a"), "embedded");
    const before = store.current();
    const o = store.apply(INVALID, "configmap:topofit-system/topofit-policy");
    expect(o.result).toBe("rejected");
    if (o.result !== "rejected") return;
    expect(o.errors.map((e) => e.path).sort()).toEqual(["spec.gpuResources[0]", "spec.rules[0].name"]);
    expect(o.kept).toBe(before);
    expect(store.current()).toBe(before);
    expect(store.current()?.generation).toBe(1);
  });

  it("rejects an invalid first policy and stays not ready", () => {
    const { store } = recording();
    const o = store.apply(INVALID, "embedded");
    expect(o.result).toBe("rejected");
    expect(o.result === "rejected" && o.kept).toBeUndefined();
    expect(store.ready()).toBe(false);
  });

  it("does not count a rejection towards the generation", () => {
    const { store } = recording();
    store.apply(policy("a"), "embedded");
    store.apply(INVALID, "embedded");
    store.apply(policy("b"), "embedded");
    expect(store.current()?.generation).toBe(2);
  });

  it("tells every listener about every outcome, in order", () => {
    const { store, seen } = recording();
    const second: string[] = [];
    store.onReload((o) => second.push(o.result));
    store.apply(policy("a"), "embedded");
    store.apply(policy("a"), "embedded");
    store.apply(INVALID, "embedded");
    store.reject("configmap:ns/name", [{ path: 'data["policy.yaml"]', message: "the ConfigMap has no key policy.yaml" }]);
    expect(seen.map((o) => o.result)).toEqual(["applied", "unchanged", "rejected", "rejected"]);
    expect(second).toEqual(["applied", "unchanged", "rejected", "rejected"]);
    const last = seen[3];
    expect(last?.result === "rejected" && last.source).toBe("configmap:ns/name");
    expect(last?.result === "rejected" && last.kept?.generation).toBe(1);
  });

  it("hands applied listeners the warnings of the new policy", () => {
    const { store, seen } = recording();
    store.apply("apiVersion: topofit.io/v1alpha1\nkind: PlacementPolicy\nspec:\n  rules: [{name: all}, {name: never}]\n", "embedded");
    const o = seen[0];
    expect(o?.result === "applied" && o.warnings.map((w) => w.path)).toEqual(["spec.rules[1]"]);
  });
});

describe("describeRejection", () => {
  it("joins every error with its path", () => {
    expect(
      describeRejection([
        { path: "spec.rules[0].name", message: "is required" },
        { path: "", message: "boom" },
      ]),
    ).toBe("spec.rules[0].name: is required; boom");
  });
});
