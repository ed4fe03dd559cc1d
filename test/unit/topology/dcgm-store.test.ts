import { Writable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { resolveDcgmHealthRules } from "../../../src/topology/dcgm.js";
import {
  DcgmStore,
  backoffDelayMs,
  parseDcgmEndpoints,
  type DcgmChange,
  type DcgmStoreOptions,
  type FetchLike,
  type FreshDcgmNode,
  type StaleDcgmNode,
} from "../../../src/topology/dcgm-store.js";
import { createLogger } from "../../../src/telemetry/logger.js";
import { createMetrics, type Metrics } from "../../../src/telemetry/metrics.js";
import { refusedUrl, startFakeDcgmExporter, type FakeDcgmExporter } from "../../builders/fake-dcgm-exporter.js";
import { dcgmFixture } from "../../fixtures/load.js";

const INTERVAL = 15_000;

interface Harness {
  readonly store: DcgmStore;
  readonly metrics: Metrics;
  readonly logs: Record<string, unknown>[];
  readonly changes: DcgmChange[];
  advance(ms: number): void;
  now(): number;
}

function harness(options: Partial<DcgmStoreOptions> = {}): Harness {
  let t = 1_700_000_000_000;
  const logs: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split("\n")) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const metrics = createMetrics({ processMetrics: false });
  const store = new DcgmStore({
    log: createLogger({ level: "debug", destination }),
    metrics,
    now: () => t,
    random: () => 1,
    timeoutMs: 1_000,
    ...options,
  });
  const changes: DcgmChange[] = [];
  store.onChange((c) => changes.push(c));
  return { store, metrics, logs, changes, advance: (ms) => void (t += ms), now: () => t };
}

async function counter(metrics: Metrics, outcome: string): Promise<number> {
  return (await metrics.dcgmScrapes.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
}

async function gauge(g: Metrics["dcgmNodes"] | Metrics["dcgmEndpoints"], state: string): Promise<number> {
  return (await g.get()).values.find((v) => v.labels.state === state)?.value ?? 0;
}

/** A two-GPU body for node n1 whose values the test picks. */
function body(o: { xid?: number; rows?: number; util?: number; pod?: string; temp?: number; gpus?: number } = {}): string {
  const lines: string[] = [];
  for (let i = 0; i < (o.gpus ?? 2); i++) {
    const pod = i === 0 && o.pod ? `,namespace="ml",pod="${o.pod}"` : "";
    const l = `{gpu="${i}",UUID="GPU-${i}",pci_bus_id="00000000:${(0x1b + i).toString(16).toUpperCase()}:00.0",device="nvidia${i}",modelName="NVIDIA H100 80GB HBM3",Hostname="n1"${pod}}`;
    lines.push(`DCGM_FI_DEV_GPU_UTIL${l} ${i === 0 ? (o.util ?? 50) : 0}`);
    lines.push(`DCGM_FI_DEV_GPU_TEMP${l} ${i === 0 ? (o.temp ?? 40) : 35}`);
    lines.push(`DCGM_FI_DEV_XID_ERRORS${l} ${i === 0 ? (o.xid ?? 0) : 0}`);
    lines.push(`DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS${l} ${i === 0 ? (o.rows ?? 0) : 0}`);
  }
  return `${lines.join("\n")}\n`;
}

let exporter: FakeDcgmExporter;
const stores: DcgmStore[] = [];
const track = (h: Harness) => {
  stores.push(h.store);
  return h;
};

beforeEach(async () => {
  exporter = await startFakeDcgmExporter();
});

afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.stop()));
  await exporter.close();
});

