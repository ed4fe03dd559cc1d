// `npm run bench:webhook`: drives POST /mutate over TLS with a realistic
// AdmissionReview (a 2-container GPU pod that matches the example policy's
// second rule), and POST /noop on the same server as the baseline, in the same
// run. Prints req/s, latency percentiles, the ratios, and the server's memory
// over a /mutate soak.
//
// Two kinds of phase, each run for /noop and /mutate in alternation:
// - saturation: 50 connections in a closed loop, as fast as the server answers;
//   gives the throughput ratio. Latency here is mostly queueing (Little's law:
//   50 in flight / throughput), so it is printed but not the latency figure.
// - fixed rate: an open loop offering BENCH_RATE req/s over the same 50
//   connections; gives p50/p99 of a loaded but unsaturated server.
//
// What a kube-apiserver sees, and only that:
// - Connections are opened before the clock starts, as the API server keeps
//   its connections to a webhook alive and reuses them; a line shows the TLS
//   handshakes the server did inside the measured window (0 when steady).
// - Latency runs from the moment a request is issued to the end of its
//   response. Sends are paced by the clock, never by answers (open loop), so a
//   slow server cannot hold back the requests that would expose it. How late
//   the load generator issued requests against its schedule is printed as
//   "send lag"; it is the generator's own jitter, not the webhook's latency.
// - The load generator shares the machine with the server, and so may other
//   work: each phase prints the CPU that other processes used meanwhile
//   ("others", in cores), so that a disturbed round can be recognised.
//
// Settings (environment): BENCH_CONNECTIONS (50), BENCH_SECONDS per phase (5),
// BENCH_RATE (1000), BENCH_SOAK_SECONDS (60), BENCH_ROUNDS (6), BENCH_KINDS
// (saturation,rate: which kinds of phase to run; "none" runs only the soak),
// BENCH_SERVER_ARGS (extra Node flags for the server, e.g. to profile it).
import { fork } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { ConnectionPool } from "./webhook-client.js";
import type { ServerStats } from "./webhook-server.js";

const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
// Six pairs of 5 s phases rather than three of 10 s: the machine's speed drifts, and a
// ratio taken over shorter, paired phases, as the median of more of them, drifts less.
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const soakSeconds = Number(process.env.BENCH_SOAK_SECONDS ?? 60);
const rounds = Number(process.env.BENCH_ROUNDS ?? 6);
const rate = Number(process.env.BENCH_RATE ?? 1000);
const kinds = new Set((process.env.BENCH_KINDS ?? "saturation,rate").split(","));

const fixture = fileURLToPath(new URL("../../test/fixtures/admission/captured/inference-deployment-pod.json", import.meta.url));
const review = JSON.parse(readFileSync(fixture, "utf8")) as { request: { uid: string } };
// Every request carries its own uid; the body around it is serialised and
// encoded once, so that the load generator spends its CPU on sending, and makes
// no garbage of the body's size per request.
const UID_MARK = "\u0000uid\u0000";
const [bodyHead, bodyTail] = JSON.stringify({ ...review, request: { ...review.request, uid: UID_MARK } })
  .split(JSON.stringify(UID_MARK))
  .map((s) => Buffer.from(s)) as [Buffer, Buffer];

const server = fork(fileURLToPath(new URL("./webhook-server.ts", import.meta.url)), [], {
  // BENCH_SERVER_ARGS: extra Node flags for the server, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  execArgv: ["--import", "tsx", "--expose-gc", ...(process.env.BENCH_SERVER_ARGS ?? "").split(" ").filter((a) => a !== "")],
  stdio: ["ignore", "inherit", "inherit", "ipc"],
});
const port = await new Promise<number>((resolve, reject) => {
  server.once("message", (m) => resolve((m as { port: number }).port));
  server.once("exit", (code) => reject(new Error(`bench server exited with ${code}`)));
});

