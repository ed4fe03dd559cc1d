// Node label keys topofit reads, and the three facts derived from them alone:
// where the node sits in the network, which multi-node NVLink clique it is in,
// and what its capacity costs. Pure functions over a label map.

// --- GPU Feature Discovery (NVIDIA GPU operator) ---------------------------
export const GPU_PRODUCT_LABEL = "nvidia.com/gpu.product";
export const GPU_COUNT_LABEL = "nvidia.com/gpu.count";
/** MiB per GPU. */
export const GPU_MEMORY_LABEL = "nvidia.com/gpu.memory";
export const GPU_FAMILY_LABEL = "nvidia.com/gpu.family";
/** DMI product name or cloud instance type. */
export const GPU_MACHINE_LABEL = "nvidia.com/gpu.machine";
/** `<ClusterUUID>.<CliqueID>` on multi-node NVLink systems once Fabric Manager is ready. */
export const GPU_CLIQUE_LABEL = "nvidia.com/gpu.clique";

// --- topofit's own node labels (set by an admin) ---------------------------
/** Names the topology profile to use for this node, overriding label matching. */
export const TOPOLOGY_PROFILE_LABEL = "topofit.io/topology-profile";
/** Declares the node's cost class outright: spot, on-demand or on-prem. */
export const COST_CLASS_LABEL = "topofit.io/cost-class";

// --- network placement ------------------------------------------------------
/** Topograph: accelerated (NVLink) domain, and an optional locality inside it. */
export const TOPOGRAPH_ACCELERATOR_DOMAIN_LABEL = "accelerator.topograph.run/domain";
export const TOPOGRAPH_ACCELERATOR_SUBDOMAIN_LABEL = "accelerator.topograph.run/sub-domain";
/** Topograph switch tiers: `fabric.topograph.run/tier-N`, tier 0 nearest the node, higher tiers outward. */
export const TOPOGRAPH_TIER_LABEL_PREFIX = "fabric.topograph.run/tier-";
/** Topograph's earlier keys. */
export const NVIDIA_NETWORK_ACCELERATOR_LABEL = "network.topology.nvidia.com/accelerator";
export const NVIDIA_NETWORK_LEAF_LABEL = "network.topology.nvidia.com/leaf";
export const NVIDIA_NETWORK_SPINE_LABEL = "network.topology.nvidia.com/spine";
export const NVIDIA_NETWORK_CORE_LABEL = "network.topology.nvidia.com/core";
/** AWS: layer 1 is the outermost switch layer, layer 3 the one nearest the instance. */
export const AWS_NETWORK_LAYER_1_LABEL = "topology.k8s.aws/network-node-layer-1";
export const AWS_NETWORK_LAYER_2_LABEL = "topology.k8s.aws/network-node-layer-2";
export const AWS_NETWORK_LAYER_3_LABEL = "topology.k8s.aws/network-node-layer-3";
export const GCP_TOPOLOGY_BLOCK_LABEL = "cloud.google.com/gce-topology-block";
export const GCP_TOPOLOGY_SUBBLOCK_LABEL = "cloud.google.com/gce-topology-subblock";
export const GCP_TOPOLOGY_HOST_LABEL = "cloud.google.com/gce-topology-host";
export const OCI_NETWORK_BLOCK_LABEL = "oci.oraclecloud.com/host.network_block_id";
export const OCI_RACK_LABEL = "oci.oraclecloud.com/host.rack_id";

// --- cost -------------------------------------------------------------------
export const KARPENTER_CAPACITY_TYPE_LABEL = "karpenter.sh/capacity-type";
export const EKS_CAPACITY_TYPE_LABEL = "eks.amazonaws.com/capacityType";
export const EKS_NODEGROUP_LABEL = "eks.amazonaws.com/nodegroup";
export const GKE_SPOT_LABEL = "cloud.google.com/gke-spot";
export const GKE_PREEMPTIBLE_LABEL = "cloud.google.com/gke-preemptible";
export const GKE_PROVISIONING_LABEL = "cloud.google.com/gke-provisioning";
export const GKE_NODEPOOL_LABEL = "cloud.google.com/gke-nodepool";
export const AZURE_SCALESET_PRIORITY_LABEL = "kubernetes.azure.com/scalesetpriority";
export const AZURE_AGENTPOOL_LABEL = "kubernetes.azure.com/agentpool";

