// `npm run demo`: topofit end to end on this machine (about 15 s to the table
// once the Kubernetes binaries are cached).
//
//   node --import tsx hack/demo.ts [--exit] [--keep-data-dir] [--verbose]
//
// Starts a local control plane (no kubelets: pods get bound, never run) with
// two schedulers, default-scheduler and topofit-scheduler (topofit as its
// extender, weight 20, as shipped), then topofit itself (webhook + extender) fed by a fake
// dcgm-exporter that reports XID 79 on one GPU of one node. It installs the
// README's example policy in topofit-system/topofit-policy (with the inference
// rule also routed to topofit-scheduler), builds a small fleet with some GPUs
// already in use, submits a few representative workloads and prints, per pod,
// the rule the webhook applied, what it injected, where the pod went and why.
// Then it prints the KUBECONFIG to poke around with and runs until Ctrl-C
// (with --exit: stops right after the table).
import { readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { request } from "node:https";
import path from "node:path";
import { parseArgs } from "node:util";
import {
  AdmissionregistrationV1Api,
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  NodeV1Api,
  SchedulingV1Api,
  type KubeConfig,
  type V1Pod,
  type V1PodSpec,
  type V1Taint,
} from "@kubernetes/client-node";
import { parseDocument } from "yaml";
import { EMBEDDED_POLICY_YAML } from "../src/policy/embedded.js";
import { startFakeDcgmExporter, type FakeDcgmExporter } from "../test/builders/fake-dcgm-exporter.js";
import { getFreePort, startControlPlane, type ControlPlane } from "./cluster/control-plane.js";
import { createGpuNode } from "./cluster/nodes.js";
import { Watchdog } from "./cluster/processes.js";
import { DEFAULT_SCHEDULER_NAME } from "./cluster/scheduler-config.js";
import { startTopofit, type TopofitProcess, httpsPostJson } from "./cluster/topofit.js";
import { waitFor } from "./cluster/wait.js";
import { webhookConfiguration } from "./cluster/webhook-config.js";

const { values: flags } = parseArgs({
  options: {
    exit: { type: "boolean", default: false },
    "keep-data-dir": { type: "boolean", default: false },
    verbose: { type: "boolean", default: false },
  },
});

const t0 = Date.now();
const say = (message: string): void => void process.stderr.write(`[demo ${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${message}\n`);

const TOPOFIT_SCHEDULER = "topofit-scheduler";
const POLICY_NS = "topofit-system";
const POLICY_CM = "topofit-policy";
const GPU = "nvidia.com/gpu";
const PAUSE = "registry.k8s.io/pause:3.10";
/** Whole set-up, from the first step to the table. */
const SETUP_DEADLINE_MS = 240_000;

// ---------------------------------------------------------------------------
// Shutdown: our own SIGINT/SIGTERM handlers own it (the control plane's module
// steps aside when another listener exists); a second signal exits at once,
// and the exit handler plus the watchdogs kill whatever is left.

class Interrupted extends Error {}
let interrupted = false;
let resolveStop: () => void = () => undefined;
const stopRequested = new Promise<void>((resolve) => (resolveStop = resolve));
const onSignal = (signal: NodeJS.Signals): void => {
  if (interrupted) {
    say(`${signal} again: exiting now`);
    process.exit(130);
  }
  interrupted = true;
  say(`${signal}: stopping`);
  resolveStop();
};
process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);
process.on("SIGHUP", onSignal);

/** Resolves with `p`, or rejects as soon as Ctrl-C is pressed. */
function interruptible<T>(p: Promise<T>): Promise<T> {
  return Promise.race([p, stopRequested.then((): never => { throw new Interrupted("interrupted"); })]);
}

/** `p`, or a clear error after `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms / 1000} s: ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Things to undo, last first. */
const teardown: { what: string; run: () => Promise<unknown> }[] = [];

// ---------------------------------------------------------------------------
// The fleet

