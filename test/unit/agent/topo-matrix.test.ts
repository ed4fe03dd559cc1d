import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatTopoIssue, parseTopoMatrix, stripAnsi, type ParseTopoResult, type TopoMatrix } from "../../../src/agent/topo-matrix.js";
import { NVIDIA_SMI_FIXTURES, nvidiaSmiFixture, type NvidiaSmiFixture } from "../../fixtures/nvidia-smi.js";

/** "X NV18 / NV18 X" -> [["X","NV18"],["NV18","X"]]. */
const grid = (text: string) =>
  text
    .trim()
    .split("\n")
    .map((r) => r.trim().split(/\s+/));

const full = (n: number, code: string) => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? "X" : code)));

function matrixOf(result: ParseTopoResult): TopoMatrix {
  if (!result.ok) throw new Error(`expected a matrix, got errors: ${result.errors.map(formatTopoIssue).join("; ")}`);
  return result.matrix;
}

interface Expected {
  readonly links: string[][];
  readonly numa: (number | undefined)[];
  readonly cpu: (string | undefined)[];
  readonly gpuNumaId?: (number | undefined)[];
  readonly nics: string[];
}

const split = <T>(n: number, a: T, b: T) => Array.from({ length: n }, (_, i) => (i < n / 2 ? a : b));

const EXPECTED: Record<NvidiaSmiFixture, Expected> = {
  "h100-80gb-vm": { links: [["X"]], numa: [0], cpu: ["0-15"], nics: [] },
  "dgx-h100": {
    links: full(8, "NV18"),
    numa: split(8, 0, 1),
    cpu: split(8, "0-55,112-167", "56-111,168-223"),
    nics: Array.from({ length: 12 }, (_, k) => `NIC${k}=mlx5_${k}`),
  },
  "a100-pcie-nvlink-bridge": {
    links: grid(`
      X    NV12 SYS  SYS
      NV12 X    SYS  SYS
      SYS  SYS  X    NV12
      SYS  SYS  NV12 X`),
    numa: [0, 0, 1, 1],
    cpu: split(4, "0-31,64-95", "32-63,96-127"),
    nics: ["NIC0=mlx5_0", "NIC1=mlx5_1"],
  },
  "l40s-pcie-2socket": {
    links: grid(`
      X    PIX  NODE NODE SYS  SYS  SYS  SYS
      PIX  X    NODE NODE SYS  SYS  SYS  SYS
      NODE NODE X    PIX  SYS  SYS  SYS  SYS
      NODE NODE PIX  X    SYS  SYS  SYS  SYS
      SYS  SYS  SYS  SYS  X    PIX  NODE NODE
      SYS  SYS  SYS  SYS  PIX  X    NODE NODE
      SYS  SYS  SYS  SYS  NODE NODE X    PIX
      SYS  SYS  SYS  SYS  NODE NODE PIX  X`),
    numa: split(8, 0, 1),
    cpu: split(8, "0-47,96-143", "48-95,144-191"),
    nics: ["NIC0=mlx5_0", "NIC1=mlx5_1"],
  },
  "gb200-compute-tray": {
    links: full(4, "NV18"),
    numa: [0, 0, 1, 1],
    cpu: split(4, "0-71", "72-143"),
    gpuNumaId: [2, 10, 18, 26],
    nics: Array.from({ length: 6 }, (_, k) => `NIC${k}=mlx5_${k}`),
  },
  "dgx1-v100-r418": {
    links: grid(`
      X   NV1 NV1 NV2 NV2 SYS SYS SYS
      NV1 X   NV2 NV1 SYS NV2 SYS SYS
      NV1 NV2 X   NV2 SYS SYS NV1 SYS
      NV2 NV1 NV2 X   SYS SYS SYS NV1
      NV2 SYS SYS SYS X   NV1 NV1 NV2
      SYS NV2 SYS SYS NV1 X   NV2 NV1
      SYS SYS NV1 SYS NV1 NV2 X   NV2
      SYS SYS SYS NV1 NV2 NV1 NV2 X`),
    numa: split(8, undefined, undefined),
    cpu: split(8, "0-19,40-59", "20-39,60-79"),
    nics: [],
  },
  "a100-sxm4-mig": {
    links: full(4, "NV4"),
    numa: [0, 0, 1, 1],
    cpu: split(4, "0-31,64-95", "32-63,96-127"),
    nics: ["NIC0=mlx5_0", "NIC1=mlx5_1"],
  },
};