describe("DcgmStore scraping a healthy exporter", () => {
  it("reports the node fresh with every GPU's condition, keyed by index, PCI bus id and UUID", async () => {
    exporter.set("a", dcgmFixture("h100-8gpu-xid79"));
    const h = track(harness());
    h.store.setEndpoints([{ url: exporter.url("a") }]);
    await h.store.scrapeDue();

    const snap = h.store.snapshot();
    const node = snap.node("dgx-h100-01");
    expect(node.state).toBe("fresh");
    const gpus = (node as FreshDcgmNode).gpus;
    expect(gpus.list.map((g) => g.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(gpus.byIndex.get(6)?.reasons).toEqual(["XID 79 (GPU has fallen off the bus)"]);
    expect(gpus.byPciBusId.get("0000:d1:00.0")).toBe(gpus.byIndex.get(6));
    expect(gpus.byUuid.get("GPU-05c6af07-58d5-463d-ab2c-d31ee3151288")).toBe(gpus.byIndex.get(6));
    expect(gpus.byIndex.get(0)).toMatchObject({ healthy: true, pods: ["ml-team/llm-train-0"], utilization: 97 });
    expect((node as FreshDcgmNode).scrapedAt.getTime()).toBe(h.now());
    expect(snap.freshGpus("dgx-h100-01")).toBe(gpus);
  });

  it("counts the scrape, the fresh node and the unhealthy GPU in metrics", async () => {
    exporter.set("a", dcgmFixture("h100-8gpu-xid79"));
    const h = track(harness());
    h.store.setEndpoints([{ url: exporter.url("a") }]);
    await h.store.scrapeDue();
    expect(await counter(h.metrics, "ok")).toBe(1);
    expect(await gauge(h.metrics.dcgmNodes, "fresh")).toBe(1);
    expect(await gauge(h.metrics.dcgmEndpoints, "ok")).toBe(1);
    expect((await h.metrics.dcgmUnhealthyGpus.get()).values[0]?.value).toBe(1);
    expect((await h.metrics.dcgmScrapeDuration.get()).values.find((v) => v.metricName?.endsWith("_count"))?.value).toBe(1);
  });

  it("files the data under the endpoint's node name when the exporter reports another host name, and says so once", async () => {
    exporter.set("a", dcgmFixture("h100-8gpu-lowercase-hostname"));
    const h = track(harness());
    h.store.setEndpoints([{ url: exporter.url("a"), nodeName: "gpu-node-9" }]);
    await h.store.scrapeDue();
    h.advance(INTERVAL);
    await h.store.scrapeDue();
    expect(h.store.snapshot().node("gpu-node-9").state).toBe("fresh");
    expect(h.store.snapshot().nodes.has("dgx-h100-02")).toBe(false);
    expect(h.logs.filter((l) => String(l.msg).includes("Hostname label differs"))).toHaveLength(1);
  });

  it("reads both Hostname spellings from two endpoints into two nodes", async () => {
    exporter.set("a", dcgmFixture("h100-8gpu-xid79"));
    exporter.set("b", dcgmFixture("h100-8gpu-lowercase-hostname"));
    const h = track(harness());
    h.store.setEndpoints([{ url: exporter.url("a") }, { url: exporter.url("b") }]);
    await h.store.scrapeDue();
    expect([...h.store.snapshot().nodes.keys()].sort()).toEqual(["dgx-h100-01", "dgx-h100-02"]);
  });

  it("records MIG instances and attributes their pods to the GPU", async () => {
    exporter.set("a", dcgmFixture("a100-mig"));
    const h = track(harness());
    h.store.setEndpoints([{ url: exporter.url("a") }]);
    await h.store.scrapeDue();
    const gpus = h.store.snapshot().freshGpus("a100-mig-01");
    expect(gpus?.list[0]?.reading.migInstances.map((m) => m.profile)).toEqual(["3g.40gb", "3g.40gb"]);
    expect(gpus?.byIndex.get(0)?.pods).toEqual(["serving/triton-small-0"]);
  });

  it("scrapes again only after the interval", async () => {
    exporter.set("a", body());
    const h = track(harness());
    h.store.setEndpoints([{ url: exporter.url("a") }]);
    await h.store.scrapeDue();
    await h.store.scrapeDue();
    expect(exporter.hits("a")).toBe(1);
    h.advance(INTERVAL - 1);
    await h.store.scrapeDue();
    expect(exporter.hits("a")).toBe(1);
    h.advance(1);
    await h.store.scrapeDue();
    expect(exporter.hits("a")).toBe(2);
    expect(h.store.snapshot().endpoints[0]?.nextAttemptAt.getTime()).toBe(h.now() + INTERVAL);
  });
});

describe("DcgmStore with an endpoint that fails", () => {
  it.each([
    ["serves garbage", { kind: "body", body: dcgmFixture("garbage") } as const, "malformed", "7 malformed line(s); first at line 1"],
    ["serves an empty body", { kind: "body", body: dcgmFixture("empty") } as const, "empty", "the body has no samples"],
    ["answers 500", { kind: "body", body: "oops", status: 500 } as const, "http_error", "HTTP 500"],
    ["drops the connection", { kind: "reset" } as const, "unreachable", "socket hang up"],
    ["serves metrics of no GPU", { kind: "body", body: "DCGM_FI_DEV_CPU_UTIL_TOTAL{cpu=\"0\"} 1\n" } as const, "no_gpus", "no GPU series"],
    ["serves a body with one bad line among good ones", { kind: "body", body: `${body()}DCGM_FI_DEV_GPU_UTIL{gpu="0" 5\n` } as const, "malformed", "1 malformed line(s)"],
  ])("degrades when it %s, without throwing", async (_what, mode, outcome, error) => {
    exporter.set("a", mode);
    const h = track(harness());
    h.store.setEndpoints([{ url: exporter.url("a"), nodeName: "n1" }]);
    await expect(h.store.scrapeDue()).resolves.toBeUndefined();
    const snap = h.store.snapshot();
    const node = snap.node("n1");
    expect(node.state).toBe("unknown");
    expect(node.lastError).toContain(`${outcome}: ${error}`);
    expect(node.state === "unknown" && node.reason).toContain("no DCGM data yet");
    expect(snap.endpoints[0]).toMatchObject({ state: "failing", lastOutcome: outcome, consecutiveFailures: 1 });
    expect(await counter(h.metrics, outcome)).toBe(1);
    expect(await gauge(h.metrics.dcgmNodes, "unknown")).toBe(1);
    expect(await gauge(h.metrics.dcgmEndpoints, "failing")).toBe(1);
  });

  it("rejects a body that is not UTF-8 as malformed", async () => {
    const h = track(
      harness({
        fetch: async () => new Response(new Uint8Array([0x44, 0xff, 0xfe, 0x0a]), { status: 200 }),
      }),
    );
    h.store.setEndpoints([{ url: "http://fake:9400/metrics", nodeName: "n1" }]);
    await h.store.scrapeDue();
    expect(h.store.snapshot().endpoints[0]).toMatchObject({ lastOutcome: "malformed", lastError: "body is not UTF-8 text" });
  });

  it("reports a refused connection as unreachable", async () => {
    const h = track(harness());
    h.store.setEndpoints([{ url: await refusedUrl(), nodeName: "n1" }]);
    await h.store.scrapeDue();
    const ep = h.store.snapshot().endpoints[0];
    expect(ep?.lastOutcome).toBe("unreachable");
    expect(ep?.lastError).toContain("ECONNREFUSED");
  });

  it("gives up on an endpoint that does not answer within the timeout", async () => {
    exporter.set("a", { kind: "hang" });
    const h = track(harness({ timeoutMs: 150 }));
    h.store.setEndpoints([{ url: exporter.url("a"), nodeName: "n1" }]);
    const started = performance.now();
    await h.store.scrapeDue();
    const took = performance.now() - started;
    expect(h.store.snapshot().endpoints[0]).toMatchObject({ lastOutcome: "timeout", lastError: "no complete answer within 150 ms" });
    expect(took).toBeGreaterThanOrEqual(140);
    expect(took).toBeLessThan(2_000);
  });

  it.each([
    ["with a Content-Length over the limit", { kind: "body", body: "x".repeat(5000) } as const, "body of 5000 bytes is over the limit of 4096"],
    ["streamed without a length", { kind: "flood", bytes: 1_000_000 } as const, "body is over the limit of 4096 bytes"],
  ])("refuses a body %s", async (_what, mode, error) => {
    exporter.set("a", mode);
    const h = track(harness({ maxBodyBytes: 4096 }));
    h.store.setEndpoints([{ url: exporter.url("a"), nodeName: "n1" }]);
    await h.store.scrapeDue();
    expect(h.store.snapshot().endpoints[0]).toMatchObject({ lastOutcome: "too_large", lastError: error });
  });

  it("backs off exponentially up to the cap, with the next attempt at interval × 2^(failures-1)", async () => {
    exporter.set("a", { kind: "body", body: "", status: 503 });
    const h = track(harness({ backoffMaxMs: 120_000 }));
    h.store.setEndpoints([{ url: exporter.url("a"), nodeName: "n1" }]);
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      await h.store.scrapeDue();
      const next = h.store.snapshot().endpoints[0]!.nextAttemptAt.getTime();
      delays.push(next - h.now());
      h.advance(next - h.now() - 1);
      await h.store.scrapeDue(); // one millisecond early: nothing happens
      h.advance(1);
    }
    expect(delays).toEqual([15_000, 30_000, 60_000, 120_000, 120_000, 120_000]);
    expect(exporter.hits("a")).toBe(6);
    expect(h.store.snapshot().endpoints[0]?.consecutiveFailures).toBe(6);
  });

  it("logs a failure once per change of state, not on every attempt", async () => {
    exporter.set("a", { kind: "body", body: "", status: 503 });
    const h = track(harness());
    h.store.setEndpoints([{ url: exporter.url("a"), nodeName: "n1" }]);
    const attempt = async () => {
      h.advance(200_000);
      await h.store.scrapeDue();
    };
    await attempt();
    await attempt();
    await attempt();
    exporter.set("a", dcgmFixture("garbage"));
    await attempt();
    await attempt();
    exporter.set("a", body());
    await attempt();
    await attempt();
    const messages = h.logs.filter((l) => String(l.msg).startsWith("DCGM scrape failed") || l.msg === "DCGM endpoint recovered");
    expect(messages.map((l) => [l.msg, l.outcome ?? l.after])).toEqual([
      ["DCGM scrape failed", "http_error"],
      ["DCGM scrape failed", "malformed"],
      ["DCGM endpoint recovered", "malformed"],
    ]);
    expect(messages[1]?.dcgm).toEqual({ error: expect.stringContaining("malformed line") });
  });
});

describe("DcgmStore staleness and recovery", () => {
  it("turns a node stale after the staleness limit, keeping its last data for display only", async () => {
    exporter.set("a", body({ xid: 79 }));
    const h = track(harness({ staleAfterMs: 60_000 }));
    h.store.setEndpoints([{ url: exporter.url("a"), nodeName: "n1" }]);
    await h.store.scrapeDue();
    exporter.set("a", { kind: "reset" });
    for (let t = 0; t < 4; t++) {
      h.advance(15_000);
      await h.store.scrapeDue();
    }
    expect(h.store.snapshot().node("n1").state).toBe("fresh"); // 60 s old: still within the limit
    h.advance(1);
    const snap = h.store.snapshot();
    const node = snap.node("n1");
    expect(node.state).toBe("stale");
    expect((node as StaleDcgmNode).lastKnownGpus.byIndex.get(0)?.healthy).toBe(false);
    expect(snap.freshGpus("n1")).toBeUndefined();
    expect(node.lastError).toContain("unreachable");
    expect(await gauge(h.metrics.dcgmNodes, "stale")).toBe(1);
    expect((await h.metrics.dcgmUnhealthyGpus.get()).values[0]?.value).toBe(0);
    expect(h.changes.at(-1)?.nodes).toEqual([{ node: "n1", aspects: ["state"] }]);
    expect(h.logs.some((l) => String(l.msg).startsWith("DCGM data is stale"))).toBe(true);
  });

  it("comes back fresh when the endpoint recovers, with the failure count reset", async () => {
    exporter.set("a", body());
    const h = track(harness());
    h.store.setEndpoints([{ url: exporter.url("a"), nodeName: "n1" }]);
    await h.store.scrapeDue();
    exporter.set("a", { kind: "reset" });
    h.advance(15_000);
    await h.store.scrapeDue();
    h.advance(100_000);
    expect(h.store.snapshot().node("n1").state).toBe("stale");
    exporter.set("a", body());
    await h.store.scrapeDue();
    const snap = h.store.snapshot();
    expect(snap.node("n1").state).toBe("fresh");
    expect(snap.node("n1").lastError).toBeUndefined();
    expect(snap.endpoints[0]).toMatchObject({ state: "ok", consecutiveFailures: 0 });
    expect(snap.endpoints[0]?.nextAttemptAt.getTime()).toBe(h.now() + INTERVAL);
    expect(h.changes.at(-1)?.nodes).toEqual([{ node: "n1", aspects: ["state"] }]);
  });

  it("answers unknown for a node no endpoint reports", () => {
    const h = track(harness());
    expect(h.store.snapshot().node("nowhere")).toEqual({ node: "nowhere", version: 0, state: "unknown", reason: "no DCGM endpoint reports this node" });
    expect(h.store.snapshot().freshGpus("nowhere")).toBeUndefined();
  });

  it("drops a node without data as soon as its endpoint goes away", async () => {
    const h = track(harness());
    h.store.setEndpoints([{ url: await refusedUrl(), nodeName: "n1" }]);
    await h.store.scrapeDue();
    expect(h.store.snapshot().nodes.has("n1")).toBe(true);
    h.store.setEndpoints([]);
    expect(h.store.snapshot().nodes.has("n1")).toBe(false);
  });

  it("keeps a node whose endpoint went away until its data is older than the forget limit", async () => {
    exporter.set("a", body());
    const h = track(harness({ forgetAfterMs: 300_000 }));
    h.store.setEndpoints([{ url: exporter.url("a"), nodeName: "n1" }]);
    await h.store.scrapeDue();
    h.store.setEndpoints([]);
    h.advance(300_000);
    expect(h.store.snapshot().node("n1").state).toBe("stale");
    h.advance(1);
    expect(h.store.snapshot().nodes.has("n1")).toBe(false);
    expect(h.changes.at(-1)?.nodes).toEqual([{ node: "n1", aspects: ["state"] }]);
  });

  it("ignores the result of a scrape whose endpoint was removed while it ran", async () => {
    exporter.set("a", { kind: "hang" });
    const h = track(harness({ timeoutMs: 100 }));
    h.store.setEndpoints([{ url: exporter.url("a"), nodeName: "n1" }]);
    const running = h.store.scrapeDue();
    h.store.setEndpoints([]);
    await running;
    expect(h.store.snapshot().nodes.size).toBe(0);
    expect(h.store.snapshot().endpoints).toEqual([]);
  });
});

describe("DcgmStore change notification", () => {
  it.each<[string, Parameters<typeof body>[0], readonly string[]]>([
    ["nothing changes", {}, []],
    ["only utilisation changes", { util: 90 }, ["load"]],
    ["a pod starts on a GPU", { pod: "train-0" }, ["pods"]],
    ["a GPU reports XID 79", { xid: 79 }, ["health"]],
    ["a GPU gets too hot and busier", { temp: 95, util: 99 }, ["health", "load"]],
    ["a GPU disappears", { gpus: 1 }, ["gpus"]],
  ])("reports the aspects that changed when %s", async (_what, next, aspects) => {
    exporter.set("a", body());
    const h = track(harness());
    h.store.setEndpoints([{ url: exporter.url("a"), nodeName: "n1" }]);
    await h.store.scrapeDue();
    expect(h.changes).toEqual([{ version: 1, nodes: [{ node: "n1", aspects: ["state", "gpus"] }] }]);
    exporter.set("a", body(next));
    h.advance(INTERVAL);
    await h.store.scrapeDue();
    if (aspects.length === 0) {
      expect(h.changes).toHaveLength(1);
      expect(h.store.version()).toBe(1);
    } else {
      expect(h.changes.at(-1)).toEqual({ version: 2, nodes: [{ node: "n1", aspects }] });
      expect(h.store.snapshot().node("n1").version).toBe(2);
    }
  });

  it("gives one node's status without a snapshot, as the snapshot would", async () => {
    exporter.set("a", body({ xid: 79 }));
    const h = track(harness());
    h.store.setEndpoints([{ url: exporter.url("a"), nodeName: "n1" }]);
    await h.store.scrapeDue();
    const status = h.store.nodeStatus("n1") as FreshDcgmNode;
    expect(status).toEqual(h.store.snapshot().node("n1"));
    expect(status.gpus.byIndex.get(0)?.healthy).toBe(false);
    expect(h.store.nodeStatus("nowhere")).toBeUndefined();
  });

  it("keeps the reading and condition objects of a GPU whose figures did not change, and the same strings for the same GPU", async () => {
    exporter.set("a", body({ util: 10 }));
    const h = track(harness());
    h.store.setEndpoints([{ url: exporter.url("a"), nodeName: "n1" }]);
    await h.store.scrapeDue();
    const before = h.store.snapshot().freshGpus("n1")!.list;
    h.advance(INTERVAL);
    exporter.set("a", body({ util: 90 }));
    await h.store.scrapeDue();
    const after = h.store.snapshot().freshGpus("n1")!.list;
    // GPU 1's figures are the same: nothing new. GPU 0's utilisation moved: a new reading, with the UUID string kept.
    expect(after[1]!.reading).toBe(before[1]!.reading);
    expect(after[1]!.condition).toBe(before[1]!.condition);
    expect(after[0]!.reading).not.toBe(before[0]!.reading);
    expect(after[0]!.reading.utilization).toBe(90);
    expect(after[0]!.uuid).toBe("GPU-0");
  });

  it("hands out the same snapshot until something changes", async () => {
    exporter.set("a", body());
    const h = track(harness());
    h.store.setEndpoints([{ url: exporter.url("a"), nodeName: "n1" }]);
    await h.store.scrapeDue();
    const first = h.store.snapshot();
    expect(h.store.snapshot()).toBe(first);
    h.advance(INTERVAL);
    exporter.set("a", body({ xid: 79 }));
    await h.store.scrapeDue();
    const second = h.store.snapshot();
    expect(second).not.toBe(first);
    expect(first.freshGpus("n1")?.byIndex.get(0)?.healthy).toBe(true);
    expect(second.freshGpus("n1")?.byIndex.get(0)?.healthy).toBe(false);
    expect(Object.isFrozen(second)).toBe(true);
  });

  it("keeps going when a listener throws", async () => {
    exporter.set("a", body());
    const h = track(harness());
    h.store.onChange(() => {
      throw new Error("listener bug");
    });
    h.store.setEndpoints([{ url: exporter.url("a"), nodeName: "n1" }]);
    await expect(h.store.scrapeDue()).resolves.toBeUndefined();
    expect(h.changes).toHaveLength(1);
    expect(h.logs.some((l) => l.msg === "DCGM change listener failed")).toBe(true);
  });

  it("stops notifying a listener after it unsubscribes", async () => {
    exporter.set("a", body());
    const h = track(harness());
    const seen: DcgmChange[] = [];
    const off = h.store.onChange((c) => seen.push(c));
    off();
    h.store.setEndpoints([{ url: exporter.url("a"), nodeName: "n1" }]);
    await h.store.scrapeDue();
    expect(seen).toEqual([]);
  });
});

describe("DcgmStore health over time", () => {
  it("keeps a GPU unhealthy for the hold time after its uncorrectable remapped rows rise", async () => {
    exporter.set("a", body({ rows: 2 }));
    const h = track(harness({ remappedRowsHoldMs: 60_000 }));
    h.store.setEndpoints([{ url: exporter.url("a"), nodeName: "n1" }]);
    await h.store.scrapeDue();
    const cond = () => h.store.snapshot().freshGpus("n1")?.byIndex.get(0);
    expect(cond()?.healthy).toBe(true);
    exporter.set("a", body({ rows: 3 }));
    h.advance(INTERVAL);
    await h.store.scrapeDue();
    expect(cond()?.reasons).toEqual(["uncorrectable remapped rows rose from 2 to 3"]);
    for (let i = 0; i < 4; i++) {
      h.advance(INTERVAL);
      await h.store.scrapeDue();
      expect(cond()?.healthy).toBe(false);
    }
    h.advance(INTERVAL);
    await h.store.scrapeDue();
    expect(cond()).toMatchObject({ healthy: true, reasons: [] });
  });

  it("compares with the previous scrape only when the hold time is 0", async () => {
    exporter.set("a", body({ rows: 2 }));
    const h = track(harness({ remappedRowsHoldMs: 0 }));
    h.store.setEndpoints([{ url: exporter.url("a"), nodeName: "n1" }]);
    await h.store.scrapeDue();
    exporter.set("a", body({ rows: 3 }));
    h.advance(INTERVAL);
    await h.store.scrapeDue();
    expect(h.store.snapshot().freshGpus("n1")?.byIndex.get(0)?.healthy).toBe(false);
    h.advance(INTERVAL);
    await h.store.scrapeDue();
    expect(h.store.snapshot().freshGpus("n1")?.byIndex.get(0)?.healthy).toBe(true);
  });

  it("re-evaluates the last readings when the rules change", async () => {
    exporter.set("a", dcgmFixture("h100-8gpu-xid79"));
    const h = track(harness());
    h.store.setEndpoints([{ url: exporter.url("a") }]);
    await h.store.scrapeDue();
    expect(h.store.snapshot().freshGpus("dgx-h100-01")?.byIndex.get(6)?.healthy).toBe(false);
    h.store.setRules(resolveDcgmHealthRules({ benignXids: [79] }));
    expect(h.store.snapshot().freshGpus("dgx-h100-01")?.byIndex.get(6)?.healthy).toBe(true);
    expect(h.changes.at(-1)?.nodes).toEqual([{ node: "dgx-h100-01", aspects: ["health"] }]);
    expect((await h.metrics.dcgmUnhealthyGpus.get()).values[0]?.value).toBe(0);
  });

  it("logs a GPU turning unhealthy once, with its reasons", async () => {
    exporter.set("a", body({ xid: 79 }));
    const h = track(harness());
    h.store.setEndpoints([{ url: exporter.url("a"), nodeName: "n1" }]);
    for (let i = 0; i < 3; i++) {
      await h.store.scrapeDue();
      h.advance(INTERVAL);
    }
    const warnings = h.logs.filter((l) => l.msg === "GPU unhealthy per DCGM");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ node: "n1", gpu: 0, uuid: "GPU-0", reasons: ["XID 79 (GPU has fallen off the bus)"] });
  });
});

