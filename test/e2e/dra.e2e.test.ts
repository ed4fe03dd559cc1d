// DRA against the real control plane: a DeviceClass like NVIDIA's, nodes
// without the device plugin whose GPUs a simulated driver publishes in
// ResourceSlices (driver gpu.nvidia.com, one pool per node), the
// resourceclaim controller turning templates into claims, and kube-scheduler's
// own allocator choosing devices, with topofit as an extender that has no
// managedResources (claim-only pods are never sent to one that has).
import { readFileSync } from "node:fs";
import { AdmissionregistrationV1Api, CoreV1Api, ResourceV1Api, type CoreV1Event, type KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startControlPlane, type ControlPlane } from "../../hack/cluster/control-plane.js";
import { createGpuNode } from "../../hack/cluster/nodes.js";
import { httpsPostJson, startTopofit, type TopofitProcess } from "../../hack/cluster/topofit.js";
import { waitFor } from "../../hack/cluster/wait.js";
import { webhookConfiguration } from "../../hack/cluster/webhook-config.js";
import { encodeTopologyAnnotation, GPU_TOPOLOGY_ANNOTATION } from "../../src/topology/annotation.js";
import { PLACEMENT_ANNOTATION } from "../../src/admission/keys.js";
import { deviceWire, gpuDevices, pciOf, GPU_CLASS, GPU_DRIVER } from "../builders/dra.js";

const NS = "ml";
/** The namespace whose rule converts nvidia.com/gpu into claims; the webhook leaves NS alone. */
const CONVERT_NS = "ml-convert";
const POLICY = `apiVersion: topofit.io/v1alpha1
kind: PlacementPolicy
spec:
  rules:
    - name: dra-tp
      match: {namespaces: [${CONVERT_NS}]}
      inject:
        schedulerName: topofit-scheduler
        dra:
          deviceClassName: gpu.nvidia.com
          selectors: ['device.attributes["gpu.nvidia.com"].productName == "NVIDIA A100 80GB PCIe"']
          matchAttributes: [gpu.nvidia.com/productName]
          convertExtendedResources: true
      placement: {gpuLinks: NVLinkRequired, numa: Any, strategy: BinPack}
`;
const POOL = "e2e.topofit.io/pool";
const NVLINK = JSON.stringify({ gpuLinks: "NVLinkRequired", numa: "Any", strategy: "BinPack" });
const ANY = JSON.stringify({ gpuLinks: "Any", numa: "Any", strategy: "BinPack" });

let cp: ControlPlane;
let kc: KubeConfig;
let core: CoreV1Api;
let resource: ResourceV1Api;
let topofit: TopofitProcess;
let seq = 0;

/** 4x A100 PCIe, NVLink bridges on 0-1 and 2-3, as the agent publishes it (with PCI bus ids and UUIDs). */
function bridgedTopology(node: string): string {
  return encodeTopologyAnnotation({
    v: 1,
    gpus: [0, 1, 2, 3].map((index) => ({ index, numa: index < 2 ? 0 : 1, uuid: `GPU-${node}-${index}`, pci: pciOf(index), product: "NVIDIA A100 80GB PCIe" })),
    // pairs in order 0-1, 0-2, 0-3, 1-2, 1-3, 2-3
    links: ["NV12", "SYS", "SYS", "SYS", "SYS", "NV12"],
  });
}

/** A node without the device plugin whose four GPUs the DRA driver publishes. */
async function draNode(name: string, pool: string): Promise<void> {
  await createGpuNode(kc, { name, gpus: null, labels: { [POOL]: pool }, annotations: { [GPU_TOPOLOGY_ANNOTATION]: bridgedTopology(name) } });
  await resource.createResourceSlice({
    body: {
      metadata: { name: `${name}-gpu.nvidia.com` },
      spec: { driver: GPU_DRIVER, pool: { name, generation: 1, resourceSliceCount: 1 }, nodeName: name, devices: gpuDevices(name, 4).map(deviceWire) as never },
    },
  });
}

async function template(name: string, gpus: number, selectors: readonly string[] = []): Promise<void> {
  await resource.createNamespacedResourceClaimTemplate({
    namespace: NS,
    body: {
      metadata: { name },
      spec: {
        spec: {
          devices: {
            requests: [
              {
                name: "gpus",
                exactly: { deviceClassName: GPU_CLASS, allocationMode: "ExactCount", count: gpus, ...(selectors.length > 0 ? { selectors: selectors.map((expression) => ({ cel: { expression } })) } : {}) },
              },
            ],
          },
        },
      },
    },
  });
}

