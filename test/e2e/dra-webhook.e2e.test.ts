// Claim injection against a real kube-apiserver: a rule with inject.dra turns
// `nvidia.com/gpu: 2` into a resource claim from a ResourceClaimTemplate that
// topofit creates in the pod's namespace, once; dry runs create nothing; and a
// pod that brings its own claim template is recognised as a GPU pod. topofit
// runs as its own process and reads its policy from a ConfigMap; assertions
// read the objects as stored. (Scheduling such pods is covered elsewhere.)
import {
  AdmissionregistrationV1Api,
  ApiException,
  CoreV1Api,
  ResourceV1Api,
  type KubeConfig,
  type V1Pod,
  type V1ResourceClaimTemplate,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startControlPlane, type ControlPlane } from "../../hack/cluster/control-plane.js";
import { startTopofit, type TopofitProcess } from "../../hack/cluster/topofit.js";
import { waitFor } from "../../hack/cluster/wait.js";
import { webhookConfiguration } from "../../hack/cluster/webhook-config.js";
import { metricSample } from "../builders/metrics.js";

const POLICY_NS = "topofit-system";
const NS = "ml-dra";
const OTHER_NS = "batch";
const HOPPER = 'device.attributes["gpu.nvidia.com"].architecture == "Hopper"';

const POLICY = `apiVersion: topofit.io/v1alpha1
kind: PlacementPolicy
spec:
  rules:
    - name: dra-train
      match: {namespaces: [${NS}]}
      inject:
        tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
        dra:
          deviceClassName: gpu.nvidia.com
          selectors: ['${HOPPER}']
          matchAttributes: [gpu.nvidia.com/productName]
          convertExtendedResources: true
      placement: {gpuLinks: NVLinkRequired, numa: Any, strategy: BinPack}
    - name: any-gpu
      inject:
        tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
`;

let cp: ControlPlane;
let kc: KubeConfig;
let core: CoreV1Api;
let resource: ResourceV1Api;
let topofit: TopofitProcess;
let seq = 0;

function gpuPod(namespace: string, gpus: number): V1Pod {
  seq += 1;
  return {
    metadata: { name: `pod-${seq}`, namespace },
    spec: {
      containers: [
        { name: "trainer", image: "registry.k8s.io/pause:3.10", resources: { limits: { "nvidia.com/gpu": String(gpus), cpu: "1" } } },
        { name: "logger", image: "registry.k8s.io/pause:3.10" },
      ],
    },
  };
}

async function templateCreates(result: string): Promise<number> {
  const res = await topofit.get("/metrics");
  return metricSample(res.body, "topofit_claim_template_creates_total", { result }) ?? 0;
}

async function managedTemplates(namespace: string): Promise<V1ResourceClaimTemplate[]> {
  return (await resource.listNamespacedResourceClaimTemplate({ namespace, labelSelector: "app.kubernetes.io/managed-by=topofit" })).items;
}

let dryRunPod: V1Pod;

beforeAll(async () => {
  cp = await startControlPlane({ binDir: inject("kubeBinDir") });
  kc = cp.kubeConfig();
  core = kc.makeApiClient(CoreV1Api);
  resource = kc.makeApiClient(ResourceV1Api);
  for (const name of [POLICY_NS, NS, OTHER_NS]) await core.createNamespace({ body: { metadata: { name } } });
  await core.createNamespacedConfigMap({ namespace: POLICY_NS, body: { metadata: { name: "topofit-policy" }, data: { "policy.yaml": POLICY } } });
  topofit = await startTopofit(cp);
  await kc.makeApiClient(AdmissionregistrationV1Api).createMutatingWebhookConfiguration({ body: webhookConfiguration({ url: topofit.url, caPem: cp.caPem }) });
  // The API server caches webhook configurations: dry-run until the webhook answers.
  dryRunPod = await waitFor(
    async () => {
      const pod = await core.createNamespacedPod({ namespace: NS, body: gpuPod(NS, 2), dryRun: "All" });
      return pod.metadata?.annotations?.["topofit.io/rule"] !== undefined ? pod : undefined;
    },
    { what: "the API server to call the topofit webhook", timeoutMs: 30_000, intervalMs: 300 },
  );
}, 240_000);

