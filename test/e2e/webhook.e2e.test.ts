// The admission webhook against a real kube-apiserver: topofit runs as its own
// process (`node dist/main.js serve`), reads its policy from a ConfigMap, and the
// API server calls it through a MutatingWebhookConfiguration. Assertions read the
// pods as stored, after every admission plugin has run.
import { readFileSync } from "node:fs";
import {
  AdmissionregistrationV1Api,
  ApiException,
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  NodeV1Api,
  SchedulingV1Api,
  type KubeConfig,
  type V1Pod,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startControlPlane, type ControlPlane } from "../../hack/cluster/control-plane.js";
import { startTopofit, type TopofitProcess } from "../../hack/cluster/topofit.js";
import { waitFor } from "../../hack/cluster/wait.js";
import { WEBHOOK_CONFIGURATION_NAME, webhookConfiguration } from "../../hack/cluster/webhook-config.js";
import { EMBEDDED_POLICY_YAML } from "../../src/policy/embedded.js";

const POLICY_NS = "topofit-system";
const POLICY_CM = "topofit-policy";

let cp: ControlPlane;
let kc: KubeConfig;
let core: CoreV1Api;
let topofit: TopofitProcess;
let seq = 0;

function gpuPod(namespace: string, opts: { labels?: Record<string, string>; annotations?: Record<string, string>; gpus?: number; priorityClassName?: string } = {}): V1Pod {
  seq += 1;
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: `pod-${seq}`, namespace, labels: opts.labels ?? {}, ...(opts.annotations ? { annotations: opts.annotations } : {}) },
    spec: {
      ...(opts.priorityClassName ? { priorityClassName: opts.priorityClassName } : {}),
      containers: [
        { name: "main", image: "registry.k8s.io/pause:3.10", resources: opts.gpus === 0 ? {} : { limits: { "nvidia.com/gpu": String(opts.gpus ?? 1) } } },
        { name: "sidecar", image: "registry.k8s.io/pause:3.10" },
      ],
    },
  };
}

async function createPod(pod: V1Pod): Promise<V1Pod> {
  return core.createNamespacedPod({ namespace: pod.metadata?.namespace ?? "default", body: pod });
}

async function writePolicy(text: string): Promise<void> {
  const body = { metadata: { name: POLICY_CM, namespace: POLICY_NS }, data: { "policy.yaml": text } };
  try {
    await core.replaceNamespacedConfigMap({ name: POLICY_CM, namespace: POLICY_NS, body });
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) await core.createNamespacedConfigMap({ namespace: POLICY_NS, body });
    else throw err;
  }
}

async function metric(name: string): Promise<string[]> {
  const res = await topofit.get("/metrics");
  return res.body.split("\n").filter((l) => l.startsWith(name));
}

/** Creates GPU pods (dry run) until one comes back mutated: the API server caches webhook configurations. */
async function waitForWebhookActive(): Promise<void> {
  await waitFor(
    async () => {
      const pod = await core.createNamespacedPod({ namespace: "default", body: gpuPod("default"), dryRun: "All" });
      return pod.metadata?.annotations?.["topofit.io/rule"] !== undefined;
    },
    { what: "the API server to call the topofit webhook", timeoutMs: 30_000, intervalMs: 300 },
  );
}

beforeAll(async () => {
  cp = await startControlPlane({ binDir: inject("kubeBinDir") });
  kc = cp.kubeConfig();
  core = kc.makeApiClient(CoreV1Api);
  for (const name of [POLICY_NS, "ml-train", "ml-serve", "batch"]) await core.createNamespace({ body: { metadata: { name } } });
  const scheduling = kc.makeApiClient(SchedulingV1Api);
  await scheduling.createPriorityClass({ body: { metadata: { name: "gpu-training" }, value: 100_000 } });
  await scheduling.createPriorityClass({ body: { metadata: { name: "gpu-inference" }, value: 50_000, preemptionPolicy: "Never" } });
  await scheduling.createPriorityClass({ body: { metadata: { name: "team-own" }, value: 7 } });
  await kc.makeApiClient(NodeV1Api).createRuntimeClass({ body: { metadata: { name: "nvidia" }, handler: "nvidia" } });
  await writePolicy(EMBEDDED_POLICY_YAML);
  topofit = await startTopofit(cp);
  await kc
    .makeApiClient(AdmissionregistrationV1Api)
    .createMutatingWebhookConfiguration({ body: webhookConfiguration({ url: topofit.url, caPem: cp.caPem }) });
  await waitForWebhookActive();
}, 240_000);

afterAll(async () => {
  await topofit?.stop();
  await cp?.stop();
});

