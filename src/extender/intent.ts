// What a pod asks of the extender: how many GPUs, and the placement the
// webhook recorded (or the policy default when the pod carries none, e.g. the
// webhook was down and failurePolicy Ignore let it through).
import { countPodGpus } from "../admission/gpu-request.js";
import { PLACEMENT_ANNOTATION } from "../admission/keys.js";
import type { PodWire } from "../admission/schema.js";
import type { Placement, Policy } from "../policy/model.js";
import { GPU_LINK_MODES, NUMA_MODES, STRATEGIES } from "../policy/schema.js";
import type { PodClaimsWire } from "../topology/dra-schema.js";
import type { ClaimGpuCounter } from "../topology/store.js";

export interface PodIntent {
  readonly gpus: number;
  /** Where the GPU count came from: extended resources (device plugin, or DRA's extended-resource mapping) or ResourceClaims. */
  readonly gpuSource?: "resources" | "claims";
  /** Claims the pod names that are not known yet; its GPU count may be short by their share. */
  readonly unresolvedClaims?: number;
  readonly placement: Placement;
  /** Where the placement came from, for explanations. */
  readonly placementSource: "annotation" | "policy-default";
  /** "namespace/value" of the first group label the pod carries, if any. */
  readonly group?: string;
}

function parsePlacement(text: string | undefined): Placement | undefined {
  if (text === undefined) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (raw === null || typeof raw !== "object") return undefined;
  const r = raw as Record<string, unknown>;
  const oneOf = <T extends string>(v: unknown, allowed: readonly T[]): T | undefined =>
    typeof v === "string" && (allowed as readonly string[]).includes(v) ? (v as T) : undefined;
  const gpuLinks = oneOf(r.gpuLinks, GPU_LINK_MODES);
  const numa = oneOf(r.numa, NUMA_MODES);
  const strategy = oneOf(r.strategy, STRATEGIES);
  if (!gpuLinks || !numa || !strategy) return undefined;
  return { gpuLinks, numa, strategy };
}

export function podIntent(pod: PodWire, policy: Policy, groupLabels: readonly string[], claims?: ClaimGpuCounter): PodIntent {
  let gpus = countPodGpus(pod, policy.gpuResourceSet);
  let gpuSource: "resources" | "claims" = "resources";
  let unresolvedClaims = 0;
  const podClaims = (pod as PodClaimsWire).spec?.resourceClaims;
  if (gpus === 0 && claims !== undefined && Array.isArray(podClaims) && podClaims.length > 0) {
    const c = claims(pod as PodClaimsWire);
    gpus = c.gpus;
    gpuSource = "claims";
    unresolvedClaims = c.unresolved;
  }
  const fromAnnotation = parsePlacement(pod.metadata?.annotations?.[PLACEMENT_ANNOTATION]);
  const labels = pod.metadata?.labels ?? {};
  const groupKey = groupLabels.find((k) => typeof labels[k] === "string" && labels[k] !== "");
  const ns = pod.metadata?.namespace ?? "default";
  return {
    gpus,
    gpuSource,
    unresolvedClaims,
    placement: fromAnnotation ?? policy.defaultPlacement,
    placementSource: fromAnnotation ? "annotation" : "policy-default",
    ...(groupKey !== undefined ? { group: `${ns}/${labels[groupKey]}` } : {}),
  };
}
