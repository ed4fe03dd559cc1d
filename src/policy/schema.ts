// Wire schema of the PlacementPolicy document, as admins write it (YAML or JSON).
// Every object is closed (additionalProperties: false) so that a typo in a field
// name is a validation error instead of a silently ignored setting.
import { Type, type Static, type TSchema } from "@sinclair/typebox";

export const POLICY_API_VERSION = "topofit.io/v1alpha1";
export const POLICY_KIND = "PlacementPolicy";

/** A string limited to a closed set; rendered as JSON Schema `enum` for readable errors. */
export function StringEnum<const T extends readonly string[]>(values: T, options: { default?: T[number]; description?: string } = {}) {
  return Type.Unsafe<T[number]>({ type: "string", enum: [...values], ...options });
}

const closed = { additionalProperties: false } as const;
const StringList = Type.Array(Type.String());
const StringMap = Type.Record(Type.String(), Type.String());

export const TOLERATION_OPERATORS = ["Exists", "Equal"] as const;
export const TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"] as const;
export const LABEL_SELECTOR_OPERATORS = ["In", "NotIn", "Exists", "DoesNotExist"] as const;
export const NODE_SELECTOR_OPERATORS = ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"] as const;
export const INJECT_MODES = ["IfAbsent", "Override"] as const;
export const GPU_LINK_MODES = ["Any", "NVLinkPreferred", "NVLinkRequired"] as const;
export const NUMA_MODES = ["Any", "Preferred", "SingleNode"] as const;
export const STRATEGIES = ["BinPack", "Spread"] as const;
export const COST_CLASS_NAMES = ["on-prem", "on-demand", "spot", "unknown"] as const;
export const CLAIM_SHARING_MODES = ["PerContainer", "PerPod"] as const;

export const TolerationSchema = Type.Object(
  {
    key: Type.Optional(Type.String()),
    operator: Type.Optional(StringEnum(TOLERATION_OPERATORS)),
    value: Type.Optional(Type.String()),
    effect: Type.Optional(StringEnum(TAINT_EFFECTS)),
    tolerationSeconds: Type.Optional(Type.Integer()),
  },
  closed,
);

const LabelSelectorRequirementSchema = Type.Object(
  { key: Type.String(), operator: StringEnum(LABEL_SELECTOR_OPERATORS), values: Type.Optional(StringList) },
  closed,
);

export const LabelSelectorSchema = Type.Object(
  { matchLabels: Type.Optional(StringMap), matchExpressions: Type.Optional(Type.Array(LabelSelectorRequirementSchema)) },
  closed,
);

const NodeSelectorRequirementSchema = Type.Object(
  { key: Type.String(), operator: StringEnum(NODE_SELECTOR_OPERATORS), values: Type.Optional(StringList) },
  closed,
);

const NodeSelectorTermSchema = Type.Object(
  {
    matchExpressions: Type.Optional(Type.Array(NodeSelectorRequirementSchema)),
    matchFields: Type.Optional(Type.Array(NodeSelectorRequirementSchema)),
  },
  closed,
);

const PreferredTermSchema = Type.Object(
  {
    weight: Type.Integer({ minimum: 1, maximum: 100 }),
    matchExpressions: Type.Optional(Type.Array(NodeSelectorRequirementSchema)),
    matchFields: Type.Optional(Type.Array(NodeSelectorRequirementSchema)),
  },
  closed,
);

export const MatchSchema = Type.Object(
  {
    namespaces: Type.Optional(StringList),
    namespaceSelector: Type.Optional(LabelSelectorSchema),
    podSelector: Type.Optional(LabelSelectorSchema),
    gpus: Type.Optional(
      Type.Object({ min: Type.Optional(Type.Integer({ minimum: 0 })), max: Type.Optional(Type.Integer({ minimum: 0 })) }, closed),
    ),
  },
  closed,
);

/** Dynamic Resource Allocation: GPUs asked for as resource claims instead of extended resources. */
export const DraInjectSchema = Type.Object(
  {
    deviceClassName: Type.String(),
    /** CEL expressions every device of the claim must satisfy. */
    selectors: Type.Optional(StringList),
    /** Fully qualified attribute names whose value all devices of the claim share. */
    matchAttributes: Type.Optional(StringList),
    convertExtendedResources: Type.Optional(Type.Boolean()),
    claimSharing: Type.Optional(StringEnum(CLAIM_SHARING_MODES)),
  },
  closed,
);