type Labels = Readonly<Record<string, string>>;

/** `nvidia.com/gpu.count` as a positive integer; undefined when absent or malformed. */
export function gpuCountOf(labels: Labels): number | undefined {
  const raw = labels[GPU_COUNT_LABEL];
  if (raw === undefined || !/^\d{1,4}$/.test(raw)) return undefined;
  const n = Number(raw);
  return n > 0 ? n : undefined;
}

// --- network path -------------------------------------------------------------

/** One level of a network hierarchy: a short name and the label that carries its value. */
export interface NetworkLevel {
  readonly name: string;
  readonly key: string;
}

/** A family of network labels, outermost level first. */
export interface NetworkScheme {
  readonly name: string;
  /** The levels this node carries under the scheme, outermost first (may depend on the labels present). */
  readonly levels: (labels: Labels) => readonly NetworkLevel[];
}

function topographLevels(labels: Labels): NetworkLevel[] {
  const tiers: number[] = [];
  for (const key of Object.keys(labels)) {
    if (!key.startsWith(TOPOGRAPH_TIER_LABEL_PREFIX)) continue;
    const tier = key.slice(TOPOGRAPH_TIER_LABEL_PREFIX.length);
    if (/^\d{1,3}$/.test(tier)) tiers.push(Number(tier));
  }
  tiers.sort((a, b) => b - a);
  return [
    ...tiers.map((t) => ({ name: `tier-${t}`, key: `${TOPOGRAPH_TIER_LABEL_PREFIX}${t}` })),
    { name: "accelerator", key: TOPOGRAPH_ACCELERATOR_DOMAIN_LABEL },
    { name: "accelerator-sub", key: TOPOGRAPH_ACCELERATOR_SUBDOMAIN_LABEL },
  ];
}

const fixed =
  (levels: readonly NetworkLevel[]) =>
  (): readonly NetworkLevel[] =>
    levels;

/**
 * The label families topofit recognises, tried in this order; the first one
 * with any label on the node gives its network path. Topograph (current keys,
 * then its earlier ones) comes before the clouds' own labels because it merges
 * switch tiers with NVLink domains.
 */
export const NETWORK_SCHEMES: readonly NetworkScheme[] = [
  { name: "topograph", levels: topographLevels },
  {
    name: "topograph-v0",
    levels: fixed([
      { name: "core", key: NVIDIA_NETWORK_CORE_LABEL },
      { name: "spine", key: NVIDIA_NETWORK_SPINE_LABEL },
      { name: "leaf", key: NVIDIA_NETWORK_LEAF_LABEL },
      { name: "accelerator", key: NVIDIA_NETWORK_ACCELERATOR_LABEL },
    ]),
  },
  {
    name: "aws",
    levels: fixed([
      { name: "layer-1", key: AWS_NETWORK_LAYER_1_LABEL },
      { name: "layer-2", key: AWS_NETWORK_LAYER_2_LABEL },
      { name: "layer-3", key: AWS_NETWORK_LAYER_3_LABEL },
    ]),
  },
  {
    name: "gcp",
    levels: fixed([
      { name: "block", key: GCP_TOPOLOGY_BLOCK_LABEL },
      { name: "subblock", key: GCP_TOPOLOGY_SUBBLOCK_LABEL },
      { name: "host", key: GCP_TOPOLOGY_HOST_LABEL },
    ]),
  },
  {
    name: "oci",
    levels: fixed([
      { name: "network-block", key: OCI_NETWORK_BLOCK_LABEL },
      { name: "rack", key: OCI_RACK_LABEL },
    ]),
  },
];

/** The levels of the first scheme in `schemes` that the node carries any label of; empty when none. */
export function detectNetworkLevels(labels: Labels, schemes: readonly NetworkScheme[] = NETWORK_SCHEMES): readonly NetworkLevel[] {
  for (const scheme of schemes) {
    const levels = scheme.levels(labels);
    if (levels.some((l) => nonEmpty(labels[l.key]))) return levels;
  }
  return [];
}

/**
 * The node's network placement as `[levelName, value]` pairs, outermost first.
 * With `levels` given, those keys are read in that order; without, the label
 * family is detected (see NETWORK_SCHEMES). Levels whose label is absent or
 * empty are left out.
 */
