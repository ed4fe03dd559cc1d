import { describe, expect, it } from "vitest";
import { BUILTIN_PROFILES } from "../../../src/topology/profiles.js";
import { buildNodeTopology } from "../../../src/topology/build.js";
import { TOPOLOGY_PROFILE_LABEL } from "../../../src/topology/labels.js";
import {
  bestBottleneckByCount,
  chooseGpuSet,
  largestNvlinkClique,
  residualQuality,
  residualScoreOf,
  type GpuSetConstraints,
} from "../../../src/topology/gpu-set.js";
import type { GpuNodeTopology } from "../../../src/topology/model.js";
import { bridgedA100Topology, gpuTopology, l40sTopology, nvswitchTopology, usableExcept } from "../../builders/gpu-topology.js";

const NONE: GpuSetConstraints = { nvlinkRequired: false, singleNuma: false };
const NVLINK: GpuSetConstraints = { nvlinkRequired: true, singleNuma: false };
const NUMA: GpuSetConstraints = { nvlinkRequired: false, singleNuma: true };
const BOTH: GpuSetConstraints = { nvlinkRequired: true, singleNuma: true };

const nvswitch = nvswitchTopology();
const a100 = bridgedA100Topology();
const l40s = l40sTopology();
const dgx1 = buildNodeTopology({ labels: { [TOPOLOGY_PROFILE_LABEL]: "dgx1-v100-8" }, annotations: {}, allocatableGpus: 8, profiles: BUILTIN_PROFILES }).topology;

function gpusOf(topology: GpuNodeTopology, usable: boolean[], n: number, c: GpuSetConstraints = NONE): readonly number[] | string {
  const r = chooseGpuSet(topology, usable, n, c);
  return r.ok ? r.choice.gpus : r.reason;
}

