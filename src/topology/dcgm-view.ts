// Turns DCGM data into the per-node views the TopologyStore consumes.
// A node's view object is replaced only when its freshness, health or pod
// attribution changed: utilisation moves on every scrape and must not throw
// away every node's memoised GPU-set answers, so load is read live instead.
//
// A scrape changes one endpoint's nodes, so a change is applied node by node
// (followDcgm): the cost of a scrape does not grow with the fleet.
import type { DcgmChange, DcgmNodeStatus, DcgmSnapshot, DcgmStore } from "./dcgm-store.js";
import type { GpuCondition } from "./model.js";
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
  #load = new Map<string, number>();

  /** Mean GPU utilisation of a node in the latest fresh scrape. */
  load(node: string): number | undefined {
    return this.#load.get(node);
  }

  /** Takes a node's new status (undefined: DCGM keeps nothing about it); returns its view, the old object if nothing but load changed. */
  #update(name: string, status: DcgmNodeStatus | undefined): DcgmNodeView | undefined {
    if (status === undefined) {
      this.#views.delete(name);
      this.#load.delete(name);
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
    if (n > 0) this.#load.set(name, sum / n);
    else this.#load.delete(name);
    const next: DcgmNodeView = { freshness: status.state, conditions };
    const prev = this.#views.get(name);
    if (prev !== undefined && sameView(prev, next)) return prev;
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
 * the nodes it names. Load comes from `views` (give the same builder to the
 * TopologyStore's `load` option). Returns the unsubscribe function.
 */
export function followDcgm(dcgm: DcgmStore, topology: TopologyStore, views: DcgmViewBuilder): () => void {
  const unsubscribe = dcgm.onChange((change) => topology.updateDcgm(views.apply(change, (node) => dcgm.nodeStatus(node))));
  topology.setDcgm(views.build(dcgm.snapshot()));
  return unsubscribe;
}
