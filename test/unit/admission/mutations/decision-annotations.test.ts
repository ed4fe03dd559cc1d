import { describe, expect, it } from "vitest";
import { recordDecision, stripDecision } from "../../../../src/admission/mutations/decision-annotations.js";
import type { PodWire } from "../../../../src/admission/schema.js";
import { pod } from "../../../builders/pod.js";
import { ruleFrom } from "../../../builders/policy.js";

const rule = ruleFrom({ name: "training", placement: { gpuLinks: "NVLinkRequired", numa: "SingleNode", strategy: "BinPack" } });
const PLACEMENT = '{"gpuLinks":"NVLinkRequired","numa":"SingleNode","strategy":"BinPack"}';

describe("recordDecision", () => {
  it("writes the rule and placement annotations on a pod with no annotations", () => {
    const p = pod().build();
    expect(recordDecision(p, rule)).toEqual([]);
    expect(p.metadata?.annotations).toEqual({ "topofit.io/rule": "training", "topofit.io/placement": PLACEMENT });
  });

  it("creates metadata when the pod has none", () => {
    const p: PodWire = { spec: {} };
    recordDecision(p, rule);
    expect(p.metadata?.annotations?.["topofit.io/rule"]).toBe("training");
  });

  it("leaves annotations outside topofit.io/ untouched", () => {
    const p = pod().annotations({ "example.com/owner": "team-a", "prometheus.io/scrape": "true", "topofit.io.evil/x": "kept" }).build();
    recordDecision(p, rule);
    expect(p.metadata?.annotations).toEqual({
      "example.com/owner": "team-a",
      "prometheus.io/scrape": "true",
      "topofit.io.evil/x": "kept",
      "topofit.io/rule": "training",
      "topofit.io/placement": PLACEMENT,
    });
  });

  it("replaces a rule and placement the user set", () => {
    const p = pod().annotations({ "topofit.io/rule": "vip", "topofit.io/placement": '{"gpuLinks":"NVLinkRequired"}' }).build();
    expect(recordDecision(p, rule)).toEqual([]);
    expect(p.metadata?.annotations).toEqual({ "topofit.io/rule": "training", "topofit.io/placement": PLACEMENT });
  });

  it("removes any other topofit.io/ annotation the user set, and names it in a note", () => {
    const p = pod().annotations({ "topofit.io/gpus": "0,1,2,3", "topofit.io/priority": "high", app: "x" }).build();
    const notes = recordDecision(p, rule);
    expect(Object.keys(p.metadata?.annotations ?? {}).sort()).toEqual(["app", "topofit.io/placement", "topofit.io/rule"]);
    expect(notes).toHaveLength(1);
    expect(notes[0]).toContain("topofit.io/gpus");
    expect(notes[0]).toContain("topofit.io/priority");
  });

  it("writes topofit.io/gpus for a pod whose GPUs come from claims, replacing a value the user set", () => {
    const p = pod().annotations({ "topofit.io/gpus": "64", app: "x" }).build();
    expect(recordDecision(p, rule, { claimGpus: 4 })).toEqual([]);
    expect(p.metadata?.annotations).toEqual({ app: "x", "topofit.io/rule": "training", "topofit.io/placement": PLACEMENT, "topofit.io/gpus": "4" });
  });

  it("is idempotent", () => {
    const p = pod().annotations({ a: "b", "topofit.io/x": "y" }).build();
    recordDecision(p, rule);
    const once = structuredClone(p);
    expect(recordDecision(p, rule)).toEqual([]);
    expect(p).toEqual(once);
  });
});

describe("stripDecision", () => {
  it("removes every topofit.io/ annotation, rule and placement included, and keeps the rest", () => {
    const p = pod().annotations({ "topofit.io/rule": "training", "topofit.io/placement": PLACEMENT, "topofit.io/x": "1", keep: "me" }).build();
    const notes = stripDecision(p);
    expect(p.metadata?.annotations).toEqual({ keep: "me" });
    expect(notes).toHaveLength(1);
    expect(notes[0]).toContain("topofit.io/rule");
  });

  it.each<[string, PodWire]>([
    ["a pod with no annotations", pod().build()],
    ["a pod with no metadata", { spec: {} }],
    ["a pod with only foreign annotations", pod().annotations({ a: "b" }).build()],
  ])("changes nothing and says nothing for %s", (_name, p) => {
    const before = structuredClone(p);
    expect(stripDecision(p)).toEqual([]);
    expect(p).toEqual(before);
  });
});
