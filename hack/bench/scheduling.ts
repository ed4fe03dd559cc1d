// `npm run bench:scheduling`: what topofit as an extender costs the real
// kube-scheduler. One local control plane runs two schedulers side by side:
//
//   a  plain-scheduler     no extender (the baseline)
//   b  topofit-scheduler   topofit as extender: filter + prioritize,
//                          nodeCacheCapable, weight 5, no managedResources
//                          (as shipped: every pod of the scheduler is sent)
//
// Both place the same batch of GPU pods (sizes 1, 2, 1, 4 with the placements
// the webhook would record) on the same 100 GPU nodes (8-GPU H100 NVSwitch,
// 4-GPU L40S and 4-GPU A100 PCIe, told apart by GFD labels). The batches
// alternate a, b, a, b, ... and every batch starts on an empty fleet: the pods
// of the previous one are deleted (grace period 0) and both schedulers and
// topofit have seen them go. A batch is timed from the first pod creation
// until a watch has seen spec.nodeName on the last pod; creation (a small
// pool of concurrent requests) is reported on its own.
//
// Two phases: kube-scheduler's default client rate limits, then raised ones.
//
// BENCH_WORKLOAD=cpu places pods that ask for no GPU instead (same CPU and
// memory requests): what sending every pod of a scheduler to topofit costs the
// pods that do not need it, since the extender has no managedResources.
//
// Settings (environment): BENCH_WORKLOAD (gpu), BENCH_PODS (200), BENCH_ROUNDS (3 per phase),
// BENCH_CONCURRENCY (8), BENCH_FAST_QPS (1000), BENCH_TOPOFIT_LOG_LEVEL (info),
// BENCH_BATCH_TIMEOUT_MS (180000).
import { performance } from "node:perf_hooks";
import { Agent, request, type RequestOptions } from "node:https";
import { CoreV1Api, type KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { getFreePort, startControlPlane, type ControlPlane } from "../cluster/control-plane.js";
import { createGpuNode } from "../cluster/nodes.js";
import { GPU_RESOURCE_NAME } from "../cluster/scheduler-config.js";
import { startTopofit, type TopofitProcess, httpsPostJson } from "../cluster/topofit.js";
import { waitFor } from "../cluster/wait.js";

const PODS = positiveInt("BENCH_PODS", 200);
const ROUNDS = positiveInt("BENCH_ROUNDS", 3);
const CONCURRENCY = positiveInt("BENCH_CONCURRENCY", 8);
const WORKLOAD = process.env.BENCH_WORKLOAD === "cpu" ? "cpu" : "gpu";
const NS = "bench";
const BATCH_TIMEOUT_MS = Number(process.env.BENCH_BATCH_TIMEOUT_MS ?? 180_000);

const PLAIN = "plain-scheduler";
const TOPOFIT = "topofit-scheduler";
const SCHEDULERS = [
  { tag: "a", name: PLAIN, label: "a  no extender" },
  { tag: "b", name: TOPOFIT, label: "b  topofit extender" },
] as const;

/**
 * kube-scheduler binds through a client limited to 50 requests/s (burst 100)
 * by default, which caps both schedulers alike at this size; the second phase
 * lifts the limit so that the scheduling cycles themselves, extender calls
 * included, set the pace.
 */
const FAST_QPS = positiveInt("BENCH_FAST_QPS", 1000);
/** topofit logs one line per extender call at info, as it does by default. */
const TOPOFIT_LOG_LEVEL = process.env.BENCH_TOPOFIT_LOG_LEVEL ?? "info";
const PHASES = [
  { key: "d", title: "Phase 1: kube-scheduler's default client rate limits (qps 50, burst 100)", short: "with default limits", qps: undefined, burst: undefined },
  { key: "f", title: `Phase 2: client rate limits raised (qps ${FAST_QPS}, burst ${FAST_QPS})`, short: `with qps ${FAST_QPS}`, qps: FAST_QPS, burst: FAST_QPS },
] as const;

const FLEET = [
  { prefix: "h100", count: 60, gpus: 8, product: "NVIDIA-H100-80GB-HBM3", family: "hopper" },
  { prefix: "l40s", count: 20, gpus: 4, product: "NVIDIA-L40S", family: "ada-lovelace" },
  { prefix: "a100", count: 20, gpus: 4, product: "NVIDIA-A100-PCIE-80GB", family: "ampere" },
] as const;

/** Pod shapes, in turn: GPUs and the placement the webhook would have recorded. */
const SHAPES = [
  { gpus: 1, placement: { gpuLinks: "Any", numa: "Any", strategy: "BinPack" } },
  { gpus: 2, placement: { gpuLinks: "NVLinkPreferred", numa: "Preferred", strategy: "Spread" } },
  { gpus: 1, placement: { gpuLinks: "NVLinkPreferred", numa: "Preferred", strategy: "Spread" } },
  { gpus: 4, placement: { gpuLinks: "NVLinkRequired", numa: "SingleNode", strategy: "BinPack" } },
] as const;

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} wants a positive whole number, got ${JSON.stringify(raw)}`);
  return n;
}

const say = (message: string): void => void process.stderr.write(`[bench] ${message}\n`);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `work(i)` for i in 0..n-1 with at most `limit` in flight. */
async function pool(n: number, limit: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      await work(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
}

function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

const median = (xs: readonly number[]): number => pct(xs, 50);

function nodeNames(): { name: string; gpus: number }[] {
  return FLEET.flatMap((k) => Array.from({ length: k.count }, (_, i) => ({ name: `${k.prefix}-${String(i).padStart(3, "0")}`, gpus: k.gpus })));
}

function benchPod(batch: string, i: number, schedulerName: string): V1Pod {
  const shape = SHAPES[i % SHAPES.length]!;
  return {
    metadata: {
      name: `${batch}-${String(i).padStart(4, "0")}`,
      labels: { "bench.topofit.io/batch": batch },
      // No webhook in this benchmark: the pods carry what it would have written.
      annotations: { "topofit.io/rule": "bench", "topofit.io/placement": JSON.stringify(shape.placement) },
    },
    spec: {
      schedulerName,
      terminationGracePeriodSeconds: 0,
      automountServiceAccountToken: false,
      containers: [
        {
          name: "main",
          image: "registry.k8s.io/pause:3.10",
          resources: { requests: { cpu: "100m", memory: "128Mi" }, ...(WORKLOAD === "gpu" ? { limits: { [GPU_RESOURCE_NAME]: String(shape.gpus) } } : {}) },
        },
      ],
    },
  };
}

// ---------------------------------------------------------------------------
// topofit: its view of the fleet, and its own request timings


/**
 * Waits until topofit knows every node and sees all of them idle: a pod
 * wanting every GPU of a node must pass its filter everywhere. (Many nodes
 * pass at once, so topofit reserves nothing for the probe.)
 */
async function waitForIdleFleet(topofit: TopofitProcess, caPem: string): Promise<void> {
  const nodes = nodeNames();
  let last = "";
  await waitFor(
    async () => {
      const problems: string[] = [];
      for (const size of [...new Set(nodes.map((n) => n.gpus))]) {
        const names = nodes.filter((n) => n.gpus === size).map((n) => n.name);
        const reply = (await httpsPostJson(`${topofit.url}/filter`, caPem, {
          Pod: {
            metadata: { name: "bench-idle-probe", namespace: "default", uid: "bench-idle-probe", annotations: { "topofit.io/placement": '{"gpuLinks":"Any","numa":"Any","strategy":"BinPack"}' } },
            spec: { containers: [{ name: "c", resources: { limits: { [GPU_RESOURCE_NAME]: String(size) } } }] },
          },
          NodeNames: names,
        })) as { NodeNames?: string[] | null; FailedNodes?: Record<string, string>; FailedAndUnresolvableNodes?: Record<string, string> };
        const passed = new Set(reply.NodeNames ?? []);
        for (const n of names) {
          if (!passed.has(n)) problems.push(`${n}: ${reply.FailedNodes?.[n] ?? reply.FailedAndUnresolvableNodes?.[n] ?? "?"}`);
        }
      }
      last = `${problems.length} nodes not idle in topofit's view, e.g. ${problems.slice(0, 3).join("; ")}`;
      return problems.length === 0;
    },
    { what: "topofit to see all 100 nodes idle", timeoutMs: 60_000, intervalMs: 200 },
  ).catch((err: Error) => {
    throw new Error(`${err.message}: ${last}`);
  });
}

