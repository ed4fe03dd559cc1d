// The server half of `npm run bench:extender`: topofit's app with a TopologyStore
// holding a synthetic fleet (nodes, bound pods, DCGM view), plus POST /noop,
// which parses the same body and passes every node: the in-run baseline.
import { buildApp } from "../../src/server/app.js";
import { generateSelfSigned } from "../../src/server/tls.js";
import { PolicyStore } from "../../src/policy/store.js";
import { EMBEDDED_POLICY_YAML } from "../../src/policy/embedded.js";
import { createMetrics } from "../../src/telemetry/metrics.js";
import { pino } from "pino";
import { createLogger } from "../../src/telemetry/logger.js";
import { TopologyStore } from "../../src/topology/store.js";
import { dcgmView, makeFleet, occupyFleet } from "./fleet.js";

const size = Number(process.argv[2] ?? 1000);
const before = process.memoryUsage();
const policies = new PolicyStore();
policies.apply(EMBEDDED_POLICY_YAML, "embedded");
const log = createLogger({ level: "info", destination: pino.destination({ dest: "/dev/null", sync: true }) });
const store = new TopologyStore({ log, gpuResource: () => "nvidia.com/gpu" });
const fleet = makeFleet(size);
const pods = occupyFleet(fleet, 0.5);
const t0 = performance.now();
for (const n of fleet) store.upsertNode(n.wire);
for (const p of pods) store.upsertPod({ uid: p.uid, key: p.key, nodeName: p.nodeName, gpus: p.gpus, placement: { gpuLinks: "Any", numa: "Any", strategy: "BinPack" } });
store.setDcgm(dcgmView(fleet, pods));
for (const n of fleet) store.state(n.wire.metadata!.name!);
const loadMs = performance.now() - t0;
const tls = await generateSelfSigned(["127.0.0.1"]);
const app = buildApp({ log, metrics: createMetrics(), currentPolicy: () => policies.current(), topology: store, https: tls });
app.post("/noop", { bodyLimit: 64 * 1024 * 1024 }, async (request) => {
  const body = request.body as { NodeNames?: string[] | null; Nodes?: { items?: unknown[] } | null };
  return { NodeNames: body.NodeNames ?? null, Nodes: body.NodeNames ? null : body.Nodes, FailedNodes: {}, FailedAndUnresolvableNodes: {}, Error: "" };
});
await app.listen({ host: "127.0.0.1", port: 0 });
const addr = app.server.address();
globalThis.gc?.();
process.send?.({
  port: typeof addr === "object" && addr ? addr.port : 0,
  nodes: fleet.map((n) => n.wire),
  pods: pods.length,
  loadMs,
  baselineRss: before.rss,
});
process.on("message", (m: unknown) => {
  if (m === "memory") {
    globalThis.gc?.();
    process.send?.({ memory: process.memoryUsage() });
  }
});
process.on("disconnect", () => void app.close().then(() => process.exit(0)));
