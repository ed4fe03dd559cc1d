// The topology model the extender places pods on. Static facts (GPUs, links,
// NUMA, network domain) come from the agent's annotation, a policy profile or
// GFD labels; dynamic facts (which GPUs are busy, healthy, loaded) from pods,
// the in-flight ledger and DCGM. Everything here is immutable once built.

/** How two GPUs are connected, from closest to farthest (nvidia-smi topo -m codes). */
export type LinkKind = "NVLink" | "SameBoard" | "PIX" | "PXB" | "PHB" | "NODE" | "SYS";

export const LINK_KINDS: readonly LinkKind[] = ["NVLink", "SameBoard", "PIX", "PXB", "PHB", "NODE", "SYS"];

export interface Link {
  readonly kind: LinkKind;
  /** Bonded NVLinks between the pair (NV18 -> 18); 0 for PCIe-only pairs. */
  readonly nvlinks: number;
  /** Effective bidirectional bandwidth between the pair in GB/s. */
  readonly bandwidthGBps: number;
}

export interface Gpu {
  /** nvidia-smi / NVML index on the node. */
  readonly index: number;
  readonly uuid?: string;
  /** Normalised PCI bus id: 0000:1b:00.0 (lowercase, 4-digit domain). */
  readonly pciBusId?: string;
  /** Host NUMA node the GPU is attached to; undefined when unknown. */
  readonly numaNode?: number;
  readonly memoryMiB?: number;
  readonly product?: string;
  /** MIG mode is enabled: the GPU is split into instances and is not handed out whole. */
  readonly mig?: boolean;
}

export type TopologySource = "annotation" | "profile" | "labels";

/** The static description of one GPU node. */
export interface GpuNodeTopology {
  readonly gpus: readonly Gpu[];
  /** links[i][j] for i != j; links[i][i] is unused. Symmetric. */
  readonly links: readonly (readonly Link[])[];
  readonly source: TopologySource;
  /** Why this source was used, e.g. "profile hgx-h100-8 (labels nvidia.com/gpu.product, gpu.count)". */
  readonly sourceNote: string;
}

/** Health and load of one GPU, from DCGM. */
export interface GpuCondition {
  /** false: never place work here. undefined health data counts as healthy-but-unknown. */
  readonly healthy: boolean;
  readonly reasons: readonly string[];
  /** 0..100, GPU utilisation. */
  readonly utilization?: number;
  readonly memoryUsedMiB?: number;
  /** "namespace/pod" names DCGM attributes this GPU to. */
  readonly pods: readonly string[];
}

/** Everything the extender knows about a node, at one point in time. */
export interface GpuNode {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly topology: GpuNodeTopology;
  /** nvidia.com/gpu (or the policy's resource) in status.allocatable. */
  readonly allocatable: number;
  /** Multi-node NVLink domain (nvidia.com/gpu.clique), if any. */
  readonly clique?: string;
  /** Network placement, outermost first, e.g. [["block","b1"],["rack","r7"]]. */
  readonly network: readonly (readonly [string, string])[];
  /** Cost class from the labels the policy names: "spot", "on-demand", "on-prem", ... */
  readonly costClass: string;
}

/** Normalises a PCI bus id from DCGM (00000000:1B:00.0), nvidia-smi or DRA (0000:1b:00.0) to 0000:1b:00.0. */
export function normalizePciBusId(raw: string): string | undefined {
  const m = /^(?:([0-9a-fA-F]{1,8}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])$/.exec(raw.trim());
  if (!m) return undefined;
  const domain = (m[1] ?? "0").toLowerCase().replace(/^0+(?=.)/, "").padStart(4, "0");
  if (domain.length > 4) return undefined;
  return `${domain}:${m[2]!.toLowerCase().padStart(2, "0")}:${m[3]!.toLowerCase().padStart(2, "0")}.${m[4]}`;
}
