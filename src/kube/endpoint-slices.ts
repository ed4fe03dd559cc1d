// The ready endpoints of one Service, from its EndpointSlices
// (discovery.k8s.io/v1, label kubernetes.io/service-name=<service>), each with
// the node it runs on. Used to find dcgm-exporter pods: they run as a
// DaemonSet, so an endpoint's nodeName also says which node its data is for.
// Needs list and watch on endpointslices in the Service's namespace.
import { DiscoveryV1Api, makeInformer, type KubeConfig, type V1EndpointSlice } from "@kubernetes/client-node";
import type { Logger } from "../telemetry/logger.js";
import { runInformer } from "./informer.js";

export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

export interface ServiceEndpointsRef {
  readonly namespace: string;
  readonly name: string;
  /** Port number, or the Service port's name. Default 9400. */
  readonly port?: number | string;
  /** Default "/metrics". */
  readonly path?: string;
  /** Default "http". */
  readonly scheme?: "http" | "https";
}

export interface ServiceEndpoint {
  /** scheme://address:port/path, IPv6 addresses in brackets. */
  readonly url: string;
  readonly address: string;
  readonly nodeName?: string;
  /** The pod behind the endpoint, when the slice names it. */
  readonly podName?: string;
}

export interface ServiceEndpointsResult {
  /** Sorted by URL; one per pod (the IPv4 address wins on dual-stack Services). */
  readonly endpoints: readonly ServiceEndpoint[];
  /** Slices that could not be used, and why. */
  readonly issues: readonly string[];
}

/** The ready endpoints of a Service's slices. Pure. */
export function readServiceEndpoints(slices: readonly V1EndpointSlice[], ref: ServiceEndpointsRef): ServiceEndpointsResult {
  const wantPort = ref.port ?? 9400;
  const path = ref.path ?? "/metrics";
  const scheme = ref.scheme ?? "http";
  const issues: string[] = [];
  const byKey = new Map<string, ServiceEndpoint & { readonly family: number }>();
  for (const slice of slices) {
    const sliceName = slice.metadata?.name ?? "(unnamed)";
    if (slice.metadata?.labels?.[SERVICE_NAME_LABEL] !== ref.name) continue;
    const family = slice.addressType === "IPv4" ? 0 : slice.addressType === "IPv6" ? 1 : -1;
    if (family < 0) {
      issues.push(`EndpointSlice ${sliceName}: address type ${slice.addressType} is not used`);
      continue;
    }
    const port = slicePort(slice, wantPort);
    if (port === undefined) {
      const have = (slice.ports ?? []).map((p) => `${p.name || "(unnamed)"}/${p.port ?? "*"}`).join(", ") || "none";
      issues.push(`EndpointSlice ${sliceName}: no port ${wantPort} (ports: ${have})`);
      continue;
    }
    for (const ep of slice.endpoints ?? []) {
      // A nil ready condition counts as ready; terminating endpoints are left out.
      if (ep.conditions?.ready === false || ep.conditions?.terminating === true) continue;
      const address = ep.addresses?.[0];
      if (address === undefined) continue;
      const host = family === 1 ? `[${address}]` : address;
      const podName = ep.targetRef?.kind === "Pod" ? ep.targetRef.name : undefined;
      const key = ep.targetRef?.uid ?? `${address}:${port}`;
      const candidate = {
        url: `${scheme}://${host}:${port}${path.startsWith("/") ? path : `/${path}`}`,
        address,
        ...(ep.nodeName ? { nodeName: ep.nodeName } : {}),
        ...(podName ? { podName } : {}),
        family,
      };
      const have = byKey.get(key);
      if (!have || candidate.family < have.family) byKey.set(key, candidate);
    }
  }
  const endpoints = [...byKey.values()]
    .map(({ family: _family, ...e }) => e)
    .sort((a, b) => (a.url < b.url ? -1 : a.url > b.url ? 1 : 0));
  return { endpoints, issues };
}

function slicePort(slice: V1EndpointSlice, want: number | string): number | undefined {
  const ports = slice.ports ?? [];
  if (typeof want === "number") {
    if (ports.length === 0 || ports.some((p) => p.port === want || p.port === undefined)) return want;
    return undefined;
  }
  return ports.find((p) => p.name === want && p.port !== undefined)?.port;
}

export interface ServiceEndpointsWatch {
  /** Resolves after the first list. */
  readonly synced: Promise<void>;
  /** The endpoints as last reported. */
  current(): readonly ServiceEndpoint[];
  stop(): Promise<void>;
}

/**
 * Watches a Service's EndpointSlices and calls onEndpoints with the full list
 * after the first list and whenever it changes.
 */
export function watchServiceEndpoints(
  kc: KubeConfig,
  ref: ServiceEndpointsRef,
  onEndpoints: (endpoints: readonly ServiceEndpoint[]) => void,
  log: Logger,
): ServiceEndpointsWatch {
  const api = kc.makeApiClient(DiscoveryV1Api);
  const labelSelector = `${SERVICE_NAME_LABEL}=${ref.name}`;
  const informer = makeInformer<V1EndpointSlice>(
    kc,
    `/apis/discovery.k8s.io/v1/namespaces/${ref.namespace}/endpointslices`,
    () => api.listNamespacedEndpointSlice({ namespace: ref.namespace, labelSelector }),
    labelSelector,
  );
  const service = { namespace: ref.namespace, name: ref.name };
  let synced = false;
  let stopped = false;
  let current: readonly ServiceEndpoint[] = [];
  let lastKey: string | undefined;
  let lastIssues = "";
  const publish = () => {
    if (!synced) return;
    const { endpoints, issues } = readServiceEndpoints(informer.list(), ref);
    const issuesKey = issues.join("\n");
    if (issuesKey !== lastIssues) {
      lastIssues = issuesKey;
      if (issuesKey !== "") log.warn({ service, issues }, "some EndpointSlices of the Service cannot be used");
    }
    const key = JSON.stringify(endpoints);
    if (key === lastKey) return;
    lastKey = key;
    current = endpoints;
    onEndpoints(endpoints);
  };
  informer.on("add", publish);
  informer.on("update", publish);
  informer.on("delete", publish);
  const running = runInformer(informer, `EndpointSlices of ${service.namespace}/${service.name}`, log);
  const synced$ = running.synced.then(() => {
    if (stopped) return;
    synced = true;
    publish();
  });
  return {
    synced: synced$,
    current: () => current,
    stop: async () => {
      stopped = true;
      await running.stop();
    },
  };
}