/** Sum and count of topofit's own request durations per extender route. */
async function extenderTimings(topofit: TopofitProcess): Promise<Map<string, { sum: number; count: number }>> {
  const res = await topofit.get("/metrics");
  const out = new Map<string, { sum: number; count: number }>();
  for (const line of res.body.split("\n")) {
    const m = /^topofit_http_request_duration_seconds_(sum|count)\{([^}]*)\} ([0-9.e+-]+)$/.exec(line);
    if (!m) continue;
    const route = /route="([^"]+)"/.exec(m[2]!)?.[1];
    if (route !== "/filter" && route !== "/prioritize") continue;
    const entry = out.get(route) ?? { sum: 0, count: 0 };
    if (m[1] === "sum") entry.sum += Number(m[3]);
    else entry.count += Number(m[3]);
    out.set(route, entry);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Pod creation and the watch: plain HTTPS. The generated client costs about
// four times as much per create here, enough to make creation, not
// scheduling, the bottleneck on a small machine; and its watch stalled now
// and then under this load (events stopped arriving while the API server
// listed every pod bound), which a plain line-by-line reader has not done.

interface RawApi {
  create(pod: V1Pod): Promise<void>;
  /** Streams the pods of a batch (ADDED/MODIFIED/DELETED); resolves once the stream is open. */
  watch(batch: string, onPod: (pod: V1Pod) => void, onEnd: (err?: Error) => void): Promise<() => void>;
  close(): void;
}

