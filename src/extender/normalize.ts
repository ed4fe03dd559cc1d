// Packs lexicographic tuples into kube-scheduler's 0..10: nodes are ranked by
// their tuple (equal tuples share a rank), the best rank scores 10, each next
// distinct rank one less, down to 1. 0 is never given to a feasible node.
//
// normalizeScores sorts whole tuples and gives every node its exact rank (for
// explanations); scoreRows gives the same scores from a flat table of keys
// without sorting it, for requests with thousands of nodes.
import { MAX_EXTENDER_PRIORITY } from "./schema.js";
import { scratchArray } from "./scratch.js";
import { compareTuples, type ScoredNode } from "./score.js";

export interface NodeScore {
  readonly node: string;
  readonly score: number;
  readonly rank: number;
}

/** Distinct ranks that score above the floor of 1: ranks 0..8 score 10..2. */
const SCORED_RANKS = MAX_EXTENDER_PRIORITY - 1;

export function normalizeScores(scored: readonly ScoredNode[]): NodeScore[] {
  const order = [...scored].sort((a, b) => compareTuples(a.tuple, b.tuple));
  const out: NodeScore[] = [];
  let rank = 0;
  for (let i = 0; i < order.length; i++) {
    if (i > 0 && compareTuples(order[i - 1]!.tuple, order[i]!.tuple) !== 0) rank += 1;
    out.push({ node: order[i]!.node, score: Math.max(1, MAX_EXTENDER_PRIORITY - rank), rank });
  }
  return out;
}

/** Positive when row a's keys rank above row b's (higher first, left to right), 0 when equal. */
function compareRows(keys: Float64Array, width: number, a: number, b: number): number {
  const x = a * width;
  const y = b * width;
  for (let k = 0; k < width; k++) {
    const d = keys[x + k]! - keys[y + k]!;
    if (d !== 0) return d;
  }
  return 0;
}

/** Representatives of scoreRows, reused from call to call (scratch.ts). */
const scratchReps = scratchArray((n) => new Int32Array(n));

/**
 * Scores `rows` nodes whose tuples are rows of `keys` (`width` numbers each,
 * higher first): the scores normalizeScores gives the same tuples. Only the
 * best SCORED_RANKS distinct tuples matter (every other node scores 1), so they
 * are kept in a short sorted list while the rows are read once, each row found
 * in it by binary search. A row equal to a listed tuple records that tuple's
 * first row as its representative; a row that ranks below a full list can only
 * score 1, since the list only ever gets better. At the end a row scores by the
 * final place of its representative (1 if it was pushed out). Returns the row
 * of a best tuple (the first such row), or -1 for no rows.
 */
export function scoreRows(keys: Float64Array, width: number, rows: number, out: Uint8Array): number {
  const top = new Int32Array(SCORED_RANKS);
  let count = 0;
  const rep = scratchReps(rows);
  for (let r = 0; r < rows; r++) {
    // First place in top[0..count) whose tuple ranks at or below row r's.
    let lo = 0;
    let hi = count;
    let equal = -1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = compareRows(keys, width, r, top[mid]!);
      if (c === 0) {
        equal = mid;
        break;
      }
      if (c > 0) hi = mid;
      else lo = mid + 1;
    }
    if (equal >= 0) {
      rep[r] = top[equal]!;
      continue;
    }
    if (lo >= SCORED_RANKS) {
      rep[r] = -1;
      continue;
    }
    for (let q = Math.min(count, SCORED_RANKS - 1); q > lo; q--) top[q] = top[q - 1]!;
    top[lo] = r;
    rep[r] = r;
    if (count < SCORED_RANKS) count += 1;
  }
  // Score of each listed representative by its final place; everything else is 1.
  const placeOf = new Map<number, number>();
  for (let p = 0; p < count; p++) placeOf.set(top[p]!, p);
  for (let r = 0; r < rows; r++) {
    const place = rep[r]! < 0 ? undefined : placeOf.get(rep[r]!);
    out[r] = place === undefined ? 1 : MAX_EXTENDER_PRIORITY - place;
  }
  return count > 0 ? top[0]! : -1;
}
