// `npm run bench:extender`: kube-scheduler's view of topofit. For fleets of
// 100, 1,000, 5,000 and 10,000 GPU nodes (8- and 4-GPU, about half the GPUs
// busy, every node's dcgm-exporter scraped into the real DcgmStore), sends
// /filter then /prioritize for a stream of pods (1, 2, 4 and 8 GPUs, mixed
// placements), one call at a time as the scheduler does, in nodeCacheCapable
// mode (NodeNames) and with full Nodes bodies. Baseline in the same run: POST
// /noop on the same server, which parses the same body and passes every node.
//
// Prints per call: p50/p99 as the client sees it (TLS, HTTP, both processes
// on the same cores), µs per node, the server's own p50/p99 (arrival to
// reply), and the ratio to the baseline; per fleet: the server's memory after
// the cache-mode calls and after the full-Nodes ones (after a GC), the number
// of distinct GPU shapes, and what one more DCGM scrape of every node costs.
//
// Settings (environment): BENCH_SIZES (100,1000,5000,10000), BENCH_CALLS (200),
// BENCH_MODES (names,objects).
import { fork } from "node:child_process";
import { Agent, request } from "node:https";
import { fileURLToPath } from "node:url";
import type { NodeWire } from "../../src/extender/schema.js";
import { podWire } from "./fleet.js";

const sizes = (process.env.BENCH_SIZES ?? "100,1000,5000,10000").split(",").map(Number);
const calls = Number(process.env.BENCH_CALLS ?? 200);
const modes = (process.env.BENCH_MODES ?? "names,objects").split(",") as ("names" | "objects")[];
const PLACEMENTS = [
  '{"gpuLinks":"NVLinkRequired","numa":"SingleNode","strategy":"BinPack"}',
  '{"gpuLinks":"NVLinkPreferred","numa":"Preferred","strategy":"Spread"}',
  '{"gpuLinks":"Any","numa":"Any","strategy":"BinPack"}',
];
const SIZES_OF_POD = [1, 2, 4, 8];

interface Ready {
  port: number;
  nodes: NodeWire[];
  pods: number;
  gpus: number;
  loadMs: number;
}

function post(port: number, agent: Agent, path: string, body: string): Promise<{ status: number; ms: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request(
      { host: "127.0.0.1", port, path, method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
      (res) => {
        let bytes = 0;
        res.on("data", (c: Buffer) => (bytes += c.length));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0, bytes }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const pct = (xs: readonly number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};
const mib = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MiB`;
const f2 = (x: number, w: number) => x.toFixed(2).padStart(w);

console.log(`bench:extender: ${calls} pods per mode, each /filter then /prioritize, one call at a time, over TLS; Node ${process.version}`);
console.log("nodes  mode      call        p50 ms   p99 ms  µs/node(p50)  server p50  server p99  baseline p50  ratio");
for (const size of sizes) {
  const server = fork(fileURLToPath(new URL("./extender-server.ts", import.meta.url)), [String(size)], {
    execArgv: ["--import", "tsx", "--expose-gc", "--max-old-space-size=2048", ...(process.env.BENCH_NODE_OPTIONS ?? "").split(" ").filter(Boolean)],
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
  const agent = new Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
  const names = ready.nodes.map((n) => n.metadata!.name!);
  const namesList = { metadata: {}, items: ready.nodes };
  const memoryAfter = new Map<string, { memory: NodeJS.MemoryUsage; shapes: number }>();
  for (const mode of modes) {
    const lat = { filter: [] as number[], prioritize: [] as number[], noop: [] as number[] };
    const n = mode === "objects" && size >= 5000 ? Math.max(20, Math.floor(calls / 5)) : calls;
    for (let i = 0; i < n + 10; i++) {
      if (i === 10) await ask("timings", "timings");
      const pod = podWire(`${size}-${mode}-${i}`, SIZES_OF_POD[i % 4]!, PLACEMENTS[i % 3]!);
      const body = JSON.stringify(mode === "names" ? { Pod: pod, Nodes: null, NodeNames: names } : { Pod: pod, Nodes: namesList, NodeNames: null });
      const b = await post(ready.port, agent, "/noop", body);
      const f = await post(ready.port, agent, "/filter", body);
      const p = await post(ready.port, agent, "/prioritize", body);
      if (f.status !== 200 || p.status !== 200 || b.status !== 200) throw new Error(`HTTP ${f.status}/${p.status}/${b.status} at ${size} nodes (${mode})`);
      if (i < 10) continue; // warm-up
      lat.noop.push(b.ms);
      lat.filter.push(f.ms);
      lat.prioritize.push(p.ms);
    }
    const serverTimes = (await ask<{ timings: Record<string, number[]> }>("timings", "timings")).timings;
    const base = pct(lat.noop, 50);
    for (const call of ["filter", "prioritize"] as const) {
      const p50 = pct(lat[call], 50);
      const own = serverTimes[`/${call}`] ?? [];
      console.log(
        `${String(size).padStart(5)}  ${mode.padEnd(8)}  /${call.padEnd(10)} ${f2(p50, 7)}  ${f2(pct(lat[call], 99), 7)}  ${f2((p50 * 1000) / size, 12)}  ${f2(pct(own, 50), 10)}  ${f2(pct(own, 99), 10)}  ${f2(base, 12)}  ${(p50 / base).toFixed(2).padStart(5)}x`,
      );
    }
    memoryAfter.set(mode, await ask<{ memory: NodeJS.MemoryUsage; shapes: number }>("memory", "memory"));
  }
  const { rescrape } = await ask<{ rescrape: { ms: number; cpuMs: number } }>("rescrape", "rescrape");
  const mem = [...memoryAfter].map(([mode, m]) => `after ${mode === "names" ? "cache-mode" : "full-Nodes"} calls heap ${mib(m.memory.heapUsed)}, rss ${mib(m.memory.rss)}`).join("; ");
  const shapes = [...memoryAfter.values()].at(-1)?.shapes ?? 0;
  console.log(
    `${String(size).padStart(5)}  memory: ${mem} (${ready.pods} bound pods, ${ready.gpus} GPUs with DCGM data; built and scraped in ${ready.loadMs.toFixed(0)} ms; ${shapes} GPU shapes)`,
  );
  console.log(
    `${String(size).padStart(5)}  DCGM: one more scrape of all ${size} exporters: ${rescrape.ms.toFixed(0)} ms, ${rescrape.cpuMs.toFixed(0)} ms CPU (${((rescrape.cpuMs * 1000) / size).toFixed(0)} µs per node)`,
  );
  agent.destroy();
  server.disconnect();
  await new Promise((r) => server.once("exit", r));
}
