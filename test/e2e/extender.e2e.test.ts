// The extender against the real kube-scheduler: a scheduler profile named
// topofit-scheduler calls topofit's /filter and /prioritize (nodeCacheCapable,
// managedResources nvidia.com/gpu), and the pods' placements come from the
// webhook's annotations. GPUs are made busy by pods bound directly to nodes.
import { readFileSync } from "node:fs";
import { AdmissionregistrationV1Api, CoreV1Api, PatchStrategy, setHeaderOptions, type CoreV1Event, type KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startControlPlane, type ControlPlane } from "../../hack/cluster/control-plane.js";
import { createGpuNode } from "../../hack/cluster/nodes.js";
import { startTopofit, type TopofitProcess } from "../../hack/cluster/topofit.js";
import { waitFor } from "../../hack/cluster/wait.js";
import { webhookConfiguration } from "../../hack/cluster/webhook-config.js";
import { encodeTopologyAnnotation, GPU_TOPOLOGY_ANNOTATION } from "../../src/topology/annotation.js";
import { fakeNvidiaSmi } from "../builders/fake-nvidia-smi.js";
import { ManagedProcess } from "../../hack/cluster/processes.js";
import { httpsPostJson, TOPOFIT_MAIN } from "../../hack/cluster/topofit.js";
import path from "node:path";
import { startFakeDcgmExporter, type FakeDcgmExporter } from "../builders/fake-dcgm-exporter.js";
import { metricSample } from "../builders/metrics.js";

const NS = "ml";
const POLICY = `apiVersion: topofit.io/v1alpha1
kind: PlacementPolicy
spec:
  rules:
    - name: tensor-parallel
      match: {podSelector: {matchLabels: {topofit.io/workload: tp}}}
      inject: {schedulerName: topofit-scheduler}
      placement: {gpuLinks: NVLinkRequired, numa: Any, strategy: BinPack}
    - name: single
      match: {podSelector: {matchLabels: {topofit.io/workload: single}}}
      inject: {schedulerName: topofit-scheduler}
      placement: {gpuLinks: Any, numa: Any, strategy: Spread}
`;

let cp: ControlPlane;
let kc: KubeConfig;
let core: CoreV1Api;
let topofit: TopofitProcess;
let exporter: FakeDcgmExporter;
let seq = 0;

/** A dcgm-exporter scrape of an 8-GPU node; `xid` maps GPU index to its last XID. */
function scrape(node: string, xid: Record<number, number>): string {
  const lines = ["# HELP DCGM_FI_DEV_XID_ERRORS Value of the last XID error encountered.", "# TYPE DCGM_FI_DEV_XID_ERRORS gauge"];
  for (let g = 0; g < 8; g++) {
    const labels = `gpu="${g}",UUID="GPU-${node}-${g}",pci_bus_id="00000000:${(0x18 + g * 16).toString(16).toUpperCase()}:00.0",device="nvidia${g}",modelName="NVIDIA H100 80GB HBM3",Hostname="${node}"`;
    lines.push(`DCGM_FI_DEV_XID_ERRORS{${labels}} ${xid[g] ?? 0}`);
  }
  lines.push("# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).", "# TYPE DCGM_FI_DEV_GPU_UTIL gauge");
  for (let g = 0; g < 8; g++) lines.push(`DCGM_FI_DEV_GPU_UTIL{gpu="${g}",UUID="GPU-${node}-${g}",Hostname="${node}"} 0`);
  return `${lines.join("\n")}\n`;
}

function pod(opts: { workload: string; gpus: number; pool: string; nodeName?: string }): V1Pod {
  seq += 1;
  return {
    metadata: { name: `${opts.workload}-${seq}`, namespace: NS, labels: { "topofit.io/workload": opts.workload } },
    spec: {
      ...(opts.nodeName ? { nodeName: opts.nodeName } : { nodeSelector: { "e2e.topofit.io/pool": opts.pool } }),
      containers: [{ name: "main", image: "registry.k8s.io/pause:3.10", resources: { limits: { "nvidia.com/gpu": String(opts.gpus) } } }],
    },
  };
}

