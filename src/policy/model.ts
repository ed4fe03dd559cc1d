// The defaulted, validated, immutable policy that the webhook and the extender read.
import type { DcgmHealthRules } from "../topology/dcgm.js";
import type { TopologyProfile } from "../topology/profiles.js";
import type {
  CLAIM_SHARING_MODES,
  GPU_LINK_MODES,
  INJECT_MODES,
  LabelSelectorSpec,
  NodeSelectorTermSpec,
  NUMA_MODES,
  PreferredTermSpec,
  STRATEGIES,
  TolerationSpec,
} from "./schema.js";

export type GpuLinkMode = (typeof GPU_LINK_MODES)[number];
export type NumaMode = (typeof NUMA_MODES)[number];
export type Strategy = (typeof STRATEGIES)[number];
export type InjectMode = (typeof INJECT_MODES)[number];
export type ClaimSharing = (typeof CLAIM_SHARING_MODES)[number];

/** Name of the one device request in every ResourceClaimTemplate topofit generates. */
export const CLAIM_REQUEST_NAME = "gpus";

/** Which resource claims hold GPUs: `spec.dra` with its defaults filled in. */
export interface DraSettings {
  /** A claim request for a device of one of these classes asks for GPUs. */
  readonly gpuDeviceClasses: ReadonlySet<string>;
  /** ResourceSlice devices published by one of these drivers are GPUs. */
  readonly gpuDrivers: ReadonlySet<string>;
}

/** The pieces of a generated ResourceClaimTemplate that do not depend on the pod, computed once per policy load. */
export interface ClaimTemplateParts {
  readonly selectors: readonly { readonly cel: { readonly expression: string } }[];
  readonly constraints: readonly { readonly requests: readonly string[]; readonly matchAttribute: string }[];
}

/** A rule's `inject.dra`, resolved. */
export interface RuleDra {
  readonly deviceClassName: string;
  readonly selectors: readonly string[];
  readonly matchAttributes: readonly string[];
  readonly convertExtendedResources: boolean;
  /** PerContainer: one claim per GPU container; PerPod: one claim shared by the pod's GPU containers. */
  readonly claimSharing: ClaimSharing;
  readonly template: ClaimTemplateParts;
}

export interface Placement {
  readonly gpuLinks: GpuLinkMode;
  readonly numa: NumaMode;
  readonly strategy: Strategy;
}

export interface RuleMatch {
  /** undefined: any namespace. */
  readonly namespaces?: ReadonlySet<string>;
  readonly namespaceSelector?: LabelSelectorSpec;
  readonly podSelector?: LabelSelectorSpec;
  readonly gpus: { readonly min: number; readonly max?: number };
}

export interface RuleInject {
  readonly tolerations: readonly TolerationSpec[];
  readonly nodeSelector: Readonly<Record<string, string>>;
  readonly nodeSelectorMode: InjectMode;
  readonly requiredTerms: readonly NodeSelectorTermSpec[];
  readonly preferredTerms: readonly PreferredTermSpec[];
  readonly priorityClassName?: string;
  readonly priorityClassMode: InjectMode;
  readonly schedulerName?: string;
  readonly runtimeClassName?: string;
  /** undefined when the rule has no `inject.dra`. */
  readonly dra?: RuleDra;
}

export interface Rule {
  readonly name: string;
  readonly index: number;
  readonly match: RuleMatch;
  readonly inject: RuleInject;
  readonly placement: Placement;
  /** The value of the topofit.io/placement annotation, computed once per policy load. */
  readonly placementAnnotation: string;
}

export interface Scoring {
  /** Cost classes, most preferred first (empty: no preference). */
  readonly costPreference: readonly string[];
  /** Pod labels naming a multi-pod group, tried in order. */
  readonly groupLabels: readonly string[];
}

export interface Policy {
  readonly scoring: Scoring;
  /** When DCGM data makes a GPU unhealthy. */
  readonly gpuHealth: DcgmHealthRules;
  /** Admins' topology profiles, tried before the built-in ones. */
  readonly topologyProfiles: readonly TopologyProfile[];
  readonly gpuResources: readonly string[];
  readonly gpuResourceSet: ReadonlySet<string>;
  readonly dra: DraSettings;
  readonly excludedNamespaces: ReadonlySet<string>;
  readonly defaultPlacement: Placement;
  readonly rules: readonly Rule[];
}

/** A policy in force, as handed out by the PolicyStore. */
export interface PolicySnapshot {
  readonly policy: Policy;
  /** Increases by one on every accepted load. */
  readonly generation: number;
  /** Where it came from: "embedded", "file:/path", "configmap:ns/name". */
  readonly source: string;
  readonly loadedAt: Date;
  /** Content hash, to skip reloads of unchanged content. */
  readonly digest: string;
}

/** One validation problem, with the path of the offending field. */
export interface PolicyIssue {
  readonly path: string;
  readonly message: string;
}

export function formatIssue(issue: PolicyIssue): string {
  return issue.path ? `${issue.path}: ${issue.message}` : issue.message;
}

/** Compact JSON of a placement, keys in a fixed order, as written to pods. */
export function encodePlacement(p: Placement): string {
  return JSON.stringify({ gpuLinks: p.gpuLinks, numa: p.numa, strategy: p.strategy });
}
