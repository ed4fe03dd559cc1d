// KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1) with topofit's
// extender. Pure functions: the local control plane writes the result to a
// file, and the install manifests build the same shape.

import { stringify } from "yaml";

export const GPU_RESOURCE_NAME = "nvidia.com/gpu";
export const DEFAULT_SCHEDULER_NAME = "default-scheduler";

/** kubescheduler.config.k8s.io/v1 ExtenderTLSConfig; the *Data fields are base64 strings. */
export interface ExtenderTlsConfig {
  insecure?: boolean;
  serverName?: string;
  certFile?: string;
  keyFile?: string;
  caFile?: string;
  certData?: string;
  keyData?: string;
  caData?: string;
}

export interface ExtenderManagedResource {
  name: string;
  ignoredByScheduler?: boolean;
}

/** kubescheduler.config.k8s.io/v1 Extender. */
export interface ExtenderConfig {
  urlPrefix: string;
  filterVerb?: string;
  preemptVerb?: string;
  prioritizeVerb?: string;
  bindVerb?: string;
  weight?: number;
  enableHTTPS?: boolean;
  tlsConfig?: ExtenderTlsConfig;
  /** A Go duration, e.g. "5s". */
  httpTimeout?: string;
  nodeCacheCapable?: boolean;
  managedResources?: ExtenderManagedResource[];
  ignorable?: boolean;
}

export interface SchedulerProfile {
  schedulerName: string;
  /** Passed through unchanged (plugins, pluginConfig, ...). */
  [field: string]: unknown;
}

export interface KubeSchedulerConfiguration {
  apiVersion: "kubescheduler.config.k8s.io/v1";
  kind: "KubeSchedulerConfiguration";
  clientConnection?: { kubeconfig?: string; qps?: number; burst?: number };
  leaderElection: {
    leaderElect: boolean;
    resourceName?: string;
    resourceNamespace?: string;
  };
  percentageOfNodesToScore?: number;
  profiles: SchedulerProfile[];
  extenders?: ExtenderConfig[];
}

/**
 * An extender as the caller describes it: only `urlPrefix` is required. An
 * empty string for a verb leaves that verb out (e.g. `prioritizeVerb: ""`).
 */
export type ExtenderSpec = { urlPrefix: string } & Partial<Omit<ExtenderConfig, "urlPrefix">>;

export interface SchedulerConfigInput {
  schedulerName?: string;
  /** Empty or absent: in-cluster configuration. */
  kubeconfigPath?: string;
  /** CA that signed the extenders' serving certificates; becomes each extender's tlsConfig.caData unless it has its own tlsConfig. */
  caPem?: string;
  extenders?: readonly ExtenderSpec[];
  percentageOfNodesToScore?: number;
  leaderElect?: boolean;
  /** Extra fields for the single profile (plugins, pluginConfig). */
  profile?: Omit<SchedulerProfile, "schedulerName">;
  /** Client rate limits towards the API server (kube-scheduler's defaults: 50 and 100). */
  qps?: number;
  burst?: number;
}

/**
 * Fills the defaults of one extender: filter + prioritize, HTTPS with the given
 * CA, not ignorable, and no managedResources (every pod of the scheduler is
 * sent, DRA claim pods included), as the shipped configuration has it.
 */
export function extenderConfig(spec: ExtenderSpec, caPem?: string): ExtenderConfig {
  const https = spec.enableHTTPS ?? spec.urlPrefix.startsWith("https:");
  const config: ExtenderConfig = {
    urlPrefix: spec.urlPrefix,
    filterVerb: spec.filterVerb ?? "filter",
    prioritizeVerb: spec.prioritizeVerb ?? "prioritize",
    weight: spec.weight ?? 1,
    enableHTTPS: https,
    httpTimeout: spec.httpTimeout ?? "5s",
    nodeCacheCapable: spec.nodeCacheCapable ?? true,
    ignorable: spec.ignorable ?? false,
  };
  if (spec.managedResources !== undefined && spec.managedResources.length > 0) config.managedResources = spec.managedResources;
  if (spec.preemptVerb) config.preemptVerb = spec.preemptVerb;
  if (spec.bindVerb) config.bindVerb = spec.bindVerb;
  if (!config.filterVerb) delete config.filterVerb;
  if (!config.prioritizeVerb) delete config.prioritizeVerb;
  if (spec.tlsConfig) config.tlsConfig = spec.tlsConfig;
  else if (https && caPem) config.tlsConfig = { caData: Buffer.from(caPem, "utf8").toString("base64") };
  return config;
}

export function buildSchedulerConfiguration(input: SchedulerConfigInput = {}): KubeSchedulerConfiguration {
  const config: KubeSchedulerConfiguration = {
    apiVersion: "kubescheduler.config.k8s.io/v1",
    kind: "KubeSchedulerConfiguration",
    leaderElection: { leaderElect: input.leaderElect ?? false },
    percentageOfNodesToScore: input.percentageOfNodesToScore ?? 100,
    profiles: [{ ...input.profile, schedulerName: input.schedulerName ?? DEFAULT_SCHEDULER_NAME }],
  };
  if (input.kubeconfigPath) config.clientConnection = { kubeconfig: input.kubeconfigPath };
  if (input.qps !== undefined) config.clientConnection = { ...config.clientConnection, qps: input.qps };
  if (input.burst !== undefined) config.clientConnection = { ...config.clientConnection, burst: input.burst };
  const extenders = (input.extenders ?? []).map((e) => extenderConfig(e, input.caPem));
  if (extenders.length > 0) config.extenders = extenders;
  return config;
}

export function schedulerConfigurationYaml(config: KubeSchedulerConfiguration): string {
  return stringify(config);
}
