// The server half of `npm run bench:extender`: topofit's app with a TopologyStore
// holding a synthetic fleet (nodes, bound pods) and DCGM data scraped through
// the real DcgmStore, over HTTP, from the dcgm-exporter the parent serves for
// every node; plus POST /noop, the in-run baseline: it reads the same body the
// way the extender routes do (their body parser and decodeExtenderArgs) and
// answers that every node passes, written into pooled buffers as /filter's
// replies are (though it encodes every name on every call, where /filter
// copies a repeated list's names encoded once). Both processes build the same fleet from the same
// seed, so nothing but requests crosses between them.
//
// Arguments: fleet size, base URL of the exporters (URL/<node> serves a node).
// The parent asks over IPC for "memory" (after a full GC), "timings" (server
// time per route since the last ask: from the request's arrival to its reply;
// and the GC pauses meanwhile)
// and "rescrape" (one more scrape of every node, timed).
import { decodeExtenderArgs } from "../../src/extender/decode.js";
import { ReplyBuffers } from "../../src/extender/json-writer.js";
import { DEFAULT_EXTENDER_BODY_LIMIT, useExtenderBodyParser } from "../../src/extender/routes.js";
import { buildApp } from "../../src/server/app.js";
import { generateSelfSigned } from "../../src/server/tls.js";
import { PolicyStore } from "../../src/policy/store.js";
import { EMBEDDED_POLICY_YAML } from "../../src/policy/embedded.js";
import { createMetrics } from "../../src/telemetry/metrics.js";
import { pino } from "pino";
import { createLogger } from "../../src/telemetry/logger.js";
import { DcgmStore } from "../../src/topology/dcgm-store.js";
import { DcgmViewBuilder, followDcgm } from "../../src/topology/dcgm-view.js";
import { TopologyStore } from "../../src/topology/store.js";
import { makeFleet, occupyFleet } from "./fleet.js";
import { gcCounter } from "./gc.js";

const size = Number(process.argv[2] ?? 1000);
const exporterBase = process.argv[3] ?? "";
const policies = new PolicyStore();
policies.apply(EMBEDDED_POLICY_YAML, "embedded");
const log = createLogger({ level: "info", destination: pino.destination({ dest: "/dev/null", sync: true }) });
const metrics = createMetrics();
const views = new DcgmViewBuilder();
const store = new TopologyStore({ log, gpuResource: () => "nvidia.com/gpu", loadOf: (node) => views.loadSlot(node) });

const t0 = performance.now();
const names: string[] = [];
{
  // The fleet goes into the store as the informers would feed it; nothing else of it is kept here.
  const fleet = makeFleet(size);
  for (const n of fleet) {
    store.upsertNode(n.wire);
    names.push(n.wire.metadata!.name!);
  }
  const pods = occupyFleet(fleet, 0.5);
  for (const p of pods) store.upsertPod({ uid: p.uid, key: p.key, nodeName: p.nodeName, gpus: p.gpus, placement: { gpuLinks: "Any", numa: "Any", strategy: "BinPack" } });
}

// The exporters are scraped for real; only the clock is the bench's, so that "rescrape" can make every node due at once.
let clock = Date.now();
const dcgm = new DcgmStore({ log, metrics, now: () => clock, staleAfterMs: 24 * 3600_000, forgetAfterMs: 48 * 3600_000 });
followDcgm(dcgm, store, views);
dcgm.setEndpoints(names.map((name) => ({ url: `${exporterBase}/${name}`, nodeName: name })));
await dcgm.scrapeDue();
const loadMs = performance.now() - t0;
let gpus = 0;
for (const name of names) {
  const status = dcgm.nodeStatus(name);
  if (status?.state !== "fresh") throw new Error(`no DCGM data for ${name}: ${status?.lastError ?? "never scraped"}`);
  gpus += status.gpus.byIndex.size;
}

const tls = await generateSelfSigned(["127.0.0.1"]);
const app = buildApp({ log, metrics, currentPolicy: () => policies.current(), topology: store, https: tls });
await app.register(async (scope) => {
  useExtenderBodyParser(scope);
  const buffers = new ReplyBuffers();
  scope.post("/noop", { bodyLimit: DEFAULT_EXTENDER_BODY_LIMIT }, async (request, reply) => {
    const decoded = decodeExtenderArgs(request.body);
    if (!decoded.ok) return reply.code(400).send(decoded.error);
    const out = buffers.writer();
    reply.raw.once("close", () => buffers.release(out));
    const nodes = decoded.call.nodes;
    if (nodes.mode === "names") {
      out.raw('{"NodeNames":[');
      for (let i = 0; i < nodes.names.length; i++) (i === 0 ? out : out.raw(",")).string(nodes.names[i]!);
      out.raw('],"Nodes":null,');
    } else {
      out.raw('{"Nodes":{"metadata":{},"items":').json(JSON.stringify(nodes.nodes)).raw('},"NodeNames":null,');
    }
    return reply.type("application/json; charset=utf-8").send(out.raw('"FailedNodes":{},"FailedAndUnresolvableNodes":{},"Error":""}').bytes());
  });
});
let timings = new Map<string, number[]>();
/** GC pauses since the last "timings". */
const gc = gcCounter();
app.addHook("onResponse", async (request, reply) => {
  const route = request.routeOptions.url ?? "?";
  let list = timings.get(route);
  if (!list) timings.set(route, (list = []));
  list.push(reply.elapsedTime);
});
await app.listen({ host: "127.0.0.1", port: 0 });
const addr = app.server.address();
globalThis.gc?.();
process.send?.({ port: typeof addr === "object" && addr ? addr.port : 0, gpus, loadMs });

process.on("message", (m: unknown) => {
  if (m === "memory") {
    globalThis.gc?.();
    process.send?.({ memory: process.memoryUsage(), shapes: store.shapeCount() });
  } else if (m === "timings") {
    process.send?.({ timings: Object.fromEntries(timings), gc: gc.take() });
    timings = new Map();
  } else if (m === "rescrape") {
    // Every endpoint falls due again (the parent serves new utilisation figures); the round is timed end to end.
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