describe("parseTopoMatrix on the fixtures", () => {
  it.each(NVIDIA_SMI_FIXTURES.map((f) => [f]))("reads %s into the expected link matrix, affinity and NICs, without warnings", (name) => {
    const result = parseTopoMatrix(nvidiaSmiFixture(name, "topo-m.txt"));
    const m = matrixOf(result);
    const want = EXPECTED[name];
    expect(result.warnings).toEqual([]);
    expect(m.gpus.map((g) => g.index)).toEqual(want.links.map((_, i) => i));
    expect(m.links).toEqual(want.links);
    expect(m.gpus.map((g) => g.numaNode)).toEqual(want.numa);
    expect(m.gpus.map((g) => g.cpuAffinity)).toEqual(want.cpu);
    expect(m.gpus.map((g) => g.gpuNumaId)).toEqual(want.gpuNumaId ?? want.numa.map(() => undefined));
    expect(m.nics.map((n) => `${n.name}=${n.device ?? "?"}`)).toEqual(want.nics);
  });

  it.each(NVIDIA_SMI_FIXTURES.map((f) => [f]))("gives a symmetric matrix with X only on the diagonal for %s", (name) => {
    const { links } = matrixOf(parseTopoMatrix(nvidiaSmiFixture(name, "topo-m.txt")));
    links.forEach((row, i) =>
      row.forEach((code, j) => {
        expect(code).toBe(links[j]?.[i]);
        expect(code === "X").toBe(i === j);
      }),
    );
  });

  it("reads the real H100 capture, whose header is wrapped in ANSI underline escapes", () => {
    const text = nvidiaSmiFixture("h100-80gb-vm", "topo-m.txt");
    expect(text).toContain("\x1b[4m");
    expect(matrixOf(parseTopoMatrix(text)).gpus).toEqual([{ index: 0, cpuAffinity: "0-15", numaNode: 0 }]);
  });

  it("reads the same matrix when tabs were turned into padded spaces (a copy from a terminal or a document)", () => {
    const tabbed = nvidiaSmiFixture("dgx-h100", "topo-m.txt");
    const spaced = tabbed
      .split("\n")
      .map((line) => (line.includes("\t") ? stripAnsi(line).split("\t").map((c) => c.padEnd(6)).join(" ") : line))
      .join("\n");
    expect(spaced).not.toContain("\t");
    const result = parseTopoMatrix(spaced);
    expect(matrixOf(result)).toEqual(matrixOf(parseTopoMatrix(tabbed)));
    expect(result.warnings).toEqual([]);
  });

  it("reads Windows line endings", () => {
    const text = nvidiaSmiFixture("a100-pcie-nvlink-bridge", "topo-m.txt").replace(/\n/g, "\r\n");
    expect(matrixOf(parseTopoMatrix(text)).links).toEqual(EXPECTED["a100-pcie-nvlink-bridge"].links);
  });
});

