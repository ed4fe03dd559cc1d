// DRA objects as a driver and the scheduler write them: ResourceSlices with
// NVIDIA-style GPU devices, ResourceClaims with or without an allocation.
import type { DeviceWire, ResourceClaimWire, ResourceSliceWire } from "../../src/topology/dra-schema.js";

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
