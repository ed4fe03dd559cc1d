import { describe, expect, it } from "vitest";
import type { DcgmNodeGpus, DcgmNodeStatus, DcgmSnapshot } from "../../../src/topology/dcgm-store.js";
import { DcgmViewBuilder } from "../../../src/topology/dcgm-view.js";
import type { GpuCondition } from "../../../src/topology/model.js";

type GpuSpec = Partial<GpuCondition>;

function gpus(spec: readonly GpuSpec[]): DcgmNodeGpus {
  const byIndex = new Map<number, GpuCondition>(spec.map((s, i) => [i, { healthy: true, reasons: [], pods: [], ...s }]));
  return { list: [], byIndex, byPciBusId: new Map(), byUuid: new Map() };
}

/** A DCGM snapshot: per node, fresh GPUs, or "stale"/"unknown". */
function snapshot(nodes: Record<string, readonly GpuSpec[] | "stale" | "unknown">): DcgmSnapshot {
  const statuses = new Map<string, DcgmNodeStatus>();
  const scrapedAt = new Date(0);
  for (const [node, s] of Object.entries(nodes)) {
    if (s === "unknown") statuses.set(node, { node, version: 1, state: "unknown", reason: "never scraped" });
    else if (s === "stale") statuses.set(node, { node, version: 1, state: "stale", scrapedAt, lastKnownGpus: gpus([{ healthy: false, reasons: ["XID 79"] }]) });
    else statuses.set(node, { node, version: 1, state: "fresh", scrapedAt, gpus: gpus(s) });
  }
  return {
    version: 1,
    nodes: statuses,
    endpoints: [],
    node: (name) => statuses.get(name) ?? { node: name, version: 0, state: "unknown", reason: "no endpoint reported it" },
    freshGpus: (name) => {
      const st = statuses.get(name);
      return st?.state === "fresh" ? st.gpus : undefined;
    },
  };
}

describe("DcgmViewBuilder", () => {
  it("gives a fresh node its GPU conditions by index", () => {
    const views = new DcgmViewBuilder().build(snapshot({ n1: [{ utilization: 10 }, { healthy: false, reasons: ["XID 79"] }] }));
    const v = views.get("n1")!;
    expect(v.freshness).toBe("fresh");
    expect(v.conditions.get(1)).toMatchObject({ healthy: false, reasons: ["XID 79"] });
  });

  it.each<["stale" | "unknown"]>([["stale"], ["unknown"]])("gives a %s node no conditions, so its health counts as unknown", (state) => {
    const v = new DcgmViewBuilder().build(snapshot({ n1: state })).get("n1")!;
    expect(v.freshness).toBe(state);
    expect(v.conditions.size).toBe(0);
  });

  it("keeps a node's view object when only utilisation or memory moved, and reports the new load", () => {
    const b = new DcgmViewBuilder();
    const first = b.build(snapshot({ n1: [{ utilization: 10, memoryUsedMiB: 100 }, { utilization: 30 }] })).get("n1");
    expect(b.load("n1")).toBe(20);
    const second = b.build(snapshot({ n1: [{ utilization: 90, memoryUsedMiB: 70_000 }, { utilization: 70 }] })).get("n1");
    expect(second).toBe(first);
    expect(b.load("n1")).toBe(80);
  });

  it.each<[string, readonly GpuSpec[]]>([
    ["a GPU turns unhealthy", [{ healthy: false, reasons: ["XID 79"] }, {}]],
    ["the reason of an unhealthy GPU changes", [{}, { healthy: false, reasons: ["row remap failure"] }]],
    ["a pod shows up on a GPU", [{ pods: ["ml/p"] }, {}]],
    ["a GPU appears", [{}, {}, {}]],
  ])("replaces a node's view when %s", (_name, next) => {
    const b = new DcgmViewBuilder();
    const first = b.build(snapshot({ n1: [{}, { healthy: false, reasons: ["XID 48"] }] })).get("n1");
    expect(b.build(snapshot({ n1: next })).get("n1")).not.toBe(first);
  });

  it("replaces a node's view when it goes stale", () => {
    const b = new DcgmViewBuilder();
    const first = b.build(snapshot({ n1: [{}] })).get("n1");
    const stale = b.build(snapshot({ n1: "stale" })).get("n1");
    expect(stale).not.toBe(first);
    expect(stale?.freshness).toBe("stale");
  });

  it("has no load for a node without utilisation, and forgets nodes no longer reported", () => {
    const b = new DcgmViewBuilder();
    b.build(snapshot({ n1: [{ utilization: 50 }], n2: [{}] }));
    expect(b.load("n2")).toBeUndefined();
    const views = b.build(snapshot({ n2: [{}] }));
    expect(views.has("n1")).toBe(false);
    expect(b.load("n1")).toBeUndefined();
  });
});
