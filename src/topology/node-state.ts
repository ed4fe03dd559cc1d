// The per-node view the extender scores against: static topology plus which
// GPUs are busy, unhealthy and loaded. Built once per change of the node, its
// pods, its reservations or its DCGM data. Best-set answers live on the node's
// GpuShape, shared with every node wired and occupied alike, so a scheduling
// request does no per-node precomputation.
import type { GpuCondition, GpuNode } from "./model.js";
import { GpuShape, type DraPlacement, type GpuShapes } from "./gpu-shape.js";
import type { GpuSetChoice, GpuSetConstraints, GpuSetOutcome } from "./gpu-set.js";

export type DcgmFreshness = "fresh" | "stale" | "unknown";

/**
 * Live mean GPU utilisation of many nodes, one slot each, NaN where there is
 * none: scoring reads it for every candidate node, and a dense array keeps
 * that read from chasing pointers through memory (table.values may be
 * replaced by a larger array; the table object stays).
 */
export interface LoadTable {
  readonly values: Float64Array;
}

/** A node's slot in a LoadTable. */
export interface LoadSlot {
  readonly table: LoadTable;
  readonly slot: number;
}

export interface NodeState extends Omit<NodeStateInput, "load"> {
  /** The answers this node shares with every node of the same shape. */
  readonly shape: GpuShape;
  /** GPUs free and healthy. */
  readonly usable: readonly boolean[];
  readonly usableCount: number;
  readonly unhealthyCount: number;
  /** Mean DCGM utilisation (0..100) of the node's GPUs in the latest fresh scrape; read live. */
  meanUtilization(): number | undefined;
  /** Best set for `n` GPUs under constraints, memoised per shape. */
  best(n: number, constraints: GpuSetConstraints): GpuSetOutcome;
  /** The same if every healthy GPU were free: tells whether preemption could help. */
  bestIfIdle(n: number, constraints: GpuSetConstraints): GpuSetOutcome;
  /**
   * DRA nodes only: the `n` GPUs the scheduler's allocator will take (the first
   * usable devices in slice order), with their figures; undefined when fewer
   * than `n` are usable. Memoised per shape.
   */
  firstFit(n: number): GpuSetChoice | undefined;
  /** [b8, b4, b2, b1] of the usable GPUs now: the best bottleneck k of them could form (memoised). */
  capability(): readonly number[];
  /** A caller's answer derived from this state's shape (e.g. a filter verdict), memoised under a small integer key. */
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
  /** Where the node's live load is read; when absent, the conditions' utilisation at build time. */
  readonly load?: LoadSlot;
  /** Set when the node's GPUs come from DRA ResourceSlices: the allocator hands them out in this order. */
  readonly dra?: DraPlacement;
}

/** The input's fields, as the class's own (declared once, in NodeStateInput). */
interface BuiltNodeState extends Omit<NodeStateInput, "load"> {}

class BuiltNodeState implements NodeState {
  readonly shape: GpuShape;
  readonly #loads: LoadTable | undefined;
  readonly #loadSlot: number;
  readonly #builtUtilization: number | undefined;

  constructor(input: NodeStateInput, shape: GpuShape, builtUtilization: number | undefined) {
    const { load, ...fields } = input;
    Object.assign(this, fields);
    this.shape = shape;
    this.#loads = load?.table;
    this.#loadSlot = load?.slot ?? 0;
    this.#builtUtilization = builtUtilization;
  }

  get usable(): readonly boolean[] {
    return this.shape.usable;
  }

  get usableCount(): number {
    return this.shape.usableCount;
  }

  get unhealthyCount(): number {
    return this.shape.unhealthyCount;
  }

  meanUtilization(): number | undefined {
    if (this.#loads === undefined) return this.#builtUtilization;
    const v = this.#loads.values[this.#loadSlot]!;
    return v === v ? v : undefined;
  }

  best(n: number, constraints: GpuSetConstraints): GpuSetOutcome {
    return this.shape.best(n, constraints);
  }

  bestIfIdle(n: number, constraints: GpuSetConstraints): GpuSetOutcome {
    return this.shape.bestIfIdle(n, constraints);
  }

  firstFit(n: number): GpuSetChoice | undefined {
    return this.shape.firstFit(n);
  }

  capability(): readonly number[] {
    return this.shape.capability();
  }

  memoGet(key: number): unknown {
    return this.shape.memoGet(key);
  }

  memoSet(key: number, value: unknown): void {
    this.shape.memoSet(key, value);
  }
}

/**
 * The node's state from what occupies its GPUs. With `shapes`, the state joins
 * the shape shared by every node alike; without, it gets a shape of its own.
 */
export function makeNodeState(input: NodeStateInput, shapes?: GpuShapes): NodeState {
  const n = input.node.topology.gpus.length;
  const usable = new Array<boolean>(n);
  const healthy = new Array<boolean>(n);
  let utilSum = 0;
  let utilN = 0;
  for (let i = 0; i < n; i++) {
    const c = input.conditions[i];
    healthy[i] = c === undefined || c.healthy;
    usable[i] = !input.busy[i] && healthy[i]!;
    if (c?.utilization !== undefined) {
      utilSum += c.utilization;
      utilN += 1;
    }
  }
  const { topology, allocatable } = input.node;
  const shape = shapes ? shapes.shape(topology, allocatable, usable, healthy, input.dra) : new GpuShape("", topology, allocatable, usable, healthy, input.dra);
  return new BuiltNodeState(input, shape, utilN > 0 ? utilSum / utilN : undefined);
}

export type { DraPlacement, GpuSetChoice, GpuSetConstraints, GpuSetOutcome };
