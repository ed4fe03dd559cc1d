// Builders for the extender's inputs: Node objects as kube-scheduler and the
// node informer see them (GFD labels, the agent's topology annotation, network
// and cost labels, status.allocatable), ExtenderArgs bodies in both request
// modes, and a TopologyStore with a test clock.
//
//   gpuNodeWire("dgx-01").h100().build()
//   gpuNodeWire("pair").topology({gpus: 2, link: () => "NV12"}).build()
//   extenderArgs(pod().gpus(2).annotations(placementAnnotations(p)).build(), nodes, "names")
import type { PodWire } from "../../src/admission/schema.js";
import { PLACEMENT_ANNOTATION } from "../../src/admission/keys.js";
import { decodeExtenderArgs, type ExtenderCall } from "../../src/extender/decode.js";
import type { ExtenderArgsWire, ExtenderFilterResultWire, HostPriorityWire, NodeWire } from "../../src/extender/schema.js";
import { respondToFilter, respondToPrioritize } from "../../src/extender/respond.js";
import type { FilterOutcome, PrioritizeOutcome } from "../../src/extender/review.js";
import { encodePlacement, type Placement } from "../../src/policy/model.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { GPU_TOPOLOGY_ANNOTATION } from "../../src/topology/annotation.js";
import type { GpuCondition } from "../../src/topology/model.js";
import type { LoadSlot } from "../../src/topology/node-state.js";
import { BUILTIN_PROFILES } from "../../src/topology/profiles.js";
import { TopologyStore, type DcgmNodeView, type TopologyStoreOptions } from "../../src/topology/store.js";
import { topologyAnnotation, type TopologySpec } from "./gpu-topology.js";
import { GPU } from "./pod.js";

export const GFD_PRODUCT = "nvidia.com/gpu.product";
export const GFD_COUNT = "nvidia.com/gpu.count";

/** GFD product labels of the built-in profiles used in tests. */
export const PRODUCTS = {
  h100: "NVIDIA-H100-80GB-HBM3",
  l40s: "NVIDIA-L40S",
  a100Pcie: "NVIDIA-A100-PCIE-80GB",
} as const;