async function boundNode(name: string): Promise<string> {
  return waitFor(async () => (await core.readNamespacedPod({ name, namespace: NS })).spec?.nodeName, { what: `pod ${name} to be bound`, timeoutMs: 30_000 });
}

/** A pod bound straight to a node (no scheduler), holding GPUs there. */
async function occupy(nodeName: string, gpus: number): Promise<void> {
  const p = await core.createNamespacedPod({ namespace: NS, body: pod({ workload: "filler", gpus, pool: "-", nodeName }) });
  expect(p.spec?.nodeName).toBe(nodeName);
}

/** Waits until topofit's node and pod caches have seen the bound fillers (its /readyz is up; informers are async). */
async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 1500));
}

beforeAll(async () => {
  cp = await startControlPlane({ binDir: inject("kubeBinDir") });
  kc = cp.kubeConfig();
  core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: NS } } });
  await core.createNamespace({ body: { metadata: { name: "topofit-system" } } });
  await core.createNamespacedConfigMap({ namespace: "topofit-system", body: { metadata: { name: "topofit-policy" }, data: { "policy.yaml": POLICY } } });

  const h100 = { "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "nvidia.com/gpu.count": "8" };
  const a100pcie = { "nvidia.com/gpu.product": "NVIDIA-A100-PCIE-80GB", "nvidia.com/gpu.count": "4" };
  const l40s = { "nvidia.com/gpu.product": "NVIDIA-L40S", "nvidia.com/gpu.count": "8" };
  // Pool "tp": where should a 4-GPU NVLinkRequired pod go?
  await createGpuNode(kc, { name: "tp-l40s", gpus: 8, labels: { ...l40s, "e2e.topofit.io/pool": "tp" } });
  await createGpuNode(kc, { name: "tp-a100-pcie", gpus: 4, labels: { ...a100pcie, "e2e.topofit.io/pool": "tp" } });
  await createGpuNode(kc, { name: "tp-h100-busy", gpus: 8, labels: { ...h100, "e2e.topofit.io/pool": "tp" } });
  await createGpuNode(kc, { name: "tp-h100-free", gpus: 8, labels: { ...h100, "e2e.topofit.io/pool": "tp" } });
  // Pool "single": a 2-GPU NVLink-bridged box, fully free, and a 4-GPU bridged box whose GPU 0 is busy.
  const bridgedPair = encodeTopologyAnnotation({
    v: 1,
    gpus: [0, 1].map((index) => ({ index, numa: 0, product: "NVIDIA A100 80GB PCIe" })),
    links: ["NV12"],
  });
  await createGpuNode(kc, { name: "single-pair", gpus: 2, labels: { "e2e.topofit.io/pool": "single" }, annotations: { [GPU_TOPOLOGY_ANNOTATION]: bridgedPair } });
  await createGpuNode(kc, { name: "single-a100-pcie", gpus: 4, labels: { ...a100pcie, "e2e.topofit.io/pool": "single" } });
  // Pool "none": nothing can take 8 NVLink GPUs here.
  await createGpuNode(kc, { name: "none-l40s", gpus: 8, labels: { ...l40s, "e2e.topofit.io/pool": "none" } });
  await createGpuNode(kc, { name: "none-a100-pcie", gpus: 4, labels: { ...a100pcie, "e2e.topofit.io/pool": "none" } });
  // Pool "agent": labels alone say nothing about links (8 interchangeable GPUs), until the agent publishes the real topology.
  await createGpuNode(kc, { name: "agent-dgx", gpus: 8, labels: { "nvidia.com/gpu.count": "8", "e2e.topofit.io/pool": "agent" } });

  // Pool "health": two identical H100 nodes; DCGM reports XID 79 on one GPU of health-a.
  await createGpuNode(kc, { name: "health-a", gpus: 8, labels: { ...h100, "e2e.topofit.io/pool": "health" } });
  await createGpuNode(kc, { name: "health-b", gpus: 8, labels: { ...h100, "e2e.topofit.io/pool": "health" } });
  exporter = await startFakeDcgmExporter();
  exporter.set("health-a", scrape("health-a", { 3: 79 }));
  exporter.set("health-b", scrape("health-b", { 2: 13 }));

  topofit = await startTopofit(cp, {
    args: ["--dcgm-endpoints", `health-a=${exporter.url("health-a")},health-b=${exporter.url("health-b")}`, "--dcgm-interval", "1s", "--dcgm-stale-after", "10s"],
  });
  await kc.makeApiClient(AdmissionregistrationV1Api).createMutatingWebhookConfiguration({ body: webhookConfiguration({ url: topofit.url, caPem: cp.caPem }) });
  await cp.startScheduler({ name: "topofit-scheduler", extenders: [{ urlPrefix: topofit.url, weight: 5, httpTimeout: "3s" }] });
  await waitFor(
    async () => (await core.createNamespacedPod({ namespace: NS, body: pod({ workload: "tp", gpus: 1, pool: "tp" }), dryRun: "All" })).spec?.schedulerName === "topofit-scheduler",
    { what: "the webhook to route tp pods to topofit-scheduler", timeoutMs: 30_000, intervalMs: 300 },
  );
  for (let i = 0; i < 6; i++) await occupy("tp-h100-busy", 1);
  await occupy("single-a100-pcie", 1);
  await settle();
}, 240_000);

