// GPU node topologies for tests, built the way the extender builds them: an
// agent annotation decoded by buildNodeTopology, so bandwidths come from the
// production tables.
import { GPU_TOPOLOGY_ANNOTATION, encodeTopologyAnnotation } from "../../src/topology/annotation.js";
import { buildNodeTopology } from "../../src/topology/build.js";
import type { GpuNodeTopology } from "../../src/topology/model.js";

export interface TopologySpec {
  /** Number of GPUs. */
  readonly gpus: number;
  /** Link code of pair (i, j), i < j. */
  readonly link: (i: number, j: number) => string;
  /** NUMA node of GPU i; undefined where unknown. */
  readonly numa?: (i: number) => number | undefined;
  readonly product?: string;
  readonly nvlinkGBps?: number;
}

/** The annotation value for a spec. */
export function topologyAnnotation(spec: TopologySpec): string {
  const links: string[] = [];
  for (let i = 0; i < spec.gpus; i++) for (let j = i + 1; j < spec.gpus; j++) links.push(spec.link(i, j));
  return encodeTopologyAnnotation({
    v: 1,
    gpus: Array.from({ length: spec.gpus }, (_, i) => {
      const numa = spec.numa?.(i);
      return { index: i, ...(numa !== undefined ? { numa } : {}), ...(spec.product !== undefined ? { product: spec.product } : {}) };
    }),
    links,
    ...(spec.nvlinkGBps !== undefined ? { nvlinkGBps: spec.nvlinkGBps } : {}),
  });
}

/** A topology from a spec; throws if the builder produced something the decoder rejects (a test bug). */
export function gpuTopology(spec: TopologySpec): GpuNodeTopology {
  const built = buildNodeTopology({
    labels: {},
    annotations: { [GPU_TOPOLOGY_ANNOTATION]: topologyAnnotation(spec) },
    allocatableGpus: spec.gpus,
    profiles: [],
  });
  if (built.topology.source !== "annotation") throw new Error(`test topology rejected: ${built.warnings.join("; ")}`);
  return built.topology;
}

/** Upper-triangle codes as a lookup, for specs written as a matrix. */
export function linksFromMatrix(rows: readonly string[]): (i: number, j: number) => string {
  const cells = rows.map((r) => r.trim().split(/\s+/));
  return (i, j) => cells[i]![j]!;
}

/** Every GPU usable except the listed ones. */
export function usableExcept(n: number, ...busy: number[]): boolean[] {
  return Array.from({ length: n }, (_, i) => !busy.includes(i));
}

/** HGX-style board: every pair NV18, GPUs 0..n/2-1 on NUMA 0 and the rest on NUMA 1. */
export function nvswitchTopology(n = 8, product = "NVIDIA H100 80GB HBM3"): GpuNodeTopology {
  return gpuTopology({ gpus: n, link: () => "NV18", numa: (i) => (i < n / 2 ? 0 : 1), product });
}

/** Four A100 PCIe cards, NV12 bridges on 0-1 and 2-3, two sockets. */
export function bridgedA100Topology(): GpuNodeTopology {
  return gpuTopology({
    gpus: 4,
    link: (i, j) => ((i === 0 && j === 1) || (i === 2 && j === 3) ? "NV12" : "SYS"),
    numa: (i) => (i < 2 ? 0 : 1),
    product: "NVIDIA A100-PCIE-40GB",
  });
}

/** Eight L40S cards: pairs under one PCIe switch (PIX), NODE within a socket, SYS across. */
export function l40sTopology(): GpuNodeTopology {
  return gpuTopology({
    gpus: 8,
    link: (i, j) => (Math.floor(i / 2) === Math.floor(j / 2) ? "PIX" : Math.floor(i / 4) === Math.floor(j / 4) ? "NODE" : "SYS"),
    numa: (i) => (i < 4 ? 0 : 1),
    product: "NVIDIA L40S",
  });
}
