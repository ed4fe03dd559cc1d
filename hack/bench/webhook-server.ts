// The server half of `npm run bench:webhook`: the real app (embedded policy,
// self-signed TLS) plus one extra route, POST /noop, that parses the same body
// and answers a constant AdmissionReview. /noop is the in-run baseline.
//
// Over IPC it answers "stats" (CPU time, TLS handshakes and GC pauses since the
// previous "stats") and "memory" (memory usage after a full GC).
import { PerformanceObserver } from "node:perf_hooks";
import { pino } from "pino";

// The server runs the built code (dist/, which `npm run bench:webhook` builds
// first), as `topofit serve` does; the types come from src/.
const built = async <T>(module: string): Promise<T> => (await import(new URL(`../../dist/${module}`, import.meta.url).href)) as T;
const { buildApp } = await built<typeof import("../../src/server/app.js")>("server/app.js");
const { generateSelfSigned } = await built<typeof import("../../src/server/tls.js")>("server/tls.js");
const { PolicyStore } = await built<typeof import("../../src/policy/store.js")>("policy/store.js");
const { EMBEDDED_POLICY_YAML } = await built<typeof import("../../src/policy/embedded.js")>("policy/embedded.js");
const { createMetrics } = await built<typeof import("../../src/telemetry/metrics.js")>("telemetry/metrics.js");
const { createLogger } = await built<typeof import("../../src/telemetry/logger.js")>("telemetry/logger.js");

/** What the server did since the previous "stats" message. */
export interface ServerStats {
  readonly cpu: NodeJS.CpuUsage;
  /** TLS handshakes completed, i.e. new connections. */
  readonly handshakes: number;
  /** GC pauses: how many, their total and the longest, in ms. */
  readonly gc: { readonly count: number; readonly totalMs: number; readonly maxMs: number };
}

const store = new PolicyStore();
store.apply(EMBEDDED_POLICY_YAML, "embedded");
const tls = await generateSelfSigned(["127.0.0.1"]);
// Log as `topofit serve` does (info, JSON, synchronous writes as to stdout), to /dev/null.
const log = createLogger({ level: "info", destination: pino.destination({ dest: "/dev/null", sync: true }) });
const app = buildApp({ log, metrics: createMetrics(), currentPolicy: () => store.current(), https: tls });
app.post("/noop", async (request) => {
  const uid = (request.body as { request?: { uid?: string } }).request?.uid ?? "";
  return { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response: { uid, allowed: true } };
});

let handshakes = 0;
let cpuMark = process.cpuUsage();
app.server.on("secureConnection", () => {
  handshakes += 1;
});
let gc = { count: 0, totalMs: 0, maxMs: 0 };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gc.count += 1;
    gc.totalMs += e.duration;
    gc.maxMs = Math.max(gc.maxMs, e.duration);
  }
}).observe({ entryTypes: ["gc"] });

await app.listen({ host: "127.0.0.1", port: 0 });
const addr = app.server.address();
process.send?.({ port: typeof addr === "object" && addr ? addr.port : 0 });
process.on("message", (m: unknown) => {
  if (m === "stats") {
    const stats: ServerStats = { cpu: process.cpuUsage(cpuMark), handshakes, gc };
    process.send?.({ stats });
    cpuMark = process.cpuUsage();
    handshakes = 0;
    gc = { count: 0, totalMs: 0, maxMs: 0 };
    return;
  }
  if (m === "memory") {
    globalThis.gc?.();
    process.send?.({ memory: process.memoryUsage() });
  }
});
process.on("disconnect", () => void app.close().then(() => process.exit(0)));