function ask<T>(what: string, key: string): Promise<T> {
  return new Promise((resolve) => {
    const onMsg = (m: unknown) => {
      const value = (m as Record<string, unknown>)[key];
      if (value !== undefined) {
        server.off("message", onMsg);
        resolve(value as T);
      }
    };
    server.on("message", onMsg);
    server.send(what);
  });
}
const serverStats = () => ask<ServerStats>("stats", "stats");
const serverMemory = () => ask<NodeJS.MemoryUsage>("memory", "memory");

/**
 * CPU time the whole machine spent in processes (user, nice, system) and lost to
 * the hypervisor (steal) so far, in seconds; interrupt time is left out, as the
 * loopback traffic of the benchmark itself is accounted there. Linux only.
 */
function machineBusySeconds(): number | undefined {
  try {
    const f = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    return ((f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[7] ?? 0)) / 100;
  } catch {
    return undefined;
  }
}

interface PhaseResult {
  path: string;
  requests: number;
  errors: number;
  rps: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  /** Server CPU time (user + system) per answered request, µs. */
  cpuUs: number;
  /** Open loop only: how late the generator issued requests against the schedule, p99, ms. */
  lagP99?: number;
  server: ServerStats;
  /** Cores that processes other than this benchmark kept busy during the phase; undefined where unknown. */
  othersCores?: number;
}

const percentile = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length / 2;
  return s.length % 2 === 1 ? s[Math.floor(mid)]! : ((s[mid - 1] ?? Number.NaN) + (s[mid] ?? Number.NaN)) / 2;
};

let seq = 0;

async function phase(path: string, durationS: number, offeredRate?: number): Promise<PhaseResult> {
  // Every connection is open before the clock starts.
  const pool = await ConnectionPool.open("127.0.0.1", port, connections);
  const latencies: number[] = [];
  const lags: number[] = [];
  let errors = 0;
  let measuring = false;
  const one = async () => {
    seq += 1;
    const t0 = performance.now();
    try {
      const reply = await pool.post(path, [bodyHead, `"bench-${seq}"`, bodyTail]);
      if (reply.status !== 200) errors += 1;
      else if (measuring) latencies.push(performance.now() - t0);
    } catch {
      errors += 1;
    }
  };
  // One request on every connection first: the server's JIT and buffers are warm.
  await Promise.all(Array.from({ length: connections }, one));
  errors = 0;
  await serverStats();
  const machineBefore = machineBusySeconds();
  const ownBefore = process.cpuUsage();
  measuring = true;
  const started = performance.now();
  const deadline = started + durationS * 1000;
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
        lags.push(performance.now() - next);
        inflight.push(one());
        next += interval;
      }
    }
    await Promise.all(inflight);
  }
  const elapsed = (performance.now() - started) / 1000;
  measuring = false;
  const own = process.cpuUsage(ownBefore);
  const stats = await serverStats();
  const machineAfter = machineBusySeconds();
  pool.close();
  latencies.sort((a, b) => a - b);
  lags.sort((a, b) => a - b);
  const serverCpuS = (stats.cpu.user + stats.cpu.system) / 1e6;
  const othersCores =
    machineBefore !== undefined && machineAfter !== undefined
      ? Math.max(0, machineAfter - machineBefore - serverCpuS - (own.user + own.system) / 1e6) / elapsed
      : undefined;
  return {
    path,
    requests: latencies.length,
    errors,
    rps: latencies.length / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    p999: percentile(latencies, 99.9),
    max: latencies.at(-1) ?? Number.NaN,
    cpuUs: (serverCpuS * 1e6) / Math.max(1, latencies.length),
    ...(offeredRate !== undefined ? { lagP99: percentile(lags, 99) } : {}),
    server: stats,
    ...(othersCores !== undefined ? { othersCores } : {}),
  };
}

