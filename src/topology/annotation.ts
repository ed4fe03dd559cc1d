// The node annotation `topofit.io/gpu-topology`: the one definition of its
// format, written by the agent and read by the extender.
//
// Version 1, compact JSON:
//   {"v":1,
//    "gpus":[{"index":0,"uuid":"GPU-…","pci":"0000:1b:00.0","numa":0,"memMiB":81559,"product":"NVIDIA H100 80GB HBM3"}, …],
//    "links":["NV18","NV18",…],          // upper triangle, row-major: (0,1),(0,2),…,(0,n-1),(1,2),…
//    "nvlinkGBps":50}                    // optional: bandwidth of one NVLink, overriding the product table
// Link codes are nvidia-smi's: NV<n> (n bonded NVLinks), SB (same board), PIX, PXB, PHB, NODE, SYS.
// GPUs are listed by index, 0..n-1, each once. Bounded: at most MAX_GPUS GPUs and
// MAX_ANNOTATION_BYTES bytes. Nothing time-varying is in it, so an unchanged
// topology is an unchanged string and the agent writes nothing.
import { normalizePciBusId, type LinkKind } from "./model.js";

export const GPU_TOPOLOGY_ANNOTATION = "topofit.io/gpu-topology";
export const TOPOLOGY_FORMAT_VERSION = 1;
export const MAX_GPUS = 64;
export const MAX_ANNOTATION_BYTES = 32 * 1024;

export interface AnnotatedGpu {
  readonly index: number;
  readonly uuid?: string;
  readonly pci?: string;
  readonly numa?: number;
  readonly memMiB?: number;
  readonly product?: string;
  /** MIG mode enabled on this GPU. */
  readonly mig?: boolean;
}

export interface TopologyAnnotation {
  readonly v: 1;
  readonly gpus: readonly AnnotatedGpu[];
  readonly links: readonly string[];
  readonly nvlinkGBps?: number;
}

export interface LinkCode {
  readonly kind: LinkKind;
  readonly nvlinks: number;
}

const PCIE_CODES: Record<string, LinkKind> = { SB: "SameBoard", PIX: "PIX", PXB: "PXB", PHB: "PHB", NODE: "NODE", SYS: "SYS" };

/** Parses one link code ("NV18", "PIX", ...); undefined when it is not one. */
export function parseLinkCode(code: string): LinkCode | undefined {
  const nv = /^NV(\d{1,2})$/.exec(code);
  if (nv) {
    const n = Number(nv[1]);
    return n >= 1 ? { kind: "NVLink", nvlinks: n } : undefined;
  }
  const kind = PCIE_CODES[code];
  return kind ? { kind, nvlinks: 0 } : undefined;
}

export function linkCodeOf(link: LinkCode): string {
  if (link.kind === "NVLink") return `NV${link.nvlinks}`;
  return link.kind === "SameBoard" ? "SB" : link.kind;
}

/** Index of pair (i, j), i < j, in the upper-triangle list for n GPUs. */
export function pairIndex(n: number, i: number, j: number): number {
  return i * n - (i * (i + 1)) / 2 + (j - i - 1);
}

export function encodeTopologyAnnotation(a: TopologyAnnotation): string {
  const gpus = [...a.gpus].sort((x, y) => x.index - y.index).map((g) => {
    const out: Record<string, unknown> = { index: g.index };
    if (g.uuid !== undefined) out.uuid = g.uuid;
    if (g.pci !== undefined) out.pci = normalizePciBusId(g.pci) ?? g.pci;
    if (g.numa !== undefined) out.numa = g.numa;
    if (g.memMiB !== undefined) out.memMiB = g.memMiB;
    if (g.product !== undefined) out.product = g.product;
    if (g.mig) out.mig = true;
    return out;
  });
  return JSON.stringify({ v: TOPOLOGY_FORMAT_VERSION, gpus, links: a.links, ...(a.nvlinkGBps !== undefined ? { nvlinkGBps: a.nvlinkGBps } : {}) });
}

export type DecodeAnnotationResult =
  | { readonly ok: true; readonly annotation: TopologyAnnotation; readonly links: readonly LinkCode[] }
  | { readonly ok: false; readonly reason: string };

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

