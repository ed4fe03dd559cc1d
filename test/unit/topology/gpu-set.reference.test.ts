// chooseGpuSet against a reference placer that tries every subset and scores
// it with the objective written out in the plainest possible code.
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { bestBottleneckByCount, chooseGpuSet, type GpuSetConstraints } from "../../../src/topology/gpu-set.js";
import type { GpuNodeTopology } from "../../../src/topology/model.js";
import { gpuTopology } from "../../builders/gpu-topology.js";

/** Bandwidth in whole MB/s, the unit the objective compares in. */
const units = (t: GpuNodeTopology, i: number, j: number) => Math.round(t.links[i]![j]!.bandwidthGBps * 1000);

function bitsOf(mask: number, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (mask & (1 << i)) out.push(i);
  return out;
}

function minPair(t: GpuNodeTopology, set: number[]): number {
  let min = Infinity;
  for (const a of set) for (const b of set) if (a < b) min = Math.min(min, units(t, a, b));
  return min;
}

interface Reference {
  gpus: number[];
  /** [bottleneck, total, b8, b4, b2, b1, numaSpan] */
  tuple: number[];
}

/**
 * The objective, tier by tier, over every subset: feasible; max bottleneck;
 * max total; max [b8, b4, b2, b1] of the remaining usable GPUs; min NUMA span;
 * lexicographically smallest indices.
 */
function referencePlacer(t: GpuNodeTopology, usable: boolean[], count: number, c: GpuSetConstraints): Reference | undefined {
  const n = t.gpus.length;
  const usableMask = bitsOf((1 << n) - 1, n).reduce((m, i) => (usable[i] ? m | (1 << i) : m), 0);
  // The smallest pair bandwidth inside every subset, built up one GPU at a
  // time: a set's minimum is its minimum without its lowest GPU, or a pair
  // that includes that GPU.
  const subsetMin = new Float64Array(1 << n).fill(Infinity);
  const subsetSize = new Uint8Array(1 << n);
  for (let mask = 1; mask < 1 << n; mask++) {
    const low = 31 - Math.clz32(mask & -mask);
    const rest = mask & (mask - 1);
    subsetSize[mask] = subsetSize[rest]! + 1;
    let min = subsetMin[rest]!;
    for (const j of bitsOf(rest, n)) min = Math.min(min, units(t, low, j));
    subsetMin[mask] = min;
  }
  // [b8, b4, b2, b1]: the best bottleneck of any 8, 4 or 2 of the remaining GPUs, and whether any remains.
  const residualQuality = (rest: number): number[] => {
    const best = [0, 0, 0, 0];
    for (let sub = rest; sub > 0; sub = (sub - 1) & rest) {
      const k = subsetSize[sub]!;
      const slot = k === 8 ? 0 : k === 4 ? 1 : k === 2 ? 2 : -1;
      if (slot >= 0) best[slot] = Math.max(best[slot]!, subsetMin[sub]!);
    }
    best[3] = rest !== 0 ? 1 : 0;
    return best;
  };

  let winner: Reference | undefined;
  for (let mask = 1; mask < 1 << n; mask++) {
    if ((mask & ~usableMask) !== 0) continue;
    const set = bitsOf(mask, n);
    if (set.length !== count) continue;
    let feasible = true;
    for (const a of set) {
      for (const b of set) {
        if (a >= b) continue;
        if (c.nvlinkRequired && t.links[a]![b]!.kind !== "NVLink") feasible = false;
      }
    }
    if (c.singleNuma) {
      const nodes = set.map((i) => t.gpus[i]!.numaNode);
      if (nodes.some((x) => x === undefined) || new Set(nodes).size !== 1) feasible = false;
    }
    if (!feasible) continue;
    let total = 0;
    for (const a of set) for (const b of set) if (a < b) total += units(t, a, b);
    const bottleneck = set.length < 2 ? 0 : minPair(t, set);
    const quality = residualQuality(usableMask & ~mask);
    const known = new Set(set.map((i) => t.gpus[i]!.numaNode).filter((x) => x !== undefined));
    const span = known.size + (set.some((i) => t.gpus[i]!.numaNode === undefined) ? 1 : 0);
    const candidate: Reference = { gpus: set, tuple: [bottleneck, total, ...quality, span] };
    if (winner === undefined || beats(candidate, winner)) winner = candidate;
  }
  return winner;
}