async function rawApi(kc: KubeConfig, server: string): Promise<RawApi> {
  const tls: RequestOptions = {};
  await kc.applyToHTTPSOptions(tls);
  const credentials = { ca: tls.ca, cert: tls.cert, key: tls.key };
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY, ...credentials });
  const base = new URL(server);
  const create = (pod: V1Pod): Promise<void> => {
    const body = JSON.stringify({ apiVersion: "v1", kind: "Pod", ...pod });
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: base.hostname,
          port: base.port,
          path: `/api/v1/namespaces/${NS}/pods`,
          method: "POST",
          agent,
          timeout: 30_000,
          headers: { "content-type": "application/json", accept: "application/json", "content-length": Buffer.byteLength(body) },
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (c: string) => (text += c));
          res.on("end", () => (res.statusCode === 201 ? resolve() : reject(new Error(`creating pod ${pod.metadata?.name}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`))));
        },
      );
      req.on("timeout", () => req.destroy(new Error(`creating pod ${pod.metadata?.name}: no answer in 30 s`)));
      req.on("error", reject);
      req.end(body);
    });
  };
  const watch = (batch: string, onPod: (pod: V1Pod) => void, onEnd: (err?: Error) => void): Promise<() => void> =>
    new Promise((resolve, reject) => {
      const query = new URLSearchParams({ watch: "true", labelSelector: `bench.topofit.io/batch=${batch}` });
      let stopped = false;
      const req = request(
        { host: base.hostname, port: base.port, path: `/api/v1/namespaces/${NS}/pods?${query}`, method: "GET", agent: false, ...credentials },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            return reject(new Error(`watch: HTTP ${res.statusCode}`));
          }
          let buffered = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            buffered += chunk;
            let nl: number;
            while ((nl = buffered.indexOf("\n")) >= 0) {
              const line = buffered.slice(0, nl);
              buffered = buffered.slice(nl + 1);
              if (line.trim() === "") continue;
              let event: { type: string; object: V1Pod };
              try {
                event = JSON.parse(line) as typeof event;
              } catch {
                stopped = true;
                req.destroy();
                return onEnd(new Error(`watch: not JSON: ${line.slice(0, 200)}`));
              }
              if (event.type === "ERROR") {
                stopped = true;
                req.destroy();
                return onEnd(new Error(`watch: ${JSON.stringify(event.object).slice(0, 300)}`));
              }
              onPod(event.object);
            }
          });
          res.on("end", () => !stopped && onEnd(new Error("the API server closed the watch")));
          res.on("error", (err) => !stopped && onEnd(err));
          resolve(() => {
            stopped = true;
            req.destroy();
          });
        },
      );
      req.on("error", (err) => (stopped ? undefined : reject(err)));
      req.end();
    });
  return { create, watch, close: () => agent.destroy() };
}