describe("parseTopoMatrix on variants and damage", () => {
  const H = "\tGPU0\tGPU1\tCPU Affinity\tNUMA Affinity\tGPU NUMA ID";

  it("takes the farther link when the two rows disagree, and says where", () => {
    const result = parseTopoMatrix([H, "GPU0\t X \tNV12\t0-7\t0\t\tN/A", "GPU1\tSYS\t X \t8-15\t1\t\tN/A"].join("\n"));
    expect(matrixOf(result).links).toEqual([
      ["X", "SYS"],
      ["SYS", "X"],
    ]);
    expect(result.warnings).toEqual([{ line: 3, message: "GPU0-GPU1 is NV12 on line 2 but SYS on line 3; using the farther, SYS" }]);
  });

  it.each([
    ["NV18", "NV12", "NV12"],
    ["NV4", "PIX", "PIX"],
    ["PIX", "PXB", "PXB"],
    ["PHB", "NODE", "NODE"],
    ["SB", "NV2", "SB"],
  ])("between %s and %s takes %s", (a, b, want) => {
    const result = parseTopoMatrix([H, `GPU0\t X \t${a}\t0-7\t0\t\tN/A`, `GPU1\t${b}\t X \t8-15\t1\t\tN/A`].join("\n"));
    expect(matrixOf(result).links[0]?.[1]).toBe(want);
    expect(result.warnings).toHaveLength(1);
  });

  it("uses the readable cell when the other is garbled", () => {
    const result = parseTopoMatrix([H, "GPU0\t X \tNV?\t0-7\t0\t\tN/A", "GPU1\tNV8\t X \t8-15\t1\t\tN/A"].join("\n"));
    expect(matrixOf(result).links[0]?.[1]).toBe("NV8");
    expect(result.warnings).toEqual([{ line: 2, message: 'GPU0-GPU1: "NV?" is not a link code; using NV8 from the other row' }]);
  });

  it("fails when neither cell of a pair is a link code", () => {
    const result = parseTopoMatrix([H, "GPU0\t X \t??\t0-7\t0\t\tN/A", "GPU1\t--\t X \t8-15\t1\t\tN/A"].join("\n"));
    expect(result.ok).toBe(false);
    expect(!result.ok && result.errors).toEqual([{ line: 2, message: 'GPU0-GPU1: neither "??" nor "--" is a link code' }]);
  });

  it("reads the legacy SOC code as SYS", () => {
    const result = parseTopoMatrix(["\tGPU0\tGPU1\tCPU Affinity", "GPU0\t X \tSOC\t0-7", "GPU1\tSOC\t X \t8-15"].join("\n"));
    expect(matrixOf(result).links[0]?.[1]).toBe("SYS");
  });

  it("takes NIC columns named by device (older drivers) as NICs", () => {
    const text = [
      "\tGPU0\tGPU1\tmlx5_0\tmlx5_1\tCPU Affinity",
      "GPU0\t X \tNV2\tPIX\tSYS\t0-19",
      "GPU1\tNV2\t X \tPIX\tSYS\t0-19",
      "mlx5_0\tPIX\tPIX\t X \tSYS\t",
      "mlx5_1\tSYS\tSYS\tSYS\t X \t",
    ].join("\n");
    const result = parseTopoMatrix(text);
    expect(result.warnings).toEqual([]);
    expect(matrixOf(result).nics).toEqual([{ name: "mlx5_0" }, { name: "mlx5_1" }]);
    expect(matrixOf(result).links[0]?.[1]).toBe("NV2");
  });

  it("accepts a header whose leading tab was lost", () => {
    const result = parseTopoMatrix(["GPU0\tGPU1\tCPU Affinity\tNUMA Affinity", "GPU0\t X \tPHB\t0-7\t0", "GPU1\tPHB\t X \t0-7\t0"].join("\n"));
    expect(matrixOf(result).links[0]?.[1]).toBe("PHB");
    expect(matrixOf(result).gpus.map((g) => g.numaNode)).toEqual([0, 0]);
  });

  it("treats a NUMA affinity that names several nodes as unknown, with a warning", () => {
    const result = parseTopoMatrix([H, "GPU0\t X \tSYS\t0-15\t0-1\t\tN/A", "GPU1\tSYS\t X \t0-15\t0\t\tN/A"].join("\n"));
    expect(matrixOf(result).gpus[0]).toEqual({ index: 0, cpuAffinity: "0-15" });
    expect(result.warnings).toEqual([{ line: 2, message: 'NUMA affinity of GPU0 "0-1" is not a single NUMA node; treated as unknown' }]);
  });

  it("treats N/A affinity as unknown without a warning", () => {
    const result = parseTopoMatrix([H, "GPU0\t X \tSYS\tN/A\tN/A\t\tN/A", "GPU1\tSYS\t X \tN/A\tN/A\t\tN/A"].join("\n"));
    expect(matrixOf(result).gpus).toEqual([{ index: 0 }, { index: 1 }]);
    expect(result.warnings).toEqual([]);
  });

  it("fails, naming the line, when a GPU row is missing or short", () => {
    const missing = parseTopoMatrix([H, "GPU0\t X \tNV4\t0-7\t0\t\tN/A"].join("\n"));
    expect(!missing.ok && missing.errors).toEqual([{ line: 1, message: "GPU1 has a column but no row" }]);
    const short = parseTopoMatrix([H, "GPU0\t X ", "GPU1\tNV4\t X \t0-7\t0\t\tN/A"].join("\n"));
    expect(!short.ok && short.errors.map((e) => e.line)).toEqual([2, 1]);
  });

  it("warns about and skips rows that match no column", () => {
    const result = parseTopoMatrix([H, "GPU0\t X \tNV4\t0-7\t0\t\tN/A", "GPU1\tNV4\t X \t0-7\t0\t\tN/A", "GPU7\tNV4\tNV4\t0-7\t0\t\tN/A"].join("\n"));
    expect(result.ok).toBe(true);
    expect(result.warnings).toEqual([{ line: 4, message: "row GPU7 has no column in the header; skipped" }]);
  });

  it.each([
    ["empty output", "", "no matrix header with GPU columns found (empty output)"],
    [
      "the driver-not-loaded message",
      "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n",
      `no matrix header with GPU columns found (output starts "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.")`,
    ],
  ])("fails on %s with a whole-output error", (_name, text, message) => {
    const result = parseTopoMatrix(text);
    expect(!result.ok && result.errors).toEqual([{ line: 0, message }]);
  });

  it("never throws, whatever it is given", () => {
    const base = nvidiaSmiFixture("dgx-h100", "topo-m.txt");
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom("\t", "\n", " ", "X", "G", "P", "U", "0", "1", "N", "V", "8", "\x1b", "[", "m", "/", "A") }), (s) => {
        expect(() => parseTopoMatrix(s)).not.toThrow();
      }),
    );
    fc.assert(
      fc.property(fc.nat(base.length), fc.nat(200), fc.string(), (at, cut, insert) => {
        const result = parseTopoMatrix(base.slice(0, at) + insert + base.slice(at + cut));
        if (result.ok) {
          const { links } = result.matrix;
          links.forEach((row, i) => row.forEach((code, j) => expect(code).toBe(links[j]?.[i])));
        }
      }),
    );
  });
});
