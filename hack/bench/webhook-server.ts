// The server half of `npm run bench:webhook`: the real app (embedded policy,
// self-signed TLS) plus one extra route, POST /noop, that parses the same body
// and answers a constant AdmissionReview. /noop is the in-run baseline.
import { buildApp } from "../../src/server/app.js";
import { generateSelfSigned } from "../../src/server/tls.js";
import { PolicyStore } from "../../src/policy/store.js";
import { EMBEDDED_POLICY_YAML } from "../../src/policy/embedded.js";
import { createMetrics } from "../../src/telemetry/metrics.js";
import { pino } from "pino";
import { createLogger } from "../../src/telemetry/logger.js";

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
await app.listen({ host: "127.0.0.1", port: 0 });
const addr = app.server.address();
process.send?.({ port: typeof addr === "object" && addr ? addr.port : 0 });
process.on("message", (m: unknown) => {
  if (m === "cpu") {
    process.send?.({ cpu: process.cpuUsage() });
    return;
  }
  if (m === "memory") {
    globalThis.gc?.();
    process.send?.({ memory: process.memoryUsage() });
  }
});
process.on("disconnect", () => void app.close().then(() => process.exit(0)));