afterAll(async () => {
  await topofit?.stop();
  await cp?.stop();
});

describe("inject.dra with convertExtendedResources", () => {
  it("a dry-run create returns the converted pod, stores nothing and creates no template", async () => {
    expect(dryRunPod.spec?.resourceClaims?.[0]?.resourceClaimTemplateName).toMatch(/^topofit-dra-train-2gpu-[0-9a-f]{8}$/);
    expect(dryRunPod.spec?.containers[0]?.resources?.claims).toEqual([{ name: "gpu-trainer" }]);
    await expect(core.readNamespacedPod({ name: dryRunPod.metadata!.name!, namespace: NS })).rejects.toMatchObject({ code: 404 });
    expect(await managedTemplates(NS)).toEqual([]);
    expect(await templateCreates("created")).toBe(0);
  });

  let templateName = "";

  it("a pod asking for nvidia.com/gpu: 2 is stored with a claim from a template, and without nvidia.com/gpu", async () => {
    const pod = await core.createNamespacedPod({ namespace: NS, body: gpuPod(NS, 2) });
    const spec = pod.spec!;
    templateName = spec.resourceClaims?.[0]?.resourceClaimTemplateName ?? "";
    expect(spec.resourceClaims).toEqual([{ name: "gpu-trainer", resourceClaimTemplateName: expect.stringMatching(/^topofit-dra-train-2gpu-[0-9a-f]{8}$/) }]);
    // limits held only nvidia.com/gpu and cpu; the API server copied them to requests before the webhook ran.
    expect(spec.containers[0]?.resources).toEqual({ limits: { cpu: "1" }, requests: { cpu: "1" }, claims: [{ name: "gpu-trainer" }] });
    expect(spec.containers[1]?.resources).toEqual({});
    expect(JSON.stringify(spec.containers)).not.toContain("nvidia.com/gpu");
    expect(spec.tolerations).toContainEqual({ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" });
    expect(pod.metadata?.annotations).toEqual({
      "topofit.io/rule": "dra-train",
      "topofit.io/placement": '{"gpuLinks":"NVLinkRequired","numa":"Any","strategy":"BinPack"}',
      "topofit.io/gpus": "2",
    });
  });

  it("the template exists in the pod's namespace, labelled as topofit's, asking for 2 Hopper GPUs of one product", async () => {
    const t = await resource.readNamespacedResourceClaimTemplate({ name: templateName, namespace: NS });
    expect(t.metadata?.labels).toEqual({ "app.kubernetes.io/managed-by": "topofit", "topofit.io/rule": "dra-train" });
    expect(t.spec.spec.devices?.requests).toEqual([
      { name: "gpus", exactly: { deviceClassName: "gpu.nvidia.com", allocationMode: "ExactCount", count: 2, selectors: [{ cel: { expression: HOPPER } }] } },
    ]);
    expect(t.spec.spec.devices?.constraints).toEqual([{ requests: ["gpus"], matchAttribute: "gpu.nvidia.com/productName" }]);
    expect(await templateCreates("created")).toBe(1);
  });

  it("the resourceclaim controller makes the pod's ResourceClaim from it", async () => {
    const claimName = await waitFor(
      async () => (await core.readNamespacedPod({ name: `pod-${seq}`, namespace: NS })).status?.resourceClaimStatuses?.[0]?.resourceClaimName,
      { what: "the pod's generated ResourceClaim", timeoutMs: 60_000 },
    );
    const claim = await resource.readNamespacedResourceClaim({ name: claimName, namespace: NS });
    expect(claim.metadata?.annotations?.["resource.kubernetes.io/pod-claim-name"]).toBe("gpu-trainer");
    expect(claim.spec.devices?.requests?.[0]?.exactly).toMatchObject({ deviceClassName: "gpu.nvidia.com", count: 2 });
  });

  it("a second pod with the same request makes no further template write", async () => {
    const pod = await core.createNamespacedPod({ namespace: NS, body: gpuPod(NS, 2) });
    expect(pod.spec?.resourceClaims?.[0]?.resourceClaimTemplateName).toBe(templateName);
    expect(await templateCreates("created")).toBe(1);
    expect(await templateCreates("exists")).toBe(0);
    expect((await managedTemplates(NS)).map((t) => t.metadata?.name)).toEqual([templateName]);
  });

  it("a pod asking for another count gets a template of its own", async () => {
    const pod = await core.createNamespacedPod({ namespace: NS, body: gpuPod(NS, 4) });
    expect(pod.spec?.resourceClaims?.[0]?.resourceClaimTemplateName).toMatch(/^topofit-dra-train-4gpu-[0-9a-f]{8}$/);
    expect(await templateCreates("created")).toBe(2);
  });

  it("a deleted template is created again for the next pod that needs it (the watch saw it go)", async () => {
    await resource.deleteNamespacedResourceClaimTemplate({ name: templateName, namespace: NS });
    await waitFor(
      async () => {
        await core.createNamespacedPod({ namespace: NS, body: gpuPod(NS, 2) });
        return (await managedTemplates(NS)).some((t) => t.metadata?.name === templateName);
      },
      { what: "topofit to create the deleted template again", timeoutMs: 30_000, intervalMs: 500 },
    );
    expect(await templateCreates("created")).toBe(3);
  });

  it("a GPU pod in a namespace whose rule does not convert keeps nvidia.com/gpu", async () => {
    const pod = await core.createNamespacedPod({ namespace: OTHER_NS, body: gpuPod(OTHER_NS, 1) });
    expect(pod.spec?.resourceClaims).toBeUndefined();
    expect(pod.spec?.containers[0]?.resources?.limits?.["nvidia.com/gpu"]).toBe("1");
    expect(pod.metadata?.annotations?.["topofit.io/rule"]).toBe("any-gpu");
  });
});

describe("pods that bring their own claims", () => {
  it("a pod asking for GPUs only through its own template gets the rule, with the GPU count from the template", async () => {
    await resource.createNamespacedResourceClaimTemplate({
      namespace: NS,
      body: {
        metadata: { name: "four-gpus" },
        spec: { spec: { devices: { requests: [{ name: "gpu", exactly: { deviceClassName: "gpu.nvidia.com", allocationMode: "ExactCount", count: 4 } }] } } },
      },
    });
    const body = (): V1Pod => ({
      metadata: { name: `own-claim-${++seq}`, namespace: NS },
      spec: {
        resourceClaims: [{ name: "gpu", resourceClaimTemplateName: "four-gpus" }],
        containers: [{ name: "trainer", image: "registry.k8s.io/pause:3.10", resources: { claims: [{ name: "gpu" }] } }],
      },
    });
    // topofit learns of the template through its watch; until then it skips the pod.
    await waitFor(
      async () => (await core.createNamespacedPod({ namespace: NS, body: body(), dryRun: "All" })).metadata?.annotations?.["topofit.io/rule"] !== undefined,
      { what: "topofit's template cache to hold four-gpus", timeoutMs: 20_000, intervalMs: 300 },
    );
    const pod = await core.createNamespacedPod({ namespace: NS, body: body() });
    expect(pod.metadata?.annotations).toMatchObject({ "topofit.io/rule": "dra-train", "topofit.io/gpus": "4" });
    expect(pod.spec?.tolerations).toContainEqual({ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" });
    expect(pod.spec?.resourceClaims).toEqual([{ name: "gpu", resourceClaimTemplateName: "four-gpus" }]);
  });

  it("a pod whose claim template does not exist is admitted untouched", async () => {
    const pod = await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: `no-template-${++seq}`, namespace: NS },
        spec: {
          resourceClaims: [{ name: "gpu", resourceClaimTemplateName: "missing" }],
          containers: [{ name: "trainer", image: "registry.k8s.io/pause:3.10", resources: { claims: [{ name: "gpu" }] } }],
        },
      },
    });
    expect(pod.metadata?.annotations ?? {}).toEqual({});
    expect(pod.spec?.tolerations?.map((t) => t.key).sort()).toEqual(["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"]);
  });

  it("no template write failed during the run", async () => {
    expect(await templateCreates("failed")).toBe(0);
    const err = await resource.readNamespacedResourceClaimTemplate({ name: "missing", namespace: NS }).catch((e: unknown) => e);
    expect(err instanceof ApiException && err.code).toBe(404);
  });
});
