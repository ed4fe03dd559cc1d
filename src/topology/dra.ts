// Dynamic Resource Allocation, as the extender sees it: which GPU devices a
// node publishes in its ResourceSlices, which of them ResourceClaims hold, how
// many GPUs a pod's claims ask for, and how each device maps onto the node's
// topology (by PCI bus id, then UUID, then the driver's gpu-<minor> name).
// Pure: the DraStore feeds it decoded objects.
import type { GpuNodeTopology } from "./model.js";
import { normalizePciBusId } from "./model.js";
import type { DeviceWire, PodClaimsWire, ResourceClaimWire, ResourceSliceWire } from "./dra-schema.js";

/** What the policy's spec.dra defaults to: NVIDIA's DRA driver and its whole-GPU DeviceClass. */
export const DEFAULT_DRA: { readonly gpuDrivers: ReadonlySet<string>; readonly gpuDeviceClasses: ReadonlySet<string> } = {
  gpuDrivers: new Set(["gpu.nvidia.com"]),
  gpuDeviceClasses: new Set(["gpu.nvidia.com"]),
};

/** The standard attribute holding a device's PCI address (lower-case BDF). */
export const PCI_BUS_ID_ATTRIBUTE = "resource.kubernetes.io/pciBusID";
/** Taint effects that keep the scheduler's allocator away from a device. */
const BLOCKING_TAINT_EFFECTS: ReadonlySet<string> = new Set(["NoSchedule", "NoExecute"]);

export interface DraDevice {
  readonly name: string;
  readonly pciBusId?: string;
  readonly uuid?: string;
  /** Why the allocator will not hand the device out (a NoSchedule/NoExecute taint), if so. */
  readonly blocked?: string;
}

/** One node-local ResourceSlice of a GPU driver, reduced to what placement needs. */
export interface SliceRecord {
  readonly name: string;
  readonly driver: string;
  readonly pool: string;
  readonly generation: number;
  readonly node: string;
  readonly devices: readonly DraDevice[];
}

export interface ClaimRecord {
  /** "namespace/name" */
  readonly key: string;
  /** GPUs the claim asks for (requests of a GPU device class). */
  readonly gpus: number;
  /** Devices allocated to it: "driver/pool/device". */
  readonly allocated: readonly string[];
  /** UIDs of the pods it is reserved for. */
  readonly reservedFor: readonly string[];
}

/** A node's GPU devices in the order the allocator tries them, and which are taken (device name -> claim key). */
export interface DraNodeView {
  readonly driver: string;
  readonly pool: string;
  readonly devices: readonly DraDevice[];
  readonly allocated: ReadonlyMap<string, string>;
}

function attr(device: DeviceWire, driver: string, name: string): string | undefined {
  const a = device.attributes;
  if (!a) return undefined;
  // Unqualified names are in the driver's own domain.
  const prefix = `${driver}/`;
  const v = a[name] ?? (name.startsWith(prefix) ? a[name.slice(prefix.length)] : undefined);
  return typeof v?.string === "string" ? v.string : undefined;
}

/**
 * Decodes a ResourceSlice of one of `gpuDrivers`, keeping whole-GPU devices
 * only (a device whose `type` attribute is not "gpu", such as a MIG or VFIO
 * device, is left out). Slices that are not bound to one node are skipped.
 */
export function decodeSlice(wire: ResourceSliceWire, gpuDrivers: ReadonlySet<string>): SliceRecord | undefined {
  const spec = wire.spec;
  const name = wire.metadata?.name;
  const driver = spec?.driver;
  if (!name || !driver || !gpuDrivers.has(driver) || !spec?.nodeName || !spec.pool?.name) return undefined;
  const devices: DraDevice[] = [];
  for (const d of spec.devices ?? []) {
    if (!d.name) continue;
    const type = attr(d, driver, "type");
    if (type !== undefined && type !== "gpu") continue;
    const pci = attr(d, driver, PCI_BUS_ID_ATTRIBUTE) ?? attr(d, driver, "pcieBusID");
    const pciBusId = pci !== undefined ? normalizePciBusId(pci) : undefined;
    const uuid = attr(d, driver, "uuid");
    const taint = (d.taints ?? []).find((t) => t.effect !== undefined && BLOCKING_TAINT_EFFECTS.has(t.effect));
    devices.push({
      name: d.name,
      ...(pciBusId ? { pciBusId } : {}),
      ...(uuid ? { uuid } : {}),
      ...(taint ? { blocked: `device taint ${taint.key ?? "?"}${taint.value ? `=${taint.value}` : ""}:${taint.effect}` } : {}),
    });
  }
  return { name, driver, pool: spec.pool.name, generation: spec.pool.generation ?? 0, node: spec.nodeName, devices };
}