/** A pod whose GPUs come from a claim made from `tpl`. */
function claimPod(opts: { tpl: string; pool: string; placement?: string; scheduler?: string; hostname?: string }): V1Pod {
  seq += 1;
  return {
    metadata: { name: `dra-${seq}`, namespace: NS, annotations: { [PLACEMENT_ANNOTATION]: opts.placement ?? NVLINK } },
    spec: {
      schedulerName: opts.scheduler ?? "topofit-scheduler",
      nodeSelector: opts.hostname ? { "kubernetes.io/hostname": opts.hostname } : { [POOL]: opts.pool },
      resourceClaims: [{ name: "gpus", resourceClaimTemplateName: opts.tpl }],
      containers: [{ name: "main", image: "registry.k8s.io/pause:3.10", resources: { claims: [{ name: "gpus" }] } }],
    },
  };
}

async function boundNode(name: string, namespace = NS): Promise<string> {
  return waitFor(async () => (await core.readNamespacedPod({ name, namespace })).spec?.nodeName, { what: `pod ${name} to be bound`, timeoutMs: 45_000 });
}

/** The allocated claim of a pod's first claim (or its extended-resource claim): its devices and pool. */
async function allocationOf(podName: string, namespace = NS): Promise<{ claim: string; pool: string; devices: string[] }> {
  return waitFor(
    async () => {
      const p = await core.readNamespacedPod({ name: podName, namespace });
      const claim = p.status?.resourceClaimStatuses?.[0]?.resourceClaimName ?? p.status?.extendedResourceClaimStatus?.resourceClaimName;
      if (!claim) return undefined;
      const c = await resource.readNamespacedResourceClaim({ name: claim, namespace });
      const results = c.status?.allocation?.devices?.results ?? [];
      if (results.length === 0) return undefined;
      return { claim, pool: results[0]!.pool, devices: results.map((r) => r.device).sort() };
    },
    { what: `the claim of ${podName} to be allocated`, timeoutMs: 45_000 },
  );
}

