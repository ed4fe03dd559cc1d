// Packs lexicographic tuples into kube-scheduler's 0..10: nodes are ranked by
// their tuple (equal tuples share a rank), the best rank scores 10, each next
// distinct rank one less, down to 1. 0 is never given to a feasible node.
//
// normalizeScores sorts whole tuples and gives every node its exact rank (for
// explanations); scoreRows gives the same scores from a flat table of keys
// without sorting it, for requests with thousands of nodes.
import { MAX_EXTENDER_PRIORITY } from "./schema.js";
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

/**
 * Scores `rows` nodes whose tuples are rows of `keys` (`width` numbers each,
 * higher first): the scores normalizeScores gives the same tuples. Only the
 * best SCORED_RANKS distinct tuples matter (every other node scores 1), so they
 * are kept in a short list while the rows are read once, and each row is then
 * matched against that list. Returns the row of a best tuple (the first such
 * row), or -1 for no rows.
 */
export function scoreRows(keys: Float64Array, width: number, rows: number, out: Uint8Array): number {
  const top = new Int32Array(SCORED_RANKS);
  let count = 0;
  for (let r = 0; r < rows; r++) {
    let pos = count;
    while (pos > 0) {
      const c = compareRows(keys, width, r, top[pos - 1]!);
      if (c === 0) {
        pos = -1;
        break;
      }
      if (c < 0) break;
      pos -= 1;
    }
    if (pos < 0 || pos >= SCORED_RANKS) continue;
    for (let q = Math.min(count, SCORED_RANKS - 1); q > pos; q--) top[q] = top[q - 1]!;
    top[pos] = r;
    if (count < SCORED_RANKS) count += 1;
  }
  for (let r = 0; r < rows; r++) {
    let score = 1;
    for (let p = count - 1; p >= 0; p--) {
      const c = compareRows(keys, width, r, top[p]!);
      if (c === 0) {
        score = MAX_EXTENDER_PRIORITY - p;
        break;
      }
      if (c < 0) break;
    }
    out[r] = score;
  }
  return count > 0 ? top[0]! : -1;
}
