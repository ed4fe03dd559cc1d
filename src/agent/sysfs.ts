// Reads a PCI device's NUMA node from sysfs: <root>/bus/pci/devices/<bdf>/numa_node.
// The kernel writes -1 when the platform gives no NUMA information (common in
// VMs). The root is configurable so tests can point it at a temporary tree and
// a container can mount the host's /sys elsewhere.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { normalizePciBusId } from "../topology/model.js";

export type SysfsNuma =
  | { readonly known: true; readonly numaNode: number }
  | { readonly known: false; readonly reason: string };

export function pciNumaNodePath(sysfsRoot: string, pciBusId: string): string | undefined {
  const bdf = normalizePciBusId(pciBusId);
  return bdf === undefined ? undefined : join(sysfsRoot, "bus", "pci", "devices", bdf, "numa_node");
}

export async function readPciNumaNode(sysfsRoot: string, pciBusId: string): Promise<SysfsNuma> {
  const path = pciNumaNodePath(sysfsRoot, pciBusId);
  if (path === undefined) return { known: false, reason: `${JSON.stringify(pciBusId)} is not a PCI bus id` };
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { known: false, reason: code === "ENOENT" ? `${path} does not exist` : `cannot read ${path}: ${(err as Error).message}` };
  }
  const value = text.trim();
  if (value === "-1") return { known: false, reason: `${path} reads -1 (the platform reports no NUMA node)` };
  if (!/^\d+$/.test(value)) return { known: false, reason: `${path} reads ${JSON.stringify(value.slice(0, 40))}, not a NUMA node` };
  return { known: true, numaNode: Number(value) };
}
