// One extender call: decode the pod's intent, take a verdict per node, score the
// feasible ones. Pure apart from the store's memoised state, the ledger
// reservation it records for the node it ranks first, and the per-node arrays
// it reuses from call to call when asked to (ExtenderContext.reuseArrays).
//
// Per node, a request costs a map lookup and an array read: verdicts are
// memoised on the node's GPU shape, and the tiers a shape decides are computed
// once per distinct verdict, not per node. Only the per-node tiers (group
// locality, cost class, strategy) are read for every feasible node.
import type { Policy } from "../policy/model.js";
import type { GpuSetChoice, NodeState } from "../topology/node-state.js";
import type { TopologyStore } from "../topology/store.js";
import type { ExtenderCall } from "./decode.js";
import { nodeVerdict, requiredConstraints, type NodeVerdict, type VerdictCore } from "./filter.js";
import { podIntent, type PodIntent } from "./intent.js";
import { normalizeScores, scoreRows, type NodeScore } from "./normalize.js";
import { MAX_EXTENDER_PRIORITY } from "./schema.js";
import { scratchArray } from "./scratch.js";
import { compareTuples, explainScore, nodeTiers, nodeTierWidth, scoreNode, shapeTiers, type ScoreContext, type ScoredNode } from "./score.js";

export interface ExtenderContext {
  readonly policy: Policy;
  readonly store: TopologyStore;
  /**
   * The outcome's per-node arrays (verdicts, node states) are the same arrays
   * on every call that sets this, overwritten by the next one: for a caller
   * that is done with an outcome before it makes another call, as the HTTP
   * routes are (they answer synchronously). An outcome's details built on
   * demand (verdicts, scores, scored, infeasible) throw once a later call
   * has reused its arrays. At thousands of nodes two fresh
   * arrays per call were most of the garbage a call made, and so most of the
   * young-generation collections that land inside calls.
   */
  readonly reuseArrays?: boolean;
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

interface Judged {
  readonly names: readonly string[];
  readonly cores: VerdictCore[];
  readonly states: (NodeState | undefined)[];
  /** Set when the arrays are the reused ones: the call that filled them. */
  readonly generation: number | undefined;
}

/** The arrays judge fills when the context allows reusing them (ExtenderContext.reuseArrays), and which call filled them last. */
const reused = { cores: [] as VerdictCore[], states: [] as (NodeState | undefined)[], generation: 0 };

/** Throws when a later call has refilled the reused arrays an outcome was built from. */
function assertCurrent(generation: number | undefined): void {
  if (generation !== undefined && generation !== reused.generation) {
    throw new Error("this outcome's per-node arrays were reused by a later call (ExtenderContext.reuseArrays): read its details before making another call");
  }
}

function judge(call: ExtenderCall, ctx: ExtenderContext, intent: PodIntent): Judged {
  const resource = ctx.policy.gpuResources[0] ?? "nvidia.com/gpu";
  const constraints = requiredConstraints(intent.placement);
  // A reservation left by an earlier attempt for this same pod must not count against it.
  ctx.store.release(call.podUid);
  const names = namesOf(call, ctx);
  const states = ctx.store.statesOf(names, ctx.reuseArrays === true ? reused.states : undefined);
  let cores: VerdictCore[];
  let generation: number | undefined;
  if (ctx.reuseArrays === true) {
    cores = reused.cores;
    cores.length = names.length;
    generation = ++reused.generation;
  } else cores = new Array<VerdictCore>(names.length);
  for (let i = 0; i < names.length; i++) cores[i] = nodeVerdict(states[i], intent.gpus, resource, constraints);
  return { names, cores, states, generation };
}

// Outcomes are class instances, not object literals with getters: a literal's
// getter closure is reachable from its hidden class, which lives in old space,
// so every request's node arrays would survive the next scavenge.

type FilterFields = Omit<FilterOutcome, "verdicts">;
interface FilterResult extends FilterFields {}

class FilterResult implements FilterOutcome {
  readonly #states: readonly (NodeState | undefined)[];
  readonly #generation: number | undefined;
  #verdicts: NodeVerdict[] | undefined;

  constructor(fields: FilterFields, states: readonly (NodeState | undefined)[], generation?: number) {
    Object.assign(this, fields);
    this.#states = states;
    this.#generation = generation;
  }