interface DemoNode {
  name: string;
  gpus: number;
  labels: Record<string, string>;
  taints: V1Taint[];
  /** Sizes of pods bound straight to the node: GPUs already in use. */
  busy: number[];
  /** Last XID per GPU index, reported by the fake dcgm-exporter (fatal ones only: each makes its GPU unhealthy). */
  xid?: Record<number, number>;
  note: string;
}

/** GPUs neither busy nor unhealthy. */
const freeGpus = (n: DemoNode): number => n.gpus - n.busy.reduce((a, b) => a + b, 0) - Object.keys(n.xid ?? {}).length;

const GPU_TAINT: V1Taint = { key: GPU, value: "present", effect: "NoSchedule" };
const SPOT_TAINT: V1Taint = { key: "karpenter.sh/capacity-type", value: "spot", effect: "NoSchedule" };
const gfd = (product: string, count: number, family: string): Record<string, string> => ({
  "nvidia.com/gpu.present": "true",
  "nvidia.com/gpu.product": product,
  "nvidia.com/gpu.count": String(count),
  "nvidia.com/gpu.family": family,
});
const H100 = (capacity: string) => ({ ...gfd("NVIDIA-H100-80GB-HBM3", 8, "hopper"), "karpenter.sh/capacity-type": capacity });
const L40S = gfd("NVIDIA-L40S", 4, "ada-lovelace");
const A100 = gfd("NVIDIA-A100-PCIE-80GB", 4, "ampere");

const FLEET: DemoNode[] = [
  { name: "h100-a", gpus: 8, labels: H100("on-demand"), taints: [GPU_TAINT], busy: [2, 1], note: "HGX H100, NVSwitch" },
  { name: "h100-spot", gpus: 8, labels: H100("spot"), taints: [GPU_TAINT, SPOT_TAINT], busy: [1], note: "HGX H100, spot (tainted)" },
  { name: "h100-xid", gpus: 8, labels: H100("on-demand"), taints: [GPU_TAINT], busy: [], xid: { 3: 79 }, note: "HGX H100, GPU 3 XID 79 in DCGM" },
  { name: "l40s-a", gpus: 4, labels: L40S, taints: [GPU_TAINT], busy: [1, 1], note: "L40S PCIe, 2 sockets" },
  { name: "l40s-b", gpus: 4, labels: L40S, taints: [GPU_TAINT], busy: [1], note: "L40S PCIe, 2 sockets" },
  { name: "a100-pcie", gpus: 4, labels: A100, taints: [GPU_TAINT], busy: [1], note: "A100 PCIe, NVLink bridges 0-1, 2-3" },
  { name: "cpu-1", gpus: 0, labels: {}, taints: [], busy: [], note: "no GPUs" },
];

/** A dcgm-exporter scrape of an `n`-GPU node; `xid` maps GPU index to its last XID. */
function dcgmScrape(node: string, n: number, product: string, xid: Record<number, number>): string {
  const gpuLabels = (g: number) =>
    `gpu="${g}",UUID="GPU-${node}-${g}",pci_bus_id="00000000:${(0x18 + g * 16).toString(16).toUpperCase()}:00.0",device="nvidia${g}",modelName="${product}",Hostname="${node}"`;
  const lines = ["# HELP DCGM_FI_DEV_XID_ERRORS Value of the last XID error encountered.", "# TYPE DCGM_FI_DEV_XID_ERRORS gauge"];
  for (let g = 0; g < n; g++) lines.push(`DCGM_FI_DEV_XID_ERRORS{${gpuLabels(g)}} ${xid[g] ?? 0}`);
  lines.push("# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).", "# TYPE DCGM_FI_DEV_GPU_UTIL gauge");
  for (let g = 0; g < n; g++) lines.push(`DCGM_FI_DEV_GPU_UTIL{${gpuLabels(g)}} 0`);
  return `${lines.join("\n")}\n`;
}

/** The README's example policy, with the inference rule also sent to topofit-scheduler. */
function demoPolicy(): string {
  const doc = parseDocument(EMBEDDED_POLICY_YAML);
  const rules = doc.getIn(["spec", "rules"], true) as { items: { get(key: string): unknown }[] };
  const index = rules.items.findIndex((r) => r.get("name") === "inference");
  if (index < 0) throw new Error("the embedded example policy has no rule named inference");
  doc.setIn(["spec", "rules", index, "inject", "schedulerName"], TOPOFIT_SCHEDULER);
  doc.setIn(["metadata", "name"], "demo");
  return doc.toString();
}

