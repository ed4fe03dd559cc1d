import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  MAX_ANNOTATION_BYTES,
  MAX_GPUS,
  decodeTopologyAnnotation,
  encodeTopologyAnnotation,
  linkCodeOf,
  pairIndex,
  parseLinkCode,
  type TopologyAnnotation,
} from "../../../src/topology/annotation.js";

type Raw = Record<string, any>;

/** A valid two-GPU annotation that each malformed case breaks in one place. */
function base(): Raw {
  return {
    v: 1,
    gpus: [
      { index: 0, uuid: "GPU-aaaa", pci: "0000:1b:00.0", numa: 0, memMiB: 81559, product: "NVIDIA H100 80GB HBM3" },
      { index: 1, uuid: "GPU-bbbb", pci: "0000:43:00.0", numa: 0, memMiB: 81559, product: "NVIDIA H100 80GB HBM3" },
    ],
    links: ["NV18"],
  };
}

function reasonOf(raw: unknown): string {
  const r = decodeTopologyAnnotation(typeof raw === "string" ? raw : JSON.stringify(raw));
  return r.ok ? "accepted" : r.reason;
}

describe("decodeTopologyAnnotation", () => {
  it("accepts the base annotation used by the cases below", () => {
    const r = decodeTopologyAnnotation(JSON.stringify(base()));
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.links).toEqual([{ kind: "NVLink", nvlinks: 18 }]);
  });

  it("normalises a DCGM-style PCI bus id", () => {
    const raw = base();
    raw.gpus[0].pci = "00000000:1B:00.0";
    const r = decodeTopologyAnnotation(JSON.stringify(raw));
    expect(r.ok && r.annotation.gpus[0]?.pci).toBe("0000:1b:00.0");
  });

  it("keeps the MIG flag and the per-link bandwidth override", () => {
    const raw = base();
    raw.gpus[1].mig = true;
    raw.nvlinkGBps = 25;
    const r = decodeTopologyAnnotation(JSON.stringify(raw));
    expect(r.ok && r.annotation.gpus[1]?.mig).toBe(true);
    expect(r.ok && r.annotation.nvlinkGBps).toBe(25);
  });

  it.each<[string, (raw: Raw) => unknown, RegExp]>([
    ["text that is not JSON is rejected", () => "{not json", /^annotation is not JSON/],
    ["a JSON array is not an annotation", () => [], /not a JSON object/],
    ["JSON null is not an annotation", () => null, /not a JSON object/],
    ["a JSON number is not an annotation", () => 42, /not a JSON object/],
    ["a missing version is named as such", (r) => (delete r.v, r), /unsupported format version null \(this topofit reads v1\)/],
    ["a newer version is rejected with its number", (r) => ((r.v = 2), r), /unsupported format version 2/],
    ["a version given as text is rejected", (r) => ((r.v = "1"), r), /unsupported format version "1"/],
    ["missing gpus are rejected", (r) => (delete r.gpus, r), /gpus must be a non-empty array/],
    ["an empty gpus list is rejected", (r) => ((r.gpus = []), r), /gpus must be a non-empty array/],
    ["gpus given as an object are rejected", (r) => ((r.gpus = { 0: {} }), r), /gpus must be a non-empty array/],
    [
      "more GPUs than the limit are rejected",
      () => ({ v: 1, gpus: Array.from({ length: MAX_GPUS + 1 }, (_, i) => ({ index: i })), links: [] }),
      new RegExp(`${MAX_GPUS + 1} GPUs, over the limit of ${MAX_GPUS}`),
    ],
    ["a GPU entry that is not an object is rejected", (r) => ((r.gpus[1] = 1), r), /gpus\[1\] is not an object/],
    ["GPUs out of index order are rejected", (r) => ((r.gpus[0].index = 1), r), /gpus\[0\]\.index must be 0/],
    ["a GPU without an index is rejected", (r) => (delete r.gpus[1].index, r), /gpus\[1\]\.index must be 1/],
    ["a numeric uuid is rejected", (r) => ((r.gpus[0].uuid = 7), r), /gpus\[0\] has a malformed uuid, pci or product/],
    ["an over-long uuid is rejected", (r) => ((r.gpus[0].uuid = "G".repeat(129)), r), /gpus\[0\] has a malformed uuid/],
    ["a numeric product is rejected", (r) => ((r.gpus[1].product = 100), r), /gpus\[1\] has a malformed uuid, pci or product/],
    ["a numeric pci is rejected", (r) => ((r.gpus[0].pci = 27), r), /gpus\[0\] has a malformed uuid, pci or product/],
    ["a pci that is not a bus id is rejected with its value", (r) => ((r.gpus[0].pci = "slot-3"), r), /gpus\[0\]\.pci "slot-3" is not a PCI bus id/],
    ["a negative NUMA node is rejected", (r) => ((r.gpus[0].numa = -1), r), /gpus\[0\] has a malformed numa or memMiB/],
    ["a fractional NUMA node is rejected", (r) => ((r.gpus[0].numa = 0.5), r), /gpus\[0\] has a malformed numa or memMiB/],
    ["a NUMA node given as text is rejected", (r) => ((r.gpus[0].numa = "0"), r), /gpus\[0\] has a malformed numa or memMiB/],
    ["a negative memory size is rejected", (r) => ((r.gpus[1].memMiB = -5), r), /gpus\[1\] has a malformed numa or memMiB/],
    ["missing links are rejected with the expected count", (r) => (delete r.links, r), /links must list the 1 pairs of 2 GPUs \(upper triangle\), got none/],
    ["too many links are rejected with both counts", (r) => ((r.links = ["NV18", "NV18"]), r), /links must list the 1 pairs of 2 GPUs \(upper triangle\), got 2/],
    ["a full matrix instead of the upper triangle is rejected", (r) => ((r.links = ["X", "NV18", "NV18", "X"]), r), /got 4/],
    ["an unknown link code is named", (r) => ((r.links = ["NVL"]), r), /links\[0\] "NVL" is not a link code/],
    ["NV0 is not a link code", (r) => ((r.links = ["NV0"]), r), /links\[0\] "NV0" is not a link code/],
    ["a three-digit NVLink count is not a link code", (r) => ((r.links = ["NV100"]), r), /links\[0\] "NV100" is not a link code/],
    ["a lowercase code is not a link code", (r) => ((r.links = ["pix"]), r), /links\[0\] "pix" is not a link code/],
    ["a numeric link is not a link code", (r) => ((r.links = [18]), r), /links\[0\] 18 is not a link code/],
    ["the diagonal marker X is not a link code", (r) => ((r.links = ["X"]), r), /links\[0\] "X" is not a link code/],
    ["a zero per-link bandwidth is rejected", (r) => ((r.nvlinkGBps = 0), r), /nvlinkGBps must be a number in \(0, 1000\]/],
    ["a negative per-link bandwidth is rejected", (r) => ((r.nvlinkGBps = -50), r), /nvlinkGBps must be a number/],
    ["an absurd per-link bandwidth is rejected", (r) => ((r.nvlinkGBps = 5000), r), /nvlinkGBps must be a number/],
    ["a per-link bandwidth given as text is rejected", (r) => ((r.nvlinkGBps = "50"), r), /nvlinkGBps must be a number/],
  ])("%s", (_name, breakIt, want) => {
    expect(reasonOf(breakIt(base()))).toMatch(want);
  });

  it("rejects a value over the size limit before parsing it", () => {
    const text = " ".repeat(MAX_ANNOTATION_BYTES + 1);
    expect(reasonOf(text)).toBe(`annotation is ${MAX_ANNOTATION_BYTES + 1} bytes, over the ${MAX_ANNOTATION_BYTES}-byte limit`);
  });
});