describe("chooseGpuSet", () => {
  it.each<[string, GpuNodeTopology, boolean[], number, GpuSetConstraints, number[]]>([
    // NVSwitch: every set has the same bandwidth, so NUMA span and then the lowest indices decide.
    ["on an NVSwitch board any 4 GPUs are equal, so one NUMA node's {0,1,2,3} wins", nvswitch, usableExcept(8), 4, NONE, [0, 1, 2, 3]],
    ["on an NVSwitch board a pair comes from one NUMA node", nvswitch, usableExcept(8), 2, NONE, [0, 1]],
    ["on an NVSwitch board with 0 and 1 busy, 4 GPUs come from the free NUMA node rather than the lowest indices", nvswitch, usableExcept(8, 0, 1), 4, NONE, [4, 5, 6, 7]],
    ["on an NVSwitch board 5 GPUs must span both NUMA nodes and take the lowest indices", nvswitch, usableExcept(8), 5, NONE, [0, 1, 2, 3, 4]],
    ["on an NVSwitch board a single-NUMA request for 3 with GPU 0 busy stays on NUMA 0", nvswitch, usableExcept(8, 0), 3, NUMA, [1, 2, 3]],
    ["on an NVSwitch board a single-NUMA request for 4 with GPU 0 busy moves to NUMA 1", nvswitch, usableExcept(8, 0), 4, NUMA, [4, 5, 6, 7]],
    // A100 PCIe, NV12 bridges on 0-1 and 2-3, two sockets.
    ["with bridged A100s and GPU 0 busy, one GPU goes to 1 instead of breaking pair 2-3", a100, usableExcept(4, 0), 1, NONE, [1]],
    ["with bridged A100s and GPU 3 busy, one GPU goes to 2 instead of breaking pair 0-1", a100, usableExcept(4, 3), 1, NONE, [2]],
    ["with bridged A100s all free, a pair is a bridged pair", a100, usableExcept(4), 2, NONE, [0, 1]],
    ["with bridged A100s and GPU 1 busy, a pair is the other bridged pair", a100, usableExcept(4, 1), 2, NONE, [2, 3]],
    ["with bridged A100s and GPUs 1 and 3 busy, a pair must cross the sockets", a100, usableExcept(4, 1, 3), 2, NONE, [0, 2]],
    ["with bridged A100s, three GPUs keep one bridge and take the lowest indices", a100, usableExcept(4), 3, NONE, [0, 1, 2]],
    // L40S: PIX pairs, NODE within a socket, SYS across.
    ["on an L40S server a pair shares a PCIe switch", l40s, usableExcept(8), 2, NONE, [0, 1]],
    ["on an L40S server with GPU 0 busy, a pair leaves the other socket whole", l40s, usableExcept(8, 0), 2, NONE, [2, 3]],
    ["on an L40S server 4 GPUs fill one socket", l40s, usableExcept(8), 4, NONE, [0, 1, 2, 3]],
    ["on an L40S server with GPU 1 busy, 4 GPUs come from the intact socket", l40s, usableExcept(8, 1), 4, NONE, [4, 5, 6, 7]],
    // DGX-1 hybrid cube-mesh (NV1/NV2).
    ["on a DGX-1 four GPUs form a fully NVLinked quad", dgx1, usableExcept(8), 4, NVLINK, [0, 1, 2, 3]],
    ["on a DGX-1 a pair takes an NV2 link inside a quad rather than one that breaks both quads", dgx1, usableExcept(8), 2, NONE, [0, 3]],
  ])("%s", (_name, topology, usable, n, c, want) => {
    expect(gpusOf(topology, usable, n, c)).toEqual(want);
  });

  it("reports the quality of the chosen set", () => {
    const r = chooseGpuSet(nvswitch, usableExcept(8), 4, NONE);
    expect(r).toEqual({
      ok: true,
      choice: {
        gpus: [0, 1, 2, 3],
        bottleneckGBps: 900,
        totalGBps: 6 * 900,
        numaSpan: 1,
        fragmentation: [0, 900, 900, 1],
        residualScore: residualScoreOf([0, 900, 900, 1]),
        allNvlink: true,
        exact: true,
      },
    });
  });

  it("reports a PCIe set as not all-NVLink, with its bottleneck and total", () => {
    const r = chooseGpuSet(l40s, usableExcept(8), 4, NONE);
    expect(r.ok && r.choice).toMatchObject({ bottleneckGBps: 44.8, totalGBps: 2 * 64 + 4 * 44.8, numaSpan: 1, allNvlink: false, fragmentation: [0, 44.8, 64, 1] });
  });

  it("gives a single GPU no pairs: zero bandwidth, all-NVLink trivially", () => {
    const r = chooseGpuSet(l40s, usableExcept(8), 1, NVLINK);
    expect(r.ok && r.choice).toMatchObject({ gpus: [0], bottleneckGBps: 0, totalGBps: 0, allNvlink: true, numaSpan: 1 });
  });

  it("never chooses a busy or unhealthy GPU", () => {
    for (let n = 1; n <= 5; n++) {
      const r = chooseGpuSet(nvswitch, usableExcept(8, 0, 2, 5), n, NONE);
      expect(r.ok && r.choice.gpus.filter((g) => [0, 2, 5].includes(g))).toEqual([]);
    }
  });

  it("treats GPUs missing from the usable mask as unusable", () => {
    expect(gpusOf(nvswitch, [false, true], 1)).toEqual([1]);
    expect(gpusOf(nvswitch, [false, true], 2)).toBe("needs 2 GPUs; 1 free and healthy");
  });

  it("counts unknown NUMA nodes as one more node in the span", () => {
    const t = gpuTopology({ gpus: 4, link: () => "NV4", numa: (i) => (i === 0 ? 0 : i === 1 ? 1 : undefined) });
    const r = chooseGpuSet(t, usableExcept(4), 4, NONE);
    expect(r.ok && r.choice.numaSpan).toBe(3);
  });

  it.each<[string, GpuNodeTopology, boolean[], number, GpuSetConstraints, string]>([
    ["too few free GPUs", nvswitch, usableExcept(8, 0, 1, 2, 3, 4), 4, NONE, "needs 4 GPUs; 3 free and healthy"],
    ["no free GPU for one", nvswitch, usableExcept(2, 0, 1), 1, NONE, "needs 1 GPU; 0 free and healthy"],
    ["more NVLink-connected GPUs than any free set", a100, usableExcept(4), 4, NVLINK, "needs 4 NVLink-connected GPUs; largest free NVLink-connected set is 2"],
    ["an NVLink pair on a node without NVLink", l40s, usableExcept(8), 2, NVLINK, "needs 2 NVLink-connected GPUs; largest free NVLink-connected set is 1"],
    ["more GPUs on one NUMA node than any has free", l40s, usableExcept(8, 0, 4), 4, NUMA, "needs 4 GPUs on one NUMA node; at most 3 free on any NUMA node"],
    ["both constraints, each possible alone but not together", gpuTopology({ gpus: 4, link: (i, j) => (j === i + 1 && i % 2 === 0 ? "NV4" : "SYS"), numa: (i) => i % 2 }), usableExcept(4), 2, BOTH, "needs 2 NVLink-connected GPUs on one NUMA node; largest free such set is 1"],
    ["both constraints, failing on NVLink first", a100, usableExcept(4), 3, BOTH, "needs 3 NVLink-connected GPUs; largest free NVLink-connected set is 2"],
    ["a single-NUMA request where NUMA is unknown", gpuTopology({ gpus: 3, link: () => "PIX" }), usableExcept(3), 1, NUMA, "needs 1 GPU on one NUMA node; at most 0 free on any NUMA node (NUMA node unknown for 3 free GPUs)"],
    ["a count of zero", nvswitch, usableExcept(8), 0, NONE, "needs a positive whole number of GPUs, got 0"],
    ["a fractional count", nvswitch, usableExcept(8), 1.5, NONE, "needs a positive whole number of GPUs, got 1.5"],
  ])("explains why it fails for %s", (_name, topology, usable, n, c, reason) => {
    expect(chooseGpuSet(topology, usable, n, c)).toEqual({ ok: false, reason });
  });
});

