// A synthetic GPU fleet for benchmarks and the demo: Node objects as the API
// server serves them (GFD labels, allocatable), GPU pods bound to them at a
// realistic occupancy, and what dcgm-exporter serves on every node.
import type { PodWire } from "../../src/admission/schema.js";
import type { NodeWire } from "../../src/extender/schema.js";

export interface FleetNode {
  readonly wire: NodeWire;
  readonly gpus: number;
}

const KINDS = [
  { product: "NVIDIA-H100-80GB-HBM3", gpus: 8, weight: 5 },
  { product: "NVIDIA-A100-PCIE-80GB", gpus: 4, weight: 2 },
  { product: "NVIDIA-L40S", gpus: 8, weight: 2 },
  { product: "NVIDIA-L40S", gpus: 4, weight: 1 },
] as const;

/** Deterministic pseudo-random numbers (mulberry32), so runs are comparable. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function makeFleet(count: number, seed = 1): FleetNode[] {
  const rand = rng(seed);
  const total = KINDS.reduce((s, k) => s + k.weight, 0);
  const out: FleetNode[] = [];
  for (let i = 0; i < count; i++) {
    let r = rand() * total;
    const kind = KINDS.find((k) => (r -= k.weight) < 0) ?? KINDS[0];
    const name = `gpu-${String(i).padStart(5, "0")}`;
    out.push({
      gpus: kind.gpus,
      wire: {
        metadata: {
          name,
          resourceVersion: "1",
          labels: {
            "kubernetes.io/hostname": name,
            "nvidia.com/gpu.product": kind.product,
            "nvidia.com/gpu.count": String(kind.gpus),
            "topology.k8s.aws/network-node-layer-1": `spine-${i % 4}`,
            "topology.k8s.aws/network-node-layer-2": `block-${i % 16}`,
            "topology.k8s.aws/network-node-layer-3": `leaf-${i % 64}`,
            "karpenter.sh/capacity-type": i % 3 === 0 ? "spot" : "on-demand",
          },
          annotations: {},
        },
        spec: {},
        status: {
          capacity: { cpu: "96", memory: "1Ti", pods: "110", "nvidia.com/gpu": String(kind.gpus) },
          allocatable: { cpu: "96", memory: "1Ti", pods: "110", "nvidia.com/gpu": String(kind.gpus) },
        },
      },
    });
  }
  return out;
}

export interface FleetPod {
  readonly uid: string;
  readonly key: string;
  readonly nodeName: string;
  readonly gpus: number;
}

/** Bound GPU pods filling about `occupancy` of each node's GPUs with 1-, 2- and 4-GPU pods. */
export function occupyFleet(fleet: readonly FleetNode[], occupancy: number, seed = 2): FleetPod[] {
  const rand = rng(seed);
  const pods: FleetPod[] = [];
  for (const n of fleet) {
    let used = 0;
    const target = Math.round(n.gpus * occupancy * (0.5 + rand()));
    while (used < Math.min(target, n.gpus)) {
      const size = Math.min([1, 1, 2, 4][Math.floor(rand() * 4)]!, n.gpus - used);
      const name = n.wire.metadata!.name!;
      pods.push({ uid: `${name}-p${pods.length}`, key: `team/${name}-p${pods.length}`, nodeName: name, gpus: size });
      used += size;
    }
  }
  return pods;
}

const PRODUCT_NAMES: Record<string, string> = {
  "NVIDIA-H100-80GB-HBM3": "NVIDIA H100 80GB HBM3",
  "NVIDIA-A100-PCIE-80GB": "NVIDIA A100 80GB PCIe",
  "NVIDIA-L40S": "NVIDIA L40S",
};

