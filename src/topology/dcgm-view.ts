// Turns DCGM data into the per-node views the TopologyStore consumes.
// A node's view object is replaced only when its freshness, health or pod
// attribution changed: utilisation moves on every scrape and must not throw
// away every node's memoised GPU-set answers, so load is read live instead.
//
// A scrape changes one endpoint's nodes, so a change is applied node by node
// (followDcgm): the cost of a scrape does not grow with the fleet.
import type { DcgmChange, DcgmNodeStatus, DcgmSnapshot, DcgmStore } from "./dcgm-store.js";
import type { GpuCondition } from "./model.js";
import type { LoadSlot } from "./node-state.js";
import type { DcgmNodeView, TopologyStore } from "./store.js";

const NO_CONDITIONS: ReadonlyMap<number, GpuCondition> = new Map();

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether two views place pods and judge health alike (load aside). */
function sameView(a: DcgmNodeView, b: DcgmNodeView): boolean {
  if (a.freshness !== b.freshness || a.conditions.size !== b.conditions.size) return false;
  for (const [i, ca] of a.conditions) {
    const cb = b.conditions.get(i);
    if (cb === undefined || ca.healthy !== cb.healthy || !sameStrings(ca.reasons, cb.reasons) || !sameStrings(ca.pods, cb.pods)) return false;
  }
  return true;
}

export class DcgmViewBuilder {
  #views = new Map<string, DcgmNodeView>();
  /** Mean utilisation per node (NaN: none), by slot; slot 0 is never given out and stays NaN. */
  readonly #loads: { values: Float64Array } = { values: new Float64Array(256).fill(Number.NaN) };
  readonly #slots = new Map<string, number>();
  readonly #freeSlots: number[] = [];
  #nextSlot = 1;

  /** Mean GPU utilisation of a node in the latest fresh scrape. */
  load(node: string): number | undefined {
    const slot = this.#slots.get(node);
    const v = slot === undefined ? Number.NaN : this.#loads.values[slot]!;
    return v === v ? v : undefined;
  }

  /**
   * Where a node's NodeState reads its live load. A node without utilisation
   * figures yet gets slot 0 (none); when its first figures arrive its view
   * changes, so its state, and this slot, are replaced then.
   */
  loadSlot(node: string): LoadSlot {
    return { table: this.#loads, slot: this.#slots.get(node) ?? 0 };
  }

  /** The node's slot, made if it has none; true as second element when it was just made. */
  #slotFor(name: string): [number, boolean] {
    const known = this.#slots.get(name);
    if (known !== undefined) return [known, false];
    const slot = this.#freeSlots.pop() ?? this.#nextSlot++;
    if (slot >= this.#loads.values.length) {
      const grown = new Float64Array(this.#loads.values.length * 2).fill(Number.NaN);
      grown.set(this.#loads.values);
      this.#loads.values = grown;
    }
    this.#slots.set(name, slot);
    return [slot, true];
  }

  /** Takes a node's new status (undefined: DCGM keeps nothing about it); returns its view, the old object if nothing but load changed. */
  #update(name: string, status: DcgmNodeStatus | undefined): DcgmNodeView | undefined {
    if (status === undefined) {
      this.#views.delete(name);
      const slot = this.#slots.get(name);
      if (slot !== undefined) {
        // The node's view goes, so its state is rebuilt before anything reads this slot again.
        this.#loads.values[slot] = Number.NaN;
        this.#slots.delete(name);
        this.#freeSlots.push(slot);
      }
      return undefined;
    }
    const conditions = status.state === "fresh" ? status.gpus.byIndex : NO_CONDITIONS;
    let sum = 0;
    let n = 0;
    for (const c of conditions.values()) {
      if (c.utilization !== undefined) {
        sum += c.utilization;
        n += 1;
      }
    }
    // A node's first figures give it a slot; its view is then new, so that its state is rebuilt to read that slot.
    let newSlot = false;
    if (n > 0) {
      const [slot, made] = this.#slotFor(name);
      this.#loads.values[slot] = sum / n;
      newSlot = made;
    } else {
      const slot = this.#slots.get(name);
      if (slot !== undefined) this.#loads.values[slot] = Number.NaN;
    }
    const next: DcgmNodeView = { freshness: status.state, conditions };
    const prev = this.#views.get(name);
    if (prev !== undefined && !newSlot && sameView(prev, next)) return prev;
    this.#views.set(name, next);
    return next;
  }

  /** Every node's view from a full snapshot; nodes it no longer lists are forgotten. */
  build(snapshot: DcgmSnapshot): ReadonlyMap<string, DcgmNodeView> {
    for (const name of [...this.#views.keys()]) if (!snapshot.nodes.has(name)) this.#update(name, undefined);
    const out = new Map<string, DcgmNodeView>();
    for (const [name, status] of snapshot.nodes) out.set(name, this.#update(name, status)!);
    return out;
  }

  /**
   * The views of the nodes a change names, by node: the new view where it
   * changed (undefined where DCGM no longer keeps the node), nothing for nodes
   * whose view stays (load still moves).
   */
  apply(change: DcgmChange, status: (node: string) => DcgmNodeStatus | undefined): Map<string, DcgmNodeView | undefined> {
    const out = new Map<string, DcgmNodeView | undefined>();
    for (const { node } of change.nodes) {
      const prev = this.#views.get(node);
      const next = this.#update(node, status(node));
      if (next !== prev) out.set(node, next);
    }
    return out;
  }
}

/**
 * Keeps `topology`'s DCGM views in step with `dcgm`: each change updates only
 * the nodes it names. Load comes from `views` (give the same builder's
 * loadSlot to the TopologyStore's `loadOf` option). Returns the unsubscribe function.
 */
export function followDcgm(dcgm: DcgmStore, topology: TopologyStore, views: DcgmViewBuilder): () => void {
  const unsubscribe = dcgm.onChange((change) => topology.updateDcgm(views.apply(change, (node) => dcgm.nodeStatus(node))));
  topology.setDcgm(views.build(dcgm.snapshot()));
  return unsubscribe;
}