describe("bestBottleneckByCount", () => {
  it.each<[string, GpuNodeTopology, boolean[], GpuSetConstraints, (number | null)[]]>([
    ["bridged A100s: a bridged pair, then the socket crossing", a100, usableExcept(4), NONE, [0, 600, 32, 32]],
    ["bridged A100s under NVLinkRequired: nothing beyond a pair", a100, usableExcept(4), NVLINK, [0, 600, null, null]],
    ["bridged A100s with GPU 0 busy under NVLinkRequired", a100, usableExcept(4, 0), NVLINK, [0, 600, null]],
    ["L40S: PIX pair, a socket of NODE, then SYS", l40s, usableExcept(8), NONE, [0, 64, 44.8, 44.8, 32, 32, 32, 32]],
    ["L40S under single-NUMA: at most one socket", l40s, usableExcept(8), NUMA, [0, 64, 44.8, 44.8, null, null, null, null]],
    ["an NVSwitch board with three busy GPUs", nvswitch, usableExcept(8, 1, 2, 3), NONE, [0, 900, 900, 900, 900]],
    ["a node with nothing free", nvswitch, usableExcept(8, 0, 1, 2, 3, 4, 5, 6, 7), NONE, []],
  ])("%s", (_name, topology, usable, c, want) => {
    expect(bestBottleneckByCount(topology, usable, c)).toEqual(want);
  });

  it("agrees with chooseGpuSet for every count", () => {
    for (const [topology, usable] of [[dgx1, usableExcept(8, 2)], [l40s, usableExcept(8, 0, 5)], [a100, usableExcept(4)]] as const) {
      for (const c of [NONE, NVLINK, NUMA, BOTH]) {
        const table = bestBottleneckByCount(topology, usable, c);
        table.forEach((want, k) => {
          const r = chooseGpuSet(topology, usable, k + 1, c);
          expect(r.ok ? r.choice.bottleneckGBps : null).toBe(want);
        });
      }
    }
  });
});

describe("largestNvlinkClique", () => {
  it.each<[string, GpuNodeTopology, boolean[], number[]]>([
    ["an NVSwitch board: every free GPU", nvswitch, usableExcept(8, 3), [0, 1, 2, 4, 5, 6, 7]],
    ["bridged A100s with GPU 0 busy: the intact bridge", a100, usableExcept(4, 0), [2, 3]],
    ["bridged A100s with 0 and 2 busy: one GPU", a100, usableExcept(4, 0, 2), [1]],
    ["a DGX-1: the first quad", dgx1, usableExcept(8), [0, 1, 2, 3]],
    ["a DGX-1 with GPU 0 busy: the second quad", dgx1, usableExcept(8, 0), [4, 5, 6, 7]],
    ["an L40S server: a single GPU", l40s, usableExcept(8), [0]],
    ["no free GPU", l40s, usableExcept(8, 0, 1, 2, 3, 4, 5, 6, 7), []],
  ])("%s", (_name, topology, usable, want) => {
    expect(largestNvlinkClique(topology, usable)).toEqual(want);
  });
});

