// Wire shapes of admission.k8s.io/v1 AdmissionReview and the parts of a core/v1
// Pod that the webhook reads or writes. Fields we do not know are carried along
// untouched (index signatures), since the patch is computed by diff.

export const ADMISSION_API_VERSION = "admission.k8s.io/v1";
export const ADMISSION_KIND = "AdmissionReview";

export interface GroupVersionKindWire {
  group?: string;
  version?: string;
  kind?: string;
}

export interface AdmissionRequestWire {
  uid: string;
  kind?: GroupVersionKindWire;
  resource?: { group?: string; version?: string; resource?: string };
  subResource?: string;
  name?: string;
  namespace?: string;
  operation?: string;
  userInfo?: { username?: string; groups?: string[] };
  object?: unknown;
  oldObject?: unknown;
  dryRun?: boolean;
  options?: unknown;
}

export interface AdmissionReviewRequestWire {
  apiVersion: string;
  kind: string;
  request: AdmissionRequestWire;
}

export interface AdmissionResponseWire {
  uid: string;
  allowed: boolean;
  patchType?: "JSONPatch";
  patch?: string;
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
  status?: { code?: number; message?: string; reason?: string };
}

export interface AdmissionReviewResponseWire {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: typeof ADMISSION_KIND;
  response: AdmissionResponseWire;
}

export type ResourceListWire = Record<string, string | number>;

/** A container's reference to one of the pod's resource claims (and optionally one request of it). */
export interface ContainerClaimWire {
  name: string;
  request?: string;
}

export interface ContainerWire {
  name?: string;
  resources?: { requests?: ResourceListWire; limits?: ResourceListWire; claims?: ContainerClaimWire[]; [k: string]: unknown };
  restartPolicy?: string;
  [k: string]: unknown;
}

export interface TolerationWire {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
  tolerationSeconds?: number;
}

export interface NodeSelectorRequirementWire {
  key: string;
  operator: string;
  values?: string[];
}

export interface NodeSelectorTermWire {
  matchExpressions?: NodeSelectorRequirementWire[];
  matchFields?: NodeSelectorRequirementWire[];
}

export interface PreferredSchedulingTermWire {
  weight: number;
  preference: NodeSelectorTermWire;
}

export interface AffinityWire {
  nodeAffinity?: {
    requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms?: NodeSelectorTermWire[] };
    preferredDuringSchedulingIgnoredDuringExecution?: PreferredSchedulingTermWire[];
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

/** spec.resourceClaims[]: a claim of the pod, from a template (one claim per pod) or an existing claim. */
export interface PodResourceClaimWire {
  name?: string;
  resourceClaimTemplateName?: string;
  resourceClaimName?: string;
}

export interface PodWire {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    generateName?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [k: string]: unknown;
  };
  spec?: {
    containers?: ContainerWire[];
    initContainers?: ContainerWire[];
    tolerations?: TolerationWire[];
    nodeSelector?: Record<string, string>;
    affinity?: AffinityWire;
    priorityClassName?: string;
    priority?: number;
    preemptionPolicy?: string;
    schedulerName?: string;
    runtimeClassName?: string;
    resourceClaims?: PodResourceClaimWire[];
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

// resource.k8s.io/v1 ResourceClaimTemplate, as topofit writes it (wire-formats §4.3:
// note the double `spec`, and the request fields under `exactly`).
export const RESOURCE_API_VERSION = "resource.k8s.io/v1";

export interface DeviceSelectorWire {
  cel: { expression: string };
}

export interface ExactDeviceRequestWire {
  deviceClassName: string;
  allocationMode?: "ExactCount" | "All";
  count?: number;
  selectors?: DeviceSelectorWire[];
}

export interface DeviceRequestWire {
  name: string;
  exactly: ExactDeviceRequestWire;
}

export interface DeviceConstraintWire {
  requests: string[];
  matchAttribute: string;
}

export interface ResourceClaimSpecWire {
  devices: { requests: DeviceRequestWire[]; constraints?: DeviceConstraintWire[] };
}

export interface ResourceClaimTemplateWire {
  apiVersion: typeof RESOURCE_API_VERSION;
  kind: "ResourceClaimTemplate";
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  spec: { spec: ResourceClaimSpecWire };
}