function container(gpus: number, cpu = "1"): V1PodSpec["containers"][number] {
  const limits: Record<string, string> = gpus > 0 ? { [GPU]: String(gpus) } : {};
  return { name: "main", image: PAUSE, resources: { requests: { cpu }, limits } };
}

// ---------------------------------------------------------------------------
// What to print

interface Row {
  pod: string;
  rule: string;
  injected: string;
  node: string;
  why: string;
}

const DEFAULT_TOLERATIONS = new Set(["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"]);

/** Everything in the stored pod that the demo did not set itself: the webhook's injections. */
function injectedSummary(pod: V1Pod): string {
  const spec = pod.spec ?? ({ containers: [] } as V1PodSpec);
  const out: string[] = [];
  const tols = (spec.tolerations ?? []).filter((t) => !DEFAULT_TOLERATIONS.has(t.key ?? ""));
  if (tols.length > 0) out.push(`tol:${tols.map((t) => (t.key === GPU ? "gpu" : t.key === SPOT_TAINT.key ? "spot" : t.key)).join("+")}`);
  for (const [k, v] of Object.entries(spec.nodeSelector ?? {})) out.push(`sel:${k === "nvidia.com/gpu.product" ? v.replace(/^NVIDIA-/, "") : `${k}=${v}`}`);
  const preferred = spec.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
  if (preferred.length > 0) {
    const keys = preferred.flatMap((p) => p.preference.matchExpressions ?? []).map((e) => e.key.replace(/^nvidia\.com\//, ""));
    out.push(`pref:${[...new Set(keys)].join("+")}`);
  }
  if (spec.priorityClassName) out.push(`prio:${spec.priorityClassName}`);
  if (spec.schedulerName && spec.schedulerName !== DEFAULT_SCHEDULER_NAME) out.push(`sched:${spec.schedulerName.replace(/-scheduler$/, "")}`);
  if (spec.runtimeClassName) out.push(`rc:${spec.runtimeClassName}`);
  return out.length > 0 ? out.join(" ") : "-";
}

interface LogLine {
  msg?: string;
  pod?: string;
  node?: string;
  gpus?: number[] | number;
  why?: string[];
  passed?: number;
  failed?: number;
  failedSample?: Record<string, string>;
}

function readDecisions(logPath: string): LogLine[] {
  const out: LogLine[] = [];
  for (const line of readFileSync(logPath, "utf8").split("\n")) {
    if (!line.includes('"msg":"prioritize"') && !line.includes('"msg":"filter"')) continue;
    try {
      out.push(JSON.parse(line) as LogLine);
    } catch {
      // a line being written right now
    }
  }
  return out;
}

/** The parts of topofit's reasoning worth a table cell: the GPU set, its bandwidth, what the strategy saw. */
function shortWhy(why: readonly string[]): string {
  const parts: string[] = [];
  for (const w of why) {
    const set = /^GPUs (\[[\d,]*\]): bottleneck ([\d.]+) GB\/s/.exec(w);
    const strategy = /^(\d+) GPUs? left free.*\((BinPack|Spread)/.exec(w);
    if (set) parts.push(Number(set[2]) > 0 ? `GPUs ${set[1]} at ${set[2]} GB/s` : `GPU ${set[1]}`);
    else if (strategy) parts.push(`${strategy[1]} GPU${strategy[1] === "1" ? "" : "s"} left free (${strategy[2]})`);
    else if (/^(NVLinkPreferred|NUMA Preferred) not met/.test(w)) parts.push(w);
    else if (/^locality: /.test(w) && !w.includes("no group members")) parts.push(w.replace(/^locality: /, ""));
  }
  return parts.join(", ");
}

/** Per pod, the last scheduling attempt's scores: topofit's 0..10 and kube-scheduler's total, by node. */
type AttemptScores = Map<string, { extender?: number; total?: number }>;

/**
 * Reads the scores from topofit-scheduler's log (it runs with
 * --vmodule=schedule_one=10, which logs every extender score and every node's
 * final score per attempt).
 */
function readSchedulerScores(logPath: string): Map<string, AttemptScores> {
  const out = new Map<string, AttemptScores>();
  for (const line of readFileSync(logPath, "utf8").split("\n")) {
    const attempt = /"Attempting to schedule pod" pod="([^"]+)"/.exec(line);
    if (attempt) {
      out.set(attempt[1]!, new Map());
      continue;
    }
    const ext = /"Extender scored node for pod" pod="([^"]+)" extender="[^"]*" node="([^"]+)" score=(\d+)/.exec(line);
    const total = /"Calculated node's final score for pod" pod="([^"]+)" node="([^"]+)" score=(\d+)/.exec(line);
    const m = ext ?? total;
    if (!m) continue;
    const scores = out.get(m[1]!) ?? new Map();
    out.set(m[1]!, scores);
    const entry = scores.get(m[2]!) ?? {};
    if (ext) entry.extender = Number(m[3]);
    else entry.total = Number(m[3]);
    scores.set(m[2]!, entry);
  }
  return out;
}

