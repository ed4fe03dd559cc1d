// Smoke test of the local control plane itself: API version, fake GPU nodes,
// default and extra schedulers with extenders, and the controllers that the
// topofit tests rely on (replicaset, service accounts, root CA publisher).

import { readFile } from "node:fs/promises";
import {
  AppsV1Api,
  CoreV1Api,
  VersionApi,
  type CoreV1Event,
  type KubeConfig,
  type V1Pod,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { pinnedKubeVersion } from "../../hack/cluster/binaries.js";
import { getFreePort, startControlPlane, type ControlPlane } from "../../hack/cluster/control-plane.js";
import { createGpuNode, NOT_READY_TAINT_KEY } from "../../hack/cluster/nodes.js";
import { GPU_RESOURCE_NAME } from "../../hack/cluster/scheduler-config.js";
import { waitFor } from "../../hack/cluster/wait.js";

const NAMESPACE = "smoke";
const GPU_NODES = ["gpu-node-a", "gpu-node-b"];
const CPU_NODE = "cpu-node";

let cp: ControlPlane;
let kc: KubeConfig;
let core: CoreV1Api;
let apps: AppsV1Api;
/** An https:// URL on a port nobody listens on: every extender call fails. */
let deadExtenderUrl: string;

function gpuPod(name: string, schedulerName: string, gpus = 1): V1Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: NAMESPACE },
    spec: {
      schedulerName,
      containers: [
        {
          name: "main",
          image: "registry.k8s.io/pause:3.10",
          resources: { limits: { [GPU_RESOURCE_NAME]: String(gpus) } },
        },
      ],
    },
  };
}

async function boundNode(name: string): Promise<string> {
  return waitFor(
    async () => (await core.readNamespacedPod({ name, namespace: NAMESPACE })).spec?.nodeName,
    { what: `pod ${name} to be bound to a node`, timeoutMs: 30_000 },
  );
}

async function podEvents(name: string): Promise<CoreV1Event[]> {
  const list = await core.listNamespacedEvent({ namespace: NAMESPACE, fieldSelector: `involvedObject.name=${name}` });
  return list.items;
}

beforeAll(async () => {
  deadExtenderUrl = `https://127.0.0.1:${await getFreePort()}`;
  cp = await startControlPlane({
    binDir: inject("kubeBinDir"),
    schedulers: [
      { name: "default-scheduler", extenders: [{ urlPrefix: deadExtenderUrl, ignorable: true }] },
      { name: "strict-scheduler", extenders: [{ urlPrefix: deadExtenderUrl, ignorable: false }] },
    ],
  });
  console.log(`control plane started in ${cp.startupMs} ms (${cp.server}, data dir ${cp.dataDir})`);
  kc = cp.kubeConfig();
  core = kc.makeApiClient(CoreV1Api);
  apps = kc.makeApiClient(AppsV1Api);

  await createGpuNode(kc, { name: "gpu-node-a", gpus: 4, labels: { "topofit.dev/pool": "a" } });
  await createGpuNode(kc, {
    name: "gpu-node-b",
    gpus: 8,
    taints: [{ key: "topofit.dev/dedicated", value: "gpu", effect: "PreferNoSchedule" }],
  });
  await createGpuNode(kc, { name: CPU_NODE, gpus: 0 });

  await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
  await waitFor(() => core.readNamespacedServiceAccount({ name: "default", namespace: NAMESPACE }), {
    what: `the default ServiceAccount in ${NAMESPACE}`,
  });
});

afterAll(async () => {
  await cp?.stop();
});

