// Wire shapes of the kube-scheduler extender protocol (k8s.io/kube-scheduler/extender/v1).
// The Go types carry no json tags, so the keys are the Go field names: PascalCase.
// Embedded Kubernetes objects (Pod, NodeList) keep their usual camelCase keys.
import type { PodWire } from "../admission/schema.js";

export interface NodeWire {
  metadata?: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string>; resourceVersion?: string; [k: string]: unknown };
  spec?: { unschedulable?: boolean; taints?: unknown[]; [k: string]: unknown };
  status?: { allocatable?: Record<string, string>; capacity?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

export interface NodeListWire {
  metadata?: unknown;
  items?: NodeWire[];
}

/** Request body of filter and prioritize. Unused pointer fields arrive as null. */
export interface ExtenderArgsWire {
  Pod?: PodWire | null;
  Nodes?: NodeListWire | null;
  NodeNames?: string[] | null;
}

export interface ExtenderFilterResultWire {
  Nodes?: NodeListWire | null;
  NodeNames?: string[] | null;
  FailedNodes: Record<string, string>;
  FailedAndUnresolvableNodes: Record<string, string>;
  Error: string;
}

export interface HostPriorityWire {
  Host: string;
  Score: number;
}

/** kube-scheduler's MaxExtenderPriority: scores must stay in 0..10. */
export const MAX_EXTENDER_PRIORITY = 10;
export const MIN_EXTENDER_PRIORITY = 0;