class GpuNodeBuilder {
  readonly #name: string;
  #labels: Record<string, string>;
  #annotations: Record<string, string> = {
    "node.alpha.kubernetes.io/ttl": "0",
    "volumes.kubernetes.io/controller-managed-attach-detach": "true",
  };
  #gpus = 0;
  #resource = GPU;
  #resourceVersion = "1001";
  #unschedulable = false;

  constructor(name: string) {
    this.#name = name;
    this.#labels = { "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64" };
  }

  /** GFD's product and count labels, and that many allocatable GPUs. */
  gfd(product: string, count: number): this {
    this.#labels[GFD_PRODUCT] = product;
    this.#labels[GFD_COUNT] = String(count);
    this.#gpus = count;
    return this;
  }

  /** 8x H100 SXM on NVSwitch (built-in profile hgx-h100-8: NV18 everywhere, GPUs 0-3 on NUMA 0, 4-7 on NUMA 1). */
  h100(): this {
    return this.gfd(PRODUCTS.h100, 8);
  }

  /** 8x L40S, PCIe only (built-in profile l40s-8). */
  l40s(): this {
    return this.gfd(PRODUCTS.l40s, 8);
  }

  /** 4x A100 PCIe with NV12 bridges on 0-1 and 2-3, two sockets (built-in profile a100-pcie-4-bridged). */
  a100Bridged(): this {
    return this.gfd(PRODUCTS.a100Pcie, 4);
  }

  /** The agent's topology annotation for `spec`, and spec.gpus allocatable GPUs. */
  topology(spec: TopologySpec): this {
    this.#annotations[GPU_TOPOLOGY_ANNOTATION] = topologyAnnotation(spec);
    this.#gpus = spec.gpus;
    return this;
  }

  /** status.allocatable of the GPU resource, overriding what the topology implies. */
  allocatable(n: number, resource = GPU): this {
    this.#gpus = n;
    this.#resource = resource;
    return this;
  }

  labels(labels: Record<string, string>): this {
    this.#labels = { ...this.#labels, ...labels };
    return this;
  }

  annotations(annotations: Record<string, string>): this {
    this.#annotations = { ...this.#annotations, ...annotations };
    return this;
  }

  /** Multi-node NVLink clique (`nvidia.com/gpu.clique`). */
  clique(value: string): this {
    return this.labels({ "nvidia.com/gpu.clique": value });
  }

  /** AWS network node layers, outermost first. */
  awsNetwork(...layers: string[]): this {
    const labels: Record<string, string> = {};
    layers.forEach((v, i) => (labels[`topology.k8s.aws/network-node-layer-${i + 1}`] = v));
    return this.labels(labels);
  }

  /** topofit.io/cost-class: spot, on-demand or on-prem. */
  costClass(value: string): this {
    return this.labels({ "topofit.io/cost-class": value });
  }

  resourceVersion(rv: string): this {
    this.#resourceVersion = rv;
    return this;
  }

  cordoned(): this {
    this.#unschedulable = true;
    return this;
  }

  build(): NodeWire {
    const resources: Record<string, string> = { cpu: "96", memory: "2113412Mi", pods: "110", "ephemeral-storage": "3511619848Ki" };
    if (this.#gpus > 0) resources[this.#resource] = String(this.#gpus);
    return structuredClone({
      metadata: {
        name: this.#name,
        uid: `node-uid-${this.#name}`,
        resourceVersion: this.#resourceVersion,
        creationTimestamp: "2026-11-01T08:00:00Z",
        labels: this.#labels,
        annotations: this.#annotations,
      },
      spec: { podCIDR: "10.244.1.0/24", podCIDRs: ["10.244.1.0/24"], ...(this.#unschedulable ? { unschedulable: true } : {}) },
      status: {
        capacity: { ...resources },
        allocatable: { ...resources },
        conditions: [
          {
            type: "Ready",
            status: "True",
            lastHeartbeatTime: "2026-11-23T12:00:00Z",
            lastTransitionTime: "2026-11-01T08:01:00Z",
            reason: "KubeletReady",
            message: "kubelet is posting ready status",
          },
        ],
        addresses: [
          { type: "InternalIP", address: "10.0.0.11" },
          { type: "Hostname", address: this.#name },
        ],
        daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
        nodeInfo: {
          machineID: "",
          systemUUID: "",
          bootID: "",
          kernelVersion: "6.8.0-60-generic",
          osImage: "Ubuntu 24.04.2 LTS",
          containerRuntimeVersion: "containerd://2.1.4",
          kubeletVersion: "v1.37.1",
          operatingSystem: "linux",
          architecture: "amd64",
        },
      },
    });
  }
}

export function gpuNodeWire(name: string): GpuNodeBuilder {
  return new GpuNodeBuilder(name);
}

/** The pod annotations the webhook writes for a placement. */
export function placementAnnotations(p: Placement): Record<string, string> {
  return { [PLACEMENT_ANNOTATION]: encodePlacement(p) };
}

export type ExtenderMode = "names" | "objects";

/**
 * The body kube-scheduler POSTs to /filter and /prioritize: with
 * nodeCacheCapable (`names`) `Nodes` is null; without (`objects`) `NodeNames` is.
 */
export function extenderArgs(pod: PodWire, nodes: readonly NodeWire[], mode: ExtenderMode): ExtenderArgsWire {
  return mode === "names"
    ? { Pod: pod, Nodes: null, NodeNames: nodes.map((n) => n.metadata?.name ?? "") }
    : { Pod: pod, Nodes: { metadata: {}, items: nodes.map((n) => structuredClone(n)) }, NodeNames: null };
}

/** Decodes extenderArgs(...); throws if decode rejects it (a test bug). */
export function extenderCall(pod: PodWire, nodes: readonly NodeWire[], mode: ExtenderMode = "names"): ExtenderCall {
  const decoded = decodeExtenderArgs(JSON.parse(JSON.stringify(extenderArgs(pod, nodes, mode))));
  if (!decoded.ok) throw new Error(`test args do not decode: ${decoded.error.message}`);
  return decoded.call;
}

/** A clock tests move by hand. */
export interface TestClock {
  now(): number;
  advance(ms: number): void;
}

export function testClock(start = 1_800_000_000_000): TestClock {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

/** A TopologyStore with a silent logger, nvidia.com/gpu, the built-in profiles, and the given nodes already upserted. */
export function topologyStore(nodes: readonly NodeWire[] = [], options: Partial<TopologyStoreOptions> = {}): TopologyStore {
  const store = new TopologyStore({ log: silentLogger(), gpuResource: () => GPU, profiles: () => BUILTIN_PROFILES, ...options });
  for (const n of nodes) store.upsertNode(n);
  return store;
}

/** Live loads for a TopologyStore's `loadOf` option, by node name; set() moves one in place, as a scrape does. */
export function liveLoads(initial: Readonly<Record<string, number | undefined>>): { loadOf: (node: string) => LoadSlot; set(node: string, load: number | undefined): void } {
  const names = Object.keys(initial);
  const table = { values: new Float64Array(names.length + 1).fill(Number.NaN) };
  const slotOf = new Map(names.map((n, i) => [n, i + 1] as const));
  const set = (node: string, load: number | undefined) => {
    const slot = slotOf.get(node);
    if (slot === undefined) throw new Error(`liveLoads: no slot for ${node}`);
    table.values[slot] = load ?? Number.NaN;
  };
  for (const n of names) set(n, initial[n]);
  return { loadOf: (node) => ({ table, slot: slotOf.get(node) ?? 0 }), set };
}

/** A fresh DCGM view of a node: `healthy` maps index -> false for unhealthy GPUs; `pods` index -> "ns/pod". */
export function dcgmView(
  gpus: number,
  opts: { readonly unhealthy?: readonly number[]; readonly pods?: Readonly<Record<number, string>>; readonly utilization?: number | Readonly<Record<number, number>>; readonly freshness?: DcgmNodeView["freshness"] } = {},
): DcgmNodeView {
  const conditions = new Map<number, GpuCondition>();
  for (let g = 0; g < gpus; g++) {
    const unhealthy = opts.unhealthy?.includes(g) ?? false;
    const util = typeof opts.utilization === "number" ? opts.utilization : opts.utilization?.[g];
    const pod = opts.pods?.[g];
    conditions.set(g, {
      healthy: !unhealthy,
      reasons: unhealthy ? ["XID 79 (GPU has fallen off the bus)"] : [],
      ...(util !== undefined ? { utilization: util } : {}),
      pods: pod !== undefined ? [pod] : [],
    });
  }
  return { freshness: opts.freshness ?? "fresh", conditions };
}

/** The filter reply respond.ts writes for `outcome`, parsed back (it must be valid JSON). */
export function filterReply(call: ExtenderCall, outcome: FilterOutcome): ExtenderFilterResultWire {
  return JSON.parse(respondToFilter(call, outcome).toString("utf8")) as ExtenderFilterResultWire;
}

/** The prioritize reply respond.ts writes for `outcome`, parsed back (it must be valid JSON). */
export function prioritizeReply(outcome: PrioritizeOutcome): HostPriorityWire[] {
  return JSON.parse(respondToPrioritize(outcome).toString("utf8")) as HostPriorityWire[];
}
