// Builds a node's static GPU topology from what the node object carries, most
// trusted source first:
//   1. the agent's annotation topofit.io/gpu-topology (measured on the node);
//   2. a topology profile matching the node's labels, if its GPU count agrees;
//   3. GFD labels alone: N interchangeable GPUs, no NVLink, NUMA unknown.
// A source that is present but unusable (a malformed annotation, a profile of
// the wrong size) is skipped with a warning that says why. Pure: no I/O.
import { GPU_TOPOLOGY_ANNOTATION, decodeTopologyAnnotation, pairIndex, type LinkCode } from "./annotation.js";
import { linkBandwidth } from "./bandwidth.js";
import { GPU_COUNT_LABEL, GPU_MEMORY_LABEL, GPU_PRODUCT_LABEL, TOPOLOGY_PROFILE_LABEL, gpuCountOf } from "./labels.js";
import type { Gpu, GpuNodeTopology, Link, TopologySource } from "./model.js";
import { matchProfiles, profileLinkCodes, type TopologyProfile } from "./profiles.js";

export interface BuildNodeTopologyInput {
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** The node's allocatable GPUs (status.allocatable of the GPU resource). */
  readonly allocatableGpus: number;
  /** Profiles to match, in priority order: the policy's, then BUILTIN_PROFILES. */
  readonly profiles: readonly TopologyProfile[];
}

export interface BuiltNodeTopology {
  readonly topology: GpuNodeTopology;
  /** Sources that were present but skipped, and inconsistencies worth a log line. */
  readonly warnings: readonly string[];
}

/** Fills links[i][i], which nothing reads. */
const SELF_LINK: Link = Object.freeze({ kind: "SameBoard", nvlinks: 0, bandwidthGBps: 0 });

/**
 * Links are immutable and few distinct ones exist (a handful of kinds and
 * bandwidths), so every node shares one object per distinct link: a fleet of
 * 10,000 8-GPU nodes holds a few dozen Link objects instead of 640,000.
 */
const LINKS = new Map<string, Link>();
function internLink(kind: Link["kind"], nvlinks: number, bandwidthGBps: number): Link {
  const key = `${kind}|${nvlinks}|${bandwidthGBps}`;
  let link = LINKS.get(key);
  if (link === undefined) {
    link = Object.freeze({ kind, nvlinks, bandwidthGBps });
    if (LINKS.size < 10_000) LINKS.set(key, link);
  }
  return link;
}

/** The link class assumed between GPUs when nothing says how they are connected. */
export const ASSUMED_LINK: LinkCode = { kind: "PIX", nvlinks: 0 };

export interface TopologyParts {
  readonly gpus: readonly Gpu[];
  /** Upper triangle, row-major, one code per pair. */
  readonly links: readonly LinkCode[];
  readonly nvlinkGBps?: number;
  readonly source: TopologySource;
  readonly sourceNote: string;
}

/**
 * Assembles a GpuNodeTopology from per-pair link codes, giving each link its
 * bandwidth. A pair of two different products runs at the slower one's rate.
 */
export function assembleTopology(parts: TopologyParts): GpuNodeTopology {
  const n = parts.gpus.length;
  const upper: Link[] = [];
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const code = parts.links[pairIndex(n, i, j)] ?? ASSUMED_LINK;
      const bw = Math.min(
        linkBandwidth(code.kind, code.nvlinks, parts.gpus[i]!.product, parts.nvlinkGBps),
        linkBandwidth(code.kind, code.nvlinks, parts.gpus[j]!.product, parts.nvlinkGBps),
      );
      upper.push(internLink(code.kind, code.kind === "NVLink" ? code.nvlinks : 0, bw));
    }
  }
  const gpus = parts.gpus.map((g) => Object.freeze({ ...g }));
  // GPUs that carry no identity of their own (profiles, labels) make the whole
  // topology shareable between nodes; otherwise only the link matrix is.
  const anonymous = gpus.every((g) => g.uuid === undefined && g.pciBusId === undefined);
  const key = anonymous ? `${parts.source}\n${parts.sourceNote}\n${JSON.stringify(gpus)}\n${linkMatrixKey(n, upper)}` : undefined;
  const shared = key !== undefined ? TOPOLOGIES.get(key) : undefined;
  if (shared) return shared;
  const topology: GpuNodeTopology = Object.freeze({
    gpus: Object.freeze(gpus),
    links: linkMatrix(n, upper),
    source: parts.source,
    sourceNote: parts.sourceNote,
  });
  if (key !== undefined && TOPOLOGIES.size < INTERN_LIMIT) TOPOLOGIES.set(key, topology);
  return topology;
}

