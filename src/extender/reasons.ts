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