describe("residualQuality", () => {
  it("describes what a node's free GPUs can still host", () => {
    expect(residualQuality(l40s, usableExcept(8))).toEqual([32, 44.8, 64, 1]);
    expect(residualQuality(a100, usableExcept(4, 0))).toEqual([0, 0, 600, 1]);
    expect(residualQuality(a100, usableExcept(4, 0, 1, 2, 3))).toEqual([0, 0, 0, 0]);
  });

  it("packs into a score that orders like the vector", () => {
    const vectors = [
      [0, 0, 0, 0],
      [0, 0, 0, 1],
      [0, 0, 32, 1],
      [0, 0, 600, 1],
      [0, 44.8, 64, 1],
      [0, 900, 900, 1],
      [32, 0, 0, 0],
      [1800, 1800, 1800, 1],
    ];
    const scores = vectors.map(residualScoreOf);
    expect([...scores].sort((a, b) => a - b)).toEqual(scores);
    expect(new Set(scores).size).toBe(scores.length);
  });
});

describe("large nodes", () => {
  const sixteen = nvswitchTopology(16);
  const tree16 = gpuTopology({
    gpus: 16,
    link: (i, j) => (i >> 1 === j >> 1 ? "NV4" : i >> 2 === j >> 2 ? "PIX" : i >> 3 === j >> 3 ? "NODE" : "SYS"),
    numa: (i) => i >> 3,
    product: "NVIDIA RTX A6000",
  });

  it("chooses 4 of 16 exactly, and quickly", () => {
    const times: string[] = [];
    for (const [name, topology] of [["NVSwitch", sixteen], ["PCIe tree", tree16]] as const) {
      for (const n of [1, 2, 4, 8]) {
        const start = performance.now();
        const r = chooseGpuSet(topology, usableExcept(16), n, NONE);
        times.push(`${name} ${n}/16: ${(performance.now() - start).toFixed(1)} ms`);
        expect(r.ok && r.choice.exact).toBe(true);
      }
    }
    expect(gpusOf(sixteen, usableExcept(16), 4)).toEqual([0, 1, 2, 3]);
    expect(gpusOf(tree16, usableExcept(16, 0), 4)).toEqual([4, 5, 6, 7]);
    console.log(`gpu-set timings (first call, cold caches): ${times.join("; ")}`);
  });

  it("leaves a poorly connected GPU out of a set even when thousands of sets tie on bandwidth", () => {
    const onePoor = gpuTopology({ gpus: 16, link: (_i, j) => (j === 15 ? "SYS" : "NV18"), numa: (i) => (i < 8 ? 0 : 1) });
    const r = chooseGpuSet(onePoor, usableExcept(16), 8, NONE);
    expect(r.ok && r.choice).toMatchObject({ gpus: [0, 1, 2, 3, 4, 5, 6, 7], bottleneckGBps: 900, fragmentation: [32, 900, 900, 1] });
  });

  it("above 16 usable GPUs chooses greedily but keeps the best bottleneck", () => {
    const twenty = gpuTopology({ gpus: 20, link: (i, j) => (i >> 2 === j >> 2 ? "NV6" : "SYS"), numa: (i) => (i < 10 ? 0 : 1), product: "Tesla V100-SXM2-32GB" });
    const r = chooseGpuSet(twenty, usableExcept(20, 0), 4, NONE);
    expect(r.ok && r.choice).toMatchObject({ gpus: [4, 5, 6, 7], bottleneckGBps: 300, allNvlink: true, exact: false });
    expect(chooseGpuSet(twenty, usableExcept(20), 5, NVLINK)).toEqual({ ok: false, reason: "needs 5 NVLink-connected GPUs; largest free NVLink-connected set is 4" });
  });

  it("handles more GPUs than fit a 32-bit mask", () => {
    const forty = gpuTopology({ gpus: 40, link: (i, j) => (i >> 3 === j >> 3 ? "NV18" : "SYS"), numa: (i) => i >> 4 });
    const r = chooseGpuSet(forty, usableExcept(40, 0), 8, NONE);
    expect(r.ok && r.choice).toMatchObject({ gpus: [8, 9, 10, 11, 12, 13, 14, 15], bottleneckGBps: 900, exact: false });
    expect(largestNvlinkClique(forty, usableExcept(40, 0))).toEqual([8, 9, 10, 11, 12, 13, 14, 15]);
    expect(bestBottleneckByCount(forty, usableExcept(40), NONE).slice(0, 9)).toEqual([0, 900, 900, 900, 900, 900, 900, 900, 32]);
  });
});
