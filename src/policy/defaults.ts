// Turns a validated PlacementPolicy document into the immutable Policy model,
// filling every default in one place.
import type { Placement, Policy, Rule, RuleDra } from "./model.js";
import { resolveDcgmHealthRules } from "../topology/dcgm.js";
import { DEFAULT_DRA } from "../topology/dra.js";
import type { TopologyProfile } from "../topology/profiles.js";
import { CLAIM_REQUEST_NAME, encodePlacement } from "./model.js";
import { COST_CLASS_NAMES, type DraInjectSpec, type PlacementPolicyDocument, type PlacementSpec, type RuleSpec } from "./schema.js";

export const DEFAULT_GPU_RESOURCES = ["nvidia.com/gpu"] as const;
export const DEFAULT_EXCLUDED_NAMESPACES = ["kube-system", "topofit-system"] as const;
export const DEFAULT_GROUP_LABELS = [
  "topofit.io/group",
  "jobset.sigs.k8s.io/jobset-name",
  "leaderworkerset.sigs.k8s.io/name",
  "batch.kubernetes.io/job-name",
] as const;
export const DEFAULT_GPU_DEVICE_CLASSES: readonly string[] = [...DEFAULT_DRA.gpuDeviceClasses];
export const DEFAULT_GPU_DRIVERS: readonly string[] = [...DEFAULT_DRA.gpuDrivers];
export const DEFAULT_PLACEMENT: Placement = { gpuLinks: "Any", numa: "Any", strategy: "BinPack" };

function fillPlacement(spec: PlacementSpec | undefined, base: Placement): Placement {
  return {
    gpuLinks: spec?.gpuLinks ?? base.gpuLinks,
    numa: spec?.numa ?? base.numa,
    strategy: spec?.strategy ?? base.strategy,
  };
}

function buildDra(spec: DraInjectSpec): RuleDra {
  const selectors = spec.selectors ?? [];
  const matchAttributes = spec.matchAttributes ?? [];
  return {
    deviceClassName: spec.deviceClassName,
    selectors,
    matchAttributes,
    convertExtendedResources: spec.convertExtendedResources ?? false,
    claimSharing: spec.claimSharing ?? "PerContainer",
    template: {
      selectors: selectors.map((expression) => ({ cel: { expression } })),
      constraints: matchAttributes.map((matchAttribute) => ({ requests: [CLAIM_REQUEST_NAME], matchAttribute })),
    },
  };
}

function buildRule(spec: RuleSpec, index: number, defaultPlacement: Placement): Rule {
  const match = spec.match ?? {};
  const inject = spec.inject ?? {};
  const placement = fillPlacement(spec.placement, defaultPlacement);
  return {
    name: spec.name,
    index,
    match: {
      ...(match.namespaces !== undefined ? { namespaces: new Set(match.namespaces) } : {}),
      ...(match.namespaceSelector !== undefined ? { namespaceSelector: match.namespaceSelector } : {}),
      ...(match.podSelector !== undefined ? { podSelector: match.podSelector } : {}),
      gpus: { min: match.gpus?.min ?? 0, ...(match.gpus?.max !== undefined ? { max: match.gpus.max } : {}) },
    },
    inject: {
      tolerations: inject.tolerations ?? [],
      nodeSelector: inject.nodeSelector ?? {},
      nodeSelectorMode: inject.nodeSelectorMode ?? "IfAbsent",
      requiredTerms: inject.nodeAffinity?.required ?? [],
      preferredTerms: inject.nodeAffinity?.preferred ?? [],
      ...(inject.priorityClassName !== undefined ? { priorityClassName: inject.priorityClassName } : {}),
      priorityClassMode: inject.priorityClassMode ?? "IfAbsent",
      ...(inject.schedulerName !== undefined ? { schedulerName: inject.schedulerName } : {}),
      ...(inject.runtimeClassName !== undefined ? { runtimeClassName: inject.runtimeClassName } : {}),
      ...(inject.dra !== undefined ? { dra: buildDra(inject.dra) } : {}),
    },
    placement,
    placementAnnotation: encodePlacement(placement),
  };
}

/** Applies defaults. The document must already have passed validatePolicyDocument. */
export function buildPolicy(doc: PlacementPolicyDocument): Policy {
  const spec = doc.spec;
  const defaultPlacement = fillPlacement(spec.defaultPlacement, DEFAULT_PLACEMENT);
  const gpuResources = spec.gpuResources ?? [...DEFAULT_GPU_RESOURCES];
  return {
    gpuHealth: resolveDcgmHealthRules(spec.gpuHealth ?? {}),
    // Validated by validateProfiles during validatePolicyDocument.
    topologyProfiles: (spec.topologyProfiles ?? []) as TopologyProfile[],
    scoring: {
      // The code's own constants for the same names: a node's cost class is one of them, so the
      // comparison made for every candidate node is one of references, not of characters.
      costPreference: (spec.scoring?.costPreference ?? []).map((c) => COST_CLASS_NAMES.find((k) => k === c) ?? c),
      groupLabels: spec.scoring?.groupLabels ?? [...DEFAULT_GROUP_LABELS],
    },
    gpuResources,
    gpuResourceSet: new Set(gpuResources),
    dra: {
      gpuDeviceClasses: new Set(spec.dra?.gpuDeviceClasses ?? DEFAULT_GPU_DEVICE_CLASSES),
      gpuDrivers: new Set(spec.dra?.gpuDrivers ?? DEFAULT_GPU_DRIVERS),
    },
    excludedNamespaces: new Set(spec.excludedNamespaces ?? DEFAULT_EXCLUDED_NAMESPACES),
    defaultPlacement,
    rules: (spec.rules ?? []).map((r, i) => buildRule(r, i, defaultPlacement)),
  };
}