/** Distinct topologies and link matrices kept for sharing; beyond this many, new ones are not shared. */
const INTERN_LIMIT = 10_000;
const TOPOLOGIES = new Map<string, GpuNodeTopology>();
const MATRICES = new Map<string, readonly (readonly Link[])[]>();
function linkMatrixKey(n: number, upper: readonly Link[]): string {
  let key = String(n);
  for (const link of upper) key += `,${link.kind}${link.nvlinks}:${link.bandwidthGBps}`;
  return key;
}

/** The symmetric n x n matrix of an upper triangle of links, shared by every topology with the same links. */
function linkMatrix(n: number, upper: readonly Link[]): readonly (readonly Link[])[] {
  const key = linkMatrixKey(n, upper);
  const known = MATRICES.get(key);
  if (known) return known;
  const rows: Link[][] = [];
  for (let i = 0; i < n; i++) rows.push(new Array<Link>(n).fill(SELF_LINK));
  let k = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      rows[i]![j] = upper[k]!;
      rows[j]![i] = upper[k]!;
      k += 1;
    }
  }
  const matrix = Object.freeze(rows.map((row) => Object.freeze(row)));
  if (MATRICES.size < INTERN_LIMIT) MATRICES.set(key, matrix);
  return matrix;
}

function labelMemoryMiB(labels: Readonly<Record<string, string>>): number | undefined {
  const raw = labels[GPU_MEMORY_LABEL];
  return raw !== undefined && /^\d{1,9}$/.test(raw) ? Number(raw) : undefined;
}

function labelGpu(index: number, labels: Readonly<Record<string, string>>, numaNode?: number | null): Gpu {
  const product = labels[GPU_PRODUCT_LABEL];
  const memoryMiB = labelMemoryMiB(labels);
  return {
    index,
    ...(numaNode !== undefined && numaNode !== null ? { numaNode } : {}),
    ...(memoryMiB !== undefined ? { memoryMiB } : {}),
    ...(product !== undefined && product !== "" ? { product } : {}),
  };
}

function fromAnnotation(text: string, input: BuildNodeTopologyInput, warnings: string[]): GpuNodeTopology | undefined {
  const decoded = decodeTopologyAnnotation(text);
  if (!decoded.ok) {
    warnings.push(`annotation ${GPU_TOPOLOGY_ANNOTATION} ignored: ${decoded.reason}`);
    return undefined;
  }
  const a = decoded.annotation;
  const labelProduct = input.labels[GPU_PRODUCT_LABEL];
  const gpus: Gpu[] = a.gpus.map((g) => ({
    index: g.index,
    ...(g.uuid !== undefined ? { uuid: g.uuid } : {}),
    ...(g.pci !== undefined ? { pciBusId: g.pci } : {}),
    ...(g.numa !== undefined ? { numaNode: g.numa } : {}),
    ...(g.memMiB !== undefined ? { memoryMiB: g.memMiB } : {}),
    ...(g.product !== undefined ? { product: g.product } : labelProduct ? { product: labelProduct } : {}),
    ...(g.mig ? { mig: true } : {}),
  }));
  const n = gpus.length;
  const counted = gpuCountOf(input.labels);
  if (counted !== undefined && counted !== n) {
    warnings.push(`annotation ${GPU_TOPOLOGY_ANNOTATION} lists ${n} GPUs but label ${GPU_COUNT_LABEL} says ${counted}; using the annotation`);
  }
  if (input.allocatableGpus > n && !isShared(input.labels)) {
    warnings.push(`node has ${input.allocatableGpus} allocatable GPUs but annotation ${GPU_TOPOLOGY_ANNOTATION} lists only ${n}`);
  }
  return assembleTopology({
    gpus,
    links: decoded.links,
    ...(a.nvlinkGBps !== undefined ? { nvlinkGBps: a.nvlinkGBps } : {}),
    source: "annotation",
    sourceNote: `annotation ${GPU_TOPOLOGY_ANNOTATION} (${n} GPUs)`,
  });
}

