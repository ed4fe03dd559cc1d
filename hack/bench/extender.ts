// `npm run bench:extender`: kube-scheduler's view of topofit. For fleets of
// 100, 1,000, 5,000 and 10,000 GPU nodes (8- and 4-GPU, about half the GPUs
// busy), with a dcgm-exporter per node served over HTTP by this process and
// scraped by the server's real DcgmStore, sends /filter then /prioritize for a
// stream of pods (1, 2, 4 and 8 GPUs, mixed placements), one call at a time as
// the scheduler does, in nodeCacheCapable mode (NodeNames) and with full Nodes
// bodies. Baseline in the same run: POST /noop on the same server, which
// reads the same body as the extender routes do and answers, into pooled
// buffers as /filter does, that every node passes (extender-server.ts). The
// server runs with the Node.js options of the shipped extender sidecar (its
// heap limit and young generation size).
//
// The calls are made by a lean process of their own (extender-caller.ts), over
// one kept-alive TLS connection, so that pauses of this process's large heap
// never land inside a timed call.
//
// Prints per call: p50/p99 as the client sees it (TLS, HTTP, all processes
// on the same cores), µs per node, the server's own p50/p99 (arrival to
// reply), the baseline's p50/p99 and the ratio to it; per fleet: the server's memory after
// the cache-mode calls, after the full-Nodes ones and after one more scrape
// of every exporter (after a GC), the number of distinct GPU shapes, and what
// that scrape of every node cost; per mode, the GC pauses of the server and of
// the caller while the calls were timed.
//
// Settings (environment): BENCH_SIZES (100,1000,5000,10000), BENCH_CALLS (1000:
// pods per size in names mode; a fifth of that with full Nodes bodies, a
// twenty-fifth at 5,000 nodes and more),
// BENCH_MODES (names,objects), BENCH_NODE_OPTIONS (extra Node flags for the
// server, e.g. --trace-gc).
import { execFileSync, fork } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import type { CallerResult } from "./extender-caller.js";
import { dcgmExposition, exporterNode, makeFleet, occupyFleet, type ExporterNode, type FleetPod } from "./fleet.js";
import { gcText, type GcSummary } from "./gc.js";

const sizes = (process.env.BENCH_SIZES ?? "100,1000,5000,10000").split(",").map(Number);
const calls = Number(process.env.BENCH_CALLS ?? 1000);
const modes = (process.env.BENCH_MODES ?? "names,objects").split(",") as ("names" | "objects")[];

interface Ready {
  port: number;
  gpus: number;
  loadMs: number;
}

/**
 * dcgm-exporter for every node of a fleet, on one local HTTP server: GET
 * /<node> serves that node's body. `round` moves the utilisation figures.
 */
