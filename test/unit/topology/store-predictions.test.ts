import { describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/telemetry/logger.js";
import { TopologyStore, type DcgmNodeView } from "../../../src/topology/store.js";
import type { GpuCondition } from "../../../src/topology/model.js";

const placement = { gpuLinks: "Any", numa: "Any", strategy: "BinPack" } as const;

function h100(name: string) {
  return {
    metadata: { name, labels: { "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "nvidia.com/gpu.count": "8" } },
    status: { allocatable: { "nvidia.com/gpu": "8" } },
  };
}

function dcgm(node: string, podsByGpu: Record<number, string>): Map<string, DcgmNodeView> {
  const conditions = new Map<number, GpuCondition>();
  for (let g = 0; g < 8; g++) conditions.set(g, { healthy: true, reasons: [], pods: podsByGpu[g] ? [podsByGpu[g]!] : [] });
  return new Map([[node, { freshness: "fresh", conditions }]]);
}

describe("TopologyStore: predicted GPU sets checked against DCGM", () => {
  it.each<[string, Record<number, string>, boolean, boolean]>([
    ["the device plugin handed out the predicted GPUs", { 0: "ml/a", 1: "ml/a" }, true, false],
    ["the device plugin handed out other GPUs of the same quality", { 4: "ml/a", 5: "ml/a" }, false, true],
    ["the device plugin handed out a pair across NUMA nodes", { 0: "ml/a", 4: "ml/a" }, false, false],
  ])("reports once per pod when %s", (_name, observed, agreed, equivalent) => {
    const checks: { agreed: boolean; equivalent: boolean; predicted: readonly number[]; observed: readonly number[] }[] = [];
    const store = new TopologyStore({ log: silentLogger(), gpuResource: () => "nvidia.com/gpu", onPredictionChecked: (c) => checks.push(c) });
    store.upsertNode(h100("n1"));
    store.upsertPod({ uid: "a", key: "ml/a", nodeName: "n1", gpus: 2, placement });
    const before = store.state("n1")!;
    expect(before.assignments.get("ml/a")).toEqual([0, 1]);
    expect(checks).toHaveLength(0);
    store.setDcgm(dcgm("n1", observed));
    store.state("n1");
    store.setDcgm(dcgm("n1", { ...observed }));
    store.state("n1");
    expect(checks).toHaveLength(1);
    expect(checks[0]).toMatchObject({ agreed, equivalent, predicted: [0, 1], observed: Object.keys(observed).map(Number) });
  });
});