/** GPU sharing (time-slicing, MPS) multiplies allocatable; GFD then marks the product "-SHARED". */
function isShared(labels: Readonly<Record<string, string>>): boolean {
  return (labels[GPU_PRODUCT_LABEL] ?? "").endsWith("-SHARED");
}

/** The physical GPU count: the GFD label when present, else allocatable. */
function physicalCount(input: BuildNodeTopologyInput): { n: number; from: string } {
  const counted = gpuCountOf(input.labels);
  if (counted !== undefined) return { n: counted, from: `label ${GPU_COUNT_LABEL}` };
  return { n: Math.max(0, Math.floor(input.allocatableGpus)), from: "allocatable" };
}

function fromProfiles(input: BuildNodeTopologyInput, warnings: string[]): GpuNodeTopology | undefined {
  const named = input.labels[TOPOLOGY_PROFILE_LABEL];
  const matches = matchProfiles(input.labels, input.profiles);
  if (named !== undefined && named !== "" && matches.length === 0) {
    warnings.push(`label ${TOPOLOGY_PROFILE_LABEL} names profile ${JSON.stringify(named)}, which is not defined`);
    return undefined;
  }
  const { n, from } = physicalCount(input);
  for (const { profile, reason } of matches) {
    if (profile.gpuCount !== n) {
      warnings.push(`${reason} ignored: it describes ${profile.gpuCount} GPUs but the node has ${n} (${from})`);
      continue;
    }
    const gpus = Array.from({ length: n }, (_, i) => labelGpu(i, input.labels, profile.numaNodes?.[i]));
    return assembleTopology({
      gpus,
      links: profileLinkCodes(profile),
      ...(profile.nvlinkGBps !== undefined ? { nvlinkGBps: profile.nvlinkGBps } : {}),
      source: "profile",
      sourceNote: reason,
    });
  }
  return undefined;
}

function fromLabels(input: BuildNodeTopologyInput, warnings: string[]): GpuNodeTopology {
  const { n, from } = physicalCount(input);
  const counted = gpuCountOf(input.labels);
  if (counted !== undefined && input.allocatableGpus > counted && !isShared(input.labels)) {
    warnings.push(`node has ${input.allocatableGpus} allocatable GPUs but label ${GPU_COUNT_LABEL} says ${counted}; using the label`);
  }
  const gpus = Array.from({ length: n }, (_, i) => labelGpu(i, input.labels));
  const links = new Array<LinkCode>((n * (n - 1)) / 2).fill(ASSUMED_LINK);
  return assembleTopology({
    gpus,
    links,
    source: "labels",
    sourceNote:
      n === 0
        ? `no GPUs: no topology annotation, no matching profile, and ${from} gives 0`
        : `GPUs assumed interchangeable: no topology annotation or matching profile (${n} GPUs from ${from})`,
  });
}

/** The node's static topology from the most trusted usable source, with warnings for skipped ones. */
export function buildNodeTopology(input: BuildNodeTopologyInput): BuiltNodeTopology {
  const warnings: string[] = [];
  const text = input.annotations[GPU_TOPOLOGY_ANNOTATION];
  const topology =
    (text !== undefined ? fromAnnotation(text, input, warnings) : undefined) ?? fromProfiles(input, warnings) ?? fromLabels(input, warnings);
  return { topology, warnings };
}
