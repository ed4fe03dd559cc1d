// Fake nodes for a control plane without kubelets: a Node object whose status
// (capacity, allocatable, Ready) is written through the status subresource,
// the way a kubelet would report it.

import { ApiException, CoreV1Api, type KubeConfig, type V1Node, type V1Taint } from "@kubernetes/client-node";
import { GPU_RESOURCE_NAME } from "./scheduler-config.js";

export const NOT_READY_TAINT_KEY = "node.kubernetes.io/not-ready";

export interface GpuNodeSpec {
  name: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  taints?: V1Taint[];
  /**
   * nvidia.com/gpu capacity; 0 is reported explicitly. Default 0. null leaves
   * the resource out, as on a DRA node without the device plugin.
   */
  gpus?: number | null;
  /** Default "32". */
  cpu?: string;
  /** Default "256Gi". */
  memory?: string;
  /** Default 110. */
  pods?: number;
  /** Further extended resources for capacity and allocatable. */
  extraResources?: Record<string, string>;
}

export async function createGpuNode(kc: KubeConfig, spec: GpuNodeSpec): Promise<V1Node> {
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNode({
    body: {
      apiVersion: "v1",
      kind: "Node",
      metadata: {
        name: spec.name,
        // The well-known labels a kubelet sets; charts often select on them.
        labels: { "kubernetes.io/hostname": spec.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", ...spec.labels },
        annotations: spec.annotations ?? {},
      },
      spec: { taints: spec.taints ?? [] },
    },
  });

  const resources: Record<string, string> = {
    cpu: spec.cpu ?? "32",
    memory: spec.memory ?? "256Gi",
    pods: String(spec.pods ?? 110),
    "ephemeral-storage": "500Gi",
    ...(spec.gpus === null ? {} : { [GPU_RESOURCE_NAME]: String(spec.gpus ?? 0) }),
    ...spec.extraResources,
  };
  await retryOnConflict(async () => {
    const node = await core.readNode({ name: spec.name });
    const now = new Date();
    node.status = {
      ...node.status,
      capacity: resources,
      allocatable: resources,
      addresses: [{ type: "Hostname", address: spec.name }],
      nodeInfo: {
        architecture: "amd64",
        operatingSystem: "linux",
        osImage: "topofit fake node (no kubelet)",
        bootID: "",
        containerRuntimeVersion: "",
        kernelVersion: "",
        kubeProxyVersion: "",
        kubeletVersion: "",
        machineID: "",
        systemUUID: "",
      },
      conditions: [
        {
          type: "Ready",
          status: "True",
          reason: "KubeletReady",
          message: "reported by topofit's local control plane (no kubelet)",
          lastHeartbeatTime: now,
          lastTransitionTime: now,
        },
      ],
    };
    await core.replaceNodeStatus({ name: spec.name, body: node });
  });

  // TaintNodesByCondition adds node.kubernetes.io/not-ready at creation; no
  // node lifecycle controller runs to lift it, so do it here. A not-ready
  // taint the caller asked for stays.
  const wanted = (t: V1Taint): boolean =>
    (spec.taints ?? []).some((c) => c.key === t.key && c.effect === t.effect && (c.value ?? "") === (t.value ?? ""));
  return retryOnConflict(async () => {
    const node = await core.readNode({ name: spec.name });
    const taints = node.spec?.taints ?? [];
    const kept = taints.filter((t) => t.key !== NOT_READY_TAINT_KEY || wanted(t));
    if (kept.length === taints.length) return node;
    node.spec = { ...node.spec, taints: kept };
    return core.replaceNode({ name: spec.name, body: node });
  });
}

async function retryOnConflict<T>(fn: () => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof ApiException) || err.code !== 409 || i >= attempts) throw err;
    }
  }
}
