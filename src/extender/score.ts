// Scores one feasible node as a tuple of tiers, compared lexicographically
// (normalize.ts packs the ranking into kube-scheduler's 0..10):
//   1. preferred topology met (NVLinkPreferred: the set is all-NVLink;
//      numa Preferred: the set is on one NUMA node)
//   2. quality of the best free GPU set: bottleneck pair bandwidth, then total
//   3. fragmentation left behind (what the remaining GPUs can still serve)
//   4. NUMA span of the set (fewer nodes is better)
//   5. multi-node locality with the pod's group (same NVLink clique, then the
//      innermost shared network level)
//   6. cost class, in the order the policy prefers
//   7. the rule's strategy (BinPack or Spread, with DCGM load)
import type { GpuNode } from "../topology/model.js";
import type { GpuSetChoice, NodeState } from "../topology/node-state.js";
import type { PodIntent } from "./intent.js";
import { STRATEGY_SCORERS } from "./strategies/index.js";

export interface ScoreContext {
  readonly intent: PodIntent;
  /** Nodes where members of the pod's group already run or are reserved. */
  readonly groupNodes: readonly GpuNode[];
  /** Cost classes, most preferred first; classes not listed rank last. */
  readonly costPreference: readonly string[];
}

export interface ScoredNode {
  readonly node: string;
  readonly tuple: readonly number[];
  readonly choice: GpuSetChoice;
}

/** 3: same NVLink clique as a group member; 2+k: shares the k-th network level (outermost k=0) ...; 0: no relation. */
export function localityOf(node: GpuNode, groupNodes: readonly GpuNode[]): { rank: number; detail: string } {
  if (groupNodes.length === 0) return { rank: 0, detail: "no group members placed yet" };
  let best = 0;
  let detail = "no group member shares its NVLink clique or network";
  const depth = node.network.length;
  for (const m of groupNodes) {
    if (node.clique !== undefined && m.clique === node.clique) return { rank: depth + 2, detail: `same NVLink clique as group member on ${m.name}` };
    let shared = 0;
    while (shared < depth && shared < m.network.length && m.network[shared]![1] === node.network[shared]![1] && m.network[shared]![0] === node.network[shared]![0]) shared += 1;
    if (shared > 0 && shared + 1 > best) {
      best = shared + 1;
      detail = `shares ${node.network[shared - 1]![0]} ${node.network[shared - 1]![1]} with group member on ${m.name}`;
    }
    if (m.name === node.name && best < depth + 1) {
      best = depth + 1;
      detail = "a group member runs on this node";
    }
  }
  return { rank: best, detail };
}

/** The tier tuple of a feasible node; cheap, called for every candidate. */
export function scoreNode(state: NodeState, choice: GpuSetChoice, ctx: ScoreContext): ScoredNode {
  const p = ctx.intent.placement;
  let preferred = 0;
  if (p.gpuLinks === "NVLinkPreferred" && choice.allNvlink) preferred += 1;
  if (p.numa === "Preferred" && choice.numaSpan === 1) preferred += 1;
  const locality = ctx.intent.group !== undefined ? localityOf(state.node, ctx.groupNodes).rank : 0;
  const costIdx = ctx.costPreference.length === 0 ? -1 : ctx.costPreference.indexOf(state.node.costClass);
  const costRank = costIdx < 0 ? 0 : ctx.costPreference.length - costIdx;
  const tuple = [
    preferred,
    Math.round(choice.bottleneckGBps),
    Math.round(choice.totalGBps),
    Math.round(choice.residualScore),
    -choice.numaSpan,
    locality,
    costRank,
  ];
  for (const k of STRATEGY_SCORERS[p.strategy](state, ctx.intent.gpus).keys) tuple.push(k);
  return { node: state.node.name, tuple, choice };
}

/** Why a node scored as it did, tier by tier: for logs and `topofit explain` only. */
export function explainScore(state: NodeState, choice: GpuSetChoice, ctx: ScoreContext): string[] {
  const p = ctx.intent.placement;
  const out: string[] = [];
  if (p.gpuLinks === "NVLinkPreferred") out.push(`NVLinkPreferred ${choice.allNvlink ? "met" : "not met"}`);
  if (p.numa === "Preferred") out.push(`NUMA Preferred ${choice.numaSpan === 1 ? "met" : `not met (span ${choice.numaSpan})`}`);
  out.push(`GPUs [${choice.gpus.join(",")}]: bottleneck ${choice.bottleneckGBps} GB/s, total ${choice.totalGBps} GB/s`);
  out.push(`leaves [${choice.fragmentation.join(",")}] (best bottleneck of 8/4/2/1 remaining GPUs)`);
  out.push(`NUMA span ${choice.numaSpan}`);
  if (ctx.intent.group !== undefined) out.push(`locality: ${localityOf(state.node, ctx.groupNodes).detail}`);
  if (ctx.costPreference.length > 0) out.push(`cost class ${state.node.costClass}`);
  out.push(STRATEGY_SCORERS[p.strategy](state, ctx.intent.gpus).detail());
  return out;
}

export function compareTuples(a: readonly number[], b: readonly number[]): number {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (b[i] ?? 0) - (a[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
