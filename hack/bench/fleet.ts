// A synthetic GPU fleet for benchmarks and the demo: Node objects as the API
// server serves them (GFD labels, allocatable), GPU pods bound to them at a
// realistic occupancy, and a DCGM view of every GPU.
import type { PodWire } from "../../src/admission/schema.js";
import type { NodeWire } from "../../src/extender/schema.js";
import type { GpuCondition } from "../../src/topology/model.js";
import type { DcgmNodeView } from "../../src/topology/store.js";

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

/** DCGM view: utilisation per GPU, a few unhealthy GPUs, pods attributed to their GPUs. */
export function dcgmView(fleet: readonly FleetNode[], pods: readonly FleetPod[], seed = 3): Map<string, DcgmNodeView> {
  const rand = rng(seed);
  const byNode = new Map<string, FleetPod[]>();
  for (const p of pods) byNode.set(p.nodeName, [...(byNode.get(p.nodeName) ?? []), p]);
  const out = new Map<string, DcgmNodeView>();
  for (const n of fleet) {
    const name = n.wire.metadata!.name!;
    const conditions = new Map<number, GpuCondition>();
    let next = 0;
    const owner: string[][] = Array.from({ length: n.gpus }, () => []);
    for (const p of byNode.get(name) ?? []) for (let k = 0; k < p.gpus && next < n.gpus; k++) owner[next++]!.push(p.key);
    for (let g = 0; g < n.gpus; g++) {
      const bad = rand() < 0.002;
      conditions.set(g, {
        healthy: !bad,
        reasons: bad ? ["XID 79 (GPU has fallen off the bus)"] : [],
        utilization: owner[g]!.length > 0 ? Math.round(50 + rand() * 50) : 0,
        memoryUsedMiB: owner[g]!.length > 0 ? Math.round(rand() * 80_000) : 0,
        pods: owner[g]!,
      });
    }
    out.set(name, { freshness: "fresh", conditions });
  }
  return out;
}

export function podWire(uid: string, gpus: number, placement: string): PodWire {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: `bench-${uid}`, namespace: "ml", uid, annotations: { "topofit.io/rule": "bench", "topofit.io/placement": placement } },
    spec: { containers: [{ name: "main", resources: { limits: { "nvidia.com/gpu": String(gpus) } } }] },
  };
}
