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
import { STRATEGY_SCORERS, type KeySink } from "./strategies/index.js";
import { RESIDUAL_SET_SIZES, residualScoreOf } from "../topology/gpu-set.js";

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

/**
 * Locality rank of a node in a group member's NVLink clique. Constant, above any
 * rank from shared network levels, so the clique wins whatever network labels
 * the two nodes carry (some nodes may lack a level another one has).
 */
export const SAME_CLIQUE_RANK = 1_000_000;
/** A group member already runs on this very node: closer than any clique. */
export const SAME_NODE_RANK = 2_000_000;

interface Locality {
  readonly rank: number;
  /** The group member that gave the rank. */
  readonly member?: GpuNode;
  /** Network levels shared with that member (when the rank comes from the network). */
  readonly shared: number;
}

const NO_LOCALITY: Locality = { rank: 0, shared: 0 };

function bestLocality(node: GpuNode, groupNodes: readonly GpuNode[]): Locality {
  let best = NO_LOCALITY;
  const depth = node.network.length;
  for (const m of groupNodes) {
    if (m.name === node.name) return { rank: SAME_NODE_RANK, member: m, shared: 0 };
    if (node.clique !== undefined && m.clique === node.clique) {
      best = { rank: SAME_CLIQUE_RANK, member: m, shared: 0 };
      continue;
    }
    let shared = 0;
    while (shared < depth && shared < m.network.length && m.network[shared]![1] === node.network[shared]![1] && m.network[shared]![0] === node.network[shared]![0]) shared += 1;
    if (shared > 0 && shared + 1 > best.rank) best = { rank: shared + 1, member: m, shared };
  }
  return best;
}

/**
 * SAME_NODE_RANK: a group member runs on the node; SAME_CLIQUE_RANK: in a group
 * member's NVLink clique; k+1: shares the outermost k network levels with a
 * member; 0: no relation.
 */
export function localityOf(node: GpuNode, groupNodes: readonly GpuNode[]): { rank: number; detail: string } {
  if (groupNodes.length === 0) return { rank: 0, detail: "no group members placed yet" };
  const { rank, member, shared } = bestLocality(node, groupNodes);
  if (member === undefined) return { rank, detail: "no group member shares its NVLink clique or network" };
  if (rank === SAME_NODE_RANK) return { rank, detail: "a group member runs on this node" };
  if (rank === SAME_CLIQUE_RANK) return { rank, detail: `same NVLink clique as group member on ${member.name}` };
  return { rank, detail: `shares ${node.network[shared - 1]![0]} ${node.network[shared - 1]![1]} with group member on ${member.name}` };
}

/**
 * What placing the pod here costs larger pods: for each set size k in 8, 4, 2
 * that is larger than the pod, how much of the best k-GPU bottleneck the node
 * could offer before is lost afterwards, packed so a lost 8-GPU slot outweighs
 * any loss of 4-GPU slots, and so on. An exact fit loses nothing; a 1-GPU pod
 * on an idle 8-GPU node loses the 8-GPU slot. (Within one node, the GPU set
 * was already chosen to leave the best remainder.)
 */
export function fragmentationDamage(state: NodeState, choice: GpuSetChoice, gpus: number): number {
  const before = state.capability();
  const after = choice.fragmentation;
  const loss = RESIDUAL_SET_SIZES.map((k, i) => (k > gpus ? Math.max(0, (before[i] ?? 0) - (after[i] ?? 0)) : 0));
  return residualScoreOf(loss);
}

/** How many tiers shapeTiers gives. */
export const SHAPE_TIERS = 5;

/**
 * Tiers 1-4 (preferred topology; bottleneck, then total bandwidth;
 * fragmentation; NUMA span): they depend only on the node's GPU shape and the
 * pod's intent, so every node of one shape shares them.
 */
export function shapeTiers(state: NodeState, choice: GpuSetChoice, intent: PodIntent): number[] {
  const p = intent.placement;
  let preferred = 0;
  if (p.gpuLinks === "NVLinkPreferred" && choice.allNvlink) preferred += 1;
  if (p.numa === "Preferred" && choice.numaSpan === 1) preferred += 1;
  return [preferred, Math.round(choice.bottleneckGBps), Math.round(choice.totalGBps), 0 - fragmentationDamage(state, choice, intent.gpus), -choice.numaSpan];
}

/** How many tiers nodeTiers writes for a pod of this intent. */
export function nodeTierWidth(intent: PodIntent): number {
  return 2 + STRATEGY_SCORERS[intent.placement.strategy].width;
}

/** The cost class's rank in the policy's preference: higher is preferred, 0 for classes not listed (and for every class when the list is empty). */
function costRank(costClass: string, preference: readonly string[]): number {
  const idx = preference.indexOf(costClass);
  return idx < 0 ? 0 : preference.length - idx;
}

/**
 * Tiers 5-7 (group locality, cost class, the strategy's keys), which differ
 * between nodes of one shape, written at out[at], out[at + 1], …
 */
export function nodeTiers(state: NodeState, ctx: ScoreContext, out: KeySink, at: number): void {
  out[at] = ctx.intent.group !== undefined && ctx.groupNodes.length > 0 ? bestLocality(state.node, ctx.groupNodes).rank : 0;
  // Without a cost preference the node object is not even read: at thousands of nodes per call its cache miss is what costs.
  out[at + 1] = ctx.costPreference.length === 0 ? 0 : costRank(state.node.costClass, ctx.costPreference);
  STRATEGY_SCORERS[ctx.intent.placement.strategy].keys(state, ctx.intent.gpus, out, at + 2);
}

/** The full tier tuple of a feasible node: shapeTiers, then nodeTiers. */
export function scoreNode(state: NodeState, choice: GpuSetChoice, ctx: ScoreContext): ScoredNode {
  const tuple = shapeTiers(state, choice, ctx.intent);
  nodeTiers(state, ctx, tuple, SHAPE_TIERS);
  return { node: state.node.name, tuple, choice };
}

/** Why a node scored as it did, tier by tier: for logs and `topofit explain` only. */
export function explainScore(state: NodeState, choice: GpuSetChoice, ctx: ScoreContext): string[] {
  const p = ctx.intent.placement;
  const out: string[] = [];
  if (p.gpuLinks === "NVLinkPreferred") out.push(`NVLinkPreferred ${choice.allNvlink ? "met" : "not met"}`);
  if (p.numa === "Preferred") out.push(`NUMA Preferred ${choice.numaSpan === 1 ? "met" : `not met (span ${choice.numaSpan})`}`);
  out.push(`GPUs [${choice.gpus.join(",")}]: bottleneck ${choice.bottleneckGBps} GB/s, total ${choice.totalGBps} GB/s`);
  out.push(
    `leaves [${choice.fragmentation.join(",")}] (best bottleneck of 8/4/2/1 remaining GPUs; was [${state.capability().join(",")}]; damage to larger pods ${fragmentationDamage(state, choice, ctx.intent.gpus)})`,
  );
  out.push(`NUMA span ${choice.numaSpan}`);
  if (ctx.intent.group !== undefined) out.push(`locality: ${localityOf(state.node, ctx.groupNodes).detail}`);
  if (ctx.costPreference.length > 0) out.push(`cost class ${state.node.costClass}`);
  out.push(STRATEGY_SCORERS[p.strategy].detail(state, ctx.intent.gpus));
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
