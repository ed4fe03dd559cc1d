// `npm run bench:extender`: kube-scheduler's view of topofit. For fleets of
// 100, 1,000, 5,000 and 10,000 GPU nodes (8- and 4-GPU, about half the GPUs
// busy, a DCGM view of every GPU), sends /filter then /prioritize for a stream
// of pods (1, 2, 4 and 8 GPUs, mixed placements), one call at a time as the
// scheduler does, in nodeCacheCapable mode (NodeNames) and with full Nodes
// bodies. Baseline in the same run: POST /noop on the same server, which
// parses the same body and passes every node. Prints p50/p99 per call, µs per
// node, the ratio to the baseline, and the server's memory.
//
// Settings (environment): BENCH_SIZES (100,1000,5000,10000), BENCH_CALLS (200).
import { fork } from "node:child_process";
import { Agent, request } from "node:https";
import { fileURLToPath } from "node:url";
import type { NodeWire } from "../../src/extender/schema.js";
import { podWire } from "./fleet.js";

const sizes = (process.env.BENCH_SIZES ?? "100,1000,5000,10000").split(",").map(Number);
const calls = Number(process.env.BENCH_CALLS ?? 200);
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
  loadMs: number;
  baselineRss: number;
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

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

console.log(`bench:extender: ${calls} pods per mode, each /filter then /prioritize, one call at a time, over TLS; Node ${process.version}`);
console.log("nodes  mode      call        p50 ms   p99 ms   µs/node(p50)  baseline p50  ratio   server heap/rss");
for (const size of sizes) {
  const server = fork(fileURLToPath(new URL("./extender-server.ts", import.meta.url)), [String(size)], {
    execArgv: ["--import", "tsx", "--expose-gc", "--max-old-space-size=2048"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const ready = await new Promise<Ready>((resolve, reject) => {
    server.once("message", (m) => resolve(m as Ready));
    server.once("exit", (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  const memory = () =>
    new Promise<NodeJS.MemoryUsage>((resolve) => {
      const on = (m: unknown) => {
        const mem = (m as { memory?: NodeJS.MemoryUsage }).memory;
        if (mem) {
          server.off("message", on);
          resolve(mem);
        }
      };
      server.on("message", on);
      server.send("memory");
    });
  const agent = new Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
  const names = ready.nodes.map((n) => n.metadata!.name!);
  const namesList = { metadata: {}, items: ready.nodes };
  for (const mode of ["names", "objects"] as const) {
    const lat = { filter: [] as number[], prioritize: [] as number[], noop: [] as number[] };
    const n = mode === "objects" && size >= 5000 ? Math.max(20, Math.floor(calls / 5)) : calls;
    for (let i = 0; i < n + 10; i++) {
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
    const base = pct(lat.noop, 50);
    for (const call of ["filter", "prioritize"] as const) {
      const p50 = pct(lat[call], 50);
      console.log(
        `${String(size).padStart(5)}  ${mode.padEnd(8)}  /${call.padEnd(10)} ${p50.toFixed(2).padStart(7)}  ${pct(lat[call], 99).toFixed(2).padStart(7)}  ${((p50 * 1000) / size).toFixed(2).padStart(12)}  ${base.toFixed(2).padStart(12)}  ${(p50 / base).toFixed(2).padStart(5)}x`,
      );
    }
  }
  const mem = await memory();
  console.log(
    `${String(size).padStart(5)}  memory: heap ${(mem.heapUsed / 1048576).toFixed(0)} MiB, rss ${(mem.rss / 1048576).toFixed(0)} MiB (${ready.pods} bound pods, ${size} nodes with DCGM views; built in ${ready.loadMs.toFixed(0)} ms)`,
  );
  agent.destroy();
  server.disconnect();
  await new Promise((r) => server.once("exit", r));
}
