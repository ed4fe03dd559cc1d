// How many GPUs a pod asks for, following kubelet's effective-request rules:
// the larger of (app containers + restartable init "sidecars") and the peak of
// any single init container run (plus the sidecars started before it).
import type { ContainerWire, PodWire } from "./schema.js";

const SUFFIX: Record<string, number> = {
  "": 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, Pi: 1024 ** 5, Ei: 1024 ** 6, m: 1e-3,
};
const QUANTITY = /^\s*([+-]?(?:\d+\.?\d*|\.\d+))(?:[eE]([+-]?\d+))?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?\s*$/;

/** Parses a Kubernetes quantity; NaN when it is not one. */
export function parseQuantity(v: unknown): number {
  if (typeof v === "number") return Number.isFinite(v) ? v : Number.NaN;
  if (typeof v !== "string") return Number.NaN;
  const m = QUANTITY.exec(v);
  if (!m) return Number.NaN;
  const base = Number(m[1]) * (m[2] !== undefined ? 10 ** Number(m[2]) : 1);
  return base * (SUFFIX[m[3] ?? ""] ?? Number.NaN);
}

function containerGpus(c: ContainerWire | undefined, resources: ReadonlySet<string>): number {
  const req = c?.resources?.requests;
  const lim = c?.resources?.limits;
  let total = 0;
  for (const r of resources) {
    const raw = req?.[r] ?? lim?.[r];
    if (raw === undefined) continue;
    const n = parseQuantity(raw);
    if (Number.isFinite(n) && n > 0) total += Math.ceil(n);
  }
  return total;
}

function asArray(v: unknown): ContainerWire[] {
  return Array.isArray(v) ? (v.filter((c) => c !== null && typeof c === "object") as ContainerWire[]) : [];
}

/** Whether any container or init container names one of `resources` with a positive amount. */
export function countPodGpus(pod: PodWire, resources: ReadonlySet<string>): number {
  const spec = pod.spec;
  let app = 0;
  for (const c of asArray(spec?.containers)) app += containerGpus(c, resources);
  let sidecars = 0;
  let initPeak = 0;
  for (const c of asArray(spec?.initContainers)) {
    const n = containerGpus(c, resources);
    if (c.restartPolicy === "Always") sidecars += n;
    else initPeak = Math.max(initPeak, sidecars + n);
  }
  return Math.max(app + sidecars, initPeak);
}