function logLines(match: (line: string) => boolean): Record<string, unknown>[] {
  return readFileSync(topofit.logPath, "utf8")
    .split("\n")
    .filter((l) => l.startsWith("{") && match(l))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

beforeAll(async () => {
  cp = await startControlPlane({ binDir: inject("kubeBinDir") });
  kc = cp.kubeConfig();
  core = kc.makeApiClient(CoreV1Api);
  resource = kc.makeApiClient(ResourceV1Api);
  for (const name of [NS, CONVERT_NS, "topofit-system"]) await core.createNamespace({ body: { metadata: { name } } });
  await core.createNamespacedConfigMap({ namespace: "topofit-system", body: { metadata: { name: "topofit-policy" }, data: { "policy.yaml": POLICY } } });
  // NVIDIA's whole-GPU class, as its Helm chart installs it (extendedResourceName comes later, in its own test).
  await resource.createDeviceClass({
    body: {
      metadata: { name: GPU_CLASS },
      spec: { selectors: [{ cel: { expression: "device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == 'gpu'" } }] },
    },
  });
  await draNode("dra-first-bad", "pair");
  await draNode("dra-good", "pair");
  await draNode("dra-solo", "solo");
  await draNode("conv-first-bad", "convert");
  await draNode("conv-good", "convert");
  await template("one-gpu", 1);
  await template("two-gpus", 2);
  await template("two-b300", 2, ['device.attributes["gpu.nvidia.com"].productName == "NVIDIA B300"']);

  topofit = await startTopofit(cp);
  await kc.makeApiClient(AdmissionregistrationV1Api).createMutatingWebhookConfiguration({
    body: webhookConfiguration({ url: topofit.url, caPem: cp.caPem, excludedNamespaces: ["kube-system", "topofit-system", NS] }),
  });
  // No managedResources: claim-only pods carry no extended resource, so a filter on them would never send these pods.
  await cp.startScheduler({ name: "topofit-scheduler", extenders: [{ urlPrefix: topofit.url, weight: 20, httpTimeout: "3s", managedResources: [] }] });
  // The stock scheduler (no topofit) takes gpu-0 of dra-first-bad: the allocator's first free device.
  for (const node of ["dra-first-bad", "conv-first-bad"]) {
    const filler = await core.createNamespacedPod({ namespace: NS, body: claimPod({ tpl: "one-gpu", pool: "-", scheduler: "default-scheduler", hostname: node }) });
    expect(await allocationOf(filler.metadata!.name!)).toMatchObject({ pool: node, devices: ["gpu-0"] });
  }
}, 240_000);

afterAll(async () => {
  await topofit?.stop();
  await cp?.stop();
});

describe("DRA GPU pods placed by topology", () => {
  let placed = "";

  it("a 2-GPU NVLinkRequired claim pod goes where the allocator's first free pair is NVLink-bridged, and gets exactly that pair", async () => {
    // Both nodes have a free bridged pair (dra-first-bad: 2-3), but the allocator would hand out 1 and 2 there.
    const p = await core.createNamespacedPod({ namespace: NS, body: claimPod({ tpl: "two-gpus", pool: "pair" }) });
    placed = p.metadata!.name!;
    expect(await boundNode(placed)).toBe("dra-good");
    expect(await allocationOf(placed)).toMatchObject({ pool: "dra-good", devices: ["gpu-0", "gpu-1"] });
    const filtered = logLines((l) => l.includes('"msg":"filter"') && l.includes(`"pod":"${NS}/${placed}"`)).at(-1) as { gpus: number; failedSample?: Record<string, string> };
    expect(filtered.gpus).toBe(2);
    expect(filtered.failedSample?.["dra-first-bad"]).toBe("needs 2 GPUs NVLink-connected; the DRA allocator would take the first free devices (gpu-1, gpu-2), which are not");
    // topofit predicted the devices the allocator chose.
    await waitFor(() => logLines((l) => l.includes('"msg":"GPU prediction checked"') && l.includes(`"pod":"${NS}/${placed}"`)).at(-1), {
      what: "topofit to compare its prediction with the allocation",
      timeoutMs: 15_000,
    });
    const check = logLines((l) => l.includes('"msg":"GPU prediction checked"') && l.includes(`"pod":"${NS}/${placed}"`)).at(-1);
    expect(check).toMatchObject({ node: "dra-good", predicted: [0, 1], observed: [0, 1], agreed: true });
  });

  it("a pod asking nvidia.com/gpu: 2 in a converting namespace gets a claim from topofit's template, and the allocator gives it the pair topofit chose", async () => {
    seq += 1;
    const name = `convert-${seq}`;
    const created = await waitFor(
      async () => {
        const p = await core.createNamespacedPod({
          namespace: CONVERT_NS,
          body: {
            metadata: { name },
            spec: {
              nodeSelector: { [POOL]: "convert" },
              containers: [{ name: "main", image: "registry.k8s.io/pause:3.10", resources: { limits: { "nvidia.com/gpu": "2" } } }],
            },
          },
        });
        if (p.spec?.resourceClaims?.length) return p;
        await core.deleteNamespacedPod({ name, namespace: CONVERT_NS, gracePeriodSeconds: 0 });
        return undefined;
      },
      { what: "the webhook (with the policy loaded) to convert the pod", timeoutMs: 30_000, intervalMs: 500 },
    );
    // What the webhook wrote: a claim from its template instead of the extended resource, and the scheduler.
    expect(created.spec?.schedulerName).toBe("topofit-scheduler");
    expect(created.spec?.containers[0]!.resources?.limits?.["nvidia.com/gpu"]).toBeUndefined();
    const tplName = created.spec!.resourceClaims![0]!.resourceClaimTemplateName!;
    expect(tplName).toMatch(/^topofit-dra-tp-2gpu-[0-9a-f]{8}$/);
    const tpl = await resource.readNamespacedResourceClaimTemplate({ name: tplName, namespace: CONVERT_NS });
    expect(tpl.spec.spec.devices?.requests?.[0]?.exactly).toMatchObject({ deviceClassName: GPU_CLASS, count: 2 });
    // The real scheduler, with topofit as extender, binds it where the allocator's first free pair is bridged.
    expect(await boundNode(name, CONVERT_NS)).toBe("conv-good");
    expect(await allocationOf(name, CONVERT_NS)).toMatchObject({ pool: "conv-good", devices: ["gpu-0", "gpu-1"] });
    const filtered = logLines((l) => l.includes('"msg":"filter"') && l.includes(`"pod":"${CONVERT_NS}/${name}"`)).at(-1) as { gpus: number; failedSample?: Record<string, string> };
    expect(filtered.gpus).toBe(2);
    expect(filtered.failedSample?.["conv-first-bad"]).toMatch(/the DRA allocator would take the first free devices \(gpu-1, gpu-2\)/);
  });

  it("a claim whose selector matches no device leaves the pod Pending with an intelligible event", async () => {
    const p = await core.createNamespacedPod({ namespace: NS, body: claimPod({ tpl: "two-b300", pool: "solo", placement: ANY }) });
    const event = await waitFor(
      async () => {
        const list = await core.listNamespacedEvent({ namespace: NS, fieldSelector: `involvedObject.name=${p.metadata!.name!}` });
        return list.items.find((e: CoreV1Event) => e.reason === "FailedScheduling");
      },
      { what: "a FailedScheduling event", timeoutMs: 45_000 },
    );
    expect(event.message).toMatch(/cannot allocate all claims/);
    expect((await core.readNamespacedPod({ name: p.metadata!.name!, namespace: NS })).spec?.nodeName).toBeUndefined();
    await core.deleteNamespacedPod({ name: p.metadata!.name!, namespace: NS, gracePeriodSeconds: 0 });
  });

  it("deleting the pod frees its claim's devices, and topofit sees them free again", async () => {
    const { claim } = await allocationOf(placed);
    await core.deleteNamespacedPod({ name: placed, namespace: NS, gracePeriodSeconds: 0 });
    await waitFor(
      async () => {
        try {
          await resource.readNamespacedResourceClaim({ name: claim, namespace: NS });
          return undefined;
        } catch {
          return true;
        }
      },
      { what: `claim ${claim} to be deleted with its pod`, timeoutMs: 45_000 },
    );
    // All four GPUs of dra-good are free again: a 4-GPU claim pod passes topofit's filter there.
    await template("four-gpus", 4);
    const probePod = claimPod({ tpl: "four-gpus", pool: "pair", placement: ANY });
    const probe = await core.createNamespacedPod({ namespace: NS, body: { ...probePod, spec: { ...probePod.spec!, schedulerName: "nobody" } } });
    const generated = await waitFor(
      async () => (await core.readNamespacedPod({ name: probe.metadata!.name!, namespace: NS })).status?.resourceClaimStatuses?.[0]?.resourceClaimName,
      { what: "the probe's claim to be generated", timeoutMs: 30_000 },
    );
    expect(generated).toBeTruthy();
    const full = await core.readNamespacedPod({ name: probe.metadata!.name!, namespace: NS });
    await waitFor(
      async () => ((await httpsPostJson(`${topofit.url}/filter`, cp.caPem, { Pod: full, Nodes: null, NodeNames: ["dra-good", "dra-first-bad"] })) as { NodeNames: string[] }).NodeNames.join(",") === "dra-good",
      { what: "topofit to see dra-good's four GPUs free (and dra-first-bad's three)", timeoutMs: 15_000 },
    );
    await core.deleteNamespacedPod({ name: probe.metadata!.name!, namespace: NS, gracePeriodSeconds: 0 });
  });

  it("DRAExtendedResource: an unchanged nvidia.com/gpu pod is served from the DeviceClass that maps the name, and topofit places it the same way", async () => {
    const cls = await resource.readDeviceClass({ name: GPU_CLASS });
    await resource.replaceDeviceClass({ name: GPU_CLASS, body: { ...cls, spec: { ...cls.spec, extendedResourceName: "nvidia.com/gpu" } } });
    seq += 1;
    const name = `ext-${seq}`;
    await waitFor(
      async () => {
        try {
          await core.createNamespacedPod({
            namespace: NS,
            body: {
              metadata: { name, namespace: NS, annotations: { [PLACEMENT_ANNOTATION]: NVLINK } },
              spec: {
                schedulerName: "topofit-scheduler",
                nodeSelector: { [POOL]: "solo" },
                containers: [{ name: "main", image: "registry.k8s.io/pause:3.10", resources: { limits: { "nvidia.com/gpu": "2" } } }],
              },
            },
          });
          return true;
        } catch {
          return undefined;
        }
      },
      { what: "the extended-resource pod to be created", timeoutMs: 15_000 },
    );
    expect(await boundNode(name)).toBe("dra-solo");
    const alloc = await allocationOf(name);
    expect(alloc).toMatchObject({ pool: "dra-solo", devices: ["gpu-0", "gpu-1"] });
    const claim = await resource.readNamespacedResourceClaim({ name: alloc.claim, namespace: NS });
    expect(claim.metadata?.annotations?.["resource.kubernetes.io/extended-resource-claim"]).toBe("true");
    const filtered = logLines((l) => l.includes('"msg":"filter"') && l.includes(`"pod":"${NS}/${name}"`)).at(-1);
    expect(filtered).toMatchObject({ gpus: 2 });
  });
});