/** How many devices of a GPU class one request asks for; `All` counts as one (at least). */
function requestGpus(r: { deviceClassName?: string; allocationMode?: string; count?: number } | undefined, gpuClasses: ReadonlySet<string>): number {
  if (!r?.deviceClassName || !gpuClasses.has(r.deviceClassName)) return 0;
  if (r.allocationMode === "All") return 1;
  return typeof r.count === "number" && Number.isInteger(r.count) && r.count > 0 ? r.count : 1;
}

export function decodeClaim(wire: ResourceClaimWire, gpuClasses: ReadonlySet<string>): ClaimRecord | undefined {
  const name = wire.metadata?.name;
  if (!name) return undefined;
  let gpus = 0;
  for (const r of wire.spec?.devices?.requests ?? []) {
    // firstAvailable: the first alternative is what the allocator tries first.
    gpus += r.exactly ? requestGpus(r.exactly, gpuClasses) : requestGpus(r.firstAvailable?.[0], gpuClasses);
  }
  const allocated: string[] = [];
  for (const res of wire.status?.allocation?.devices?.results ?? []) {
    if (res.driver && res.pool && res.device) allocated.push(`${res.driver}/${res.pool}/${res.device}`);
  }
  const reservedFor = (wire.status?.reservedFor ?? []).flatMap((r) => (r.resource === "pods" && r.uid ? [r.uid] : []));
  return { key: `${wire.metadata?.namespace ?? ""}/${name}`, gpus, allocated, reservedFor };
}

/**
 * The names of the ResourceClaims a pod uses, as "namespace/name": claims it
 * names directly, claims generated from its templates (once the resourceclaim
 * controller recorded them in status), and the scheduler's claim for extended
 * resources. `pending` counts template claims not generated yet.
 */
export function podClaimKeys(pod: PodClaimsWire): { keys: string[]; pending: number } {
  const ns = pod.metadata?.namespace ?? "default";
  const generated = new Map<string, string | undefined>();
  for (const s of pod.status?.resourceClaimStatuses ?? []) if (s.name) generated.set(s.name, s.resourceClaimName);
  const keys: string[] = [];
  let pending = 0;
  for (const c of pod.spec?.resourceClaims ?? []) {
    if (c.resourceClaimName) keys.push(`${ns}/${c.resourceClaimName}`);
    else if (c.resourceClaimTemplateName && c.name) {
      const got = generated.get(c.name);
      if (got) keys.push(`${ns}/${got}`);
      else if (!generated.has(c.name)) pending += 1;
    }
  }
  return { keys, pending };
}

/**
 * The node views of one pool: the slices of its highest generation, ordered by
 * name, devices in slice order (the order the allocator walks them).
 */
export function poolView(slices: Iterable<SliceRecord>): DraNodeView | undefined {
  let top: SliceRecord[] = [];
  for (const s of slices) {
    if (top.length === 0 || s.generation > top[0]!.generation) top = [s];
    else if (s.generation === top[0]!.generation) top.push(s);
  }
  if (top.length === 0) return undefined;
  top.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { driver: top[0]!.driver, pool: top[0]!.pool, devices: top.flatMap((s) => s.devices), allocated: new Map() };
}

const MINOR_NAME = /^gpu-(\d+)$/;

/**
 * For each device of `view`, the index of the topology GPU it is: matched by
 * PCI bus id, then by UUID, then by the driver's `gpu-<minor>` name (the minor
 * number is the NVML index on the nodes NVIDIA's driver runs on). undefined
 * where nothing matches, and never the same GPU twice.
 */
export function mapDevicesToGpus(topology: GpuNodeTopology, devices: readonly DraDevice[]): (number | undefined)[] {
  const byPci = new Map<string, number>();
  const byUuid = new Map<string, number>();
  for (const g of topology.gpus) {
    if (g.pciBusId) byPci.set(g.pciBusId, g.index);
    if (g.uuid) byUuid.set(g.uuid, g.index);
  }
  const taken = new Set<number>();
  const out: (number | undefined)[] = devices.map((d) => {
    const hit = (d.pciBusId !== undefined ? byPci.get(d.pciBusId) : undefined) ?? (d.uuid !== undefined ? byUuid.get(d.uuid) : undefined);
    if (hit === undefined || taken.has(hit)) return undefined;
    taken.add(hit);
    return hit;
  });
  // Second pass, so a device named gpu-3 cannot take a GPU another device matched exactly.
  devices.forEach((d, i) => {
    if (out[i] !== undefined) return;
    const m = MINOR_NAME.exec(d.name);
    const idx = m ? Number(m[1]) : undefined;
    if (idx !== undefined && idx < topology.gpus.length && !taken.has(idx)) {
      taken.add(idx);
      out[i] = idx;
    }
  });
  return out;
}