async function startExporters(nodes: readonly ExporterNode[], pods: readonly FleetPod[]): Promise<{ url: string; nextRound(): void; close(): Promise<void> }> {
  const byName = new Map(nodes.map((n) => [n.name, n] as const));
  const podsByNode = new Map<string, FleetPod[]>();
  for (const p of pods) podsByNode.set(p.nodeName, [...(podsByNode.get(p.nodeName) ?? []), p]);
  let round = 0;
  const server = createServer((req, res) => {
    const node = byName.get((req.url ?? "").slice(1));
    if (!node) return void res.writeHead(404).end();
    const body = dcgmExposition(node, podsByNode.get(node.name) ?? [], round);
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8", "content-length": Buffer.byteLength(body) }).end(body);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    nextRound: () => void (round += 1),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * The Node.js options the shipped extender sidecar runs with (the flags in
 * the topofit container's command and its NODE_OPTIONS, in
 * manifests/base/scheduler.yaml): the server is
 * measured with the heap limit it has in production, which also decides how
 * far V8 lets garbage pile up before collecting it.
 */
function shippedNodeOptions(): string[] {
  const file = fileURLToPath(new URL("../../manifests/base/scheduler.yaml", import.meta.url));
  type Container = { name: string; command?: string[]; env?: { name: string; value?: string }[] };
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    const containers = (doc.toJS() as { spec?: { template?: { spec?: { containers?: Container[] } } } })?.spec?.template?.spec?.containers ?? [];
    const topofit = containers.find((c) => c.name === "topofit");
    const value = topofit?.env?.find((e) => e.name === "NODE_OPTIONS")?.value;
    if (value === undefined) continue;
    // Flags given to node itself in the container's command (`node <flags> <script>`), then NODE_OPTIONS.
    const command = topofit?.command ?? [];
    const flags = command[0] === "node" ? command.slice(1, -1) : [];
    return [...flags, ...value.split(/\s+/).filter(Boolean)];
  }
  throw new Error(`${file} sets no NODE_OPTIONS for the topofit container`);
}

/**
 * The server and the caller compiled to JavaScript (into .tmp/bench-extender),
 * so that they run on plain node, the server as topofit does in production:
 * under the TypeScript loader, a process carries tens of MiB of loader that
 * would count in its RSS (and in the heap its collections walk).
 */
function compiled(): { server: string; caller: string } {
  const root = fileURLToPath(new URL("../../", import.meta.url));
  const out = `${root}.tmp/bench-extender`;
  mkdirSync(out, { recursive: true });
  writeFileSync(
    `${out}/tsconfig.json`,
    JSON.stringify({ extends: "../../tsconfig.json", compilerOptions: { noEmit: false, rootDir: "../..", outDir: ".", sourceMap: false }, include: [], files: ["../../hack/bench/extender-server.ts", "../../hack/bench/extender-caller.ts"] }),
  );
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  execFileSync(process.execPath, [tsc, "-p", `${out}/tsconfig.json`], { stdio: "inherit" });
  return { server: `${out}/hack/bench/extender-server.js`, caller: `${out}/hack/bench/extender-caller.js` };
}

const pct = (xs: readonly number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};
const mib = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MiB`;
const nodeOptions = shippedNodeOptions();
const scripts = compiled();
const f2 = (x: number, w: number) => x.toFixed(2).padStart(w);

console.log(
  `bench:extender: ${calls} pods in names mode (fewer with full Nodes bodies), each /filter then /prioritize, one call at a time, over TLS; Node ${process.version}; server on plain node (compiled), options ${nodeOptions.join(" ")} (as shipped)`,
);
console.log("nodes  mode      call        p50 ms   p99 ms  µs/node(p50)  server p50  server p99  baseline p50  baseline p99  ratio(p50)");
for (const size of sizes) {
  const fleet = makeFleet(size);
  const pods = occupyFleet(fleet, 0.5);
  const exporters = await startExporters(fleet.map(exporterNode), pods);
  const server = fork(scripts.server, [String(size), exporters.url], {
    execArgv: ["--expose-gc", ...nodeOptions, ...(process.env.BENCH_NODE_OPTIONS ?? "").split(" ").filter(Boolean)],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const ready = await new Promise<Ready>((resolve, reject) => {
    server.once("message", (m) => resolve(m as Ready));
    server.once("exit", (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  /** Asks the server for `what` over IPC and waits for its answer (the message carrying `key`). */
  const ask = <T>(what: string, key: string) =>
    new Promise<T>((resolve) => {
      const on = (m: unknown) => {
        if ((m as Record<string, unknown>)[key] !== undefined) {
          server.off("message", on);
          resolve(m as T);
        }
      };
      server.on("message", on);
      server.send(what);
    });
  const memoryAfter = new Map<string, { memory: NodeJS.MemoryUsage; shapes: number }>();
  for (const mode of modes) {
    const n = mode === "names" ? calls : Math.max(20, Math.floor(calls / (size >= 5000 ? 25 : 5)));
    const caller = fork(scripts.caller, [String(ready.port), String(size), mode, String(n)], { execArgv: ["--expose-gc"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
    const callerDone = new Promise<CallerResult>((resolve, reject) => {
      caller.on("message", (m: { warm?: boolean; result?: CallerResult }) => {
        if (m.warm) {
          // Warmed up: the server's timings and GC count from here.
          void ask("timings", "timings").then(() => caller.send("go"));
        } else if (m.result) resolve(m.result);
      });
      caller.once("exit", (code) => (code === 0 ? undefined : reject(new Error(`bench caller exited with ${code} at ${size} nodes (${mode})`))));
    });
    const { lat, gc: callerGc } = await callerDone;
    const { timings: serverTimes, gc: serverGc } = await ask<{ timings: Record<string, number[]>; gc: GcSummary }>("timings", "timings");
    const base = pct(lat.noop, 50);
    for (const call of ["filter", "prioritize"] as const) {
      const p50 = pct(lat[call], 50);
      const own = serverTimes[`/${call}`] ?? [];
      console.log(
        `${String(size).padStart(5)}  ${mode.padEnd(8)}  /${call.padEnd(10)} ${f2(p50, 7)}  ${f2(pct(lat[call], 99), 7)}  ${f2((p50 * 1000) / size, 12)}  ${f2(pct(own, 50), 10)}  ${f2(pct(own, 99), 10)}  ${f2(base, 12)}  ${f2(pct(lat.noop, 99), 12)}  ${(p50 / base).toFixed(2).padStart(9)}x`,
      );
    }
    console.log(`${String(size).padStart(5)}  ${mode.padEnd(8)}  GC while the ${3 * n} calls were timed: server ${gcText(serverGc)}; caller ${gcText(callerGc)}`);
    memoryAfter.set(mode, await ask<{ memory: NodeJS.MemoryUsage; shapes: number }>("memory", "memory"));
  }
  exporters.nextRound();
  const { rescrape } = await ask<{ rescrape: { ms: number; cpuMs: number } }>("rescrape", "rescrape");
  memoryAfter.set("rescrape", await ask<{ memory: NodeJS.MemoryUsage; shapes: number }>("memory", "memory"));
  const when: Record<string, string> = { names: "cache-mode calls", objects: "full-Nodes calls", rescrape: "a scrape of every node" };
  const mem = [...memoryAfter].map(([k, m]) => `after ${when[k]} rss ${mib(m.memory.rss)} (heap ${mib(m.memory.heapUsed)} of ${mib(m.memory.heapTotal)})`).join("; ");
  const shapes = [...memoryAfter.values()].at(-1)?.shapes ?? 0;
  console.log(
    `${String(size).padStart(5)}  memory: ${mem} (${pods.length} bound pods, ${ready.gpus} GPUs with DCGM data; built and scraped in ${ready.loadMs.toFixed(0)} ms; ${shapes} GPU shapes)`,
  );
  console.log(
    `${String(size).padStart(5)}  DCGM: one more scrape of all ${size} exporters: ${rescrape.ms.toFixed(0)} ms, ${rescrape.cpuMs.toFixed(0)} ms CPU (${((rescrape.cpuMs * 1000) / size).toFixed(0)} µs per node)`,
  );
  server.disconnect();
  await new Promise((r) => server.once("exit", r));
  await exporters.close();
}
