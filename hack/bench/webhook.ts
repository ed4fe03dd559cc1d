// `npm run bench:webhook`: drives POST /mutate over TLS at fixed concurrency
// with a realistic AdmissionReview (a 2-container GPU pod that matches the
// example policy's second rule), and POST /noop on the same server as the
// baseline, in the same run. Prints req/s, p50/p99 latency, the ratios, and
// the server's memory over the /mutate soak.
//
// Two kinds of phase, each run for /noop and /mutate in alternation:
// - saturation: 50 connections in a closed loop, as fast as the server answers;
//   gives the throughput ratio. Latency here is mostly queueing (Little's law:
//   50 in flight / throughput), so it is printed but not the latency figure.
// - fixed rate: an open loop offering BENCH_RATE req/s over the same 50
//   connections, latency measured from each request's scheduled start (no
//   coordinated omission); gives p50/p99 of a loaded but unsaturated server.
//
// Settings (environment): BENCH_CONNECTIONS (50), BENCH_SECONDS per phase (10),
// BENCH_RATE (1000), BENCH_SOAK_SECONDS (60), BENCH_ROUNDS (2).
import { fork } from "node:child_process";
import { Agent, request } from "node:https";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const soakSeconds = Number(process.env.BENCH_SOAK_SECONDS ?? 60);
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const rate = Number(process.env.BENCH_RATE ?? 1000);

const fixture = fileURLToPath(new URL("../../test/fixtures/admission/captured/inference-deployment-pod.json", import.meta.url));
const review = JSON.parse(readFileSync(fixture, "utf8")) as { request: { uid: string } };

const server = fork(fileURLToPath(new URL("./webhook-server.ts", import.meta.url)), [], {
  execArgv: ["--import", "tsx", "--expose-gc"],
  stdio: ["ignore", "inherit", "inherit", "ipc"],
});
const port = await new Promise<number>((resolve, reject) => {
  server.once("message", (m) => resolve((m as { port: number }).port));
  server.once("exit", (code) => reject(new Error(`bench server exited with ${code}`)));
});

function serverMemory(): Promise<NodeJS.MemoryUsage> {
  return new Promise((resolve) => {
    const onMsg = (m: unknown) => {
      const mem = (m as { memory?: NodeJS.MemoryUsage }).memory;
      if (mem) {
        server.off("message", onMsg);
        resolve(mem);
      }
    };
    server.on("message", onMsg);
    server.send("memory");
  });
}

function serverCpu(): Promise<NodeJS.CpuUsage> {
  return new Promise((resolve) => {
    const onMsg = (m: unknown) => {
      const cpu = (m as { cpu?: NodeJS.CpuUsage }).cpu;
      if (cpu) {
        server.off("message", onMsg);
        resolve(cpu);
      }
    };
    server.on("message", onMsg);
    server.send("cpu");
  });
}

interface PhaseResult {
  path: string;
  /** Server CPU time (user + system) per answered request, µs. */
  cpuUs: number;
  requests: number;
  errors: number;
  rps: number;
  p50: number;
  p99: number;
}

async function phase(path: string, durationS: number, offeredRate?: number): Promise<PhaseResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections, rejectUnauthorized: false });
  const latencies: number[] = [];
  let errors = 0;
  let seq = 0;
  const deadline = performance.now() + durationS * 1000;
  const one = (scheduledAt?: number) =>
    new Promise<void>((resolve) => {
      seq += 1;
      const body = JSON.stringify({ ...review, request: { ...review.request, uid: `bench-${seq}` } });
      const t0 = scheduledAt ?? performance.now();
      const req = request(
        { host: "127.0.0.1", port, path, method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
        (res) => {
          res.on("data", () => undefined);
          res.on("end", () => {
            if (res.statusCode === 200) latencies.push(performance.now() - t0);
            else errors += 1;
            resolve();
          });
        },
      );
      req.on("error", () => {
        errors += 1;
        resolve();
      });
      req.end(body);
    });
  const cpuBefore = await serverCpu();
  const started = performance.now();
  if (offeredRate === undefined) {
    const worker = async () => {
      while (performance.now() < deadline) await one();
    };
    await Promise.all(Array.from({ length: connections }, worker));
  } else {
    const inflight: Promise<void>[] = [];
    const interval = 1000 / offeredRate;
    let next = started;
    while (next < deadline) {
      const now = performance.now();
      if (now < next) await new Promise((r) => setTimeout(r, Math.max(0, next - now - 0.5)));
      while (performance.now() >= next && next < deadline) {
        inflight.push(one(next));
        next += interval;
      }
    }
    await Promise.all(inflight);
  }
  const elapsed = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage !== undefined ? await serverCpu() : cpuBefore;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? Number.NaN;
  const cpuUs = (cpu.user - cpuBefore.user + cpu.system - cpuBefore.system) / Math.max(1, latencies.length);
  return { path, cpuUs, requests: latencies.length, errors, rps: latencies.length / elapsed, p50: pct(50), p99: pct(99) };
}

