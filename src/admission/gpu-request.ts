// How many GPUs a pod asks for, following kubelet's effective-request rules:
// the larger of (app containers + restartable init "sidecars") and the peak of
// any single init container run (plus the sidecars started before it); and how
// many its resource claims hold, from the ResourceClaimTemplates they come from.
import type { ContainerWire, PodResourceClaimWire, PodWire } from "./schema.js";

const SUFFIX: Record<string, number> = {
  "": 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, Pi: 1024 ** 5, Ei: 1024 ** 6, m: 1e-3,
};
const QUANTITY = /^\s*([+-]?(?:\d+\.?\d*|\.\d+))(?:[eE]([+-]?\d+))?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?\s*$/;

/** A short run of decimal digits, as GPU counts are written ("1", "8"): read without the regex. */
function plainCount(v: string): number {
  if (v.length === 0 || v.length > 6) return -1;
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const d = v.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** Parses a Kubernetes quantity; NaN when it is not one. */
export function parseQuantity(v: unknown): number {
  if (typeof v === "number") return Number.isFinite(v) ? v : Number.NaN;
  if (typeof v !== "string") return Number.NaN;
  const plain = plainCount(v);
  if (plain >= 0) return plain;
  const m = QUANTITY.exec(v);
  if (!m) return Number.NaN;
  const base = Number(m[1]) * (m[2] !== undefined ? 10 ** Number(m[2]) : 1);
  return base * (SUFFIX[m[3] ?? ""] ?? Number.NaN);
}

function containerGpus(c: ContainerWire | undefined, resources: ReadonlySet<string>): number {
  const req = c?.resources?.requests;
  const lim = c?.resources?.limits;
  if (req == null && lim == null) return 0;
  let total = 0;
  for (const r of resources) {
    const raw = req?.[r] ?? lim?.[r];
    if (raw === undefined) continue;
    const n = parseQuantity(raw);
    if (Number.isFinite(n) && n > 0) total += Math.ceil(n);
  }
  return total;
}

function isContainer(c: unknown): c is ContainerWire {
  return c !== null && typeof c === "object";
}

/** Whether any container or init container names one of `resources` with a positive amount. */
export function countPodGpus(pod: PodWire, resources: ReadonlySet<string>): number {
  const spec = pod.spec;
  let app = 0;
  const containers: unknown = spec?.containers;
  if (Array.isArray(containers)) for (const c of containers) if (isContainer(c)) app += containerGpus(c, resources);
  let sidecars = 0;
  let initPeak = 0;
  const inits: unknown = spec?.initContainers;
  if (Array.isArray(inits)) {
    for (const c of inits) {
      if (!isContainer(c)) continue;
      const n = containerGpus(c, resources);
      if (c.restartPolicy === "Always") sidecars += n;
      else initPeak = Math.max(initPeak, sidecars + n);
    }
  }
  return Math.max(app + sidecars, initPeak);
}

/** One device request of a ResourceClaimTemplate, as far as counting GPUs needs it. */
export interface DeviceRequestSummary {
  readonly deviceClassName: string;
  /** "ExactCount" or "All". */
  readonly allocationMode: string;
  readonly count: number;
  /** From a `firstAvailable` request: its first alternative. */
  readonly firstAvailable: boolean;
}

/** What topofit keeps of a ResourceClaimTemplate. */
export interface ClaimTemplateDevices {
  readonly requests: readonly DeviceRequestSummary[];
}

export interface ClaimGpuCount {
  /** GPUs held by the claims that could be counted. */
  readonly gpus: number;
  /** Claims whose devices could not be counted, each with why. */
  readonly uncounted: readonly string[];
  readonly notes: readonly string[];
}

/** The pod's spec.resourceClaims entries (objects only; anything else counts as absent). */
export function podResourceClaims(pod: PodWire): readonly PodResourceClaimWire[] {
  const claims = pod.spec?.resourceClaims;
  return Array.isArray(claims) ? claims.filter((c): c is PodResourceClaimWire => c !== null && typeof c === "object") : [];
}

/**
 * GPUs the pod holds through its resource claims: the device requests, in the
 * templates its claims come from, for a class in `gpuClasses`. A claim holds
 * its devices for the pod's whole life, whichever containers use it, so every
 * claim counts once. `allocationMode: All` counts as one GPU (at least one is
 * allocated); a `firstAvailable` request counts as its first alternative.
 */
export function countClaimGpus(
  claims: readonly PodResourceClaimWire[],
  namespace: string,
  lookup: (namespace: string, name: string) => ClaimTemplateDevices | undefined,
  gpuClasses: ReadonlySet<string>,
): ClaimGpuCount {
  let gpus = 0;
  const uncounted: string[] = [];
  const notes: string[] = [];
  for (const claim of claims) {
    const label = `claim ${claim.name ?? "?"}`;
    if (typeof claim.resourceClaimTemplateName !== "string" || claim.resourceClaimTemplateName === "") {
      uncounted.push(
        typeof claim.resourceClaimName === "string" && claim.resourceClaimName !== ""
          ? `${label} names ResourceClaim ${claim.resourceClaimName}; topofit counts GPUs only in claims made from templates`
          : `${label} names neither a template nor a claim`,
      );
      continue;
    }
    const template = lookup(namespace, claim.resourceClaimTemplateName);
    if (template === undefined) {
      uncounted.push(`${label}: ResourceClaimTemplate ${namespace}/${claim.resourceClaimTemplateName} is not known to topofit (not created yet, or not listed yet)`);
      continue;
    }
    for (const r of template.requests) {
      if (!gpuClasses.has(r.deviceClassName)) continue;
      if (r.allocationMode === "All") {
        gpus += 1;
        notes.push(`${label}: allocationMode All of class ${r.deviceClassName} counted as 1 GPU (at least one)`);
      } else {
        gpus += r.count;
        if (r.firstAvailable) notes.push(`${label}: firstAvailable counted as its first alternative (${r.count} GPU${r.count === 1 ? "" : "s"})`);
      }
    }
  }
  return { gpus, uncounted, notes };
}
