import { describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/telemetry/logger.js";
import { createMetrics } from "../../../src/telemetry/metrics.js";
import { DcgmStore, type DcgmChange, type DcgmNodeGpus, type DcgmNodeStatus, type DcgmSnapshot } from "../../../src/topology/dcgm-store.js";
import { DcgmViewBuilder, followDcgm } from "../../../src/topology/dcgm-view.js";
import type { GpuCondition } from "../../../src/topology/model.js";
import { gpuNodeWire, topologyStore } from "../../builders/extender.js";

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

describe("DcgmViewBuilder.loadSlot", () => {
  const read = (slot: { table: { values: Float64Array }; slot: number }) => {
    const v = slot.table.values[slot.slot]!;
    return Number.isNaN(v) ? undefined : v;
  };

  it("gives a node with figures a slot that scrapes update in place, and one without figures the empty slot 0", () => {
    const b = new DcgmViewBuilder();
    expect(b.loadSlot("n1").slot).toBe(0);
    b.build(snapshot({ n1: [{ utilization: 10 }] }));
    const slot = b.loadSlot("n1");
    expect(slot.slot).toBeGreaterThan(0);
    expect(read(slot)).toBe(10);
    b.build(snapshot({ n1: [{ utilization: 60 }] }));
    expect(read(slot)).toBe(60);
    b.build(snapshot({ n1: [{}] }));
    expect(read(slot)).toBeUndefined();
    expect(b.loadSlot("n1").slot).toBe(slot.slot);
  });

  it("gives a node's view a new object when its first figures arrive, so its state is rebuilt to read its new slot", () => {
    const b = new DcgmViewBuilder();
    const before = b.build(snapshot({ n1: [{}] })).get("n1");
    const after = b.build(snapshot({ n1: [{ utilization: 40 }] })).get("n1");
    expect(after).not.toBe(before);
    expect(b.build(snapshot({ n1: [{ utilization: 50 }] })).get("n1")).toBe(after);
  });

  it("frees a forgotten node's slot (empty) for the next node, and grows past its first 256 slots", () => {
    const b = new DcgmViewBuilder();
    b.build(snapshot({ n1: [{ utilization: 10 }] }));
    const old = b.loadSlot("n1");
    b.build(snapshot({}));
    expect(read(old)).toBeUndefined();
    expect(b.loadSlot("n1").slot).toBe(0);
    const many = Object.fromEntries(Array.from({ length: 600 }, (_, i) => [`m${i}`, [{ utilization: i % 100 }]] as const));
    b.build(snapshot(many));
    expect(b.load("m599")).toBe(99);
    expect(read(b.loadSlot("m599"))).toBe(99);
    expect(read(b.loadSlot("m0"))).toBe(0);
    expect(new Set(Object.keys(many).map((n) => b.loadSlot(n).slot)).size).toBe(600);
  });
});

describe("DcgmViewBuilder.apply", () => {
  const change = (...nodes: string[]): DcgmChange => ({ version: 2, nodes: nodes.map((node) => ({ node, aspects: ["state"] })) });

  it("answers only the nodes a change names whose view changed; a load-only change keeps the view and moves the load", () => {
    const b = new DcgmViewBuilder();
    const first = snapshot({ n1: [{ utilization: 10 }], n2: [{ utilization: 20 }] });
    b.build(first);
    const next = snapshot({ n1: [{ utilization: 90 }], n2: [{ healthy: false, reasons: ["XID 79"] }] });
    const out = b.apply(change("n1", "n2"), (n) => next.node(n));
    expect([...out.keys()]).toEqual(["n2"]);
    expect(out.get("n2")?.conditions.get(0)?.healthy).toBe(false);
    expect(b.load("n1")).toBe(90);
  });

  it("answers undefined for a node DCGM keeps nothing about any more, and forgets its load", () => {
    const b = new DcgmViewBuilder();
    b.build(snapshot({ n1: [{ utilization: 10 }] }));
    const out = b.apply(change("n1"), () => undefined);
    expect(out.has("n1")).toBe(true);
    expect(out.get("n1")).toBeUndefined();
    expect(b.load("n1")).toBeUndefined();
  });
});

describe("followDcgm", () => {
  /** dcgm-exporter's body for one 8-GPU node: every GPU at `util` %, GPU 3 with XID `xid`. */
  const body = (util: number, xid: number) =>
    Array.from({ length: 8 }, (_, g) => `DCGM_FI_DEV_GPU_UTIL{gpu="${g}",UUID="GPU-${g}",Hostname="dgx-01"} ${util}\nDCGM_FI_DEV_XID_ERRORS{gpu="${g}",UUID="GPU-${g}",Hostname="dgx-01"} ${g === 3 ? xid : 0}`).join("\n") + "\n";

  it("keeps the topology store's views in step with every scrape, rebuilding a node only when its health or pods change", async () => {
    let now = 1_700_000_000_000;
    let text = body(10, 0);
    const dcgm = new DcgmStore({ log: silentLogger(), metrics: createMetrics({ processMetrics: false }), now: () => now, fetch: async () => new Response(text) });
    const views = new DcgmViewBuilder();
    const store = topologyStore([gpuNodeWire("dgx-01").h100().build()], { loadOf: (n) => views.loadSlot(n) });
    followDcgm(dcgm, store, views);
    dcgm.setEndpoints([{ url: "http://dgx-01:9400/metrics", nodeName: "dgx-01" }]);
    await dcgm.scrapeDue();
    const fresh = store.state("dgx-01")!;
    expect(fresh).toMatchObject({ dcgm: "fresh", unhealthyCount: 0 });
    expect(fresh.meanUtilization()).toBe(10);

    text = body(70, 0);
    now += 15_000;
    await dcgm.scrapeDue();
    expect(store.state("dgx-01")).toBe(fresh);
    expect(fresh.meanUtilization()).toBe(70);

    text = body(70, 79);
    now += 15_000;
    await dcgm.scrapeDue();
    expect(store.state("dgx-01")).not.toBe(fresh);
    expect(store.state("dgx-01")!.unhealthyCount).toBe(1);
    await dcgm.stop();
  });
});