const ms = (x: number) => `${x.toFixed(2)} ms`;
const fmt = (r: PhaseResult) =>
  `${r.path.padEnd(8)} ${r.rps.toFixed(0).padStart(6)} req/s  p50 ${ms(r.p50)}  p99 ${ms(r.p99)}  p99.9 ${ms(r.p999)}  max ${ms(r.max)}` +
  `  server CPU ${r.cpuUs.toFixed(0)} µs/req  GC max ${ms(r.server.gc.maxMs)}` +
  (r.lagP99 !== undefined ? `  send lag p99 ${ms(r.lagP99)}` : "") +
  `  new TLS ${r.server.handshakes}` +
  (r.othersCores !== undefined ? `  others ${r.othersCores.toFixed(2)} cores` : "") +
  `  (${r.requests} ok, ${r.errors} errors)`;

console.log(
  `bench:webhook: ${connections} connections over TLS, ${seconds}s per phase, ${rounds} rounds, Node ${process.version}, ${cpus().length} CPUs (shared with the load generator)`,
);
await phase("/noop", 2); // warm-up: JIT
await phase("/mutate", 2);

/** `rounds` phases of /noop then /mutate, closed loop or at `offeredRate`. */
async function alternate(offeredRate?: number): Promise<{ noop: PhaseResult[]; mutate: PhaseResult[] }> {
  const out = { noop: [] as PhaseResult[], mutate: [] as PhaseResult[] };
  for (let i = 0; i < rounds; i++) {
    for (const [path, results] of [["/noop", out.noop], ["/mutate", out.mutate]] as const) {
      results.push(await phase(path, seconds, offeredRate));
      console.log(`  ${fmt(results.at(-1)!)}`);
    }
  }
  return out;
}

const range = (xs: readonly number[], digits: number) => `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;
const all: PhaseResult[] = [];
if (kinds.has("saturation")) {
  console.log("\nsaturation (closed loop):");
  const { noop, mutate } = await alternate();
  all.push(...noop, ...mutate);
  const ratios = mutate.map((m, i) => m.rps / noop[i]!.rps);
  const best = (rs: PhaseResult[]) => rs.reduce((a, b) => (b.rps > a.rps ? b : a));
  console.log(
    `throughput /mutate : /noop = ${median(ratios).toFixed(2)} (median of the rounds' ratios, range ${range(ratios, 2)}; ` +
      `best rounds ${best(mutate).rps.toFixed(0)} / ${best(noop).rps.toFixed(0)} req/s = ${(best(mutate).rps / best(noop).rps).toFixed(2)}; goal >= 0.70)`,
  );
  const cpuN = median(noop.map((r) => r.cpuUs));
  const cpuM = median(mutate.map((r) => r.cpuUs));
  console.log(`server CPU per request at saturation: /noop ${cpuN.toFixed(0)} µs, /mutate ${cpuM.toFixed(0)} µs: capacity ratio ${(cpuN / cpuM).toFixed(2)}`);
}
if (kinds.has("rate")) {
  console.log(`\nfixed rate (open loop, ${rate} req/s offered):`);
  const { noop, mutate } = await alternate(rate);
  all.push(...noop, ...mutate);
  const p99s = (rs: PhaseResult[]) => rs.map((r) => r.p99);
  console.log(
    `latency at ${rate} req/s (median of rounds, range of p99): /mutate p50 ${ms(median(mutate.map((r) => r.p50)))}, p99 ${ms(median(p99s(mutate)))} (${range(p99s(mutate), 2)}; goal < 2 ms); ` +
      `/noop p50 ${ms(median(noop.map((r) => r.p50)))}, p99 ${ms(median(p99s(noop)))} (${range(p99s(noop), 2)})`,
  );
}
const busy = all.filter((r) => (r.othersCores ?? 0) > 0.25).length;
if (busy > 0) console.log(`note: in ${busy} phase(s) other processes kept more than a quarter of a core busy; their figures are disturbed`);

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