  get verdicts(): readonly NodeVerdict[] {
    if (this.#verdicts === undefined) assertCurrent(this.#generation);
    return (this.#verdicts ??= this.names.map((node, i): NodeVerdict => {
      const c = this.cores[i]!;
      return c.ok ? { ok: true, node, state: this.#states[i]!, choice: c.choice } : { ok: false, node, reason: c.reason, resolvable: c.resolvable };
    }));
  }
}

export function filterCall(call: ExtenderCall, ctx: ExtenderContext): FilterOutcome {
  const intent = podIntent(call.pod, ctx.policy, ctx.policy.scoring.groupLabels, ctx.store.claimGpus);
  if (intent.gpus === 0) {
    const names = namesOf(call, ctx);
    return new FilterResult({ intent, passThrough: true, names, cores: names.map(() => PASS) }, []);
  }
  const { names, cores, states, generation } = judge(call, ctx, intent);
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
  return new FilterResult({ intent, passThrough: false, names, cores }, states, generation);
}

export interface PrioritizeOutcome {
  readonly intent: PodIntent;
  /** The request's nodes, in its order: the reply lists them so. */
  readonly names: readonly string[];
  /** nameScores[i]: the score of names[i], 0..10; 0 for a node the pod cannot use. */
  readonly nameScores: ArrayLike<number>;
  /** The same nodes best first, equal scores (infeasible nodes at 0 among them) in request order (built on demand, for tests and diagnostics). */
  readonly hosts: readonly string[];
  /** hostScores[i]: the score of hosts[i]. */
  readonly hostScores: ArrayLike<number>;
  /** The node ranked first and the GPUs the pod would get there, if any node is feasible. */
  readonly top: { readonly node: string; readonly score: number; readonly choice: GpuSetChoice } | undefined;
  /** Tier-by-tier explanation of the node ranked first. */
  readonly topReasons: readonly string[];
  /** Feasible nodes by exact rank, from their full tuples (built on demand: explain, tests). */
  readonly scores: readonly NodeScore[];
  readonly scored: ReadonlyMap<string, ScoredNode>;
  /** Nodes of the request that are not feasible (score 0). */
  readonly infeasible: readonly string[];
}

/** The request's nodes with every feasible one ranked from its full tuple: the reference the fast ranking must agree with. */
function detail(judged: Judged, scoreCtx: ScoreContext): { scores: NodeScore[]; scored: Map<string, ScoredNode>; infeasible: string[] } {
  const scored = new Map<string, ScoredNode>();
  const infeasible: string[] = [];
  for (let i = 0; i < judged.names.length; i++) {
    const c = judged.cores[i]!;
    if (c.ok) scored.set(judged.names[i]!, scoreNode(judged.states[i]!, c.choice, scoreCtx));
    else infeasible.push(judged.names[i]!);
  }
  return { scores: normalizeScores([...scored.values()]), scored, infeasible };
}

type PrioritizeFields = Omit<PrioritizeOutcome, "scores" | "scored" | "infeasible" | "hosts" | "hostScores">;
interface PrioritizeResult extends PrioritizeFields {}

class PrioritizeResult implements PrioritizeOutcome {
  readonly #detail: () => ReturnType<typeof detail>;
  #built: ReturnType<typeof detail> | undefined;
  #ranked: { readonly hosts: string[]; readonly hostScores: Uint8Array } | undefined;

  constructor(fields: PrioritizeFields, lazy: () => ReturnType<typeof detail>) {
    Object.assign(this, fields);
    this.#detail = lazy;
  }