/** Series dcgm-exporter serves per GPU that topofit reads, then a few it skips (as a default exporter config has). */
const SERIES = [
  "DCGM_FI_DEV_GPU_UTIL",
  "DCGM_FI_DEV_FB_USED",
  "DCGM_FI_DEV_FB_FREE",
  "DCGM_FI_DEV_GPU_TEMP",
  "DCGM_FI_DEV_XID_ERRORS",
  "DCGM_FI_DEV_ROW_REMAP_FAILURE",
  "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS",
  "DCGM_FI_DEV_SM_CLOCK",
  "DCGM_FI_DEV_POWER_USAGE",
  "DCGM_FI_DEV_PCIE_REPLAY_COUNTER",
] as const;

/** What the exporter of a node needs to know about it. */
export interface ExporterNode {
  readonly name: string;
  readonly gpus: number;
  /** GFD's nvidia.com/gpu.product. */
  readonly product: string;
}

export function exporterNode(node: FleetNode): ExporterNode {
  return { name: node.wire.metadata!.name!, gpus: node.gpus, product: node.wire.metadata!.labels!["nvidia.com/gpu.product"]! };
}

/** Which pod holds each GPU of a node: its pods take GPUs 0, 1, 2, ... in turn. */
export function gpuOwners(node: { readonly gpus: number }, pods: readonly FleetPod[]): (FleetPod | undefined)[] {
  const owner: (FleetPod | undefined)[] = new Array(node.gpus).fill(undefined);
  let next = 0;
  for (const p of pods) for (let k = 0; k < p.gpus && next < node.gpus; k++) owner[next++] = p;
  return owner;
}

/**
 * What dcgm-exporter serves on one node of the fleet: every series of SERIES
 * per GPU, with its labels (pod attribution included). About 1 GPU in 500 is
 * unhealthy (XID 79), always the same ones; utilisation and memory change
 * with `round`, as between scrapes.
 */
export function dcgmExposition(node: ExporterNode, pods: readonly FleetPod[], round: number): string {
  const { name } = node;
  const index = Number(name.slice(name.lastIndexOf("-") + 1));
  const model = PRODUCT_NAMES[node.product] ?? "NVIDIA GPU";
  const owner = gpuOwners(node, pods);
  const health = rng(index * 7919 + 11);
  const load = rng(index * 104_729 + round);
  const values = owner.map((p) => {
    const busy = p !== undefined;
    const util = busy ? Math.round(50 + load() * 50) : 0;
    const used = busy ? Math.round(load() * 80_000) : 0;
    const xid = health() < 0.002 ? 79 : 0;
    return [util, used, 81_559 - used, Math.round(30 + util / 3), xid, 0, 0, busy ? 1980 : 345, Math.round(70 + util * 6), 0];
  });
  const lines: string[] = [];
  SERIES.forEach((series, k) => {
    lines.push(`# HELP ${series} ${series}.`, `# TYPE ${series} ${k === 4 || k === 9 ? "counter" : "gauge"}`);
    for (let g = 0; g < node.gpus; g++) {
      const bus = (0x18 + g * 0x10).toString(16).toUpperCase().padStart(2, "0");
      const uuid = `GPU-${index.toString(16).padStart(8, "0")}-0000-4000-8000-${g.toString(16).padStart(12, "0")}`;
      const p = owner[g];
      const podLabels = p ? `,container="main",namespace="${p.key.split("/")[0]}",pod="${p.key.split("/")[1]}"` : "";
      lines.push(`${series}{gpu="${g}",UUID="${uuid}",pci_bus_id="00000000:${bus}:00.0",device="nvidia${g}",modelName="${model}",Hostname="${name}",DCGM_FI_DRIVER_VERSION="550.54.15"${podLabels}} ${values[g]![k]}`);
    }
  });
  return `${lines.join("\n")}\n`;
}

export function podWire(uid: string, gpus: number, placement: string): PodWire {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: `bench-${uid}`, namespace: "ml", uid, annotations: { "topofit.io/rule": "bench", "topofit.io/placement": placement } },
    spec: { containers: [{ name: "main", resources: { limits: { "nvidia.com/gpu": String(gpus) } } }] },
  };
}