// ---------------------------------------------------------------------------
// One batch

interface BatchResult {
  scheduler: string;
  createMs: number;
  totalMs: number;
  /** Per pod: from sending its create request until the watch saw it bound. */
  latencies: number[];
  /** Pods whose binding was seen by polling after the watch ended (their times are coarser). */
  polled: number;
  /** topofit's mean server time per call in this batch (b only). */
  filterMs?: number;
  prioritizeMs?: number;
  calls?: number;
}

async function runBatch(core: CoreV1Api, api: RawApi, batch: string, schedulerName: string, topofit: TopofitProcess): Promise<BatchResult> {
  const sentAt = new Map<string, number>();
  const boundAt = new Map<string, number>();
  let resolveAll: () => void = () => undefined;
  const allBound = new Promise<void>((resolve) => (resolveAll = resolve));
  const seen = (pod: V1Pod | undefined, at: number): void => {
    const name = pod?.metadata?.name;
    if (!name || !pod?.spec?.nodeName || boundAt.has(name)) return;
    boundAt.set(name, at);
    if (boundAt.size === PODS) resolveAll();
  };
  let watchError: Error | undefined;
  let events = 0;
  const stopWatch = await api.watch(
    batch,
    (pod) => {
      events += 1;
      seen(pod, performance.now());
    },
    (err) => {
      if (boundAt.size < PODS) watchError = err;
    },
  );
  // Should the watch end early: a list now and then (coarser timestamps, counted in the result).
  let polling = true;
  let polled = 0;
  const poll = (async () => {
    while (polling) {
      await sleep(1_000);
      if (!polling || !watchError) continue;
      const list = await core.listNamespacedPod({ namespace: NS, labelSelector: `bench.topofit.io/batch=${batch}` }).catch(() => undefined);
      for (const p of list?.items ?? []) {
        const before = boundAt.size;
        seen(p, performance.now());
        polled += boundAt.size - before;
      }
    }
  })();

  const before = schedulerName === TOPOFIT ? await extenderTimings(topofit) : undefined;
  const t0 = performance.now();
  let lastCreated = t0;
  try {
    await pool(PODS, CONCURRENCY, async (i) => {
      const pod = benchPod(batch, i, schedulerName);
      sentAt.set(pod.metadata!.name!, performance.now());
      await api.create(pod);
      lastCreated = Math.max(lastCreated, performance.now());
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`batch ${batch} (${schedulerName}): ${boundAt.size}/${PODS} pods bound after ${BATCH_TIMEOUT_MS / 1000} s`)), BATCH_TIMEOUT_MS);
    });
    try {
      await Promise.race([allBound, timeout]);
    } catch (err) {
      const list = await core.listNamespacedPod({ namespace: NS, labelSelector: `bench.topofit.io/batch=${batch}` }).catch(() => undefined);
      const listed = list ? `; the API lists ${list.items.filter((p) => p.spec?.nodeName).length}/${list.items.length} bound; the watch delivered ${events} events${watchError ? ` and ended: ${watchError.message}` : ""}` : "";
      throw new Error(`${(err as Error).message}${listed}${await schedulingHint(core, batch)}`);
    } finally {
      clearTimeout(timer);
    }
  } finally {
    polling = false;
    stopWatch();
    await poll;
  }
  const end = Math.max(...boundAt.values());
  const latencies = [...boundAt].map(([name, at]) => at - (sentAt.get(name) ?? t0));
  const result: BatchResult = { scheduler: schedulerName, createMs: lastCreated - t0, totalMs: end - t0, latencies, polled };
  if (before) {
    const after = await extenderTimings(topofit);
    const delta = (route: string) => {
      const a = after.get(route) ?? { sum: 0, count: 0 };
      const b = before.get(route) ?? { sum: 0, count: 0 };
      return { ms: a.count > b.count ? ((a.sum - b.sum) * 1000) / (a.count - b.count) : Number.NaN, count: a.count - b.count };
    };
    const f = delta("/filter");
    const p = delta("/prioritize");
    result.filterMs = f.ms;
    result.prioritizeMs = p.ms;
    result.calls = f.count + p.count;
  }
  return result;
}

