import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pciNumaNodePath, readPciNumaNode } from "../../../src/agent/sysfs.js";

describe("readPciNumaNode", () => {
  let root: string;
  const device = (bdf: string, numaNode: string) => {
    const dir = join(root, "bus", "pci", "devices", bdf);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "numa_node"), numaNode);
  };
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "topofit-sysfs-"));
    device("0000:1b:00.0", "1\n");
    device("0000:00:06.0", "-1\n");
    device("0008:01:00.0", "0\n");
    device("0000:2a:00.0", "garbage\n");
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("builds the path from a normalised bus id", () => {
    expect(pciNumaNodePath("/sys", "00000000:1B:00.0")).toBe("/sys/bus/pci/devices/0000:1b:00.0/numa_node");
    expect(pciNumaNodePath("/sys", "not-a-bdf")).toBeUndefined();
  });

  it.each([
    ["00000000:1B:00.0", 1],
    ["0000:1b:00.0", 1],
    ["00000008:01:00.0", 0],
  ])("reads the NUMA node of %s as %d", async (bdf, numaNode) => {
    expect(await readPciNumaNode(root, bdf)).toEqual({ known: true, numaNode });
  });

  it.each([
    ["-1 (no NUMA information, as in most VMs)", "00000000:00:06.0", /reads -1/],
    ["a device that is not there", "00000000:99:00.0", /does not exist/],
    ["a file that does not hold a number", "00000000:2A:00.0", /reads "garbage", not a NUMA node/],
    ["something that is not a bus id", "GPU-0", /is not a PCI bus id/],
  ])("says why the node is unknown for %s", async (_name, bdf, reason) => {
    const read = await readPciNumaNode(root, bdf);
    expect(read.known).toBe(false);
    expect(!read.known && read.reason).toMatch(reason);
  });
});
