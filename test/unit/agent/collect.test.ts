import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { collectTopology, mergeTopology, runCommand, type CollectResult } from "../../../src/agent/collect.js";
import { parseQueryGpu, QUERY_GPU_FIELDS_NO_MIG } from "../../../src/agent/query-gpu.js";
import { parseTopoMatrix, type TopoMatrix } from "../../../src/agent/topo-matrix.js";
import { decodeTopologyAnnotation, pairIndex } from "../../../src/topology/annotation.js";
import { fakeNvidiaSmi, type FakeNvidiaSmi } from "../../builders/fake-nvidia-smi.js";
import { NVIDIA_SMI_FIXTURES, nvidiaSmiFixture, type NvidiaSmiFixture } from "../../fixtures/nvidia-smi.js";

const H100_VM_VALUE =
  '{"v":1,"gpus":[{"index":0,"uuid":"GPU-64320c1d-623f-5192-5e05-0778b6b4c4de","pci":"0000:00:06.0","numa":0,"memMiB":81559,"product":"NVIDIA H100 80GB HBM3"}],"links":[]}';

function topoOf(name: NvidiaSmiFixture): TopoMatrix {
  const r = parseTopoMatrix(nvidiaSmiFixture(name, "topo-m.txt"));
  if (!r.ok) throw new Error(`fixture ${name} does not parse`);
  return r.matrix;
}

const queryOf = (name: NvidiaSmiFixture) => parseQueryGpu(nvidiaSmiFixture(name, "query-gpu.csv"), name === "dgx1-v100-r418" ? QUERY_GPU_FIELDS_NO_MIG : undefined).gpus;

function ok(result: CollectResult | ReturnType<typeof mergeTopology>) {
  if (!result.ok) throw new Error(`expected an annotation, got: ${result.reason}`);
  return result;
}

/** sysfs tree for the DGX-1 fixture, whose topo -m has no NUMA column. */
function dgx1Sysfs(root: string): void {
  ["06", "07", "0a", "0b", "85", "86", "89", "8a"].forEach((bus, i) => {
    const dir = join(root, "bus", "pci", "devices", `0000:${bus}:00.0`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "numa_node"), i < 4 ? "0\n" : "1\n");
  });
  const vm = join(root, "bus", "pci", "devices", "0000:00:06.0");
  mkdirSync(vm, { recursive: true });
  writeFileSync(join(vm, "numa_node"), "-1\n");
}

describe("mergeTopology", () => {
  it("builds the real H100 capture's annotation, byte for byte", () => {
    expect(ok(mergeTopology(topoOf("h100-80gb-vm"), queryOf("h100-80gb-vm"))).value).toBe(H100_VM_VALUE);
  });

  it.each(NVIDIA_SMI_FIXTURES.map((f) => [f]))("builds an annotation for %s that decodes to the same GPUs and links", (name) => {
    const topo = topoOf(name);
    const merged = ok(mergeTopology(topo, queryOf(name)));
    const decoded = decodeTopologyAnnotation(merged.value);
    if (!decoded.ok) throw new Error(decoded.reason);
    const n = topo.gpus.length;
    expect(decoded.annotation.gpus).toHaveLength(n);
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) expect(decoded.annotation.links[pairIndex(n, i, j)]).toBe(topo.links[i]?.[j]);
    }
    const query = queryOf(name);
    expect(decoded.annotation.gpus.map((g) => [g.uuid, g.pci, g.product, g.memMiB])).toEqual(query.map((q) => [q.uuid, q.pciBusId, q.name, q.memoryMiB]));
    expect(decoded.annotation.gpus.map((g) => g.numa)).toEqual(topo.gpus.map((g) => g.numaNode));
  });

  it("marks MIG-enabled GPUs and only those", () => {
    const { annotation } = ok(mergeTopology(topoOf("a100-sxm4-mig"), queryOf("a100-sxm4-mig")));
    expect(annotation.gpus.map((g) => g.mig ?? false)).toEqual([true, true, false, false]);
  });

  it("puts the NVLink-bridged pairs of the A100 PCIe node into the upper-triangle list", () => {
    expect(ok(mergeTopology(topoOf("a100-pcie-nvlink-bridge"), queryOf("a100-pcie-nvlink-bridge"))).annotation.links).toEqual([
      "NV12", // 0-1
      "SYS", // 0-2
      "SYS", // 0-3
      "SYS", // 1-2
      "SYS", // 1-3
      "NV12", // 2-3
    ]);
  });

  it("takes the host NUMA node, not the GPU memory's NUMA node, on GB200", () => {
    expect(ok(mergeTopology(topoOf("gb200-compute-tray"), queryOf("gb200-compute-tray"))).annotation.gpus.map((g) => g.numa)).toEqual([0, 0, 1, 1]);
  });

  it("fills NUMA from sysfs where topo -m has none, and says which GPUs stay unknown", () => {
    const merged = ok(mergeTopology(topoOf("dgx1-v100-r418"), queryOf("dgx1-v100-r418"), new Map([[0, 0], [1, 0], [2, 0], [3, 0], [4, 1], [5, 1]])));
    expect(merged.annotation.gpus.map((g) => g.numa)).toEqual([0, 0, 0, 0, 1, 1, undefined, undefined]);
    expect(merged.warnings).toEqual([
      "GPU 6: NUMA node unknown (neither nvidia-smi topo -m nor sysfs names one)",
      "GPU 7: NUMA node unknown (neither nvidia-smi topo -m nor sysfs names one)",
    ]);
  });

  it("prefers topo -m's NUMA affinity over sysfs", () => {
    expect(ok(mergeTopology(topoOf("h100-80gb-vm"), queryOf("h100-80gb-vm"), new Map([[0, 3]]))).annotation.gpus[0]?.numa).toBe(0);
  });

  it.each<[string, NvidiaSmiFixture, NvidiaSmiFixture, RegExp]>([
    ["topo -m lists more GPUs than --query-gpu", "dgx-h100", "a100-sxm4-mig", /disagree on the GPUs: topo -m lists 8, --query-gpu lists 0,1,2,3/],
    ["--query-gpu lists more GPUs than topo -m", "a100-sxm4-mig", "dgx-h100", /disagree on the GPUs: topo -m lists 4, --query-gpu lists 0,1,2,3,4,5,6,7/],
  ])("refuses when %s", (_name, topo, query, reason) => {
    const merged = mergeTopology(topoOf(topo), queryOf(query));
    expect(merged.ok).toBe(false);
    expect(!merged.ok && merged.reason).toMatch(reason);
  });

  it("refuses GPU indices that do not run 0..n-1", () => {
    const topo = topoOf("a100-sxm4-mig");
    const shifted: TopoMatrix = { ...topo, gpus: topo.gpus.map((g) => ({ ...g, index: g.index + 1 })) };
    const merged = mergeTopology(shifted, queryOf("a100-sxm4-mig"));
    expect(!merged.ok && merged.reason).toBe("nvidia-smi topo -m lists GPUs 1,2,3,4, not 0..3");
  });
});