/** Higher tiers first; everything "more is better" except the NUMA span; then the lowest indices. */
function beats(a: Reference, b: Reference): boolean {
  for (let k = 0; k < 6; k++) if (a.tuple[k] !== b.tuple[k]) return a.tuple[k]! > b.tuple[k]!;
  if (a.tuple[6] !== b.tuple[6]) return a.tuple[6]! < b.tuple[6]!;
  for (let k = 0; k < a.gpus.length; k++) if (a.gpus[k] !== b.gpus[k]) return a.gpus[k]! < b.gpus[k]!;
  return false;
}

// --- random nodes ---------------------------------------------------------------

const ALL_CODES = ["NV1", "NV2", "NV4", "NV6", "NV12", "NV18", "SB", "PIX", "PXB", "PHB", "NODE", "SYS"];

interface Case {
  n: number;
  codes: string[];
  numa: (number | undefined)[];
  usable: boolean[];
  count: number;
  constraints: GpuSetConstraints;
  product: string | undefined;
  nvlinkGBps: number | undefined;
}

/** Nodes drawn so that ties are common: few distinct link codes (sometimes one), few NUMA nodes. */
const caseArb = (minGpus: number, maxGpus: number): fc.Arbitrary<Case> =>
  fc
    .record({
      n: fc.integer({ min: minGpus, max: maxGpus }),
      alphabet: fc.shuffledSubarray(ALL_CODES, { minLength: 1, maxLength: 4 }),
      numaNodes: fc.integer({ min: 1, max: 3 }),
      unknownNuma: fc.boolean(),
      busyRate: fc.constantFrom(0, 0.2, 0.5),
      product: fc.constantFrom(undefined, "NVIDIA H100 80GB HBM3", "NVIDIA L40S", "NVIDIA RTX A6000", "Tesla V100-SXM2-32GB"),
      nvlinkGBps: fc.constantFrom(undefined, undefined, 25, 37.5),
      // Constraints on a random node mostly make it infeasible; keep each to about a quarter of the cases.
      nvlinkRequired: fc.constantFrom(false, false, false, true),
      singleNuma: fc.constantFrom(false, false, false, true),
      seed: fc.integer({ min: 0, max: 2 ** 30 }),
    })
    .map((r) => {
      let s = r.seed;
      const rand = () => {
        s = (Math.imul(s, 1103515245) + 12345) & 0x7fffffff;
        return s / 0x80000000;
      };
      const pairs = (r.n * (r.n - 1)) / 2;
      const codes = Array.from({ length: pairs }, () => r.alphabet[Math.floor(rand() * r.alphabet.length)]!);
      const numa = Array.from({ length: r.n }, () => (r.unknownNuma && rand() < 0.15 ? undefined : Math.floor(rand() * r.numaNodes)));
      const usable = Array.from({ length: r.n }, () => rand() >= r.busyRate);
      const free = usable.filter(Boolean).length;
      // Mostly a count the node could hold; now and then one more than it has free.
      const count = free === 0 || rand() < 0.1 ? free + 1 : 1 + Math.floor(rand() * free);
      return { n: r.n, codes, numa, usable, count, constraints: { nvlinkRequired: r.nvlinkRequired, singleNuma: r.singleNuma }, product: r.product, nvlinkGBps: r.nvlinkGBps };
    });

function topologyOf(c: Case): GpuNodeTopology {
  let k = 0;
  const byPair = new Map<string, string>();
  for (let i = 0; i < c.n; i++) for (let j = i + 1; j < c.n; j++) byPair.set(`${i},${j}`, c.codes[k++]!);
  return gpuTopology({
    gpus: c.n,
    link: (i, j) => byPair.get(`${i},${j}`)!,
    numa: (i) => c.numa[i],
    ...(c.product !== undefined ? { product: c.product } : {}),
    ...(c.nvlinkGBps !== undefined ? { nvlinkGBps: c.nvlinkGBps } : {}),
  });
}

