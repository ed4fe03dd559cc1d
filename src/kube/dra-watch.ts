// ResourceSlice and ResourceClaim informers (resource.k8s.io/v1) that keep the
// DraStore current. A cluster that does not serve the API yet is retried
// quietly; placement of device-plugin GPUs goes on meanwhile.
import { makeInformer, ResourceV1Api, type KubeConfig, type ResourceV1ResourceClaim, type V1ResourceSlice } from "@kubernetes/client-node";
import type { Logger } from "../telemetry/logger.js";
import type { ResourceClaimWire, ResourceSliceWire } from "../topology/dra-schema.js";
import { runInformer, toWire } from "./informer.js";

export interface DraWatchHandlers {
  readonly upsertSlice: (slice: ResourceSliceWire) => void;
  readonly deleteSlice: (name: string) => void;
  readonly upsertClaim: (claim: ResourceClaimWire) => void;
  /** "namespace/name" */
  readonly deleteClaim: (key: string) => void;
}

export interface DraWatch {
  isSynced(): boolean;
  stop(): Promise<void>;
}

export function watchDra(kc: KubeConfig, h: DraWatchHandlers, log: Logger): DraWatch {
  const api = kc.makeApiClient(ResourceV1Api);
  const slices = makeInformer<V1ResourceSlice>(kc, "/apis/resource.k8s.io/v1/resourceslices", () => api.listResourceSlice());
  const claims = makeInformer<ResourceV1ResourceClaim>(kc, "/apis/resource.k8s.io/v1/resourceclaims", () => api.listResourceClaimForAllNamespaces());
  const onSlice = (s: V1ResourceSlice) => h.upsertSlice(toWire<ResourceSliceWire>(s));
  slices.on("add", onSlice);
  slices.on("update", onSlice);
  slices.on("delete", (s) => s.metadata?.name && h.deleteSlice(s.metadata.name));
  const onClaim = (c: ResourceV1ResourceClaim) => h.upsertClaim(toWire<ResourceClaimWire>(c));
  claims.on("add", onClaim);
  claims.on("update", onClaim);
  claims.on("delete", (c) => c.metadata?.name && h.deleteClaim(`${c.metadata.namespace ?? ""}/${c.metadata.name}`));
  const running = [runInformer(slices, "resourceslices", log), runInformer(claims, "resourceclaims", log)];
  return {
    isSynced: () => running.every((r) => r.isSynced()),
    stop: async () => {
      await Promise.all(running.map((r) => r.stop()));
    },
  };
}