export function networkPath(labels: Labels, levels?: readonly NetworkLevel[]): readonly (readonly [string, string])[] {
  const out: (readonly [string, string])[] = [];
  for (const level of levels ?? detectNetworkLevels(labels)) {
    const value = labels[level.key];
    if (nonEmpty(value)) out.push([level.name, value]);
  }
  return out;
}

function nonEmpty(v: string | undefined): v is string {
  return v !== undefined && v !== "";
}

// --- multi-node NVLink clique -------------------------------------------------

export interface NvlinkClique {
  /** The NVL domain (one rack): the ClusterUUID before the last dot. */
  readonly domain: string;
  /** The NVL partition inside the domain: the full label value. */
  readonly partition: string;
}

/** The node's multi-node NVLink clique from `nvidia.com/gpu.clique`; undefined when the label is absent or empty. */
export function cliqueOf(labels: Labels): NvlinkClique | undefined {
  const value = labels[GPU_CLIQUE_LABEL];
  if (!nonEmpty(value)) return undefined;
  const dot = value.lastIndexOf(".");
  return { domain: dot > 0 ? value.slice(0, dot) : value, partition: value };
}

// --- cost class ---------------------------------------------------------------

export type CostClass = "spot" | "on-demand" | "on-prem" | "unknown";

export const COST_CLASSES: readonly CostClass[] = ["spot", "on-demand", "on-prem", "unknown"];

/**
 * Maps a label to a cost class. With `values`, the label's value must be one
 * of them (compared case-insensitively); without, the label only has to be
 * present and non-empty.
 */
export interface CostClassRule {
  readonly key: string;
  readonly values?: readonly string[];
  readonly costClass: CostClass;
}

/**
 * Tried in order; the first rule that holds decides. Explicit capacity-type
 * labels come first, then labels that only say "this is a managed cloud node
 * pool" (on-demand unless a spot rule already matched). On-prem nodes carry no
 * cloud labels, so they are recognised only through COST_CLASS_LABEL; anything
 * else is "unknown".
 */
export const DEFAULT_COST_CLASS_RULES: readonly CostClassRule[] = [
  { key: COST_CLASS_LABEL, values: ["spot"], costClass: "spot" },
  { key: COST_CLASS_LABEL, values: ["on-demand"], costClass: "on-demand" },
  { key: COST_CLASS_LABEL, values: ["on-prem"], costClass: "on-prem" },
  { key: KARPENTER_CAPACITY_TYPE_LABEL, values: ["spot"], costClass: "spot" },
  { key: KARPENTER_CAPACITY_TYPE_LABEL, values: ["on-demand", "reserved"], costClass: "on-demand" },
  { key: EKS_CAPACITY_TYPE_LABEL, values: ["SPOT"], costClass: "spot" },
  { key: EKS_CAPACITY_TYPE_LABEL, values: ["ON_DEMAND", "CAPACITY_BLOCK"], costClass: "on-demand" },
  { key: GKE_SPOT_LABEL, values: ["true"], costClass: "spot" },
  { key: GKE_PREEMPTIBLE_LABEL, values: ["true"], costClass: "spot" },
  { key: GKE_PROVISIONING_LABEL, values: ["spot", "preemptible"], costClass: "spot" },
  { key: AZURE_SCALESET_PRIORITY_LABEL, values: ["spot"], costClass: "spot" },
  { key: AZURE_SCALESET_PRIORITY_LABEL, values: ["regular"], costClass: "on-demand" },
  { key: EKS_NODEGROUP_LABEL, costClass: "on-demand" },
  { key: GKE_NODEPOOL_LABEL, costClass: "on-demand" },
  { key: AZURE_AGENTPOOL_LABEL, costClass: "on-demand" },
];

/** The cost class of the first rule that holds for these labels; "unknown" when none does. */
export function costClassOf(labels: Labels, rules: readonly CostClassRule[] = DEFAULT_COST_CLASS_RULES): CostClass {
  for (const rule of rules) {
    const value = labels[rule.key];
    if (!nonEmpty(value)) continue;
    if (rule.values === undefined) return rule.costClass;
    const v = value.toLowerCase();
    if (rule.values.some((want) => want.toLowerCase() === v)) return rule.costClass;
  }
  return "unknown";
}