/** NodeNames lists topofit has read apart from the pod so far (reused or parsed). */
async function nodeListsRead(): Promise<number> {
  const text = (await topofit.get("/metrics")).body;
  return (metricSample(text, "topofit_extender_node_lists_total", { result: "reused" }) ?? 0) + (metricSample(text, "topofit_extender_node_lists_total", { result: "parsed" }) ?? 0);
}

afterAll(async () => {
  await topofit?.stop();
  await exporter?.close();
  await cp?.stop();
});

describe("placement by the real kube-scheduler with topofit as extender", () => {
  it("a 4-GPU NVLinkRequired pod lands on the node with 4 free NVLink-connected GPUs, not on the decoys", async () => {
    const listsBefore = await nodeListsRead();
    const p = await core.createNamespacedPod({ namespace: NS, body: pod({ workload: "tp", gpus: 4, pool: "tp" }) });
    expect(p.spec?.schedulerName).toBe("topofit-scheduler");
    expect(await boundNode(p.metadata!.name!)).toBe("tp-h100-free");
    // kube-scheduler's own bodies (Go's encoding) took the NodeNames path of extender/body.ts, not the whole-body parse.
    expect(await nodeListsRead()).toBeGreaterThan(listsBefore);
  });

  it("a 1-GPU pod takes the GPU whose NVLink partner is busy instead of breaking a free NVLink pair", async () => {
    const p = await core.createNamespacedPod({ namespace: NS, body: pod({ workload: "single", gpus: 1, pool: "single" }) });
    expect(await boundNode(p.metadata!.name!)).toBe("single-a100-pcie");
    // topofit's reasoning names the GPU it expects the device plugin to hand out: 1, the orphan of the busy pair 0-1.
    const decision = readFileSync(topofit.logPath, "utf8")
      .split("\n")
      .filter((l) => l.includes('"msg":"prioritize"') && l.includes(`"pod":"${NS}/${p.metadata!.name!}"`))
      .map((l) => JSON.parse(l) as { node: string; gpus: number[]; why: string[] })
      .at(-1);
    expect(decision).toMatchObject({ node: "single-a100-pcie", gpus: [1] });
  });

  it("a GPU with a fatal XID in DCGM gets no work: an 8-GPU pod avoids its node; a benign XID does not count", async () => {
    await waitFor(() => exporter.hits("health-a") > 0 && exporter.hits("health-b") > 0, { what: "topofit to scrape both exporters", timeoutMs: 15_000 });
    await settle();
    const p = await core.createNamespacedPod({ namespace: NS, body: pod({ workload: "single", gpus: 8, pool: "health" }) });
    expect(await boundNode(p.metadata!.name!)).toBe("health-b");
    const filtered = readFileSync(topofit.logPath, "utf8")
      .split("\n")
      .filter((l) => l.includes('"msg":"filter"') && l.includes(p.metadata!.name!))
      .map((l) => JSON.parse(l) as { failedSample?: Record<string, string> })
      .at(-1);
    expect(filtered?.failedSample?.["health-a"]).toMatch(/needs 8 GPUs; 7 free and healthy.*1 GPU unhealthy/);
  });

  it("an unplaceable pod's FailedScheduling event carries topofit's reason", async () => {
    const p = await core.createNamespacedPod({ namespace: NS, body: pod({ workload: "tp", gpus: 4, pool: "none" }) });
    const event = await waitFor(
      async () => {
        const list = await core.listNamespacedEvent({ namespace: NS, fieldSelector: `involvedObject.name=${p.metadata!.name!}` });
        return list.items.find((e: CoreV1Event) => e.reason === "FailedScheduling");
      },
      { what: "a FailedScheduling event", timeoutMs: 30_000 },
    );
    expect(event.message).toMatch(/needs 4 NVLink-connected GPUs; largest free NVLink-connected set is (0|1|2)/);
    expect((await core.readNamespacedPod({ name: p.metadata!.name!, namespace: NS })).spec?.nodeName).toBeUndefined();
  });

  it("the agent's published topology (from nvidia-smi) turns an infeasible node into the chosen one", async () => {
    const first = await core.createNamespacedPod({ namespace: NS, body: pod({ workload: "tp", gpus: 4, pool: "agent" }) });
    await waitFor(
      async () => {
        const list = await core.listNamespacedEvent({ namespace: NS, fieldSelector: `involvedObject.name=${first.metadata!.name!}` });
        return list.items.find((e: CoreV1Event) => e.reason === "FailedScheduling" && e.message?.includes("NVLink-connected"));
      },
      { what: "the pod to be refused for lack of NVLink before the agent runs", timeoutMs: 30_000 },
    );
    const smi = fakeNvidiaSmi("dgx-h100");
    try {
      const agent = ManagedProcess.start({
        name: "agent",
        command: process.execPath,
        args: [TOPOFIT_MAIN, "agent", "--once", "--node-name", "agent-dgx", "--kubeconfig", cp.kubeconfigPath],
        logPath: path.join(cp.dataDir, "agent.log"),
        env: { ...process.env, PATH: `${smi.dir}:${process.env.PATH ?? ""}` },
      });
      const exit = await agent.exited;
      expect(exit.code, agent.tail(20)).toBe(0);
    } finally {
      smi.remove();
    }
    const node = await core.readNode({ name: "agent-dgx" });
    expect(node.metadata?.annotations?.[GPU_TOPOLOGY_ANNOTATION]).toContain('"NV18"');
    // kube-scheduler retries the pending pod on the node's update event, which can arrive before
    // topofit's own node informer has the new annotation (then the retry is refused again and the
    // pod waits for the next event). Once topofit's filter accepts the node, a later node update,
    // as any label change or heartbeat brings in a cluster, places the pod.
    const probe = { Pod: first, Nodes: null, NodeNames: ["agent-dgx"] };
    await waitFor(
      async () => ((await httpsPostJson(`${topofit.url}/filter`, cp.caPem, probe)) as { NodeNames: string[] }).NodeNames.includes("agent-dgx"),
      { what: "topofit to see the published topology", timeoutMs: 15_000 },
    );
    await core.patchNode(
      { name: "agent-dgx", body: { metadata: { labels: { "e2e.topofit.io/touched": "1" } } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    expect(await boundNode(first.metadata!.name!)).toBe("agent-dgx");
  });
});