describe("pods created directly", () => {
  it("a 4-GPU training pod gets every injection of the training rule, and the priority of its class", async () => {
    const pod = await createPod(gpuPod("ml-train", { labels: { "topofit.io/workload": "training" }, gpus: 4 }));
    const spec = pod.spec!;
    expect(pod.metadata?.annotations).toMatchObject({
      "topofit.io/rule": "training",
      "topofit.io/placement": '{"gpuLinks":"NVLinkRequired","numa":"SingleNode","strategy":"BinPack"}',
    });
    expect(spec.tolerations).toEqual(
      expect.arrayContaining([
        { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" },
        { key: "karpenter.sh/capacity-type", operator: "Equal", value: "spot", effect: "NoSchedule" },
      ]),
    );
    expect(spec.nodeSelector).toEqual({ "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3" });
    expect(spec.priorityClassName).toBe("gpu-training");
    expect(spec.priority).toBe(100_000);
    expect(spec.schedulerName).toBe("topofit-scheduler");
    expect(spec.runtimeClassName).toBe("nvidia");
    // Admission defaults are still there: the API server added them before and after the webhook.
    expect(spec.tolerations?.some((t) => t.key === "node.kubernetes.io/not-ready")).toBe(true);
  });

  it("a pod that sets its own priority class keeps it under IfAbsent, with its own priority", async () => {
    const pod = await createPod(gpuPod("ml-train", { labels: { "topofit.io/workload": "training" }, gpus: 2, priorityClassName: "team-own" }));
    expect(pod.spec?.priorityClassName).toBe("team-own");
    expect(pod.spec?.priority).toBe(7);
    expect(pod.metadata?.annotations?.["topofit.io/rule"]).toBe("training");
  });

  it("a pod cannot grant itself a rule: its topofit.io/ annotations are replaced", async () => {
    const pod = await createPod(
      gpuPod("batch", {
        annotations: { "topofit.io/rule": "training", "topofit.io/placement": '{"gpuLinks":"Any"}', "topofit.io/extra": "x", "team": "a" },
      }),
    );
    expect(pod.metadata?.annotations).toEqual({
      "topofit.io/rule": "any-gpu",
      "topofit.io/placement": '{"gpuLinks":"Any","numa":"Any","strategy":"BinPack"}',
      team: "a",
    });
    expect(pod.spec?.priorityClassName).toBeUndefined();
  });

  it("a pod without GPUs is stored exactly as the API server alone would store it", async () => {
    const body = gpuPod("ml-train", { labels: { "topofit.io/workload": "training" }, gpus: 0, annotations: { "topofit.io/rule": "training" } });
    const pod = await createPod(body);
    expect(pod.metadata?.annotations).toEqual({ "topofit.io/rule": "training" });
    expect(pod.spec?.schedulerName).toBe("default-scheduler");
    expect(pod.spec?.tolerations?.map((t) => t.key).sort()).toEqual(["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"]);
  });

  it("a GPU pod in an excluded namespace is untouched", async () => {
    const pod = await createPod(gpuPod(POLICY_NS, { labels: { "topofit.io/workload": "training" }, gpus: 4 }));
    expect(pod.metadata?.annotations ?? {}).toEqual({});
    expect(pod.spec?.schedulerName).toBe("default-scheduler");
  });

  it("a dry-run create returns the mutated pod and stores nothing", async () => {
    const body = gpuPod("ml-serve", { labels: { "topofit.io/workload": "inference" } });
    const pod = await core.createNamespacedPod({ namespace: "ml-serve", body, dryRun: "All" });
    expect(pod.metadata?.annotations?.["topofit.io/rule"]).toBe("inference");
    await expect(core.readNamespacedPod({ name: body.metadata!.name!, namespace: "ml-serve" })).rejects.toMatchObject({ code: 404 });
  });
});

describe("pods created by controllers (no name at admission time)", () => {
  it("a Deployment's pods get the inference rule", async () => {
    const apps = kc.makeApiClient(AppsV1Api);
    const labels = { app: "llm-serve", "topofit.io/workload": "serving" };
    await apps.createNamespacedDeployment({
      namespace: "ml-serve",
      body: {
        metadata: { name: "llm-serve" },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: "llm-serve" } },
          template: { metadata: { labels }, spec: gpuPod("ml-serve").spec! },
        },
      },
    });
    const pods = await waitFor(
      async () => {
        const list = await core.listNamespacedPod({ namespace: "ml-serve", labelSelector: "app=llm-serve" });
        return list.items.length === 2 ? list.items : undefined;
      },
      { what: "the Deployment's 2 pods", timeoutMs: 60_000 },
    );
    for (const pod of pods) {
      expect(pod.metadata?.generateName).toMatch(/^llm-serve-[a-z0-9]+-$/);
      expect(pod.metadata?.annotations?.["topofit.io/rule"]).toBe("inference");
      expect(pod.spec?.priorityClassName).toBe("gpu-inference");
      expect(pod.spec?.priority).toBe(50_000);
      expect(pod.spec?.preemptionPolicy).toBe("Never");
      expect(pod.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution).toEqual([
        { weight: 50, preference: { matchExpressions: [{ key: "nvidia.com/gpu.family", operator: "In", values: ["hopper", "ada-lovelace"] }] } },
      ]);
    }
  });

  it("a Job's pod gets the catch-all rule", async () => {
    const batch = kc.makeApiClient(BatchV1Api);
    await batch.createNamespacedJob({
      namespace: "batch",
      body: {
        metadata: { name: "finetune" },
        spec: { template: { spec: { ...gpuPod("batch").spec!, restartPolicy: "Never" } }, backoffLimit: 0 },
      },
    });
    const pod = await waitFor(
      async () => (await core.listNamespacedPod({ namespace: "batch", labelSelector: "job-name=finetune" })).items[0],
      { what: "the Job's pod", timeoutMs: 60_000 },
    );
    expect(pod.metadata?.annotations?.["topofit.io/rule"]).toBe("any-gpu");
    expect(pod.spec?.tolerations).toContainEqual({ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" });
  });
});