export const InjectSchema = Type.Object(
  {
    tolerations: Type.Optional(Type.Array(TolerationSchema)),
    nodeSelector: Type.Optional(StringMap),
    nodeSelectorMode: Type.Optional(StringEnum(INJECT_MODES)),
    nodeAffinity: Type.Optional(
      Type.Object(
        { required: Type.Optional(Type.Array(NodeSelectorTermSchema)), preferred: Type.Optional(Type.Array(PreferredTermSchema)) },
        closed,
      ),
    ),
    priorityClassName: Type.Optional(Type.String()),
    priorityClassMode: Type.Optional(StringEnum(INJECT_MODES)),
    schedulerName: Type.Optional(Type.String()),
    runtimeClassName: Type.Optional(Type.String()),
    dra: Type.Optional(DraInjectSchema),
  },
  closed,
);

export const PlacementSchema = Type.Object(
  {
    gpuLinks: Type.Optional(StringEnum(GPU_LINK_MODES)),
    numa: Type.Optional(StringEnum(NUMA_MODES)),
    strategy: Type.Optional(StringEnum(STRATEGIES)),
  },
  closed,
);

export const RuleSchema = Type.Object(
  {
    name: Type.String(),
    match: Type.Optional(MatchSchema),
    inject: Type.Optional(InjectSchema),
    placement: Type.Optional(PlacementSchema),
  },
  closed,
);

export const ScoringSchema = Type.Object(
  {
    costPreference: Type.Optional(Type.Array(StringEnum(COST_CLASS_NAMES))),
    groupLabels: Type.Optional(StringList),
  },
  closed,
);

export const GpuHealthSchema = Type.Object(
  {
    xidErrors: Type.Optional(Type.Boolean()),
    benignXids: Type.Optional(Type.Array(Type.Integer({ minimum: 0 }))),
    rowRemapFailure: Type.Optional(Type.Boolean()),
    uncorrectableRemappedRowsRising: Type.Optional(Type.Boolean()),
    maxTemperatureC: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 200 }), Type.Null()])),
  },
  closed,
);

/** Which device classes and drivers are GPUs, for pods whose GPUs come from resource claims. */
export const DraSchema = Type.Object(
  {
    gpuDeviceClasses: Type.Optional(StringList),
    gpuDrivers: Type.Optional(StringList),
  },
  closed,
);

export const PolicySpecSchema = Type.Object(
  {
    scoring: Type.Optional(ScoringSchema),
    gpuHealth: Type.Optional(GpuHealthSchema),
    /** Checked in depth by the topology profile validator. */
    topologyProfiles: Type.Optional(Type.Array(Type.Unknown())),
    gpuResources: Type.Optional(StringList),
    dra: Type.Optional(DraSchema),
    excludedNamespaces: Type.Optional(StringList),
    defaultPlacement: Type.Optional(PlacementSchema),
    rules: Type.Optional(Type.Array(RuleSchema)),
  },
  closed,
);

export const PlacementPolicySchema = Type.Object(
  {
    apiVersion: Type.Unsafe<typeof POLICY_API_VERSION>({ type: "string", const: POLICY_API_VERSION }),
    kind: Type.Unsafe<typeof POLICY_KIND>({ type: "string", const: POLICY_KIND }),
    metadata: Type.Optional(Type.Object({ name: Type.Optional(Type.String()), labels: Type.Optional(StringMap), annotations: Type.Optional(StringMap) })),
    spec: PolicySpecSchema,
  },
  closed,
);

export type TolerationSpec = Static<typeof TolerationSchema>;
export type LabelSelectorSpec = Static<typeof LabelSelectorSchema>;
export type NodeSelectorRequirementSpec = Static<typeof NodeSelectorRequirementSchema>;
export type NodeSelectorTermSpec = Static<typeof NodeSelectorTermSchema>;
export type PreferredTermSpec = Static<typeof PreferredTermSchema>;
export type MatchSpec = Static<typeof MatchSchema>;
export type InjectSpec = Static<typeof InjectSchema>;
export type DraInjectSpec = Static<typeof DraInjectSchema>;
export type DraSpec = Static<typeof DraSchema>;
export type PlacementSpec = Static<typeof PlacementSchema>;
export type RuleSpec = Static<typeof RuleSchema>;
export type PlacementPolicyDocument = Static<typeof PlacementPolicySchema>;
export type AnySchema = TSchema;
