// DraStore: the extender's view of DRA GPUs, fed by the ResourceSlice and
// ResourceClaim informers. It keeps, per node, the GPU devices the driver
// publishes (highest pool generation) and which of them claims hold, and tells
// its listener which nodes changed, so the TopologyStore rebuilds only those.
import {
  decodeClaim,
  decodeSlice,
  podClaimKeys,
  poolView,
  type ClaimRecord,
  type DraNodeView,
  type SliceRecord,
} from "./dra.js";
import type { PodClaimsWire, ResourceClaimWire, ResourceSliceWire } from "./dra-schema.js";

export interface DraStoreOptions {
  /** Drivers whose devices are GPUs (policy spec.dra.gpuDrivers). */
  readonly gpuDrivers: () => ReadonlySet<string>;
  /** Device classes that are GPUs (policy spec.dra.gpuDeviceClasses). */
  readonly gpuDeviceClasses: () => ReadonlySet<string>;
}

/** A claim just got its devices: which pods it is for, on which node, which devices. */
export interface DraAllocation {
  readonly claim: string;
  readonly podUids: readonly string[];
  readonly node: string;
  readonly devices: readonly string[];
}

export interface ClaimGpus {
  readonly gpus: number;
  /** Claims the pod names that topofit has not seen (not generated yet, or the informer lags). */
  readonly unresolved: number;
}

export class DraStore {
  readonly #opts: DraStoreOptions;
  /** pool key "driver/pool" -> slice name -> slice */
  readonly #pools = new Map<string, Map<string, SliceRecord>>();
  readonly #sliceKey = new Map<string, string>();
  readonly #claims = new Map<string, ClaimRecord>();
  /** Claims seen that ask for no GPU: known, so they do not count as unresolved. */
  readonly #otherClaims = new Set<string>();
  /** "driver/pool/device" -> claim key */
  readonly #allocated = new Map<string, string>();
  readonly #views = new Map<string, DraNodeView | null>();
  /** node -> pool keys publishing on it */
  readonly #poolsByNode = new Map<string, Set<string>>();
  readonly #changeListeners: ((node: string) => void)[] = [];
  readonly #allocationListeners: ((a: DraAllocation) => void)[] = [];

  constructor(opts: DraStoreOptions) {
    this.#opts = opts;
  }

  /** Called with a node's name whenever its devices or their allocation changed. */
  onNodeChange(listener: (node: string) => void): void {
    this.#changeListeners.push(listener);
  }

  /** Called when a claim that had no devices gets some. */
  onAllocation(listener: (a: DraAllocation) => void): void {
    this.#allocationListeners.push(listener);
  }

  #changed(node: string | undefined): void {
    if (node === undefined) return;
    this.#views.delete(node);
    for (const l of this.#changeListeners) l(node);
  }

