import { describe, expect, it } from "vitest";
import { parseQueryGpu, QUERY_GPU_FIELDS, QUERY_GPU_FIELDS_NO_MIG, queryGpuArgs } from "../../../src/agent/query-gpu.js";
import { NVIDIA_SMI_FIXTURES, nvidiaSmiFixture, type NvidiaSmiFixture } from "../../fixtures/nvidia-smi.js";

const FIELDS: Partial<Record<NvidiaSmiFixture, readonly string[]>> = { "dgx1-v100-r418": QUERY_GPU_FIELDS_NO_MIG };

const EXPECTED: Record<NvidiaSmiFixture, { count: number; product: string; memoryMiB: number; pci0: string; mig: (boolean | undefined)[] }> = {
  "h100-80gb-vm": { count: 1, product: "NVIDIA H100 80GB HBM3", memoryMiB: 81559, pci0: "0000:00:06.0", mig: [false] },
  "dgx-h100": { count: 8, product: "NVIDIA H100 80GB HBM3", memoryMiB: 81559, pci0: "0000:18:00.0", mig: Array(8).fill(false) },
  "a100-pcie-nvlink-bridge": { count: 4, product: "NVIDIA A100 80GB PCIe", memoryMiB: 81920, pci0: "0000:17:00.0", mig: Array(4).fill(false) },
  "l40s-pcie-2socket": { count: 8, product: "NVIDIA L40S", memoryMiB: 46068, pci0: "0000:1a:00.0", mig: Array(8).fill(undefined) },
  "gb200-compute-tray": { count: 4, product: "NVIDIA GB200", memoryMiB: 189471, pci0: "0008:01:00.0", mig: Array(4).fill(false) },
  "dgx1-v100-r418": { count: 8, product: "Tesla V100-SXM2-32GB", memoryMiB: 32480, pci0: "0000:06:00.0", mig: Array(8).fill(undefined) },
  "a100-sxm4-mig": { count: 4, product: "NVIDIA A100-SXM4-80GB", memoryMiB: 81920, pci0: "0000:01:00.0", mig: [true, true, false, false] },
};

describe("parseQueryGpu", () => {
  it("asks nvidia-smi for exactly the columns it reads, without header or units", () => {
    expect(queryGpuArgs()).toEqual(["--query-gpu=index,uuid,name,pci.bus_id,memory.total,mig.mode.current", "--format=csv,noheader,nounits"]);
    expect(queryGpuArgs(QUERY_GPU_FIELDS_NO_MIG)[0]).toBe("--query-gpu=index,uuid,name,pci.bus_id,memory.total");
    expect(QUERY_GPU_FIELDS).toContain("mig.mode.current");
  });

  it.each(NVIDIA_SMI_FIXTURES.map((f) => [f]))("reads the %s fixture", (name) => {
    const result = parseQueryGpu(nvidiaSmiFixture(name, "query-gpu.csv"), FIELDS[name]);
    const want = EXPECTED[name];
    expect(result.errors).toEqual([]);
    expect(result.warnings).toEqual([]);
    expect(result.gpus.map((g) => g.index)).toEqual([...Array(want.count).keys()]);
    expect(result.gpus.every((g) => g.name === want.product && g.memoryMiB === want.memoryMiB && /^GPU-[0-9a-f-]{36}$/.test(g.uuid ?? ""))).toBe(true);
    expect(result.gpus[0]?.pciBusId).toBe(want.pci0);
    expect(result.gpus.map((g) => g.mig)).toEqual(want.mig);
  });

  it("reads the real capture, taken with a header, units and extra columns, by column name", () => {
    const text = nvidiaSmiFixture("h100-80gb-vm", "query-gpu.csv");
    expect(text.split("\n")[0]).toMatch(/^index, uuid, name, pci\.bus_id, memory\.total \[MiB\], memory\.used/);
    expect(parseQueryGpu(text).gpus).toEqual([
      { index: 0, uuid: "GPU-64320c1d-623f-5192-5e05-0778b6b4c4de", name: "NVIDIA H100 80GB HBM3", pciBusId: "0000:00:06.0", memoryMiB: 81559, mig: false },
    ]);
  });

  it.each([
    ["[N/A]", undefined],
    ["N/A", undefined],
    ["[Not Supported]", undefined],
    ["Enabled", true],
    ["Disabled", false],
  ])("reads MIG mode %s as %s", (cell, mig) => {
    const [gpu] = parseQueryGpu(`0, GPU-1, NVIDIA A100-SXM4-40GB, 00000000:07:00.0, 40960, ${cell}\n`).gpus;
    expect(gpu?.mig).toBe(mig);
  });

  it("leaves out unavailable values instead of failing", () => {
    const result = parseQueryGpu("0, [N/A], NVIDIA H100 PCIe, [N/A], [N/A], [N/A]\n");
    expect(result.gpus).toEqual([{ index: 0, name: "NVIDIA H100 PCIe" }]);
    expect(result.errors).toEqual([]);
  });

  it("copes with missing spaces after commas, blank lines, CRLF and out-of-order rows", () => {
    const result = parseQueryGpu("\r\n1,GPU-b,NVIDIA L4,00000000:82:00.0,23034,[N/A]\r\n\r\n0,GPU-a,NVIDIA L4,00000000:01:00.0,23034,[N/A]\r\n");
    expect(result.gpus.map((g) => [g.index, g.uuid, g.pciBusId])).toEqual([
      [0, "GPU-a", "0000:01:00.0"],
      [1, "GPU-b", "0000:82:00.0"],
    ]);
  });

  it.each([
    ["a short line", "0, GPU-a, NVIDIA L4\n", { line: 1, message: "3 fields where 6 were expected (index, uuid, name, pci.bus_id, memory.total, mig.mode.current)" }],
    ["an index that is not a number", "x, GPU-a, NVIDIA L4, 00000000:01:00.0, 23034, [N/A]\n", { line: 1, message: 'GPU index "x" is not a number' }],
    [
      "a GPU listed twice",
      "0, GPU-a, NVIDIA L4, 00000000:01:00.0, 23034, [N/A]\n0, GPU-b, NVIDIA L4, 00000000:02:00.0, 23034, [N/A]\n",
      { line: 2, message: "GPU 0 listed twice (first on line 1)" },
    ],
    ["nothing", "\n", { line: 0, message: "no GPUs listed" }],
  ])("reports %s as an error with its line", (_name, text, error) => {
    expect(parseQueryGpu(text).errors).toEqual([error]);
  });

  it("warns about values it cannot read and leaves them out", () => {
    const result = parseQueryGpu("0, GPU-a, NVIDIA L4, pci-what, lots, Pending\n");
    expect(result.gpus).toEqual([{ index: 0, uuid: "GPU-a", name: "NVIDIA L4" }]);
    expect(result.warnings.map((w) => w.message)).toEqual([
      'GPU 0: PCI bus id "pci-what" not understood',
      'GPU 0: memory.total "lots" not understood',
      'GPU 0: MIG mode "Pending" not understood',
    ]);
  });
});