describe("local control plane", () => {
  it("serves the pinned Kubernetes version", async () => {
    const version = await kc.makeApiClient(VersionApi).getCode();
    expect(version.gitVersion).toBe(pinnedKubeVersion());
    expect(version.gitVersion).toBe("v1.37.2");
    expect(cp.binaries.version).toBe(version.gitVersion);
  });

  it("creates ready, schedulable nodes with GPU capacity", async () => {
    const nodes = await core.listNode();
    const byName = new Map(nodes.items.map((n) => [n.metadata?.name, n]));
    expect([...byName.keys()].sort()).toEqual([...GPU_NODES, CPU_NODE].sort());

    const a = byName.get("gpu-node-a");
    expect(a?.status?.allocatable?.[GPU_RESOURCE_NAME]).toBe("4");
    expect(a?.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
    expect(a?.metadata?.labels?.["topofit.dev/pool"]).toBe("a");
    for (const node of nodes.items) {
      expect(node.spec?.taints?.some((t) => t.key === NOT_READY_TAINT_KEY) ?? false).toBe(false);
    }
    // The caller's own taint survives the not-ready clean-up.
    expect(byName.get("gpu-node-b")?.spec?.taints).toEqual([
      { key: "topofit.dev/dedicated", value: "gpu", effect: "PreferNoSchedule" },
    ]);
    expect(byName.get(CPU_NODE)?.status?.capacity?.[GPU_RESOURCE_NAME]).toBe("0");
  });

  it("default scheduler binds GPU pods to GPU nodes only, skipping an ignorable extender that is down", async () => {
    const names = ["gpu-pod-1", "gpu-pod-2", "gpu-pod-3", "gpu-pod-4"];
    for (const name of names) await core.createNamespacedPod({ namespace: NAMESPACE, body: gpuPod(name, "default-scheduler") });
    for (const name of names) {
      const node = await boundNode(name);
      expect(GPU_NODES).toContain(node);
      expect(node).not.toBe(CPU_NODE);
    }
    // The extender was consulted and its failure ignored.
    const schedulerLog = await readFile(cp.logPath("kube-scheduler-default-scheduler"), "utf8");
    expect(schedulerLog).toContain("Skipping extender as it returned error and has ignorable flag set");
  });

  it("a pod that fits no GPU node stays pending", async () => {
    await core.createNamespacedPod({ namespace: NAMESPACE, body: gpuPod("too-big", "default-scheduler", 16) });
    const event = await waitFor(
      async () => (await podEvents("too-big")).find((e) => e.reason === "FailedScheduling"),
      { what: "a FailedScheduling event for too-big" },
    );
    expect(event.message).toContain(`Insufficient ${GPU_RESOURCE_NAME}`);
    expect((await core.readNamespacedPod({ name: "too-big", namespace: NAMESPACE })).spec?.nodeName).toBeUndefined();
  });

  it("a scheduler whose non-ignorable extender is down leaves the pod unscheduled", async () => {
    await core.createNamespacedPod({ namespace: NAMESPACE, body: gpuPod("strict-pod", "strict-scheduler") });
    const event = await waitFor(
      async () => (await podEvents("strict-pod")).find((e) => e.reason === "FailedScheduling"),
      { what: "a FailedScheduling event for strict-pod" },
    );
    expect(event.message).toContain(`${deadExtenderUrl}/filter`);
    expect(event.reportingComponent || event.source?.component).toBe("strict-scheduler");
    const pod = await core.readNamespacedPod({ name: "strict-pod", namespace: NAMESPACE });
    expect(pod.spec?.nodeName).toBeUndefined();
    expect(pod.status?.conditions?.find((c) => c.type === "PodScheduled")?.status).toBe("False");
  });

  it("restarting that scheduler with an ignorable extender lets the pod through", async () => {
    await cp.restartScheduler("strict-scheduler", { extenders: [{ urlPrefix: deadExtenderUrl, ignorable: true }] });
    expect(GPU_NODES).toContain(await boundNode("strict-pod"));
  });

  it("runs the controllers: a Deployment gets a pod", async () => {
    await apps.createNamespacedDeployment({
      namespace: NAMESPACE,
      body: {
        metadata: { name: "web" },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: "web" } },
          template: {
            metadata: { labels: { app: "web" } },
            spec: { containers: [{ name: "web", image: "registry.k8s.io/pause:3.10" }] },
          },
        },
      },
    });
    const pod = await waitFor(
      async () => (await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: "app=web" })).items[0],
      { what: "a pod of Deployment web" },
    );
    expect(pod.metadata?.ownerReferences?.[0]?.kind).toBe("ReplicaSet");
  });

  it("runs the controllers: a new namespace gets its default ServiceAccount and root CA", async () => {
    await core.createNamespace({ body: { metadata: { name: "fresh" } } });
    await waitFor(() => core.readNamespacedServiceAccount({ name: "default", namespace: "fresh" }), {
      what: "the default ServiceAccount in fresh",
    });
    const rootCa = await waitFor(() => core.readNamespacedConfigMap({ name: "kube-root-ca.crt", namespace: "fresh" }), {
      what: "the kube-root-ca.crt ConfigMap in fresh",
    });
    expect(rootCa.data?.["ca.crt"]).toBe(cp.caPem);
  });
});