const optInt = (v: unknown) => v === undefined || (Number.isInteger(v) && (v as number) >= 0);
const optStr = (v: unknown, max: number) => v === undefined || (typeof v === "string" && v.length <= max);

/** Validates an annotation value; a malformed one gives a reason, never a throw. */
export function decodeTopologyAnnotation(text: string): DecodeAnnotationResult {
  if (text.length > MAX_ANNOTATION_BYTES) return { ok: false, reason: `annotation is ${text.length} bytes, over the ${MAX_ANNOTATION_BYTES}-byte limit` };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `annotation is not JSON: ${(err as Error).message}` };
  }
  if (!isObj(raw)) return { ok: false, reason: "annotation is not a JSON object" };
  if (raw.v !== TOPOLOGY_FORMAT_VERSION) return { ok: false, reason: `unsupported format version ${JSON.stringify(raw.v ?? null)} (this topofit reads v${TOPOLOGY_FORMAT_VERSION})` };
  if (!Array.isArray(raw.gpus) || raw.gpus.length === 0) return { ok: false, reason: "gpus must be a non-empty array" };
  if (raw.gpus.length > MAX_GPUS) return { ok: false, reason: `${raw.gpus.length} GPUs, over the limit of ${MAX_GPUS}` };
  const n = raw.gpus.length;
  const gpus: AnnotatedGpu[] = [];
  for (let k = 0; k < n; k++) {
    const g: unknown = raw.gpus[k];
    if (!isObj(g)) return { ok: false, reason: `gpus[${k}] is not an object` };
    if (g.index !== k) return { ok: false, reason: `gpus[${k}].index must be ${k} (GPUs listed by index, each once)` };
    if (!optStr(g.uuid, 128) || !optStr(g.product, 128) || !optStr(g.pci, 32)) return { ok: false, reason: `gpus[${k}] has a malformed uuid, pci or product` };
    if (!optInt(g.memMiB) || !(g.numa === undefined || (Number.isInteger(g.numa) && (g.numa as number) >= 0))) {
      return { ok: false, reason: `gpus[${k}] has a malformed numa or memMiB` };
    }
    const pci = typeof g.pci === "string" ? normalizePciBusId(g.pci) : undefined;
    if (typeof g.pci === "string" && pci === undefined) return { ok: false, reason: `gpus[${k}].pci ${JSON.stringify(g.pci)} is not a PCI bus id` };
    gpus.push({
      index: k,
      ...(typeof g.uuid === "string" ? { uuid: g.uuid } : {}),
      ...(pci !== undefined ? { pci } : {}),
      ...(typeof g.numa === "number" ? { numa: g.numa } : {}),
      ...(typeof g.memMiB === "number" ? { memMiB: g.memMiB } : {}),
      ...(typeof g.product === "string" ? { product: g.product } : {}),
      ...(g.mig === true ? { mig: true } : {}),
    });
  }
  const want = (n * (n - 1)) / 2;
  if (!Array.isArray(raw.links) || raw.links.length !== want) {
    return { ok: false, reason: `links must list the ${want} pairs of ${n} GPUs (upper triangle), got ${Array.isArray(raw.links) ? raw.links.length : "none"}` };
  }
  const links: LinkCode[] = [];
  for (let k = 0; k < want; k++) {
    const code = raw.links[k];
    const parsed = typeof code === "string" ? parseLinkCode(code) : undefined;
    if (!parsed) return { ok: false, reason: `links[${k}] ${JSON.stringify(code)} is not a link code (NV<n>, SB, PIX, PXB, PHB, NODE, SYS)` };
    links.push(parsed);
  }
  if (raw.nvlinkGBps !== undefined && !(typeof raw.nvlinkGBps === "number" && raw.nvlinkGBps > 0 && raw.nvlinkGBps <= 1000)) {
    return { ok: false, reason: "nvlinkGBps must be a number in (0, 1000]" };
  }
  return {
    ok: true,
    annotation: { v: 1, gpus, links: links.map(linkCodeOf), ...(typeof raw.nvlinkGBps === "number" ? { nvlinkGBps: raw.nvlinkGBps } : {}) },
    links,
  };
}
