// One extender call: decode the pod's intent, take a verdict per node, score the
// feasible ones. Pure apart from the store's memoised state and the ledger
// reservation it records for the node it ranks first.
import type { Policy } from "../policy/model.js";
import type { TopologyStore } from "../topology/store.js";
import type { ExtenderCall } from "./decode.js";
import { filterNode, requiredConstraints, type NodeVerdict } from "./filter.js";
import { podIntent, type PodIntent } from "./intent.js";
import { normalizeScores, type NodeScore } from "./normalize.js";
import { explainScore, scoreNode, type ScoredNode } from "./score.js";
import type { NodeState } from "../topology/node-state.js";

export interface ExtenderContext {
  readonly policy: Policy;
  readonly store: TopologyStore;
}

export interface FilterOutcome {
  readonly intent: PodIntent;
  readonly verdicts: readonly NodeVerdict[];
  /** True when the pod asks for no GPUs: every node passes untouched. */
  readonly passThrough: boolean;
}

function namesOf(call: ExtenderCall, ctx: ExtenderContext): readonly string[] {
  if (call.nodes.mode === "names") return call.nodes.names;
  const names: string[] = [];
  for (const n of call.nodes.nodes) {
    const node = ctx.store.upsertNode(n);
    if (node) names.push(node.name);
  }
  return names;
}

function verdicts(call: ExtenderCall, ctx: ExtenderContext, intent: PodIntent): NodeVerdict[] {
  const resource = ctx.policy.gpuResources[0] ?? "nvidia.com/gpu";
  const constraints = requiredConstraints(intent.placement);
  const names = namesOf(call, ctx);
  const out: NodeVerdict[] = new Array<NodeVerdict>(names.length);
  for (let i = 0; i < names.length; i++) out[i] = filterNode(names[i]!, ctx.store.state(names[i]!), intent, resource, constraints);
  return out;
}

export function filterCall(call: ExtenderCall, ctx: ExtenderContext): FilterOutcome {
  const intent = podIntent(call.pod, ctx.policy, ctx.policy.scoring.groupLabels);
  if (intent.gpus === 0) {
    const names = namesOf(call, ctx);
    return { intent, passThrough: true, verdicts: names.map((node) => ({ ok: false, node, reason: "", resolvable: true })) };
  }
  const out = verdicts(call, ctx, intent);
  const passed = out.filter((v) => v.ok);
  if (passed.length === 1) reserveTop(call, ctx, intent, passed[0]!.node, passed[0]!.choice.gpus);
  return { intent, passThrough: false, verdicts: out };
}

export interface PrioritizeOutcome {
  readonly intent: PodIntent;
  readonly scores: readonly NodeScore[];
  readonly scored: ReadonlyMap<string, ScoredNode>;
  /** Tier-by-tier explanation of the node ranked first. */
  readonly topReasons: readonly string[];
  /** Nodes of the request that are not feasible (score 0). */
  readonly infeasible: readonly string[];
}

export function prioritizeCall(call: ExtenderCall, ctx: ExtenderContext): PrioritizeOutcome {
  const intent = podIntent(call.pod, ctx.policy, ctx.policy.scoring.groupLabels);
  if (intent.gpus === 0) return { intent, scores: [], scored: new Map(), infeasible: [...namesOf(call, ctx)], topReasons: [] };
  const groupNodes = intent.group !== undefined ? ctx.store.groupPlacements(intent.group) : [];
  const scoreCtx = { intent, groupNodes, costPreference: ctx.policy.scoring.costPreference };
  const scored = new Map<string, ScoredNode>();
  const states = new Map<string, NodeState>();
  const infeasible: string[] = [];
  for (const v of verdicts(call, ctx, intent)) {
    if (v.ok) {
      scored.set(v.node, scoreNode(v.state, v.choice, scoreCtx));
      states.set(v.node, v.state);
    } else infeasible.push(v.node);
  }
  const scores = normalizeScores([...scored.values()]);
  const top = scores[0];
  let topReasons: string[] = [];
  if (top) {
    const choice = scored.get(top.node)!.choice;
    reserveTop(call, ctx, intent, top.node, choice.gpus);
    topReasons = explainScore(states.get(top.node)!, choice, scoreCtx);
  }
  return { intent, scores, scored, infeasible, topReasons };
}

function reserveTop(call: ExtenderCall, ctx: ExtenderContext, intent: PodIntent, node: string, gpus: readonly number[]): void {
  ctx.store.reserve({ podUid: call.podUid, podKey: call.podKey, node, gpus, ...(intent.group !== undefined ? { group: intent.group } : {}) });
}