/** "h100-spot 10/961, h100-xid 10/961, h100-a 9/911": topofit's score/kube-scheduler's total, best total first. */
function scoresText(scores: AttemptScores | undefined): string {
  if (!scores || scores.size === 0) return "";
  return [...scores]
    .sort((x, y) => (y[1].total ?? 0) - (x[1].total ?? 0) || (y[1].extender ?? 0) - (x[1].extender ?? 0))
    .map(([node, s]) => `${node} ${s.extender ?? "-"}/${s.total ?? "-"}`)
    .join(", ");
}

function explainBound(pod: V1Pod, decisions: readonly LogLine[], scheduler: ReadonlyMap<string, AttemptScores>): string {
  const key = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
  const node = pod.spec?.nodeName ?? "";
  if (pod.spec?.schedulerName !== TOPOFIT_SCHEDULER) {
    const gpus = (pod.spec?.containers ?? []).some((c) => c.resources?.limits?.[GPU] !== undefined);
    return gpus ? `${pod.spec?.schedulerName}: not routed to topofit` : `${pod.spec?.schedulerName}: no GPUs, so no webhook and no extender; the GPU nodes are tainted`;
  }
  const mine = decisions.filter((d) => d.pod === key);
  const top = mine.filter((d) => d.msg === "prioritize").at(-1);
  const scores = scheduler.get(key);
  const table = scoresText(scores);
  const suffix = table ? ` | topofit/total: ${table}` : "";
  if (top) {
    const why = shortWhy(top.why ?? []) || (top.why ?? []).join("; ");
    if (top.node === node) return `topofit: ${why}${suffix}`;
    const mineScore = scores?.get(node)?.extender;
    const topScore = scores?.get(top.node ?? "")?.extender;
    if (mineScore !== undefined && mineScore === topScore) return `topofit scored it ${mineScore}, as its pick ${top.node} (${why}); the totals decided${suffix}`;
    return `in-tree scores outweighed topofit's pick ${top.node} (${why})${suffix}`;
  }
  // With one feasible node kube-scheduler skips prioritize; the filter line says why the others lost.
  const filter = mine.filter((d) => d.msg === "filter").at(-1);
  if (filter) {
    const others = Object.entries(filter.failedSample ?? {})
      .map(([n, r]) => `${n}: ${r}`)
      .join("; ");
    return `the only node topofit's filter passed${others ? ` (${others})` : ""}`;
  }
  return "no topofit decision logged for this pod";
}

