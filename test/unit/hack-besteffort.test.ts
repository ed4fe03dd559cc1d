// The device plugin emulation bench:agreement measures topofit against.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  bestEffortOutcomes,
  bestEffortPick,
  bestEffortSplitPoints,
  pairPoints,
  pcieFromLayout,
  type PairPoints,
} from "../../hack/bench/besteffort.js";
import { buildNodeTopology } from "../../src/topology/build.js";
import { TOPOLOGY_PROFILE_LABEL } from "../../src/topology/labels.js";
import type { GpuNodeTopology } from "../../src/topology/model.js";
import { BUILTIN_PROFILES } from "../../src/topology/profiles.js";
import { bridgedA100Topology, gpuTopology, l40sTopology, nvswitchTopology } from "../builders/gpu-topology.js";

function profileTopology(name: string, gpus: number): GpuNodeTopology {
  return buildNodeTopology({ labels: { [TOPOLOGY_PROFILE_LABEL]: name }, annotations: {}, allocatableGpus: gpus, profiles: BUILTIN_PROFILES }).topology;
}

const at = (pp: PairPoints, i: number, j: number) => pp.points[i * pp.n + j];

const a100 = pairPoints(bridgedA100Topology());

// DGX-1 with V100: the dgx1-v100-8 profile's NVLinks, and the PCIe layout of the
// machine (two GPUs per PCIe switch, host bridges within a socket).
const dgx1 = pairPoints(profileTopology("dgx1-v100-8", 8), { nvlinkPairPcie: pcieFromLayout([0, 0, 1, 1, 2, 2, 3, 3], "PHB") });

describe("pairPoints", () => {
  it("scores the bridged A100 pair as NODE plus 12 NVLinks and a cross-socket pair as SYS", () => {
    expect(at(a100, 0, 1)).toBe(20 + 1200);
    expect(at(a100, 2, 3)).toBe(1220);
    expect(at(a100, 0, 2)).toBe(10);
    expect(at(a100, 1, 3)).toBe(10);
  });

  it("scores each PCIe class on the plugin's scale", () => {
    const topo = gpuTopology({ gpus: 7, link: (i) => ["SB", "PIX", "PXB", "PHB", "NODE", "SYS", "SYS"][i]! });
    const pp = pairPoints(topo);
    expect([1, 2, 3, 4, 5, 6].map((j) => at(pp, 0, j))).toEqual([60, 60, 60, 60, 60, 60]);
    expect([2, 3, 4, 5, 6].map((j) => at(pp, 1, j))).toEqual([50, 50, 50, 50, 50]);
    expect(at(pp, 2, 3)).toBe(40);
    expect(at(pp, 3, 4)).toBe(30);
    expect(at(pp, 4, 5)).toBe(20);
    expect(at(pp, 5, 6)).toBe(10);
  });

  it("counts no NVLinks on an NVSwitch board, leaving the NUMA-derived PCIe class", () => {
    const board = nvswitchTopology();
    expect(at(pairPoints(board), 0, 1)).toBe(20 + 1800);
    expect(at(pairPoints(board), 0, 4)).toBe(10 + 1800);
    expect(at(pairPoints(board, { nvswitch: true }), 0, 1)).toBe(20);
    expect(at(pairPoints(board, { nvswitch: true }), 0, 4)).toBe(10);
  });

  it("takes the PCIe class of NVLink pairs from a machine layout", () => {
    expect(at(dgx1, 0, 1)).toBe(50 + 100);
    expect(at(dgx1, 0, 3)).toBe(30 + 200);
    expect(at(dgx1, 0, 4)).toBe(10 + 200);
    expect(at(dgx1, 0, 5)).toBe(10);
  });
});

