import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { normalizeScores, scoreRows } from "../../../src/extender/normalize.js";
import type { ScoredNode } from "../../../src/extender/score.js";
import type { GpuSetChoice } from "../../../src/topology/node-state.js";

const CHOICE: GpuSetChoice = { gpus: [0], bottleneckGBps: 0, totalGBps: 0, numaSpan: 1, fragmentation: [0, 0, 0, 0], residualScore: 0, allNvlink: true, exact: true };
const scored = (entries: Record<string, readonly number[]>): ScoredNode[] => Object.entries(entries).map(([node, tuple]) => ({ node, tuple, choice: CHOICE }));
const asMap = (scores: { node: string; score: number }[]) => Object.fromEntries(scores.map((s) => [s.node, s.score]));

describe("normalizeScores", () => {
  it("gives the best tuple 10 and each next distinct tuple one less", () => {
    expect(asMap(normalizeScores(scored({ c: [0, 600], a: [1, 0], b: [0, 900] })))).toEqual({ a: 10, b: 9, c: 8 });
  });

  it("lists nodes best first, with their rank", () => {
    expect(normalizeScores(scored({ c: [0, 600], a: [1, 0], b: [0, 900] }))).toEqual([
      { node: "a", score: 10, rank: 0 },
      { node: "b", score: 9, rank: 1 },
      { node: "c", score: 8, rank: 2 },
    ]);
  });

  it("lets equal tuples share a score, and the next distinct tuple follow directly", () => {
    expect(asMap(normalizeScores(scored({ a: [2, 900], b: [2, 900], c: [1, 900], d: [1, 900], e: [0, 0] })))).toEqual({ a: 10, b: 10, c: 9, d: 9, e: 8 });
  });

  it("keeps the input order among nodes that tie", () => {
    expect(normalizeScores(scored({ z: [1], y: [1], x: [1] })).map((s) => s.node)).toEqual(["z", "y", "x"]);
  });

  it("never gives a feasible node less than 1, however many distinct ranks there are", () => {
    const many: Record<string, number[]> = {};
    for (let i = 0; i < 14; i++) many[`n${String(i).padStart(2, "0")}`] = [-i];
    const scores = normalizeScores(scored(many));
    expect(scores.map((s) => s.score)).toEqual([10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 1, 1, 1, 1]);
    expect(scores.at(-1)).toMatchObject({ node: "n13", rank: 13 });
  });

  it("scores a single feasible node 10", () => {
    expect(normalizeScores(scored({ only: [0, 0, -3] }))).toEqual([{ node: "only", score: 10, rank: 0 }]);
  });

  it("returns nothing for no feasible nodes", () => {
    expect(normalizeScores([])).toEqual([]);
  });
});

/** scoreRows over the same tuples, as a node -> score map, and the node it names best. */
function byRows(entries: Record<string, readonly number[]>): { scores: Record<string, number>; best: string | undefined } {
  const names = Object.keys(entries);
  const width = Math.max(1, ...names.map((n) => entries[n]!.length));
  const keys = new Float64Array(names.length * width);
  names.forEach((n, r) => entries[n]!.forEach((v, k) => (keys[r * width + k] = v)));
  const out = new Uint8Array(names.length);
  const best = scoreRows(keys, width, names.length, out);
  return { scores: Object.fromEntries(names.map((n, r) => [n, out[r]!])), best: best < 0 ? undefined : names[best] };
}

describe("scoreRows", () => {
  it("gives the best row 10, each next distinct row one less, and equal rows the same score", () => {
    expect(byRows({ c: [0, 600], a: [1, 0], b: [0, 900], d: [0, 900] }).scores).toEqual({ a: 10, b: 9, d: 9, c: 8 });
  });

  it("floors every row past the ninth distinct tuple at 1", () => {
    const many: Record<string, number[]> = {};
    for (let i = 13; i >= 0; i--) many[`n${String(i).padStart(2, "0")}`] = [-i];
    expect(Object.values(byRows(many).scores).sort((a, b) => b - a)).toEqual([10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 1, 1, 1, 1]);
  });

  it("names the first row holding the best tuple, and none for no rows", () => {
    expect(byRows({ x: [1, 2], y: [3, 0], z: [3, 0] }).best).toBe("y");
    expect(byRows({}).best).toBeUndefined();
  });

  it("agrees with normalizeScores on random tuples, ties and long tails included", () => {
    const tuples = fc.array(fc.array(fc.integer({ min: -3, max: 3 }), { minLength: 3, maxLength: 3 }), { minLength: 0, maxLength: 60 });
    fc.assert(
      fc.property(tuples, (rows) => {
        const entries = Object.fromEntries(rows.map((t, i) => [`n${i}`, t]));
        const reference = normalizeScores(scored(entries));
        const fast = byRows(entries);
        expect(fast.scores).toEqual(asMap(reference));
        expect(fast.best).toBe(reference[0]?.node);
      }),
      { numRuns: 300 },
    );
  });
});