describe("collectTopology with a stand-in nvidia-smi", () => {
  let fake: FakeNvidiaSmi;
  let sysfs: string;
  const collect = (timeoutMs = 10_000) => collectTopology({ nvidiaSmi: fake.path, sysfsRoot: sysfs, timeoutMs });

  beforeAll(() => {
    fake = fakeNvidiaSmi("h100-80gb-vm");
    sysfs = mkdtempSync(join(tmpdir(), "topofit-collect-sysfs-"));
    dgx1Sysfs(sysfs);
  });
  afterEach(() => {
    fake.fail(false);
    fake.hang(false);
    fake.rejectFields([]);
  });
  afterAll(() => {
    fake.remove();
    rmSync(sysfs, { recursive: true, force: true });
  });

  it("runs topo -m and the GPU query, and builds the real capture's annotation", async () => {
    fake.use("h100-80gb-vm");
    const before = fake.calls().length;
    const result = ok(await collect());
    expect(result.value).toBe(H100_VM_VALUE);
    expect(result.warnings).toEqual([]);
    expect(fake.calls().slice(before)).toEqual(["topo -m", "--query-gpu=index,uuid,name,pci.bus_id,memory.total,mig.mode.current --format=csv,noheader,nounits"]);
  });

  it.each(NVIDIA_SMI_FIXTURES.filter((f) => f !== "dgx1-v100-r418").map((f) => [f]))("gives the same value as mergeTopology for %s", async (name) => {
    fake.use(name);
    expect(ok(await collect()).value).toBe(ok(mergeTopology(topoOf(name), queryOf(name))).value);
  });

  it("asks again without the MIG column when an old driver rejects it, and reads NUMA from sysfs", async () => {
    fake.use("dgx1-v100-r418");
    fake.rejectFields(["mig.mode.current"]);
    const before = fake.calls().length;
    const result = ok(await collect());
    expect(fake.calls().slice(before)).toEqual([
      "topo -m",
      "--query-gpu=index,uuid,name,pci.bus_id,memory.total,mig.mode.current --format=csv,noheader,nounits",
      "--query-gpu=index,uuid,name,pci.bus_id,memory.total --format=csv,noheader,nounits",
    ]);
    expect(result.annotation.gpus.map((g) => g.numa)).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
    expect(result.annotation.links.filter((l) => l.startsWith("NV"))).toHaveLength(16);
  });

  it("gives the same string every time: nothing in it varies", async () => {
    fake.use("dgx-h100");
    const values = [ok(await collect()).value, ok(await collect()).value];
    expect(values[0]).toBe(values[1]);
    expect(values[0]).not.toMatch(/time|util|temp|power|used/i);
  });

  it("reports a failing nvidia-smi with its exit status and message", async () => {
    fake.fail(true);
    const result = await collect();
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toMatch(/topo -m exited with status 1: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver/);
  });

  it("kills nvidia-smi when it runs past the timeout", async () => {
    fake.hang(true);
    const started = Date.now();
    const result = await collect(300);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(!result.ok && result.reason).toMatch(/did not finish within 300 ms/);
  });

  it("says how to point at nvidia-smi when it is not there", async () => {
    const result = await collectTopology({ nvidiaSmi: join(fake.dir, "no-such-nvidia-smi"), sysfsRoot: sysfs, timeoutMs: 1_000 });
    expect(!result.ok && result.reason).toMatch(/not found \(give its path with --nvidia-smi\)/);
  });
});

describe("runCommand", () => {
  it("returns stdout of a command that succeeds", async () => {
    expect(await runCommand(process.execPath, ["-e", "process.stdout.write('hi')"], 5_000)).toEqual({ ok: true, stdout: "hi" });
  });
});