const fmt = (r: PhaseResult) =>
  `${r.path.padEnd(8)} ${r.rps.toFixed(0).padStart(8)} req/s   p50 ${r.p50.toFixed(3)} ms   p99 ${r.p99.toFixed(3)} ms   server CPU ${r.cpuUs.toFixed(0)} µs/req   (${r.requests} ok, ${r.errors} errors)`;

console.log(`bench:webhook: ${connections} connections over TLS, ${seconds}s per phase, ${rounds} rounds, Node ${process.version}`);
await phase("/noop", 2); // warm-up: JIT, TLS sessions
await phase("/mutate", 2);
const best = (rs: PhaseResult[]) => rs.reduce((a, b) => (b.rps > a.rps ? b : a));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

console.log("\nsaturation (closed loop):");
const noop: PhaseResult[] = [];
const mutate: PhaseResult[] = [];
for (let i = 0; i < rounds; i++) {
  noop.push(await phase("/noop", seconds));
  console.log(`  ${fmt(noop.at(-1)!)}`);
  mutate.push(await phase("/mutate", seconds));
  console.log(`  ${fmt(mutate.at(-1)!)}`);
}
console.log(`\nfixed rate (open loop, ${rate} req/s offered):`);
const noopRate: PhaseResult[] = [];
const mutateRate: PhaseResult[] = [];
for (let i = 0; i < rounds; i++) {
  noopRate.push(await phase("/noop", seconds, rate));
  console.log(`  ${fmt(noopRate.at(-1)!)}`);
  mutateRate.push(await phase("/mutate", seconds, rate));
  console.log(`  ${fmt(mutateRate.at(-1)!)}`);
}
const n = best(noop);
const m = best(mutate);
console.log("");
console.log(`throughput /mutate : /noop = ${(m.rps / n.rps).toFixed(2)}  (best rounds: ${m.rps.toFixed(0)} / ${n.rps.toFixed(0)} req/s; goal >= 0.70)`);
const cpuN = median(noop.map((r) => r.cpuUs));
const cpuM = median(mutate.map((r) => r.cpuUs));
console.log(
  `server CPU per request: /noop ${cpuN.toFixed(0)} µs, /mutate ${cpuM.toFixed(0)} µs: capacity ratio ${(cpuN / cpuM).toFixed(2)} ` +
    "(the load generator shares this 2-core machine and saturates first on /noop, so CPU per request is the fairer ratio)",
);
console.log(
  `latency at ${rate} req/s: /mutate p50 ${median(mutateRate.map((r) => r.p50)).toFixed(3)} ms, p99 ${median(mutateRate.map((r) => r.p99)).toFixed(3)} ms (goal < 2 ms); ` +
    `/noop p50 ${median(noopRate.map((r) => r.p50)).toFixed(3)} ms, p99 ${median(noopRate.map((r) => r.p99)).toFixed(3)} ms`,
);

if (soakSeconds > 0) {
  const mb = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
  const before = await serverMemory();
  const samples: NodeJS.MemoryUsage[] = [];
  const slices = Math.max(1, Math.round(soakSeconds / 10));
  let total = 0;
  for (let i = 0; i < slices; i++) {
    const r = await phase("/mutate", soakSeconds / slices);
    total += r.requests;
    samples.push(await serverMemory());
  }
  const after = samples.at(-1)!;
  console.log(`memory over a ${soakSeconds}s /mutate soak (${total} requests), heap after GC: ${samples.map((s) => mb(s.heapUsed)).join(" -> ")}`);
  console.log(`  rss ${mb(before.rss)} -> ${mb(after.rss)}, heapUsed ${mb(before.heapUsed)} -> ${mb(after.heapUsed)} (growth ${mb(after.heapUsed - before.heapUsed)})`);
}
server.disconnect();