describe("policy changes in the ConfigMap", () => {
  it("a valid change applies to the next pod without a restart", async () => {
    await writePolicy(EMBEDDED_POLICY_YAML.replace("priorityClassName: gpu-inference", "priorityClassName: team-own"));
    await waitFor(
      async () => {
        const pod = await core.createNamespacedPod({ namespace: "ml-serve", body: gpuPod("ml-serve", { labels: { "topofit.io/workload": "inference" } }), dryRun: "All" });
        return pod.spec?.priorityClassName === "team-own";
      },
      { what: "the new policy to be in force", timeoutMs: 20_000 },
    );
    expect(await metric("topofit_policy_generation")).toContain("topofit_policy_generation 2");
  });

  it("an invalid change is rejected with an Event, and the previous policy keeps working", async () => {
    const current = EMBEDDED_POLICY_YAML.replace("priorityClassName: gpu-inference", "priorityClassName: team-own");
    const broken = current.replace("effect: NoSchedule}]\n        priorityClassName: team-own", "effect: NoSchedul}]\n        priorityClassName: gpu-inference");
    expect(broken).not.toBe(current);
    await writePolicy(broken);
    const event = await waitFor(
      async () => {
        const events = await core.listNamespacedEvent({ namespace: POLICY_NS, fieldSelector: `involvedObject.name=${POLICY_CM}` });
        return events.items.find((e) => e.reason === "PolicyRejected");
      },
      { what: "a PolicyRejected Event on the ConfigMap", timeoutMs: 20_000 },
    );
    expect(event.type).toBe("Warning");
    expect(event.message).toContain("spec.rules[1].inject.tolerations[0].effect: must be one of NoSchedule, PreferNoSchedule, NoExecute");
    expect(event.message).toContain("generation 2");
    const pod = await createPod(gpuPod("ml-serve", { labels: { "topofit.io/workload": "inference" } }));
    expect(pod.spec?.priorityClassName).toBe("team-own");
    expect(await metric('topofit_policy_reloads_total{source="configmap",result="rejected"}')).toHaveLength(1);
    expect(await metric("topofit_policy_generation")).toContain("topofit_policy_generation 2");
    expect(readFileSync(topofit.logPath, "utf8")).toContain("policy rejected; generation 2 from configmap:topofit-system/topofit-policy stays in force");
  });
});

describe("when topofit is down", () => {
  it("failurePolicy Ignore admits GPU pods unmutated; Fail rejects them with the webhook's name", async () => {
    // SIGTERM ends topofit by itself (watches stopped, server closed): exit code 0, not the SIGKILL fallback.
    expect(await topofit.process.stop(5_000)).toEqual({ code: 0, signal: null });
    const pod = await createPod(gpuPod("ml-serve", { labels: { "topofit.io/workload": "inference" } }));
    expect(pod.metadata?.annotations?.["topofit.io/rule"]).toBeUndefined();
    expect(pod.spec?.priorityClassName).toBeUndefined();

    const admission = kc.makeApiClient(AdmissionregistrationV1Api);
    await admission.replaceMutatingWebhookConfiguration({
      name: WEBHOOK_CONFIGURATION_NAME,
      body: {
        ...webhookConfiguration({ url: topofit.url, caPem: cp.caPem, failurePolicy: "Fail" }),
        metadata: { name: WEBHOOK_CONFIGURATION_NAME, resourceVersion: (await admission.readMutatingWebhookConfiguration({ name: WEBHOOK_CONFIGURATION_NAME })).metadata?.resourceVersion },
      },
    });
    const err = await waitFor(
      async () => {
        try {
          await createPod(gpuPod("ml-serve"));
          return undefined;
        } catch (e) {
          return e as ApiException<string>;
        }
      },
      { what: "the Fail policy to take effect", timeoutMs: 20_000 },
    );
    expect(err.code).toBe(500);
    expect(String(err.body)).toContain('failed calling webhook \\"pods.topofit.io\\"');
    // Non-GPU pods never reach the webhook (matchConditions), so they are unaffected even under Fail.
    const cpuPod = await createPod(gpuPod("ml-serve", { gpus: 0 }));
    expect(cpuPod.metadata?.name).toBeDefined();
  });
});
