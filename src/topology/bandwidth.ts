// Effective bidirectional bandwidth between two GPUs, in GB/s, from the link
// kind nvidia-smi reports and the GPU product. The figures are nominal peak
// rates (what a bandwidth-bound collective such as all-reduce can approach),
// not measurements; they exist to rank GPU sets, so only their order and rough
// ratios matter. Every number lives in this file.
//
// NVLink: per-link rate x bonded link count (NV18 on H100 = 18 x 50 = 900).
//   NVLink 1 (P100)                         20 GB/s per direction per link ->  40
//   NVLink 2/3/4 (V100, A100, H100, H200…)  25 GB/s per direction per link ->  50
//   NVLink 5 (B100, B200, GB200, B300…)     50 GB/s per direction per link -> 100
//   GA102 bridges (RTX A6000, A40, 3090)    14.0625 GB/s per direction     -> 28.125
//                                           (112.5 GB/s for the NV4 bridge)
//   An annotation's `nvlinkGBps` replaces the per-link rate.
// PCIe: x16 slot rate by generation (Gen3 32, Gen4 64, Gen5 128, both
//   directions), taken from the product, times a path factor: the more of the
//   host a transfer crosses, the less of the slot rate peer-to-peer traffic
//   achieves. SameBoard and PIX (one PCIe switch) keep the full rate.
import type { LinkKind } from "./model.js";

export type PcieLinkKind = Exclude<LinkKind, "NVLink">;

/** Per-link NVLink rate used when the product is unknown or not in the table. */
export const DEFAULT_NVLINK_GBPS = 50;

/** x16 slot rate (both directions) by PCIe generation. */
export const PCIE_X16_GBPS: Readonly<Record<3 | 4 | 5, number>> = { 3: 32, 4: 64, 5: 128 };

/** Slot rate used when the product is unknown or not in the table (Gen4). */
export const DEFAULT_PCIE_GBPS = PCIE_X16_GBPS[4];

/**
 * Share of the slot rate a peer-to-peer transfer keeps on each PCIe path.
 * PXB: several PCIe switches, no host bridge. PHB: through the CPU's root
 * complex. NODE: between root complexes of one socket. SYS: across the socket
 * interconnect (UPI/xGMI), which typically halves P2P throughput or worse.
 */
export const PCIE_PATH_FACTOR: Readonly<Record<PcieLinkKind, number>> = {
  SameBoard: 1,
  PIX: 1,
  PXB: 0.9,
  PHB: 0.8,
  NODE: 0.7,
  SYS: 0.5,
};

interface ProductRate {
  /** Tokens of the product name (upper case) that identify the product; any one suffices. */
  readonly tokens: readonly string[];
  readonly nvlinkGBps?: number;
  readonly pcieGBps?: number;
}

/** Product tables, looked up by whole name tokens ("NVIDIA-H100-80GB-HBM3" -> NVIDIA, H100, 80GB, HBM3). */
const NVLINK_RATES: readonly ProductRate[] = [
  { tokens: ["B100", "B200", "B300", "GB200", "GB300"], nvlinkGBps: 100 },
  { tokens: ["V100", "A100", "A800", "A30", "H100", "H200", "H800", "H20", "GH200"], nvlinkGBps: 50 },
  { tokens: ["P100"], nvlinkGBps: 40 },
  { tokens: ["A6000", "A5000", "A4500", "A40", "3090"], nvlinkGBps: 28.125 },
];

const PCIE_RATES: readonly ProductRate[] = [
  {
    tokens: ["H100", "H200", "H800", "H20", "GH200", "B100", "B200", "B300", "GB200", "GB300", "BLACKWELL"],
    pcieGBps: PCIE_X16_GBPS[5],
  },
  { tokens: ["V100", "P100", "P40", "P4", "T4"], pcieGBps: PCIE_X16_GBPS[3] },
  // Everything else, including A100, A30, A40, A10, L4, L40 and L40S, is Gen4: the default.
];

function tokensOf(product: string): ReadonlySet<string> {
  return new Set(product.toUpperCase().split(/[\s_-]+/).filter((t) => t !== ""));
}

function lookup(product: string | undefined, table: readonly ProductRate[]): ProductRate | undefined {
  if (product === undefined) return undefined;
  const tokens = tokensOf(product);
  return table.find((r) => r.tokens.some((t) => tokens.has(t)));
}

/**
 * Bidirectional rate of one NVLink for a product, in GB/s. Accepts both the
 * NVML name ("NVIDIA H100 80GB HBM3") and the GFD label form ("NVIDIA-H100-80GB-HBM3").
 */
export function nvlinkGBpsPerLink(product?: string): number {
  return lookup(product, NVLINK_RATES)?.nvlinkGBps ?? DEFAULT_NVLINK_GBPS;
}

/** Bidirectional x16 slot rate of a product's PCIe generation, in GB/s. */
export function pcieGBps(product?: string): number {
  return lookup(product, PCIE_RATES)?.pcieGBps ?? DEFAULT_PCIE_GBPS;
}

/**
 * Effective bidirectional bandwidth of one GPU pair in GB/s.
 * NVLink: per-link rate (the override if given, else by product) x `nvlinks`.
 * PCIe kinds: the product's slot rate x PCIE_PATH_FACTOR[kind].
 */
export function linkBandwidth(kind: LinkKind, nvlinks: number, product?: string, nvlinkGBpsOverride?: number): number {
  if (kind === "NVLink") return (nvlinkGBpsOverride ?? nvlinkGBpsPerLink(product)) * Math.max(0, nvlinks);
  return pcieGBps(product) * PCIE_PATH_FACTOR[kind];
}