describe("DcgmStore running on its own timer", () => {
  it("scrapes on the interval until stopped, and stop() settles", async () => {
    exporter.set("a", body());
    const h = track(harness({ now: Date.now, intervalMs: 40 }));
    h.store.setEndpoints([{ url: exporter.url("a"), nodeName: "n1" }]);
    h.store.start();
    h.store.start(); // idempotent
    await new Promise((r) => setTimeout(r, 300));
    await h.store.stop();
    const hits = exporter.hits("a");
    expect(hits).toBeGreaterThanOrEqual(3);
    expect(h.store.snapshot().node("n1").state).toBe("fresh");
    await new Promise((r) => setTimeout(r, 120));
    expect(exporter.hits("a")).toBe(hits);
  });

  it("turns a node stale on its own timer and tells listeners", async () => {
    exporter.set("a", body());
    const h = track(harness({ now: Date.now, intervalMs: 10_000, staleAfterMs: 80 }));
    h.store.setEndpoints([{ url: exporter.url("a"), nodeName: "n1" }]);
    h.store.start();
    await new Promise((r) => setTimeout(r, 250));
    expect(h.changes.map((c) => c.nodes[0]?.aspects)).toEqual([["state", "gpus"], ["state"]]);
    await h.store.stop();
  });

  it("aborts a scrape in flight when stopped", async () => {
    exporter.set("a", { kind: "hang" });
    const h = track(harness({ now: Date.now, timeoutMs: 10_000 }));
    h.store.setEndpoints([{ url: exporter.url("a"), nodeName: "n1" }]);
    h.store.start();
    await new Promise((r) => setTimeout(r, 50));
    const started = performance.now();
    await h.store.stop();
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(h.store.snapshot().endpoints[0]?.state).toBe("pending");
    expect(await counter(h.metrics, "timeout")).toBe(0);
  });

  it("keeps at most `concurrency` scrapes in flight", async () => {
    const names = ["a", "b", "c", "d", "e", "f"];
    for (const n of names) exporter.set(n, { kind: "hang" });
    let active = 0;
    let most = 0;
    const counting: FetchLike = async (url, init) => {
      most = Math.max(most, ++active);
      try {
        return await fetch(url, init);
      } finally {
        active--;
      }
    };
    const h = track(harness({ timeoutMs: 100, concurrency: 2, fetch: counting }));
    h.store.setEndpoints(names.map((n) => ({ url: exporter.url(n), nodeName: n })));
    await h.store.scrapeDue();
    expect(most).toBe(2);
    expect(names.map((n) => exporter.hits(n))).toEqual([1, 1, 1, 1, 1, 1]);
    expect(await counter(h.metrics, "timeout")).toBe(6);
  });

  it("scrapes every endpoint with the global fetch and an injected one alike", async () => {
    const seen: string[] = [];
    const h = track(
      harness({
        fetch: async (url, init) => {
          seen.push(`${url} ${init.headers.accept}`);
          return new Response(body(), { status: 200 });
        },
      }),
    );
    h.store.setEndpoints([{ url: "http://10.0.0.5:9400/metrics", nodeName: "n1" }]);
    await h.store.scrapeDue();
    expect(seen).toEqual(["http://10.0.0.5:9400/metrics text/plain;version=0.0.4;q=1,*/*;q=0.1"]);
    expect(h.store.snapshot().node("n1").state).toBe("fresh");
  });

  it("survives an injected fetch that throws synchronously", async () => {
    const h = track(
      harness({
        fetch: () => {
          throw new TypeError("boom");
        },
      }),
    );
    h.store.setEndpoints([{ url: "http://10.0.0.5:9400/metrics", nodeName: "n1" }]);
    await expect(h.store.scrapeDue()).resolves.toBeUndefined();
    expect(h.store.snapshot().endpoints[0]).toMatchObject({ lastOutcome: "unreachable", lastError: "boom" });
  });
});