/** One line per pod, and its reason on the line below. */
function printTable(rows: readonly Row[]): void {
  const cols = ["pod", "rule", "node", "injected"] as const;
  const head = { pod: "POD", rule: "RULE", node: "NODE", injected: "INJECTED BY THE WEBHOOK" };
  const width = (c: (typeof cols)[number]) => Math.max(...[head, ...rows].map((r) => r[c].length));
  const line = (r: Pick<Row, (typeof cols)[number]>) =>
    cols
      .map((c) => r[c].padEnd(width(c)))
      .join("  ")
      .trimEnd();
  const out = [line(head)];
  for (const r of rows) out.push(line(r), `    why: ${r.why}`);
  process.stdout.write(`${out.join("\n")}\n`);
}

// ---------------------------------------------------------------------------


/**
 * Waits until topofit's informers and DCGM scrape have caught up with the
 * fleet: asks /filter, for each GPU node, whether a pod wanting every GPU of
 * the node would fit, and expects each answer to name the node's free and
 * healthy GPUs as the demo set them up. Every node has a busy or unhealthy
 * GPU, so no answer passes and topofit reserves nothing for the probe.
 */
async function waitForTopofitView(topofit: TopofitProcess, caPem: string): Promise<void> {
  const gpuNodes = FLEET.filter((n) => n.gpus > 0);
  for (const n of gpuNodes) {
    if (freeGpus(n) >= n.gpus) throw new Error(`demo fleet: ${n.name} needs a busy or unhealthy GPU (the readiness probe relies on it)`);
  }
  let last = "";
  await waitFor(
    async () => {
      const pending: string[] = [];
      for (const size of [...new Set(gpuNodes.map((n) => n.gpus))]) {
        const nodes = gpuNodes.filter((n) => n.gpus === size);
        const reply = (await httpsPostJson(`${topofit.url}/filter`, caPem, {
          Pod: {
            metadata: { name: "demo-readiness-probe", namespace: "default", uid: "demo-readiness-probe", annotations: { "topofit.io/placement": '{"gpuLinks":"Any","numa":"Any","strategy":"BinPack"}' } },
            spec: { containers: [{ name: "c", resources: { limits: { [GPU]: String(size) } } }] },
          },
          NodeNames: nodes.map((n) => n.name),
        })) as { FailedNodes?: Record<string, string>; FailedAndUnresolvableNodes?: Record<string, string> };
        for (const n of nodes) {
          const reason = reply.FailedNodes?.[n.name] ?? reply.FailedAndUnresolvableNodes?.[n.name] ?? "(passed)";
          if (!reason.includes(`; ${freeGpus(n)} free and healthy`)) pending.push(`${n.name}: ${reason}`);
        }
      }
      last = pending.join("; ");
      return pending.length === 0;
    },
    { what: "topofit to see every node, the busy GPUs and the DCGM health data", timeoutMs: 30_000, intervalMs: 250 },
  ).catch((err: Error) => {
    throw new Error(`${err.message}; still differing: ${last}`);
  });
}

