// Reason texts for filtered nodes. Each names its cause and, where it helps,
// the numbers, so `kubectl describe pod` tells an admin what to change.
export const REASON_NOT_A_GPU_NODE = "node has no GPUs in status.allocatable";
export const REASON_UNKNOWN_NODE = "node is not in topofit's node cache yet";

export function reasonTooFewGpus(want: number, allocatable: number, resource: string): string {
  return `needs ${want} ${resource}; node has ${allocatable} in total`;
}

export function reasonNoTopology(want: number): string {
  return `needs ${want} GPUs; node topology lists fewer`;
}

export function reasonDraTooFewPublished(want: number, published: number): string {
  return `needs ${want} GPUs; the node's ResourceSlices publish ${published} GPU devices`;
}

export function reasonDraTooFewFree(want: number, free: number, published: number, unhealthy: number): string {
  const sick = unhealthy > 0 ? ` (${unhealthy} unhealthy or tainted)` : "";
  return `needs ${want} GPUs; ${free} of the node's ${published} DRA GPU devices are free${sick}`;
}

/** The allocator's first-fit set fails a hard constraint, though a better set may be free. */
export function reasonDraFirstFit(want: number, devices: readonly string[], quality: string): string {
  return `needs ${want} GPUs ${quality}; the DRA allocator would take the first free devices (${devices.join(", ")}), which are not`;
}