/** The shapes an infeasibility reason can take. */
const REASON_FORMS =
  /^needs (\d+ GPUs?; \d+ free and healthy|\d+ NVLink-connected GPUs; largest free NVLink-connected set is \d+|\d+ GPUs? on one NUMA node; at most \d+ free on any NUMA node( \(NUMA node unknown for \d+ free GPUs?\))?|\d+ NVLink-connected GPUs on one NUMA node; largest free such set is \d+)$/;

const tally = { exact: 0, feasible: 0, infeasible: 0, greedy: 0, propertiesHeld: 0 };

afterAll(() => {
  const verdict = tally.propertiesHeld === 2 ? "all agreed" : "NOT all agreed (see the failure above)";
  console.log(
    `gpu-set reference check: ${tally.exact + tally.greedy} cases compared: ${tally.exact} on 1-16 GPUs against the full objective ` +
      `(${tally.feasible} feasible, ${tally.infeasible} infeasible) and ${tally.greedy} on 17-19 GPUs against the best bottleneck; ${verdict}`,
  );
});

describe("chooseGpuSet against the brute-force reference placer", () => {
  it(
    "picks the same GPUs with the same objective tuple on random nodes of up to 16 GPUs",
    () => {
      fc.assert(
        fc.property(caseArb(1, 16), (c) => {
          const t = topologyOf(c);
          const want = referencePlacer(t, c.usable, c.count, c.constraints);
          const got = chooseGpuSet(t, c.usable, c.count, c.constraints);
          const table = bestBottleneckByCount(t, c.usable, c.constraints);
          if (want === undefined) {
            expect(got.ok).toBe(false);
            if (!got.ok) expect(got.reason).toMatch(REASON_FORMS);
            expect(table[c.count - 1] ?? null).toBeNull();
            tally.infeasible++;
          } else {
            expect(got.ok).toBe(true);
            if (!got.ok) return;
            const ch = got.choice;
            const tuple = [
              Math.round(ch.bottleneckGBps * 1000),
              Math.round(ch.totalGBps * 1000),
              ...ch.fragmentation.map((v, k) => (k === 3 ? v : Math.round(v * 1000))),
              ch.numaSpan,
            ];
            expect({ gpus: ch.gpus, tuple }).toEqual(want);
            expect(ch.exact).toBe(true);
            expect(ch.allNvlink).toBe(want.gpus.every((a) => want.gpus.every((b) => a === b || t.links[a]![b]!.kind === "NVLink")));
            expect(table[c.count - 1]).toBe(ch.bottleneckGBps);
            tally.feasible++;
          }
          tally.exact++;
        }),
        { numRuns: 400 },
      );
      tally.propertiesHeld++;
    },
    120_000,
  );

  it(
    "agrees on the best bottleneck above 16 GPUs, where the rest of the choice is greedy",
    () => {
      fc.assert(
        fc.property(caseArb(17, 19), (c) => {
          const t = topologyOf(c);
          const constraints: GpuSetConstraints = { nvlinkRequired: c.constraints.nvlinkRequired, singleNuma: false };
          const free = c.usable.flatMap((u, i) => (u ? [i] : []));
          // Best bottleneck by brute force: the highest threshold that still has a count-clique.
          let best: number | undefined;
          const rec = (start: number, set: number[]) => {
            if (set.length === c.count) {
              const bn = set.length < 2 ? 0 : minPair(t, set);
              if (best === undefined || bn > best) best = bn;
              return;
            }
            for (let k = start; k < free.length; k++) {
              const g = free[k]!;
              if (constraints.nvlinkRequired && set.some((x) => t.links[x]![g]!.kind !== "NVLink")) continue;
              if (set.length >= 1 && best !== undefined && set.some((x) => units(t, x, g) <= best!)) continue;
              rec(k + 1, [...set, g]);
            }
          };
          rec(0, []);
          const got = chooseGpuSet(t, c.usable, c.count, constraints);
          if (best === undefined) expect(got.ok).toBe(false);
          else {
            expect(got.ok).toBe(true);
            if (!got.ok) return;
            expect(Math.round(got.choice.bottleneckGBps * 1000)).toBe(best);
            expect(got.choice.gpus).toHaveLength(c.count);
            expect(got.choice.gpus.every((g) => c.usable[g])).toBe(true);
          }
          tally.greedy++;
        }),
        { numRuns: 40 },
      );
      tally.propertiesHeld++;
    },
    120_000,
  );
});