async function main(): Promise<void> {
  // Pick topofit's port first, so its scheduler starts with the control plane.
  const topofitPort = await getFreePort();
  const topofitUrl = `https://127.0.0.1:${topofitPort}`;
  say("starting etcd, kube-apiserver, kube-controller-manager, default-scheduler and topofit-scheduler");
  const cpStarting = startControlPlane({
    keepDataDir: flags["keep-data-dir"],
    schedulers: [
      { name: DEFAULT_SCHEDULER_NAME },
      // schedule_one=10: every node's extender score and total per attempt, for the table.
      { name: TOPOFIT_SCHEDULER, extenders: [{ urlPrefix: topofitUrl, weight: 20, httpTimeout: "3s" }], extraArgs: ["--vmodule=schedule_one=10"] },
    ],
    readyTimeoutMs: 60_000,
    ...(flags.verbose ? { log: say } : {}),
  });
  // Stop it even when Ctrl-C came while it was starting.
  teardown.push({ what: "control plane", run: async () => (await cpStarting.catch(() => undefined))?.stop() });
  const cp: ControlPlane = await interruptible(cpStarting);
  say(`control plane up in ${(cp.startupMs / 1000).toFixed(1)} s (Kubernetes ${cp.binaries.version}, ${cp.server})`);
  const kc: KubeConfig = cp.kubeConfig();
  const core = kc.makeApiClient(CoreV1Api);

  const exporter: FakeDcgmExporter = await startFakeDcgmExporter();
  teardown.push({ what: "fake dcgm-exporter", run: () => exporter.close() });
  const dcgmNodes = FLEET.filter((n) => n.xid !== undefined);
  for (const n of dcgmNodes) exporter.set(n.name, dcgmScrape(n.name, n.gpus, "NVIDIA H100 80GB HBM3", n.xid ?? {}));

  // Cluster objects the policy names, the policy itself, and the namespaces.
  say("installing the policy, PriorityClasses, RuntimeClass and namespaces");
  const scheduling = kc.makeApiClient(SchedulingV1Api);
  await interruptible(
    Promise.all([
      ...[POLICY_NS, "ml-train", "ml-serve", "prod"].map((name) => core.createNamespace({ body: { metadata: { name } } })),
      // Neither class preempts: without kubelets a preempted pod would stay
      // Terminating for good, and the demo's picture would keep changing.
      scheduling.createPriorityClass({ body: { metadata: { name: "gpu-training" }, value: 100_000, preemptionPolicy: "Never", description: "training (topofit policy)" } }),
      scheduling.createPriorityClass({ body: { metadata: { name: "gpu-inference" }, value: 50_000, preemptionPolicy: "Never", description: "inference (topofit policy)" } }),
      kc.makeApiClient(NodeV1Api).createRuntimeClass({ body: { metadata: { name: "nvidia" }, handler: "nvidia" } }),
    ]),
  );
  await interruptible(core.createNamespacedConfigMap({ namespace: POLICY_NS, body: { metadata: { name: POLICY_CM }, data: { "policy.yaml": demoPolicy() } } }));

  say("creating the fleet");
  await interruptible(
    Promise.all(
      FLEET.map((n) =>
        createGpuNode(kc, {
          name: n.name,
          gpus: n.gpus,
          labels: n.labels,
          taints: n.taints,
          ...(n.gpus === 0 ? { cpu: "16", memory: "64Gi" } : { cpu: "96", memory: "1Ti" }),
        }),
      ),
    ),
  );

  say("starting topofit (webhook + extender)");
  const topofitStarting = startTopofit(cp, {
    port: topofitPort,
    args: ["--dcgm-endpoints", dcgmNodes.map((n) => `${n.name}=${exporter.url(n.name)}`).join(","), "--dcgm-interval", "1s", "--dcgm-stale-after", "30s"],
  });
  // topofit is not one of the control plane's processes: a watchdog of our own
  // stops it should this process die without running the teardown.
  const watchdogPids = path.join(cp.dataDir, "demo-pids");
  const watchdog = new Watchdog(watchdogPids, cp.dataDir, false);
  teardown.push({ what: "topofit watchdog", run: async () => (await watchdog.close(), await rm(watchdogPids, { force: true })) });
  // SIGTERM, then SIGKILL after 3 s: `topofit serve` connected to a cluster
  // does not exit on SIGTERM yet (its watches restart after being stopped).
  teardown.push({ what: "topofit", run: async () => (await topofitStarting.catch(() => undefined))?.process.stop(3_000) });
  const topofit = await interruptible(topofitStarting);
  watchdog.guard(topofit.process.pid);

  await interruptible(
    kc.makeApiClient(AdmissionregistrationV1Api).createMutatingWebhookConfiguration({ body: webhookConfiguration({ url: topofit.url, caPem: cp.caPem }) }),
  );

  // GPUs already in use: pods bound straight to their nodes.
  say("binding the pods that keep some GPUs busy");
  await interruptible(
    Promise.all(
      FLEET.flatMap((n) =>
        n.busy.map((gpus, i) =>
          core.createNamespacedPod({
            namespace: "prod",
            body: {
              metadata: { name: `busy-${n.name}-${i}`, labels: { app: "already-running" } },
              spec: { nodeName: n.name, containers: [container(gpus)] },
            },
          }),
        ),
      ),
    ),
  );

  say("waiting for the webhook to be called and for topofit to see the fleet");
  await interruptible(
    waitFor(
      async () => {
        const probe = await core.createNamespacedPod({
          namespace: "ml-serve",
          dryRun: "All",
          body: { metadata: { name: "webhook-probe", labels: { "topofit.io/workload": "inference" } }, spec: { containers: [container(1)] } },
        });
        return probe.spec?.schedulerName === TOPOFIT_SCHEDULER;
      },
      { what: "the API server to call topofit's webhook with the demo policy in force", timeoutMs: 30_000, intervalMs: 250 },
    ),
  );
  await interruptible(waitForTopofitView(topofit, cp.caPem));

  // The workloads: training first (the Job, and a pod no node can take), then
  // serving and a CPU pod. In this order the unplaceable pod's first attempt
  // still finds h100-xid with all 8 GPUs allocatable, so kube-scheduler asks
  // topofit about it and the FailedScheduling event quotes topofit's reason.
  say("submitting the training Job and an 8-GPU pod no node can take");
  const training = { "topofit.io/workload": "training" };
  const inference = { app: "llm-serve", "topofit.io/workload": "inference" };
  const unplaceable = { namespace: "ml-train", name: "pretrain-8gpu" };
  await interruptible(
    Promise.all([
      kc.makeApiClient(BatchV1Api).createNamespacedJob({
        namespace: "ml-train",
        body: {
          metadata: { name: "llama-tp4" },
          spec: { backoffLimit: 0, template: { metadata: { labels: training }, spec: { restartPolicy: "Never", containers: [container(4, "16")] } } },
        },
      }),
      // 8 NVLink-connected GPUs on one node: no H100 has 8 free and healthy.
      core.createNamespacedPod({ namespace: unplaceable.namespace, body: { metadata: { name: unplaceable.name, labels: training }, spec: { containers: [container(8, "32")] } } }),
    ]),
  );
  const waitBound = (what: string, count: number, list: () => Promise<V1Pod[]>): Promise<V1Pod[]> =>
    interruptible(
      waitFor(
        async () => {
          const pods = await list();
          return pods.length === count && pods.every((p) => p.spec?.nodeName) ? pods : undefined;
        },
        { what: `${what} to be bound (see ${cp.logPath(`kube-scheduler-${TOPOFIT_SCHEDULER}`)} and ${topofit.logPath})`, timeoutMs: 30_000 },
      ),
    );
  const [trainingPods, failed] = await Promise.all([
    waitBound("the training Job's pod", 1, async () => (await core.listNamespacedPod({ namespace: "ml-train", labelSelector: "batch.kubernetes.io/job-name=llama-tp4" })).items),
    interruptible(
      waitFor(
        async () => {
          const events = await core.listNamespacedEvent({ namespace: unplaceable.namespace, fieldSelector: `involvedObject.name=${unplaceable.name}` });
          return events.items.find((e) => e.reason === "FailedScheduling");
        },
        { what: `a FailedScheduling event for ${unplaceable.namespace}/${unplaceable.name}`, timeoutMs: 30_000 },
      ),
    ),
  ]);

  say("submitting 3 inference replicas and a CPU pod");
  await interruptible(
    Promise.all([
      kc.makeApiClient(AppsV1Api).createNamespacedDeployment({
        namespace: "ml-serve",
        body: {
          metadata: { name: "llm-serve" },
          spec: { replicas: 3, selector: { matchLabels: { app: "llm-serve" } }, template: { metadata: { labels: inference }, spec: { containers: [container(1, "4")] } } },
        },
      }),
      core.createNamespacedPod({ namespace: "default", body: { metadata: { name: "cpu-etl" }, spec: { containers: [container(0, "2")] } } }),
    ]),
  );
  const [servingPods, cpuPods] = await Promise.all([
    waitBound("the 3 inference replicas", 3, async () => (await core.listNamespacedPod({ namespace: "ml-serve", labelSelector: "app=llm-serve" })).items),
    waitBound("the CPU pod", 1, async () => [await core.readNamespacedPod({ namespace: "default", name: "cpu-etl" })]),
  ]);
  // Replicas in the order topofit saw them, so the table reads as the scheduler went.
  const seenOrder = readDecisions(topofit.logPath).map((d) => d.pod);
  const decided = (p: V1Pod) => {
    const i = seenOrder.indexOf(`${p.metadata?.namespace}/${p.metadata?.name}`);
    return i < 0 ? Number.MAX_SAFE_INTEGER : i;
  };
  const bound = [trainingPods, [...servingPods].sort((x, y) => decided(x) - decided(y)), cpuPods];
  const pending = await core.readNamespacedPod(unplaceable);

  const decisions = readDecisions(topofit.logPath);
  const schedulerScores = readSchedulerScores(cp.logPath(`kube-scheduler-${TOPOFIT_SCHEDULER}`));
  const rows: Row[] = [];
  for (const pod of bound.flat()) {
    rows.push({
      pod: `${pod.metadata?.namespace}/${pod.metadata?.name}`,
      rule: pod.metadata?.annotations?.["topofit.io/rule"] ?? "-",
      injected: injectedSummary(pod),
      node: pod.spec?.nodeName ?? "Pending",
      why: explainBound(pod, decisions, schedulerScores),
    });
  }
  rows.push({
    pod: `${unplaceable.namespace}/${unplaceable.name}`,
    rule: pending.metadata?.annotations?.["topofit.io/rule"] ?? "-",
    injected: injectedSummary(pending),
    node: pending.spec?.nodeName ?? "Pending",
    why: `FailedScheduling: ${(failed.message ?? "").trim().replace(/ preemption: not eligible due to preemptionPolicy=Never\.$/, "")}`,
  });

  say(`ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  process.stdout.write("\nFleet (GFD labels select topofit's built-in topology profiles; every GPU node is tainted nvidia.com/gpu):\n");
  for (const n of FLEET) {
    const busy = n.busy.reduce((a, b) => a + b, 0);
    process.stdout.write(`  ${n.name.padEnd(10)} ${n.gpus > 0 ? `${n.gpus} GPUs, ${busy} busy` : "CPU only"}`.padEnd(30) + `  ${n.note}\n`);
  }
  process.stdout.write("\n");
  printTable(rows);
  process.stdout.write(
    [
      "",
      `export KUBECONFIG=${cp.kubeconfigPath}`,
      `alias kubectl=${cp.binaries.kubectl}`,
      "",
      `topofit's log (decisions: "msg":"prioritize"): ${topofit.logPath}`,
      `scheduler logs: ${cp.logPath(`kube-scheduler-${TOPOFIT_SCHEDULER}`)}, ${cp.logPath(`kube-scheduler-${DEFAULT_SCHEDULER_NAME}`)}`,
      "Try: kubectl describe pod -n ml-train pretrain-8gpu; kubectl get pods -A -o wide",
      "",
    ].join("\n"),
  );
}

// ---------------------------------------------------------------------------

let exitCode = 0;
let shown = false;
try {
  await within(main(), SETUP_DEADLINE_MS, "the demo's set-up (use --verbose for each component's progress)");
  shown = true;
  if (flags.exit) say("--exit: stopping");
  else if (!interrupted) {
    process.stdout.write("Press Ctrl-C to stop.\n");
    await stopRequested;
  }
} catch (err) {
  if (err instanceof Interrupted) say("interrupted during set-up");
  else {
    exitCode = 1;
    say(`failed: ${err instanceof Error ? err.message : String(err)}`);
  }
} finally {
  for (const step of teardown.reverse()) {
    try {
      const started = Date.now();
      await within(step.run(), 20_000, `stopping the ${step.what}`);
      if (flags.verbose) say(`stopped the ${step.what} in ${Date.now() - started} ms`);
    } catch (err) {
      exitCode = exitCode || 1;
      say(`while stopping the ${step.what}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  say(flags["keep-data-dir"] ? "stopped; data dir kept" : "stopped");
}
// Ctrl-C after the table is the normal way out; during set-up it is not.
process.exit(exitCode !== 0 ? exitCode : interrupted && !shown ? 130 : 0);