/** A FailedScheduling message of one unbound pod, to say why a batch did not finish. */
async function schedulingHint(core: CoreV1Api, batch: string): Promise<string> {
  try {
    const pods = await core.listNamespacedPod({ namespace: NS, labelSelector: `bench.topofit.io/batch=${batch}` });
    const unbound = pods.items.find((p) => !p.spec?.nodeName);
    if (!unbound) return "";
    const events = await core.listNamespacedEvent({ namespace: NS, fieldSelector: `involvedObject.name=${unbound.metadata?.name}` });
    const message = events.items.find((e) => e.reason === "FailedScheduling")?.message;
    return `; e.g. ${unbound.metadata?.name}: ${message ?? "no FailedScheduling event yet"}`;
  } catch {
    return "";
  }
}

/** Deletes every bench pod at once and waits until the API, topofit and the schedulers' caches see the fleet idle. */
async function clearFleet(core: CoreV1Api, topofit: TopofitProcess, caPem: string): Promise<void> {
  await core.deleteCollectionNamespacedPod({ namespace: NS, gracePeriodSeconds: 0 });
  await waitFor(async () => (await core.listNamespacedPod({ namespace: NS, limit: 1 })).items.length === 0, {
    what: "the bench pods to be deleted",
    timeoutMs: 60_000,
    intervalMs: 200,
  });
  await waitForIdleFleet(topofit, caPem);
  // The schedulers' informers see the deletions as fast as topofit's; a moment more costs nothing.
  await sleep(500);
}

// ---------------------------------------------------------------------------

const fmt = (ms: number, digits = 0): string => (Number.isFinite(ms) ? ms.toFixed(digits) : "-");

function printPhase(results: readonly { round: number; tag: string; r: BatchResult }[]): number {
  const lines = ["round  scheduler             create ms  total ms  lag ms   pods/s  bound p50 ms  p99 ms  topofit /filter /prioritize mean ms (calls)"];
  for (const { round, tag, r } of results) {
    const s = SCHEDULERS.find((x) => x.tag === tag)!;
    const extender = r.filterMs !== undefined ? `${fmt(r.filterMs, 2)} / ${fmt(r.prioritizeMs ?? Number.NaN, 2)} (${r.calls})` : "";
    const polled = r.polled > 0 ? `  [watch ended early: ${r.polled} pods timed by polling]` : "";
    lines.push(
      `${String(round).padStart(5)}  ${s.label.padEnd(20)}  ${fmt(r.createMs).padStart(9)}  ${fmt(r.totalMs).padStart(8)}  ${fmt(r.totalMs - r.createMs).padStart(6)}  ${fmt((PODS * 1000) / r.totalMs, 1).padStart(7)}  ${fmt(pct(r.latencies, 50)).padStart(12)}  ${fmt(pct(r.latencies, 99)).padStart(6)}  ${extender}${polled}`,
    );
  }
  const of = (tag: string, f: (r: BatchResult) => number) => median(results.filter((x) => x.tag === tag).map((x) => f(x.r)));
  const a = of("a", (r) => r.totalMs);
  const b = of("b", (r) => r.totalMs);
  const perRound = results
    .filter((x) => x.tag === "b")
    .map((x) => (x.r.totalMs / results.find((y) => y.tag === "a" && y.round === x.round)!.r.totalMs).toFixed(2));
  lines.push(
    "",
    `median of ${ROUNDS}: a ${fmt(a)} ms = ${fmt((PODS * 1000) / a, 1)} pods/s (creation ${fmt(of("a", (r) => r.createMs))} ms); ` +
      `b ${fmt(b)} ms = ${fmt((PODS * 1000) / b, 1)} pods/s (creation ${fmt(of("b", (r) => r.createMs))} ms)`,
    `ratio b/a (total time): ${(b / a).toFixed(2)}, i.e. extender overhead ${fmt(((b - a) / a) * 100)}% (goal: under 20%); per round: ${perRound.join(", ")}`,
    "",
  );
  process.stdout.write(`${lines.join("\n")}\n`);
  return b / a;
}