describe("encodeTopologyAnnotation", () => {
  const code = fc.oneof(
    fc.integer({ min: 1, max: 18 }).map((n) => `NV${n}`),
    fc.constantFrom("SB", "PIX", "PXB", "PHB", "NODE", "SYS"),
  );
  const gpu = fc.record(
    {
      uuid: fc.stringMatching(/^GPU-[0-9a-f]{8}$/),
      pci: fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 31 })).map(([b, d]) => `0000:${b.toString(16).padStart(2, "0")}:${d.toString(16).padStart(2, "0")}.0`),
      numa: fc.integer({ min: 0, max: 7 }),
      memMiB: fc.integer({ min: 1, max: 200_000 }),
      product: fc.constantFrom("NVIDIA H100 80GB HBM3", "NVIDIA L40S", "NVIDIA B200"),
      mig: fc.constant(true),
    },
    { requiredKeys: [] },
  );
  const annotation: fc.Arbitrary<TopologyAnnotation> = fc
    .integer({ min: 1, max: 12 })
    .chain((n) =>
      fc.record({
        gpus: fc.array(gpu, { minLength: n, maxLength: n }),
        links: fc.array(code, { minLength: (n * (n - 1)) / 2, maxLength: (n * (n - 1)) / 2 }),
        nvlinkGBps: fc.option(fc.integer({ min: 1, max: 1000 }), { nil: undefined }),
      }),
    )
    .map(({ gpus, links, nvlinkGBps }) => ({
      v: 1 as const,
      gpus: gpus.map((g, index) => ({ index, ...g })),
      links,
      ...(nvlinkGBps !== undefined ? { nvlinkGBps } : {}),
    }));

  it("round-trips through decode unchanged, and re-encodes to the same text", () => {
    fc.assert(
      fc.property(annotation, (a) => {
        const text = encodeTopologyAnnotation(a);
        const r = decodeTopologyAnnotation(text);
        expect(r.ok).toBe(true);
        if (!r.ok) return;
        expect(r.annotation).toEqual(a);
        expect(encodeTopologyAnnotation(r.annotation)).toBe(text);
      }),
      { numRuns: 200 },
    );
  });

  it("writes GPUs in index order whatever order it is given", () => {
    const text = encodeTopologyAnnotation({ v: 1, gpus: [{ index: 1 }, { index: 0 }], links: ["PIX"] });
    expect(text).toBe('{"v":1,"gpus":[{"index":0},{"index":1}],"links":["PIX"]}');
  });
});