describe("backoffDelayMs", () => {
  const opts = { intervalMs: 15_000, backoffMaxMs: 120_000 };
  it.each([
    [1, 1, 15_000],
    [2, 1, 30_000],
    [3, 1, 60_000],
    [4, 1, 120_000],
    [10, 1, 120_000],
    [100, 1, 120_000],
    [1, 0, 7_500],
    [4, 0, 60_000],
    [3, 0.5, 45_000],
  ])("waits after %i failure(s) with jitter %d: %i ms", (failures, random, ms) => {
    expect(backoffDelayMs(failures, opts, () => random)).toBe(ms);
  });
});

describe("parseDcgmEndpoints", () => {
  it.each([
    ["a full URL", "http://10.0.0.5:9400/metrics", { url: "http://10.0.0.5:9400/metrics" }],
    ["an https URL without a path", "https://dcgm.example.com", { url: "https://dcgm.example.com/metrics" }],
    ["a bare host", "10.0.0.5", { url: "http://10.0.0.5:9400/metrics" }],
    ["a host and port", "gpu-node-1.example.com:9500", { url: "http://gpu-node-1.example.com:9500/metrics" }],
    ["an IPv6 host", "[fd00::5]", { url: "http://[fd00::5]:9400/metrics" }],
    ["a node-prefixed host", "gpu-node-1=10.0.0.5", { url: "http://10.0.0.5:9400/metrics", nodeName: "gpu-node-1" }],
    ["a node-prefixed URL", "gpu-node-1=http://10.0.0.5:9400/metrics", { url: "http://10.0.0.5:9400/metrics", nodeName: "gpu-node-1" }],
    ["surrounding blanks", "  10.0.0.5  ", { url: "http://10.0.0.5:9400/metrics" }],
  ])("reads %s", (_what, item, endpoint) => {
    expect(parseDcgmEndpoints([item])).toEqual({ endpoints: [endpoint], errors: [] });
  });

  it.each([
    ["another scheme", "ftp://10.0.0.5/metrics", '"ftp://10.0.0.5/metrics": scheme must be http or https, not ftp'],
    ["credentials", "http://u:p@10.0.0.5/metrics", '"http://u:p@10.0.0.5/metrics": credentials in the URL are not supported'],
    ["a path without a scheme", "10.0.0.5:9400/metrics", '"10.0.0.5:9400/metrics": a path needs a scheme (http://...)'],
    ["something that is no host", "http://", '"http://": not a URL or host[:port]'],
  ])("rejects %s", (_what, item, error) => {
    expect(parseDcgmEndpoints([item])).toEqual({ endpoints: [], errors: [error] });
  });

  it("skips empty items and duplicates", () => {
    expect(parseDcgmEndpoints(["", "10.0.0.5", "http://10.0.0.5:9400/metrics"]).endpoints).toEqual([{ url: "http://10.0.0.5:9400/metrics" }]);
  });
});