describe("bestEffortPick", () => {
  it("gives a 2-GPU pod the bridged pair {0,1} on an idle 4x A100 PCIe node", () => {
    expect(bestEffortPick(a100, [0, 1, 2, 3], 2)).toEqual({ gpus: [0, 1], short: false });
  });

  it("gives the other bridged pair when kubelet lists it first, since both pairs tie", () => {
    expect(bestEffortPick(a100, [2, 3, 0, 1], 2).gpus).toEqual([2, 3]);
    expect(bestEffortOutcomes(a100, [0, 1, 2, 3], 2)).toEqual({ splitPoints: 2440, sets: [[0, 1], [2, 3]], shortPossible: false });
  });

  it("takes the first of many equal splits: {0,1} on an idle NVSwitch board, any same-socket pair in some order", () => {
    const hidden = pairPoints(nvswitchTopology(), { nvswitch: true });
    const all = [0, 1, 2, 3, 4, 5, 6, 7];
    expect(bestEffortPick(hidden, all, 2).gpus).toEqual([0, 1]);
    expect(bestEffortPick(hidden, [5, 0, 6, 1, 2, 3, 4, 7], 2).gpus).toEqual([5, 6]);
    const sameSocket = all.flatMap((i) => all.filter((j) => j > i && (i < 4) === (j < 4)).map((j) => [i, j]));
    expect(bestEffortOutcomes(hidden, all, 2)).toEqual({ splitPoints: 80, sets: sameSocket, shortPossible: false });
  });

  it.each<[string, number[], number]>([
    ["takes GPU 0 for a 1-GPU pod on an idle node, breaking the bridged pair", [0, 1, 2, 3], 0],
    ["takes the first free GPU listed, not the lowest index", [3, 1, 2], 3],
    ["takes the first free GPU even when that breaks the only free NVLink pair", [0, 1, 2], 0],
  ])("%s", (_name, free, expected) => {
    expect(bestEffortPick(a100, free, 1).gpus).toEqual([expected]);
  });

  it("keeps what stays free grouped: a weaker pair wins when the pair left over is better", () => {
    // 0-1 share a board (60) but would leave 2-3 across sockets (10); 0-2 and 1-3 are
    // each under one switch (50 + 50 = 100 > 60 + 10).
    const codes: Record<string, string> = { "0-1": "SB", "0-2": "PIX", "1-3": "PIX" };
    const pp = pairPoints(gpuTopology({ gpus: 4, link: (i, j) => codes[`${i}-${j}`] ?? "SYS" }));
    expect(bestEffortPick(pp, [0, 1, 2, 3], 2).gpus).toEqual([0, 2]);
    expect(bestEffortSplitPoints(pp, [0, 1, 2, 3], 2, [0, 1])).toBe(70);
    expect(bestEffortSplitPoints(pp, [0, 1, 2, 3], 2, [0, 2])).toBe(100);
    expect(bestEffortOutcomes(pp, [0, 1, 2, 3], 2).sets).toEqual([[0, 2], [1, 3]]);
  });

  it("counts the leftover block of an odd free count in the split", () => {
    // Free 0, 2, 3 for a pair: {2,3}+{0} scores 1220, {0,2}+{3} only 10.
    expect(bestEffortPick(a100, [0, 2, 3], 2).gpus).toEqual([2, 3]);
    expect(bestEffortOutcomes(a100, [0, 2, 3], 2)).toEqual({ splitPoints: 1220, sets: [[2, 3]], shortPossible: false });
  });

  it("reports when the padded leftover block would win, which leaves the plugin short of GPUs", () => {
    // 6 free, 4 asked: the first best split walked is {0,1,2,3} + {4,5,-,-}, and the
    // NVLink pair 4-5 outscores the four PCIe GPUs.
    const pp = pairPoints(gpuTopology({ gpus: 6, link: (i, j) => (i === 4 && j === 5 ? "NV12" : i === 0 && j === 1 ? "PIX" : "SYS") }));
    expect(bestEffortPick(pp, [0, 1, 2, 3, 4, 5], 4)).toEqual({ gpus: [4, 5], short: true });
    expect(bestEffortOutcomes(pp, [0, 1, 2, 3, 4, 5], 4).shortPossible).toBe(true);
  });

  // Published cases of the policy on a DGX-1 with V100 (the allocator's own test table).
  it.each<[string, number[], number[]]>([
    ["one NVLink: prefers two GPUs under one PCIe switch", [0, 2, 4, 5], [4, 5]],
    ["one NVLink: prefers one socket", [0, 4, 5, 6], [5, 6]],
    ["prefers two NVLinks on one socket", [0, 3, 1], [0, 3]],
    ["prefers two NVLinks across sockets", [0, 1, 4], [0, 4]],
  ])("DGX-1: %s", (_name, free, expected) => {
    expect(bestEffortPick(dgx1, free, 2).gpus).toEqual(expected);
  });

  it("rejects malformed requests with the bad value named", () => {
    expect(() => bestEffortPick(a100, [0, 1], 0)).toThrow(/positive whole number, got 0/);
    expect(() => bestEffortPick(a100, [0, 4], 1)).toThrow(/free GPU 4 is not an index of this 4-GPU node/);
    expect(() => bestEffortPick(a100, [1, 1], 1)).toThrow(/free GPU 1 is listed twice/);
    expect(() => bestEffortSplitPoints(a100, [0, 1, 2], 2, [0, 3])).toThrow(/set \[0,3\] is not 2 of the free GPUs/);
  });

  it("returns nothing when fewer GPUs are free than asked, as the plugin does", () => {
    expect(bestEffortPick(a100, [0], 2)).toEqual({ gpus: [], short: false });
  });
});

describe("properties", () => {
  const arbCase = (n: number) =>
    fc.record({
      free: fc.shuffledSubarray(Array.from({ length: n }, (_, i) => i), { minLength: 1 }),
      size: fc.constantFrom(1, 2, 3, 4),
    });

  it("returns a set of the asked size, from the free GPUs, that is one of the possible outcomes", () => {
    const l40s = pairPoints(l40sTopology());
    fc.assert(
      fc.property(arbCase(8), ({ free, size }) => {
        const pick = bestEffortPick(l40s, free, size);
        if (free.length < size) return pick.gpus.length === 0;
        const outcomes = bestEffortOutcomes(l40s, free, size);
        expect(new Set(pick.gpus).size).toBe(pick.gpus.length);
        expect(pick.gpus.every((g) => free.includes(g))).toBe(true);
        if (pick.short) expect(outcomes.shortPossible).toBe(true);
        else {
          expect(pick.gpus).toHaveLength(size);
          expect(outcomes.sets).toContainEqual(pick.gpus);
          // No other set of the free GPUs leads to a better split.
          expect(bestEffortSplitPoints(l40s, free, size, pick.gpus)).toBe(outcomes.splitPoints);
        }
        return true;
      }),
    );
  });

  it("on a uniform NVSwitch board, hiding the NVLinks never changes the pick", () => {
    const board = nvswitchTopology();
    const seen = pairPoints(board);
    const hidden = pairPoints(board, { nvswitch: true });
    fc.assert(
      fc.property(arbCase(8), ({ free, size }) => {
        expect(bestEffortPick(hidden, free, size)).toEqual(bestEffortPick(seen, free, size));
      }),
    );
  });
});