  #nodeOfPool(poolKey: string): string | undefined {
    const slices = this.#pools.get(poolKey);
    if (!slices) return undefined;
    for (const s of slices.values()) return s.node;
    return undefined;
  }

  upsertSlice(wire: ResourceSliceWire): void {
    const name = wire.metadata?.name;
    if (!name) return;
    const rec = decodeSlice(wire, this.#opts.gpuDrivers());
    if (!rec) {
      this.deleteSlice(name);
      return;
    }
    const key = `${rec.driver}/${rec.pool}`;
    const oldKey = this.#sliceKey.get(name);
    if (oldKey !== undefined && oldKey !== key) this.deleteSlice(name);
    let pool = this.#pools.get(key);
    if (!pool) this.#pools.set(key, (pool = new Map()));
    const oldNode = pool.get(name)?.node;
    pool.set(name, rec);
    this.#sliceKey.set(name, key);
    let set = this.#poolsByNode.get(rec.node);
    if (!set) this.#poolsByNode.set(rec.node, (set = new Set()));
    set.add(key);
    if (oldNode !== undefined && oldNode !== rec.node) this.#changed(oldNode);
    this.#changed(rec.node);
  }

  deleteSlice(name: string): void {
    const key = this.#sliceKey.get(name);
    if (key === undefined) return;
    this.#sliceKey.delete(name);
    const pool = this.#pools.get(key);
    const node = pool?.get(name)?.node;
    pool?.delete(name);
    if (pool && pool.size === 0) {
      this.#pools.delete(key);
      if (node !== undefined) this.#poolsByNode.get(node)?.delete(key);
    }
    this.#changed(node);
  }

  upsertClaim(wire: ResourceClaimWire): void {
    const rec = decodeClaim(wire, this.#opts.gpuDeviceClasses());
    if (!rec) return;
    const prev = this.#claims.get(rec.key);
    const drivers = this.#opts.gpuDrivers();
    const mine = rec.allocated.filter((d) => drivers.has(d.slice(0, d.indexOf("/"))));
    if (rec.gpus === 0 && mine.length === 0) {
      if (prev) this.deleteClaim(rec.key);
      this.#otherClaims.add(rec.key);
      return;
    }
    this.#otherClaims.delete(rec.key);
    const stored: ClaimRecord = { ...rec, allocated: mine };
    this.#claims.set(rec.key, stored);
    if (sameList(prev?.allocated, mine)) return;
    this.#release(prev);
    const nodes = new Set<string>();
    for (const d of mine) {
      this.#allocated.set(d, rec.key);
      const node = this.#nodeOfPool(d.slice(0, d.lastIndexOf("/")));
      if (node !== undefined) nodes.add(node);
    }
    for (const n of nodes) this.#changed(n);
    if ((prev === undefined || prev.allocated.length === 0) && mine.length > 0) {
      const first = mine[0]!;
      const node = this.#nodeOfPool(first.slice(0, first.lastIndexOf("/")));
      if (node !== undefined) {
        const devices = mine.map((d) => d.slice(d.lastIndexOf("/") + 1));
        for (const l of this.#allocationListeners) l({ claim: rec.key, podUids: rec.reservedFor, node, devices });
      }
    }
  }

  #release(rec: ClaimRecord | undefined): void {
    if (!rec) return;
    const nodes = new Set<string>();
    for (const d of rec.allocated) {
      if (this.#allocated.get(d) === rec.key) this.#allocated.delete(d);
      const node = this.#nodeOfPool(d.slice(0, d.lastIndexOf("/")));
      if (node !== undefined) nodes.add(node);
    }
    for (const n of nodes) this.#changed(n);
  }

  deleteClaim(key: string): void {
    const prev = this.#claims.get(key);
    this.#claims.delete(key);
    this.#otherClaims.delete(key);
    this.#release(prev);
  }

  /** The node's GPU devices and their allocation; undefined when no GPU driver publishes on it. */
  view(node: string): DraNodeView | undefined {
    const cached = this.#views.get(node);
    if (cached !== undefined) return cached ?? undefined;
    let built: DraNodeView | undefined;
    for (const key of this.#poolsByNode.get(node) ?? []) {
      const pool = this.#pools.get(key);
      if (!pool) continue;
      const v = poolView(pool.values());
      // One GPU driver per node is the supported shape; the first pool wins.
      if (v && v.devices.length > 0) {
        const allocated = new Map<string, string>();
        for (const d of v.devices) {
          const claim = this.#allocated.get(`${v.driver}/${v.pool}/${d.name}`);
          if (claim !== undefined) allocated.set(d.name, claim);
        }
        built = { ...v, allocated };
        break;
      }
    }
    this.#views.set(node, built ?? null);
    return built;
  }

  /** Nodes on which a GPU driver publishes devices. */
  nodes(): string[] {
    return [...this.#poolsByNode.entries()].flatMap(([n, pools]) => (pools.size > 0 ? [n] : []));
  }

  /** GPUs a pod asks for through its ResourceClaims, as far as the claims are known. */
  claimGpus(pod: PodClaimsWire): ClaimGpus {
    const { keys, pending } = podClaimKeys(pod);
    let gpus = 0;
    let unresolved = pending;
    for (const k of keys) {
      const c = this.#claims.get(k);
      if (c) gpus += c.gpus;
      else if (!this.#otherClaims.has(k)) unresolved += 1;
    }
    return { gpus, unresolved };
  }
}

function sameList(a: readonly string[] | undefined, b: readonly string[]): boolean {
  if (!a) return b.length === 0;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
