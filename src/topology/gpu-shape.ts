// Nodes that are wired alike and have the same GPUs free and healthy get the
// same answer to "which N GPUs would a pod get here, and if none, why": a
// GpuShape holds that answer once for all of them. In a fleet of thousands of
// nodes there are a few dozen shapes (a handful of machine types times the
// common occupancy patterns), so a pod shape seen for the first time costs one
// GPU-set search per shape, not per node, and a node whose pods change mostly
// moves to a shape whose answers are already known.
//
// What a shape's answers depend on, and so what its key holds: the pair
// bandwidths, NVLink flags and NUMA nodes of the GPUs (not their UUIDs or bus
// ids), the allocatable GPU count, and which GPUs are usable (free and
// healthy) and healthy; on a DRA node also the order in which the scheduler's
// allocator tries the devices (and their names, which reasons quote).
import { chooseGpuSet, evaluateGpuSet, residualQuality, type GpuSetChoice, type GpuSetConstraints, type GpuSetOutcome } from "./gpu-set.js";
import type { GpuNodeTopology } from "./model.js";

/** How a DRA node's GPUs are handed out: by the scheduler's allocator, first free device first. */
export interface DraPlacement {
  /** GPU indices in the order the allocator tries their devices. */
  readonly order: readonly number[];
  /** Device name by GPU index. */
  readonly deviceNames: ReadonlyMap<number, string>;
  /** GPU devices published in ResourceSlices (mapped onto the topology or not). */
  readonly published: number;
}

/** Memo slot of a (count, constraints) question: a request costs an array read. */
export function constraintSlot(want: number, c: GpuSetConstraints): number {
  return want * 4 + (c.nvlinkRequired ? 2 : 0) + (c.singleNuma ? 1 : 0);
}

export class GpuShape {
  readonly key: string;
  readonly topology: GpuNodeTopology;
  readonly allocatable: number;
  /** usable[i]: GPU i is free and healthy. */
  readonly usable: readonly boolean[];
  /** healthy[i]: DCGM does not report GPU i unhealthy. */
  readonly healthy: readonly boolean[];
  readonly usableCount: number;
  readonly unhealthyCount: number;
  readonly #now: (GpuSetOutcome | undefined)[] = [];
  readonly #idle: (GpuSetOutcome | undefined)[] = [];
  readonly #memo: unknown[] = [];
  readonly #firstFit: (GpuSetChoice | null)[] = [];
  #capability: readonly number[] | undefined;
  /** Set on DRA nodes. */
  readonly dra: DraPlacement | undefined;

  constructor(key: string, topology: GpuNodeTopology, allocatable: number, usable: readonly boolean[], healthy: readonly boolean[], dra?: DraPlacement) {
    this.key = key;
    this.dra = dra;
    this.topology = topology;
    this.allocatable = allocatable;
    this.usable = usable;
    this.healthy = healthy;
    this.usableCount = usable.reduce((n, u) => n + (u ? 1 : 0), 0);
    this.unhealthyCount = healthy.reduce((n, h) => n + (h ? 0 : 1), 0);
  }

  /** Best set for `want` GPUs under constraints among the usable GPUs. */
  best(want: number, c: GpuSetConstraints): GpuSetOutcome {
    const slot = constraintSlot(want, c);
    return (this.#now[slot] ??= chooseGpuSet(this.topology, this.usable, want, c));
  }

  /** The same if every healthy GPU were free: tells whether preemption could help. */
  bestIfIdle(want: number, c: GpuSetConstraints): GpuSetOutcome {
    const slot = constraintSlot(want, c);
    return (this.#idle[slot] ??= chooseGpuSet(this.topology, this.healthy, want, c));
  }

  /**
   * DRA nodes only: the `want` GPUs the allocator will take (the first usable
   * devices in its order) and their figures; undefined when fewer are usable.
   */
  firstFit(want: number): GpuSetChoice | undefined {
    const cached = this.#firstFit[want];
    if (cached !== undefined) return cached ?? undefined;
    const picked = (this.dra?.order ?? []).filter((i) => this.usable[i]).slice(0, want);
    const out = want >= 1 && picked.length === want ? evaluateGpuSet(this.topology, this.usable, picked) : undefined;
    this.#firstFit[want] = out ?? null;
    return out;
  }

  /** [b8, b4, b2, b1] of the usable GPUs: the best bottleneck k of them could form. */
  capability(): readonly number[] {
    return (this.#capability ??= residualQuality(this.topology, this.usable));
  }

  /** A caller's answer derived from the shape (e.g. a filter verdict), under a small integer key. */
  memoGet(key: number): unknown {
    return this.#memo[key];
  }

  memoSet(key: number, value: unknown): void {
    this.#memo[key] = value;
  }
}

/** The parts of a topology a GPU-set answer depends on, as a short id shared by every topology wired alike. */
class WiringIds {
  readonly #byTopology = new WeakMap<GpuNodeTopology, number>();
  readonly #byKey = new Map<string, number>();

  of(topology: GpuNodeTopology): number {
    let id = this.#byTopology.get(topology);
    if (id !== undefined) return id;
    const n = topology.gpus.length;
    const parts: string[] = [String(n)];
    for (const g of topology.gpus) parts.push(String(g.numaNode ?? -1));
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        const link = topology.links[i]?.[j];
        parts.push(link ? `${link.kind === "NVLink" ? "n" : "p"}${link.bandwidthGBps}` : "-");
      }
    }
    const key = parts.join(",");
    id = this.#byKey.get(key);
    if (id === undefined) {
      id = this.#byKey.size;
      this.#byKey.set(key, id);
    }
    this.#byTopology.set(topology, id);
    return id;
  }
}

function maskKey(bits: readonly boolean[]): string {
  if (bits.length <= 30) {
    let m = 0;
    for (let i = 0; i < bits.length; i++) if (bits[i]) m |= 1 << i;
    return m.toString(36);
  }
  return bits.map((b) => (b ? "1" : "0")).join("");
}

/**
 * Hands out one GpuShape per distinct (wiring, allocatable, usable, healthy).
 * Shapes no node refers to any more are dropped by prune().
 */
export class GpuShapes {
  readonly #wiring = new WiringIds();
  #shapes = new Map<string, GpuShape>();

  shape(topology: GpuNodeTopology, allocatable: number, usable: readonly boolean[], healthy: readonly boolean[], dra?: DraPlacement): GpuShape {
    let key = `${this.#wiring.of(topology)}/${allocatable}/${maskKey(usable)}/${maskKey(healthy)}/${usable.length}`;
    if (dra) key += `/dra:${dra.published}:${dra.order.map((i) => `${i}=${dra.deviceNames.get(i) ?? ""}`).join(",")}`;
    let shape = this.#shapes.get(key);
    if (shape === undefined) {
      shape = new GpuShape(key, topology, allocatable, usable, healthy, dra);
      this.#shapes.set(key, shape);
    }
    return shape;
  }

  size(): number {
    return this.#shapes.size;
  }

  /** Keeps only the shapes in `live` (the ones current node states use). */
  prune(live: Iterable<GpuShape>): void {
    const next = new Map<string, GpuShape>();
    for (const s of live) next.set(s.key, s);
    this.#shapes = next;
  }

  clear(): void {
    this.#shapes.clear();
  }
}
