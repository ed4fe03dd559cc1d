// Turns DCGM snapshots into the per-node views the TopologyStore consumes.
// A node's view object is replaced only when its freshness, health or pod
// attribution changed: utilisation moves on every scrape and must not throw
// away every node's memoised GPU-set answers, so load is read live instead.
import type { DcgmSnapshot } from "./dcgm-store.js";
import type { GpuCondition } from "./model.js";
import type { DcgmNodeView } from "./store.js";

export class DcgmViewBuilder {
  #views = new Map<string, { signature: string; view: DcgmNodeView }>();
  #load = new Map<string, number>();

  /** Mean GPU utilisation of a node in the latest fresh scrape. */
  load(node: string): number | undefined {
    return this.#load.get(node);
  }

  build(snapshot: DcgmSnapshot): ReadonlyMap<string, DcgmNodeView> {
    const next = new Map<string, { signature: string; view: DcgmNodeView }>();
    const load = new Map<string, number>();
    for (const [name, status] of snapshot.nodes) {
      const fresh = status.state === "fresh" ? snapshot.freshGpus(name) : undefined;
      const conditions = new Map<number, GpuCondition>(fresh ? [...fresh.byIndex] : []);
      let sum = 0;
      let n = 0;
      for (const c of conditions.values()) {
        if (c.utilization !== undefined) {
          sum += c.utilization;
          n += 1;
        }
      }
      if (n > 0) load.set(name, sum / n);
      const signature = `${status.state}|${[...conditions]
        .map(([i, c]) => `${i}:${c.healthy ? 1 : 0}:${c.reasons.join(",")}:${c.pods.join(",")}`)
        .join(";")}`;
      const prev = this.#views.get(name);
      next.set(name, prev?.signature === signature ? prev : { signature, view: { freshness: status.state, conditions } });
    }
    this.#views = next;
    this.#load = load;
    return new Map([...next].map(([k, v]) => [k, v.view]));
  }
}