  get hosts(): readonly string[] {
    return (this.#ranked ??= rankByScore(this.names, this.nameScores)).hosts;
  }

  get hostScores(): ArrayLike<number> {
    return (this.#ranked ??= rankByScore(this.names, this.nameScores)).hostScores;
  }

  get scores(): readonly NodeScore[] {
    return (this.#built ??= this.#detail()).scores;
  }

  get scored(): ReadonlyMap<string, ScoredNode> {
    return (this.#built ??= this.#detail()).scored;
  }

  get infeasible(): readonly string[] {
    return (this.#built ??= this.#detail()).infeasible;
  }
}

/** `names` best first by score (a stable counting sort: equal scores keep their order). */
function rankByScore(names: readonly string[], scores: ArrayLike<number>): { hosts: string[]; hostScores: Uint8Array } {
  const n = names.length;
  const offset = new Int32Array(MAX_EXTENDER_PRIORITY + 2);
  for (let i = 0; i < n; i++) offset[MAX_EXTENDER_PRIORITY - scores[i]! + 1]! += 1;
  for (let b = 1; b < offset.length; b++) offset[b]! += offset[b - 1]!;
  const hosts = new Array<string>(n);
  const hostScores = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const at = offset[MAX_EXTENDER_PRIORITY - scores[i]!]!++;
    hosts[at] = names[i]!;
    hostScores[at] = scores[i]!;
  }
  return { hosts, hostScores };
}

// The per-node arrays of one /prioritize that never leave it (scratch.ts).
const scratchKeys = scratchArray((n) => new Float64Array(n));
const scratchFeasible = scratchArray((n) => new Int32Array(n));
const scratchSlots = scratchArray((n) => new Int32Array(n));
const scratchScores = scratchArray((n) => new Uint8Array(n));

/**
 * Each feasible node's tuple as a row of a flat table: first the dense rank of
 * its shape tiers (computed once per distinct verdict), negated so higher is
 * better, then its node tiers.
 */
function tupleRows(judged: Judged, feasible: Int32Array, count: number, scoreCtx: ScoreContext): { keys: Float64Array; width: number } {
  const width = 1 + nodeTierWidth(scoreCtx.intent);
  const keys = scratchKeys(count * width);
  const slotOf = new Map<VerdictCore, number>();
  const firsts: number[] = [];
  const slots = scratchSlots(count);
  for (let f = 0; f < count; f++) {
    const c = judged.cores[feasible[f]!]!;
    let slot = slotOf.get(c);
    if (slot === undefined) {
      slot = firsts.length;
      slotOf.set(c, slot);
      firsts.push(feasible[f]!);
    }
    slots[f] = slot;
  }
  const prefixes = firsts.map((i) => {
    const c = judged.cores[i]!;
    return c.ok ? shapeTiers(judged.states[i]!, c.choice, scoreCtx.intent) : [];
  });
  const order = prefixes.map((_, s) => s).sort((a, b) => compareTuples(prefixes[a]!, prefixes[b]!));
  const rankOfSlot = new Int32Array(prefixes.length);
  let rank = 0;
  for (let k = 0; k < order.length; k++) {
    if (k > 0 && compareTuples(prefixes[order[k - 1]!]!, prefixes[order[k]!]!) !== 0) rank += 1;
    rankOfSlot[order[k]!] = rank;
  }
  for (let f = 0; f < count; f++) {
    const at = f * width;
    keys[at] = -rankOfSlot[slots[f]!]!;
    nodeTiers(judged.states[feasible[f]!]!, scoreCtx, keys, at + 1);
  }
  return { keys, width };
}

export function prioritizeCall(call: ExtenderCall, ctx: ExtenderContext): PrioritizeOutcome {
  const intent = podIntent(call.pod, ctx.policy, ctx.policy.scoring.groupLabels, ctx.store.claimGpus);
  if (intent.gpus === 0) {
    const names = namesOf(call, ctx);
    return new PrioritizeResult({ intent, names, nameScores: new Uint8Array(names.length), top: undefined, topReasons: [] }, () => ({ scores: [], scored: new Map(), infeasible: [...names] }));
  }
  // Judge first: it drops expired reservations and this pod's own, which must not count as group members.
  const judged = judge(call, ctx, intent);
  const scoreCtx = scoreContext(intent, ctx);
  const n = judged.names.length;
  const feasible = scratchFeasible(n);
  let count = 0;
  for (let i = 0; i < n; i++) if (judged.cores[i]!.ok) feasible[count++] = i;
  const { keys, width } = tupleRows(judged, feasible, count, scoreCtx);
  const scores = scratchScores(count);
  const best = scoreRows(keys, width, count, scores);
  const nameScores = new Uint8Array(n);
  for (let f = 0; f < count; f++) nameScores[feasible[f]!] = scores[f]!;
  let top: PrioritizeOutcome["top"];
  let topReasons: string[] = [];
  if (best >= 0) {
    const i = feasible[best]!;
    const c = judged.cores[i]!;
    if (c.ok) {
      top = { node: judged.names[i]!, score: scores[best]!, choice: c.choice };
      reserveTop(call, ctx, intent, top.node, c.choice.gpus);
      topReasons = explainScore(judged.states[i]!, c.choice, scoreCtx);
    }
  }
  return new PrioritizeResult({ intent, names: judged.names, nameScores, top, topReasons }, () => {
    assertCurrent(judged.generation);
    return detail(judged, scoreCtx);
  });
}

/** What scoring needs beyond the node: the pod's intent, where its group already runs, the policy's cost order. */
export function scoreContext(intent: PodIntent, ctx: ExtenderContext): ScoreContext {
  const groupNodes = intent.group !== undefined ? ctx.store.groupPlacements(intent.group) : [];
  return { intent, groupNodes, costPreference: ctx.policy.scoring.costPreference };
}

function reserveTop(call: ExtenderCall, ctx: ExtenderContext, intent: PodIntent, node: string, gpus: readonly number[]): void {
  ctx.store.reserve({ podUid: call.podUid, podKey: call.podKey, node, gpus, ...(intent.group !== undefined ? { group: intent.group } : {}) });
}