async function main(): Promise<void> {
  process.stdout.write(
    `bench:scheduling: ${PODS} ${WORKLOAD === "gpu" ? "GPU pods (1, 2, 1, 4 GPUs in turn)" : "pods without GPUs (BENCH_WORKLOAD=cpu)"} on ${nodeNames().length} GPU nodes ` +
      `(${FLEET.map((k) => `${k.count}× ${k.gpus}-GPU ${k.prefix.toUpperCase()}`).join(", ")}), ${ROUNDS} rounds of a then b per phase, ` +
      `creation ${CONCURRENCY} at a time; Node ${process.version}\n`,
  );

  // First start in this run (finds the binaries, cold page cache), then the one measured against.
  say("starting a control plane once to time a cold start");
  const first = await startControlPlane({ schedulers: [{ name: PLAIN }] });
  const coldMs = first.startupMs;
  await first.stop();

  const topofitPort = await getFreePort();
  say("starting the control plane with both schedulers");
  let cp: ControlPlane | undefined;
  let topofit: TopofitProcess | undefined;
  try {
    cp = await startControlPlane({
      schedulers: [
        { name: PLAIN },
        {
          name: TOPOFIT,
          extenders: [
            {
              urlPrefix: `https://127.0.0.1:${topofitPort}`,
              weight: 5,
              nodeCacheCapable: true,
              httpTimeout: "3s",
            },
          ],
        },
      ],
    });
    process.stdout.write(
      `Kubernetes ${cp.binaries.version}; control plane start (cp.startupMs): cold ${fmt(coldMs / 1000, 1)} s (first start in this run), warm ${fmt(cp.startupMs / 1000, 1)} s\n\n`,
    );
    const kc = cp.kubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: NS } } });

    say(`creating ${nodeNames().length} GPU nodes`);
    const kinds = FLEET.flatMap((k) => Array.from({ length: k.count }, (_, i) => ({ ...k, name: `${k.prefix}-${String(i).padStart(3, "0")}` })));
    await pool(kinds.length, 8, async (i) => {
      const k = kinds[i]!;
      await createGpuNode(kc, {
        name: k.name,
        gpus: k.gpus,
        cpu: "96",
        memory: "1Ti",
        labels: { "nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": k.product, "nvidia.com/gpu.count": String(k.gpus), "nvidia.com/gpu.family": k.family },
      });
    });

    say("starting topofit");
    topofit = await startTopofit(cp, { port: topofitPort, args: ["--log-level", TOPOFIT_LOG_LEVEL] });
    const tf = topofit;
    await waitForIdleFleet(tf, cp.caPem);
    await waitFor(async () => (await core.readNamespacedServiceAccount({ namespace: NS, name: "default" })).metadata?.name, {
      what: `the default ServiceAccount in ${NS}`,
      timeoutMs: 30_000,
    });

    const api = await rawApi(kc, cp.server);
    const ratios: string[] = [];
    try {
      for (const phase of PHASES) {
        if (phase.qps !== undefined) {
          say(`restarting both schedulers with client qps ${phase.qps}, burst ${phase.burst}`);
          for (const s of SCHEDULERS) await cp.restartScheduler(s.name, { qps: phase.qps, burst: phase.burst });
        }
        process.stdout.write(`${phase.title}\n`);
        // Warm-up, not counted: connections, the schedulers' caches, the JIT on both sides.
        say("warm-up batches");
        for (const s of SCHEDULERS) {
          await runBatch(core, api, `warm${phase.key}-${s.tag}`, s.name, tf);
          await clearFleet(core, tf, cp.caPem);
        }
        const results: { round: number; tag: string; r: BatchResult }[] = [];
        for (let round = 1; round <= ROUNDS; round++) {
          for (const s of SCHEDULERS) {
            say(`${phase.key} round ${round}: ${s.name}`);
            const r = await runBatch(core, api, `${phase.key}${s.tag}${round}`, s.name, tf);
            results.push({ round, tag: s.tag, r });
            await clearFleet(core, tf, cp.caPem);
          }
        }
        ratios.push(`${((printPhase(results) - 1) * 100).toFixed(0)}% ${phase.short}`);
      }
      process.stdout.write(
        `Extender overhead (median b/a - 1): ${ratios.join(", ")}. lag = last pod bound - last pod created: how far scheduling trails creation.\n`,
      );
    } finally {
      api.close();
    }
  } finally {
    await topofit?.process.stop(3_000);
    await cp?.stop();
  }
}

await main();
process.exit(0);
