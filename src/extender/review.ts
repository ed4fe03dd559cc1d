// One extender call: decode the pod's intent, take a verdict per node, score the
// feasible ones. Pure apart from the store's memoised state and the ledger
// reservation it records for the node it ranks first.
import type { Policy } from "../policy/model.js";
import type { TopologyStore } from "../topology/store.js";
import type { ExtenderCall } from "./decode.js";
import { nodeVerdict, requiredConstraints, type NodeVerdict, type VerdictCore } from "./filter.js";
import { podIntent, type PodIntent } from "./intent.js";
import { normalizeScores, type NodeScore } from "./normalize.js";
import { explainScore, scoreNode, type ScoreContext, type ScoredNode } from "./score.js";
import type { NodeState } from "../topology/node-state.js";

export interface ExtenderContext {
  readonly policy: Policy;
  readonly store: TopologyStore;
}

export interface FilterOutcome {
  readonly intent: PodIntent;
  /** The request's nodes, in order, and each one's verdict (parallel arrays: no per-node objects on the hot path). */
  readonly names: readonly string[];
  readonly cores: readonly VerdictCore[];
  /** True when the pod asks for no GPUs: every node passes untouched. */
  readonly passThrough: boolean;
  /** The same as objects, built on demand (explain, tests). */
  readonly verdicts: readonly NodeVerdict[];
}

function namesOf(call: ExtenderCall, ctx: ExtenderContext): readonly string[] {
  ctx.store.expireReservations();
  if (call.nodes.mode === "names") return call.nodes.names;
  const names: string[] = [];
  for (const n of call.nodes.nodes) {
    const node = ctx.store.upsertNode(n);
    if (node) names.push(node.name);
  }
  return names;
}

const PASS: VerdictCore = { ok: false, reason: "", resolvable: true };

function judge(call: ExtenderCall, ctx: ExtenderContext, intent: PodIntent): { names: readonly string[]; cores: VerdictCore[]; states: (NodeState | undefined)[] } {
  const resource = ctx.policy.gpuResources[0] ?? "nvidia.com/gpu";
  const constraints = requiredConstraints(intent.placement);
  // A reservation left by an earlier attempt for this same pod must not count against it.
  ctx.store.release(call.podUid);
  const names = namesOf(call, ctx);
  const cores = new Array<VerdictCore>(names.length);
  const states = new Array<NodeState | undefined>(names.length);
  for (let i = 0; i < names.length; i++) {
    const state = ctx.store.state(names[i]!);
    states[i] = state;
    cores[i] = nodeVerdict(state, intent.gpus, resource, constraints);
  }
  return { names, cores, states };
}

function outcome(intent: PodIntent, passThrough: boolean, names: readonly string[], cores: readonly VerdictCore[], states: readonly (NodeState | undefined)[]): FilterOutcome {
  let verdicts: NodeVerdict[] | undefined;
  return {
    intent,
    passThrough,
    names,
    cores,
    get verdicts() {
      verdicts ??= names.map((node, i): NodeVerdict => {
        const c = cores[i]!;
        return c.ok ? { ok: true, node, state: states[i]!, choice: c.choice } : { ok: false, node, reason: c.reason, resolvable: c.resolvable };
      });
      return verdicts;
    },
  };
}

export function filterCall(call: ExtenderCall, ctx: ExtenderContext): FilterOutcome {
  const intent = podIntent(call.pod, ctx.policy, ctx.policy.scoring.groupLabels, ctx.store.claimGpus);
  if (intent.gpus === 0) {
    const names = namesOf(call, ctx);
    return outcome(intent, true, names, names.map(() => PASS), []);
  }
  const { names, cores, states } = judge(call, ctx, intent);
  let only = -1;
  let passed = 0;
  for (let i = 0; i < cores.length; i++) {
    if (cores[i]!.ok) {
      passed += 1;
      only = i;
    }
  }
  if (passed === 1) {
    const c = cores[only]!;
    if (c.ok) reserveTop(call, ctx, intent, names[only]!, c.choice.gpus);
  }
  return outcome(intent, false, names, cores, states);
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
  const intent = podIntent(call.pod, ctx.policy, ctx.policy.scoring.groupLabels, ctx.store.claimGpus);
  if (intent.gpus === 0) return { intent, scores: [], scored: new Map(), infeasible: [...namesOf(call, ctx)], topReasons: [] };
  // Judge first: it drops expired reservations and this pod's own, which must not count as group members.
  const judged = judge(call, ctx, intent);
  const scoreCtx = scoreContext(intent, ctx);
  const scored = new Map<string, ScoredNode>();
  const states = new Map<string, NodeState>();
  const infeasible: string[] = [];
  for (let i = 0; i < judged.names.length; i++) {
    const c = judged.cores[i]!;
    const node = judged.names[i]!;
    if (c.ok) {
      scored.set(node, scoreNode(judged.states[i]!, c.choice, scoreCtx));
      states.set(node, judged.states[i]!);
    } else infeasible.push(node);
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

/** What scoring needs beyond the node: the pod's intent, where its group already runs, the policy's cost order. */
export function scoreContext(intent: PodIntent, ctx: ExtenderContext): ScoreContext {
  const groupNodes = intent.group !== undefined ? ctx.store.groupPlacements(intent.group) : [];
  return { intent, groupNodes, costPreference: ctx.policy.scoring.costPreference };
}

function reserveTop(call: ExtenderCall, ctx: ExtenderContext, intent: PodIntent, node: string, gpus: readonly number[]): void {
  ctx.store.reserve({ podUid: call.podUid, podKey: call.podKey, node, gpus, ...(intent.group !== undefined ? { group: intent.group } : {}) });
}
