// Packs lexicographic tuples into kube-scheduler's 0..10: nodes are ranked by
// their tuple (equal tuples share a rank), the best rank scores 10, each next
// distinct rank one less, down to 1. 0 is never given to a feasible node.
import { MAX_EXTENDER_PRIORITY } from "./schema.js";
import { compareTuples, type ScoredNode } from "./score.js";

export interface NodeScore {
  readonly node: string;
  readonly score: number;
  readonly rank: number;
}

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
