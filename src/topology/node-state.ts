// The per-node view the extender scores against: static topology plus which
// GPUs are busy, unhealthy and loaded. Built once per change of the node, its
// pods, its reservations or its DCGM data; best-set answers are memoised on it,
// so a scheduling request does no per-node precomputation.
import type { GpuCondition, GpuNode } from "./model.js";
import { chooseGpuSet, evaluateGpuSet, residualQuality, type GpuSetChoice, type GpuSetConstraints, type GpuSetOutcome } from "./gpu-set.js";

export type DcgmFreshness = "fresh" | "stale" | "unknown";

export interface NodeState extends Omit<NodeStateInput, "load"> {
  /** GPUs free and healthy. */
  readonly usable: readonly boolean[];
  readonly usableCount: number;
  readonly unhealthyCount: number;
  /** Mean DCGM utilisation (0..100) of the node's GPUs in the latest fresh scrape; read live. */
  meanUtilization(): number | undefined;
  /** Best set for `n` GPUs under constraints, memoised per state. */
  best(n: number, constraints: GpuSetConstraints): GpuSetOutcome;
  /** The same if every healthy GPU were free: tells whether preemption could help. */
  bestIfIdle(n: number, constraints: GpuSetConstraints): GpuSetOutcome;
  /**
   * DRA nodes only: the `n` GPUs the scheduler's allocator will take (the first
   * usable devices in slice order), with their figures; undefined when fewer
   * than `n` are usable. Memoised.
   */
  firstFit(n: number): GpuSetChoice | undefined;
  /** [b8, b4, b2, b1] of the usable GPUs now: the best bottleneck k of them could form (memoised). */
  capability(): readonly number[];
  /** A caller's answer derived from this state (e.g. a filter verdict), memoised under a small integer key. */
  memoGet(key: number): unknown;
  memoSet(key: number, value: unknown): void;
}

export interface NodeStateInput {
  readonly node: GpuNode;
  /** Increases on every change of anything below. */
  readonly version: number;
  /** busy[i]: GPU i runs (or is reserved for) a pod. */
  readonly busy: readonly boolean[];
  /** conditions[i]: DCGM's view of GPU i, when fresh. */
  readonly conditions: readonly (GpuCondition | undefined)[];
  readonly dcgm: DcgmFreshness;
  /** GPU indices by pod ("namespace/name"), observed (DCGM) or predicted. */
  readonly assignments: ReadonlyMap<string, readonly number[]>;
  /** Live load lookup; when absent, the conditions' utilisation at build time. */
  readonly load?: () => number | undefined;
  /** Set when the node's GPUs come from DRA ResourceSlices: the allocator hands them out in this order. */
  readonly dra?: DraPlacement;
}

export interface DraPlacement {
  /** GPU indices in the order the allocator tries their devices. */
  readonly order: readonly number[];
  /** Device name by GPU index. */
  readonly deviceNames: ReadonlyMap<number, string>;
  /** GPU devices published in ResourceSlices (mapped onto the topology or not). */
  readonly published: number;
}

export function makeNodeState(input: NodeStateInput): NodeState {
  const n = input.node.topology.gpus.length;
  const usable: boolean[] = [];
  let usableCount = 0;
  let unhealthyCount = 0;
  let utilSum = 0;
  let utilN = 0;
  for (let i = 0; i < n; i++) {
    const c = input.conditions[i];
    const healthy = c === undefined || c.healthy;
    if (!healthy) unhealthyCount += 1;
    const u = !input.busy[i] && healthy;
    usable.push(u);
    if (u) usableCount += 1;
    if (c?.utilization !== undefined) {
      utilSum += c.utilization;
      utilN += 1;
    }
  }
  const healthy = Array.from({ length: n }, (_, i) => input.conditions[i]?.healthy !== false);
  // Memo slots indexed by (count, nvlinkRequired, singleNuma): a request costs an array read per node.
  const memoNow: (GpuSetOutcome | undefined)[] = [];
  const memoIdle: (GpuSetOutcome | undefined)[] = [];
  const memoize = (memo: (GpuSetOutcome | undefined)[], mask: readonly boolean[], want: number, c: GpuSetConstraints): GpuSetOutcome => {
    const slot = want * 4 + (c.nvlinkRequired ? 2 : 0) + (c.singleNuma ? 1 : 0);
    let out = memo[slot];
    if (out === undefined) {
      out = chooseGpuSet(input.node.topology, mask, want, c);
      memo[slot] = out;
    }
    return out;
  };
  const memoOther: unknown[] = [];
  const memoFirstFit: (GpuSetChoice | null)[] = [];
  const firstFit = (want: number): GpuSetChoice | undefined => {
    const cached = memoFirstFit[want];
    if (cached !== undefined) return cached ?? undefined;
    const picked = (input.dra?.order ?? []).filter((i) => usable[i]).slice(0, want);
    const out = want >= 1 && picked.length === want ? evaluateGpuSet(input.node.topology, usable, picked) : undefined;
    memoFirstFit[want] = out ?? null;
    return out;
  };
  let capability: readonly number[] | undefined;
  return {
    ...input,
    capability: () => (capability ??= residualQuality(input.node.topology, usable)),
    firstFit,
    memoGet: (key) => memoOther[key],
    memoSet: (key, value) => {
      memoOther[key] = value;
    },
    usable,
    usableCount,
    unhealthyCount,
    meanUtilization: input.load ?? (() => (utilN > 0 ? utilSum / utilN : undefined)),
    best: (want, constraints) => memoize(memoNow, usable, want, constraints),
    bestIfIdle: (want, constraints) => memoize(memoIdle, healthy, want, constraints),
  };
}

export type { GpuSetChoice, GpuSetConstraints, GpuSetOutcome };
