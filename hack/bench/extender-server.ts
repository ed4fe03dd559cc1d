// The server half of `npm run bench:extender`: topofit's app with a TopologyStore
// holding a synthetic fleet (nodes, bound pods) and DCGM data scraped through
// the real DcgmStore from a dcgm-exporter body per node, plus POST /noop, which
// parses the same body and passes every node: the in-run baseline.
//
// The parent asks over IPC for "memory" (after a full GC), "timings" (server
// time per route since the last ask: from the request's arrival to its reply)
// and "rescrape" (one more scrape of every node, timed).
import { buildApp } from "../../src/server/app.js";
import { generateSelfSigned } from "../../src/server/tls.js";
import { PolicyStore } from "../../src/policy/store.js";
import { EMBEDDED_POLICY_YAML } from "../../src/policy/embedded.js";
import { createMetrics } from "../../src/telemetry/metrics.js";
import { pino } from "pino";
import { createLogger } from "../../src/telemetry/logger.js";
import { DcgmStore, type FetchLike } from "../../src/topology/dcgm-store.js";
import { DcgmViewBuilder, followDcgm } from "../../src/topology/dcgm-view.js";
import { TopologyStore } from "../../src/topology/store.js";
import type { NodeWire } from "../../src/extender/schema.js";
import { dcgmExposition, exporterNode, makeFleet, occupyFleet, type ExporterNode, type FleetPod } from "./fleet.js";

const size = Number(process.argv[2] ?? 1000);
const policies = new PolicyStore();
policies.apply(EMBEDDED_POLICY_YAML, "embedded");
const log = createLogger({ level: "info", destination: pino.destination({ dest: "/dev/null", sync: true }) });
const metrics = createMetrics();
const views = new DcgmViewBuilder();
const store = new TopologyStore({ log, gpuResource: () => "nvidia.com/gpu", load: (node) => views.load(node) });

// The fleet is generated here and sent to the parent; this process keeps only what topofit itself would.
const t0 = performance.now();
let fleet: ReturnType<typeof makeFleet> | undefined = makeFleet(size);
const pods = occupyFleet(fleet, 0.5);
const podsByNode = new Map<string, FleetPod[]>();
for (const p of pods) podsByNode.set(p.nodeName, [...(podsByNode.get(p.nodeName) ?? []), p]);
const exporters = new Map<string, ExporterNode>(fleet.map((n) => [`http://${n.wire.metadata!.name!}.gpu.internal:9400/metrics`, exporterNode(n)]));
for (const n of fleet) store.upsertNode(n.wire);
for (const p of pods) store.upsertPod({ uid: p.uid, key: p.key, nodeName: p.nodeName, gpus: p.gpus, placement: { gpuLinks: "Any", numa: "Any", strategy: "BinPack" } });

// dcgm-exporter on every node, served in-process: each scrape renders that node's body anew.
let round = 0;
let clock = Date.now();
const fakeFetch: FetchLike = async (url) => {
  const node = exporters.get(url);
  if (!node) return new Response("not found", { status: 404 });
  return new Response(dcgmExposition(node, podsByNode.get(node.name) ?? [], round), { headers: { "content-type": "text/plain; version=0.0.4" } });
};
const dcgm = new DcgmStore({ log, metrics, fetch: fakeFetch, now: () => clock, staleAfterMs: 24 * 3600_000, forgetAfterMs: 48 * 3600_000 });
followDcgm(dcgm, store, views);
dcgm.setEndpoints([...exporters].map(([url, n]) => ({ url, nodeName: n.name })));
await dcgm.scrapeDue();
const loadMs = performance.now() - t0;
let nodes: NodeWire[] | undefined = fleet.map((n) => n.wire);
fleet = undefined;

const tls = await generateSelfSigned(["127.0.0.1"]);
const app = buildApp({ log, metrics, currentPolicy: () => policies.current(), topology: store, https: tls });
app.post("/noop", { bodyLimit: 64 * 1024 * 1024 }, async (request) => {
  const body = request.body as { NodeNames?: string[] | null; Nodes?: { items?: unknown[] } | null };
  return { NodeNames: body.NodeNames ?? null, Nodes: body.NodeNames ? null : body.Nodes, FailedNodes: {}, FailedAndUnresolvableNodes: {}, Error: "" };
});
let timings = new Map<string, number[]>();
app.addHook("onResponse", async (request, reply) => {
  const route = request.routeOptions.url ?? "?";
  let list = timings.get(route);
  if (!list) timings.set(route, (list = []));
  list.push(reply.elapsedTime);
});
await app.listen({ host: "127.0.0.1", port: 0 });
const addr = app.server.address();
globalThis.gc?.();
process.send?.({
  port: typeof addr === "object" && addr ? addr.port : 0,
  nodes,
  pods: pods.length,
  gpus: [...exporters.values()].reduce((n, e) => n + e.gpus, 0),
  loadMs,
});
nodes = undefined;

process.on("message", (m: unknown) => {
  if (m === "memory") {
    globalThis.gc?.();
    process.send?.({ memory: process.memoryUsage(), shapes: store.shapeCount() });
  } else if (m === "timings") {
    process.send?.({ timings: Object.fromEntries(timings) });
    timings = new Map();
  } else if (m === "rescrape") {
    // Every endpoint falls due again, with new utilisation figures; the scrape round is timed end to end.
    round += 1;
    clock += 15_000;
    const started = performance.now();
    const cpu = process.cpuUsage();
    void dcgm.scrapeDue().then(() => {
      const used = process.cpuUsage(cpu);
      process.send?.({ rescrape: { ms: performance.now() - started, cpuMs: (used.user + used.system) / 1000 } });
    });
  }
});
process.on("disconnect", () => void app.close().then(() => process.exit(0)));
