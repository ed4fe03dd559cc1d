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

export interface ContainerWire {
  name?: string;
  resources?: { requests?: ResourceListWire; limits?: ResourceListWire; [k: string]: unknown };
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
    [k: string]: unknown;
  };
  [k: string]: unknown;
}
