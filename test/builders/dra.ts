// DRA objects as a driver and the scheduler write them: ResourceSlices with
// NVIDIA-style GPU devices, ResourceClaims with or without an allocation.
import type { DeviceWire, ResourceClaimWire, ResourceSliceWire } from "../../src/topology/dra-schema.js";
import { DEFAULT_DRA } from "../../src/topology/dra.js";
import { DraStore } from "../../src/topology/dra-store.js";
import type { PredictionCheck, TopologyStore } from "../../src/topology/store.js";
import { gpuNodeWire, topologyStore } from "./extender.js";

export const GPU_DRIVER = "gpu.nvidia.com";
export const GPU_CLASS = "gpu.nvidia.com";

export interface GpuDeviceSpec {
  readonly name: string;
  /** resource.kubernetes.io/pciBusID, as the driver writes it (lower-case BDF). */
  readonly pci?: string;
  readonly uuid?: string;
  readonly type?: string;
  readonly taint?: { key: string; value?: string; effect: string };
}

/** GPU devices gpu-0..gpu-(n-1), with PCI bus ids 0000:(0x18 + 16i):00.0 and UUIDs GPU-<node>-<i>. */
export function gpuDevices(node: string, n: number): GpuDeviceSpec[] {
  return Array.from({ length: n }, (_, i) => ({ name: `gpu-${i}`, pci: pciOf(i), uuid: `GPU-${node}-${i}` }));
}

export function pciOf(i: number): string {
  return `0000:${(0x18 + i * 16).toString(16).padStart(2, "0")}:00.0`;
}

export function deviceWire(d: GpuDeviceSpec): DeviceWire {
  return {
    name: d.name,
    attributes: {
      type: { string: d.type ?? "gpu" },
      productName: { string: "NVIDIA A100 80GB PCIe" },
      ...(d.uuid ? { uuid: { string: d.uuid } } : {}),
      ...(d.pci ? { "resource.kubernetes.io/pciBusID": { string: d.pci } } : {}),
    },
    capacity: { memory: { value: "81920Mi" } },
    ...(d.taint ? { taints: [d.taint] } : {}),
  };
}

/** One node-local slice of `driver` for `node` (pool = node name). */
export function resourceSlice(node: string, devices: readonly GpuDeviceSpec[], opts: { name?: string; generation?: number; driver?: string; sliceCount?: number } = {}): ResourceSliceWire {
  return {
    metadata: { name: opts.name ?? `${node}-gpu.nvidia.com` },
    spec: {
      driver: opts.driver ?? GPU_DRIVER,
      pool: { name: node, generation: opts.generation ?? 1, resourceSliceCount: opts.sliceCount ?? 1 },
      nodeName: node,
      devices: devices.map(deviceWire),
    },
  };
}

/** A claim for `gpus` devices of the GPU class; `allocated` devices (on pool `node`) and `reservedFor` pod UIDs make it allocated. */
export function resourceClaim(
  key: string,
  opts: { gpus?: number; deviceClassName?: string; node?: string; allocated?: readonly string[]; reservedFor?: readonly string[] } = {},
): ResourceClaimWire {
  const [namespace, name] = key.split("/") as [string, string];
  return {
    metadata: { namespace, name, uid: `uid-${name}` },
    spec: { devices: { requests: [{ name: "gpus", exactly: { deviceClassName: opts.deviceClassName ?? GPU_CLASS, allocationMode: "ExactCount", count: opts.gpus ?? 1 } }] } },
    ...(opts.allocated && opts.node
      ? {
          status: {
            allocation: { devices: { results: opts.allocated.map((device) => ({ request: "gpus", driver: GPU_DRIVER, pool: opts.node!, device })) } },
            reservedFor: (opts.reservedFor ?? []).map((uid) => ({ resource: "pods", name: `pod-${uid}`, uid })),
          },
        }
      : {}),
  };
}

/** A TopologyStore and a DraStore wired as `topofit serve` wires them, and the prediction checks they report. */
export function draCluster() {
  const checks: PredictionCheck[] = [];
  const dra = new DraStore({ gpuDrivers: () => DEFAULT_DRA.gpuDrivers, gpuDeviceClasses: () => DEFAULT_DRA.gpuDeviceClasses });
  const store: TopologyStore = topologyStore([], { claimGpus: (p) => dra.claimGpus(p), onPredictionChecked: (c) => checks.push(c) });
  dra.onNodeChange((n) => store.setDra(n, dra.view(n)));
  dra.onAllocation((a) => a.podUids.forEach((uid) => store.settleDraAllocation(uid, a.node, a.devices)));
  /** A 4x A100 PCIe node with NVLink bridges 0-1 and 2-3, no device plugin, its GPUs published by the DRA driver. */
  const draNode = (name: string, devices: readonly GpuDeviceSpec[] = gpuDevices(name, 4)) => {
    store.upsertNode(gpuNodeWire(name).a100Bridged().allocatable(0).build());
    dra.upsertSlice(resourceSlice(name, devices));
  };
  return { dra, store, draNode, checks };
}