describe("link codes", () => {
  it.each<[string, string, ReturnType<typeof parseLinkCode>]>([
    ["NV18 is 18 bonded NVLinks", "NV18", { kind: "NVLink", nvlinks: 18 }],
    ["NV1 is one NVLink", "NV1", { kind: "NVLink", nvlinks: 1 }],
    ["SB is the same board", "SB", { kind: "SameBoard", nvlinks: 0 }],
    ["PIX is one PCIe switch", "PIX", { kind: "PIX", nvlinks: 0 }],
    ["SYS crosses sockets", "SYS", { kind: "SYS", nvlinks: 0 }],
    ["an empty string is no code", "", undefined],
    ["NV with no number is no code", "NV", undefined],
  ])("%s", (_name, code, want) => {
    expect(parseLinkCode(code)).toEqual(want);
  });

  it("prints every code it parses back to the same text", () => {
    for (const code of ["NV1", "NV12", "NV18", "SB", "PIX", "PXB", "PHB", "NODE", "SYS"]) expect(linkCodeOf(parseLinkCode(code)!)).toBe(code);
  });

  it("numbers the upper triangle row by row", () => {
    const n = 5;
    const order: number[] = [];
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) order.push(pairIndex(n, i, j));
    expect(order).toEqual(Array.from({ length: 10 }, (_, k) => k));
  });
});
