// Chooses which N GPUs of a node a pod should get. Pure and deterministic.
//
// Objective, compared tier by tier (a later tier only breaks ties of the earlier ones):
//   1. feasible: with nvlinkRequired every pair of the set is an NVLink pair;
//      with singleNuma every GPU is on the same known NUMA node (a GPU whose
//      NUMA node is unknown never satisfies it);
//   2. highest bottleneck: the smallest pair bandwidth in the set (what a ring
//      all-reduce is limited by);
//   3. highest total: the sum of all pair bandwidths in the set;
//   4. least fragmentation: the best quality of what remains free afterwards,
//      the vector [b8, b4, b2, b1] compared left to right, where bk is the best
//      bottleneck any k of the remaining usable GPUs could still form (0 when
//      fewer than k remain) and b1 is 1 when any GPU remains. The remaining
//      GPUs are judged without the pod's constraints, since the next pod's are
//      unknown. This is what makes a 1-GPU pod take the GPU whose loss hurts
//      least instead of breaking an NVLink pair;
//   5. smallest NUMA span: the number of distinct NUMA nodes in the set (all
//      GPUs of unknown NUMA together count as one more);
//   6. lowest indices: the lexicographically smallest sorted index list.
// Bandwidths are compared in whole MB/s (GB/s x 1000, rounded), so sums are
// exact and ties are real ties. A single GPU has no pairs: its bottleneck and
// total are 0.
//
// Search. Up to EXACT_SEARCH_MAX_GPUS usable GPUs the answer is exact: for each
// distinct pair bandwidth t from the highest down, look for an N-clique in the
// graph of pairs with bandwidth >= t that the constraints allow; the first t
// that has one is the best bottleneck. Then every N-clique at that threshold is
// enumerated in index order with a bound on the total, keeping those with the
// highest total; only these are scored on tiers 4-6. The remainder's quality
// can never beat the best k-sets of all usable GPUs, so once the leading
// candidate reaches that ceiling, later ones are only examined if their NUMA
// span is smaller. Sets are 32-bit masks.
//
// Above EXACT_SEARCH_MAX_GPUS the choice is greedy: the best bottleneck is still
// found exactly (up to MASK_MAX_GPUS usable GPUs; greedily beyond), then one set
// is grown from every usable GPU, each step adding the GPU that adds the most
// bandwidth to the set (then: one whose NUMA node is already in the set, then
// the lowest index), and these candidates (plus the clique the threshold search
// found) are compared on tiers 2-6. Beyond MASK_MAX_GPUS usable GPUs cliques
// are found greedily and the fragmentation tier is skipped.
import type { GpuNodeTopology } from "./model.js";

export interface GpuSetConstraints {
  /** Every pair of the chosen GPUs must be NVLink-connected. */
  readonly nvlinkRequired: boolean;
  /** All chosen GPUs must be on one (known) NUMA node. */
  readonly singleNuma: boolean;
}

export interface GpuSetChoice {
  /** GPU indices, ascending. */
  readonly gpus: readonly number[];
  /** Smallest pair bandwidth in the set, GB/s; 0 for a single GPU. */
  readonly bottleneckGBps: number;
  /** Sum of pair bandwidths in the set, GB/s; 0 for a single GPU. */
  readonly totalGBps: number;
  readonly numaSpan: number;
  /**
   * Quality of the GPUs left usable afterwards, [b8, b4, b2, b1]: bk is the best
   * bottleneck (GB/s) k of them could still form, 0 when fewer than k remain;
   * b1 is 1 when any remains. Higher means less fragmented.
   */
  readonly fragmentation: readonly number[];
  /** `fragmentation` packed into one number that orders the same way (see residualScoreOf), for comparing nodes. */
  readonly residualScore: number;
  /** Every pair in the set is an NVLink pair (true for a single GPU). */
  readonly allNvlink: boolean;
  /** false when the greedy search (more than EXACT_SEARCH_MAX_GPUS usable GPUs) made the choice. */
  readonly exact: boolean;
}

export type GpuSetOutcome = { readonly ok: true; readonly choice: GpuSetChoice } | { readonly ok: false; readonly reason: string };

/** Largest number of usable GPUs searched exhaustively. */
export const EXACT_SEARCH_MAX_GPUS = 16;
/** Largest number of usable GPUs handled with 32-bit set masks (exact clique search). */
export const MASK_MAX_GPUS = 31;
/** Set sizes whose best bottleneck measures what remains, most important first. */
export const RESIDUAL_SET_SIZES: readonly number[] = [8, 4, 2, 1];
/** Bandwidth comparison unit: MB/s per GB/s. */
const UNITS_PER_GBPS = 1000;

// --- prepared topology (cached per immutable topology object) -------------------

interface Prepared {
  readonly n: number;
  /** Pair bandwidth in MB/s, n x n. */
  readonly w: Int32Array;
  /** NVLink pair flag, n x n. */
  readonly nv: Uint8Array;
  /** NUMA node per GPU, -1 when unknown. */
  readonly numa: Int32Array;
}

const PREPARED = new WeakMap<GpuNodeTopology, Prepared>();

function prepare(topology: GpuNodeTopology): Prepared {
  let p = PREPARED.get(topology);
  if (p) return p;
  const n = topology.gpus.length;
  const w = new Int32Array(n * n);
  const nv = new Uint8Array(n * n);
  const numa = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    numa[i] = topology.gpus[i]?.numaNode ?? -1;
    for (let j = 0; j < n; j++) {
      if (i === j) continue;
      const link = topology.links[i]?.[j];
      w[i * n + j] = link ? Math.round(link.bandwidthGBps * UNITS_PER_GBPS) : 0;
      nv[i * n + j] = link?.kind === "NVLink" ? 1 : 0;
    }
  }
  p = { n, w, nv, numa };
  PREPARED.set(topology, p);
  return p;
}

// --- the usable GPUs, renumbered 0..m-1 in index order ----------------------------

class Usable {
  readonly m: number;
  /** Original GPU index of each compact vertex. */
  readonly ids: readonly number[];
  readonly w: readonly Int32Array[];
  readonly nv: readonly Uint8Array[];
  readonly numa: Int32Array;
  private readonly adjCache = new Map<string, Int32Array>();
  private valuesCache: number[] | undefined;

  constructor(p: Prepared, usable: readonly boolean[]) {
    const ids: number[] = [];
    for (let i = 0; i < p.n; i++) if (usable[i] === true) ids.push(i);
    this.m = ids.length;
    this.ids = ids;
    this.numa = Int32Array.from(ids, (i) => p.numa[i]!);
    this.w = ids.map((i) => Int32Array.from(ids, (j) => p.w[i * p.n + j]!));
    this.nv = ids.map((i) => Uint8Array.from(ids, (j) => p.nv[i * p.n + j]!));
  }

  /** Whether the constraints allow vertex a in a set at all. */
  vertexOk(a: number, c: GpuSetConstraints | undefined): boolean {
    return !c?.singleNuma || this.numa[a]! >= 0;
  }

  /** Whether a and b may be in one set with bandwidth at least t (c undefined: no constraints). */
  edgeOk(a: number, b: number, t: number, c: GpuSetConstraints | undefined): boolean {
    if (a === b || this.w[a]![b]! < t) return false;
    if (c?.nvlinkRequired && this.nv[a]![b] !== 1) return false;
    if (c?.singleNuma && (this.numa[a]! < 0 || this.numa[a] !== this.numa[b])) return false;
    return true;
  }

  /** Vertices the constraints allow, ascending. */
  vertices(c: GpuSetConstraints | undefined): number[] {
    const out: number[] = [];
    for (let a = 0; a < this.m; a++) if (this.vertexOk(a, c)) out.push(a);
    return out;
  }

  /** Distinct pair bandwidths among the allowed pairs, highest first. */
  thresholds(c: GpuSetConstraints | undefined): number[] {
    if (c === undefined && this.valuesCache) return this.valuesCache;
    const seen = new Set<number>();
    for (let a = 0; a < this.m; a++) {
      if (!this.vertexOk(a, c)) continue;
      for (let b = a + 1; b < this.m; b++) if (this.vertexOk(b, c) && this.edgeOk(a, b, -Infinity, c)) seen.add(this.w[a]![b]!);
    }
    const out = [...seen].sort((x, y) => y - x);
    if (c === undefined) this.valuesCache = out;
    return out;
  }

  /** Adjacency masks of the graph of allowed pairs with bandwidth >= t (m <= MASK_MAX_GPUS). */
  adjacency(t: number, c: GpuSetConstraints | undefined): Int32Array {
    const key = `${t}|${c?.nvlinkRequired ? 1 : 0}${c?.singleNuma ? 1 : 0}`;
    let adj = this.adjCache.get(key);
    if (adj) return adj;
    adj = new Int32Array(this.m);
    for (let a = 0; a < this.m; a++) {
      let mask = 0;
      for (let b = 0; b < this.m; b++) if (this.edgeOk(a, b, t, c)) mask |= 1 << b;
      adj[a] = mask;
    }
    this.adjCache.set(key, adj);
    return adj;
  }

  private plainAdj: Int32Array[] | undefined;

  /** Adjacency without constraints at the ti-th highest of thresholds(undefined) (m <= MASK_MAX_GPUS). */
  plainAdjacency(ti: number): Int32Array {
    this.plainAdj ??= this.thresholds(undefined).map((t) => this.adjacency(t, undefined));
    return this.plainAdj[ti]!;
  }

  private numaBits: Int32Array | undefined;

  /** Distinct NUMA nodes in a set given as a mask, counting all unknown ones as one more. */
  numaSpanOfMask(mask: number): number {
    if (this.numaBits === undefined) {
      const ids = [...new Set(this.numa)];
      if (ids.length > 31) return numaSpanOf(this, maskToList(mask));
      this.numaBits = Int32Array.from(this.numa, (node) => 1 << ids.indexOf(node));
    }
    let bits = 0;
    for (let x = mask; x !== 0; x &= x - 1) bits |= this.numaBits[lowestBit(x)]!;
    return popcount(bits);
  }

  /**
   * A largest clique among `vertices` in the graph of allowed pairs with
   * bandwidth >= t, lowest indices among the largest; exact up to
   * MASK_MAX_GPUS, greedy beyond. Stops early once `cap` vertices are found.
   */
  largestClique(vertices: readonly number[], t: number, c: GpuSetConstraints | undefined, cap = Infinity): number[] {
    if (vertices.length === 0) return [];
    if (this.m <= MASK_MAX_GPUS) return maskToList(maxCliqueMask(this.adjacency(t, c), listToMask(vertices), cap));
    return greedyClique(vertices, (a, b) => this.edgeOk(a, b, t, c), cap);
  }
}

// --- bit masks ---------------------------------------------------------------------

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

function lowestBit(x: number): number {
  return 31 - Math.clz32(x & -x);
}

function listToMask(list: readonly number[]): number {
  let mask = 0;
  for (const v of list) mask |= 1 << v;
  return mask;
}

function maskToList(mask: number): number[] {
  const out: number[] = [];
  for (let x = mask; x !== 0; x &= x - 1) out.push(lowestBit(x));
  return out;
}

// State of the running maxCliqueMask search (single-threaded, not re-entered).
let searchAdj: Int32Array = new Int32Array(0);
let searchBest = 0;
let searchBestSize = 0;
let searchCap = Infinity;

function expandClique(R: number, size: number, cand: number): boolean {
  if (cand === 0) {
    if (size > searchBestSize) {
      searchBest = R;
      searchBestSize = size;
    }
    return searchBestSize >= searchCap;
  }
  let rest = cand;
  while (rest !== 0) {
    if (size + popcount(rest) <= searchBestSize) return false;
    const v = lowestBit(rest);
    rest &= ~(1 << v);
    if (expandClique(R | (1 << v), size + 1, rest & searchAdj[v]!)) return true;
  }
  return false;
}

/** Whether the vertices in P are pairwise adjacent. */
function isCliqueMask(adj: Int32Array, P: number): boolean {
  for (let x = P; x !== 0; x &= x - 1) {
    const v = lowestBit(x);
    if ((P & ~(1 << v) & ~adj[v]!) !== 0) return false;
  }
  return true;
}

/** A maximum clique of the vertices in P (the lexicographically first), or a clique of `cap` vertices once one is found. */
function maxCliqueMask(adj: Int32Array, P: number, cap = Infinity): number {
  if (isCliqueMask(adj, P)) return P;
  searchAdj = adj;
  searchBest = 0;
  searchBestSize = 0;
  searchCap = cap;
  expandClique(0, 0, P);
  return searchBest;
}

/** A clique grown from each vertex in turn by adding the lowest-index vertex adjacent to all so far; the largest one found. */
function greedyClique(vertices: readonly number[], edge: (a: number, b: number) => boolean, cap = Infinity): number[] {
  let best: number[] = [];
  for (const seed of vertices) {
    const set = [seed];
    for (const v of vertices) {
      if (set.length >= cap) break;
      if (v !== seed && set.every((u) => edge(u, v))) set.push(v);
    }
    if (set.length > best.length) best = set.sort((a, b) => a - b);
    if (best.length >= cap) break;
  }
  return best;
}

// --- scoring -------------------------------------------------------------------------

interface Scored {
  /** Compact vertices, ascending. */
  readonly set: readonly number[];
  readonly bottleneck: number;
  readonly total: number;
  readonly frag: readonly number[];
  readonly numaSpan: number;
}

function pairStats(u: Usable, set: readonly number[]): { bottleneck: number; total: number; allNvlink: boolean } {
  let bottleneck = Infinity;
  let total = 0;
  let allNvlink = true;
  for (let x = 0; x < set.length; x++) {
    for (let y = x + 1; y < set.length; y++) {
      const bw = u.w[set[x]!]![set[y]!]!;
      total += bw;
      if (bw < bottleneck) bottleneck = bw;
      if (u.nv[set[x]!]![set[y]!] !== 1) allNvlink = false;
    }
  }
  return { bottleneck: set.length < 2 ? 0 : bottleneck, total, allNvlink };
}

function numaSpanOf(u: Usable, set: readonly number[]): number {
  const known = new Set<number>();
  let unknown = 0;
  for (const a of set) {
    const node = u.numa[a]!;
    if (node >= 0) known.add(node);
    else unknown = 1;
  }
  return known.size + unknown;
}

/** Position of each set size k in RESIDUAL_SET_SIZES. */
const SLOT_OF_SIZE = new Map(RESIDUAL_SET_SIZES.map((k, idx) => [k, idx] as const));

/** The largest size in RESIDUAL_SET_SIZES not above r (0 if none). */
function largestResidualSize(r: number): number {
  let cap = 0;
  for (const k of RESIDUAL_SET_SIZES) if (k <= r && k > cap) cap = k;
  return cap;
}

/**
 * [b8, b4, b2, b1] of the remaining vertices `rest`, in MB/s (b1: 1 if any
 * remains). With `size` given, entries for k > size are 0 as if only `size`
 * of them remained (an upper bound for any `size` of them).
 */
function fragmentationOf(u: Usable, rest: readonly number[], size = rest.length): number[] {
  if (u.m > MASK_MAX_GPUS) {
    const out = RESIDUAL_SET_SIZES.map(() => 0);
    if (Math.min(size, rest.length) > 0) out[SLOT_OF_SIZE.get(1)!] = 1;
    return out;
  }
  return fragmentationOfMask(u, listToMask(rest), Math.min(size, rest.length));
}

function fragmentationOfMask(u: Usable, restMask: number, r: number): number[] {
  const out = RESIDUAL_SET_SIZES.map(() => 0);
  if (r === 0) return out;
  out[SLOT_OF_SIZE.get(1)!] = 1;
  // Thresholds from the highest down: the first at which the remaining GPUs
  // hold a k-clique is the best bottleneck of any k of them.
  const cap = largestResidualSize(r);
  if (cap < 2) return out;
  const thresholds = u.thresholds(undefined);
  for (let ti = 0; ti < thresholds.length; ti++) {
    const omega = Math.min(cap, popcount(maxCliqueMask(u.plainAdjacency(ti), restMask, cap)));
    for (let idx = 0; idx < RESIDUAL_SET_SIZES.length; idx++) {
      const k = RESIDUAL_SET_SIZES[idx]!;
      if (k >= 2 && k <= omega && out[idx] === 0) out[idx] = thresholds[ti]!;
    }
    if (omega >= cap) break;
  }
  return out;
}

function compareVectors(a: readonly number[], b: readonly number[]): number {
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return a[k]! > b[k]! ? 1 : -1;
  return 0;
}

/** Positive when a beats b on tiers 2-6. */
function compareScored(a: Scored, b: Scored): number {
  if (a.bottleneck !== b.bottleneck) return a.bottleneck > b.bottleneck ? 1 : -1;
  if (a.total !== b.total) return a.total > b.total ? 1 : -1;
  const f = compareVectors(a.frag, b.frag);
  if (f !== 0) return f;
  if (a.numaSpan !== b.numaSpan) return a.numaSpan < b.numaSpan ? 1 : -1;
  for (let k = 0; k < a.set.length; k++) if (a.set[k] !== b.set[k]) return a.set[k]! < b.set[k]! ? 1 : -1;
  return 0;
}

function complement(u: Usable, set: readonly number[]): number[] {
  const taken = new Set(set);
  const out: number[] = [];
  for (let a = 0; a < u.m; a++) if (!taken.has(a)) out.push(a);
  return out;
}

function score(u: Usable, set: readonly number[], withFragmentation: boolean): Scored {
  const { bottleneck, total } = pairStats(u, set);
  return {
    set,
    bottleneck,
    total,
    frag: withFragmentation ? fragmentationOf(u, complement(u, set)) : [],
    numaSpan: numaSpanOf(u, set),
  };
}

// --- reasons -------------------------------------------------------------------------

const plural = (k: number, word: string) => `${k} ${word}${k === 1 ? "" : "s"}`;

function largestPerNuma(u: Usable): number {
  const counts = new Map<number, number>();
  for (let a = 0; a < u.m; a++) if (u.numa[a]! >= 0) counts.set(u.numa[a]!, (counts.get(u.numa[a]!) ?? 0) + 1);
  return Math.max(0, ...counts.values());
}

function infeasibleReason(u: Usable, n: number, c: GpuSetConstraints): string {
  if (u.m < n) return `needs ${plural(n, "GPU")}; ${u.m} free and healthy`;
  const all = u.vertices(undefined);
  const nvlinkOnly: GpuSetConstraints = { nvlinkRequired: true, singleNuma: false };
  const nvlinkMax = c.nvlinkRequired ? (n === 1 ? u.m : u.largestClique(all, -Infinity, nvlinkOnly).length) : Infinity;
  if (nvlinkMax < n) return `needs ${n} NVLink-connected GPUs; largest free NVLink-connected set is ${nvlinkMax}`;
  const numaMax = c.singleNuma ? largestPerNuma(u) : Infinity;
  if (numaMax < n) {
    let unknown = 0;
    for (let a = 0; a < u.m; a++) if (u.numa[a]! < 0) unknown++;
    const note = unknown > 0 ? ` (NUMA node unknown for ${plural(unknown, "free GPU")})` : "";
    return `needs ${plural(n, "GPU")} on one NUMA node; at most ${numaMax} free on any NUMA node${note}`;
  }
  const both = u.largestClique(u.vertices(c), -Infinity, c).length;
  return `needs ${n} NVLink-connected GPUs on one NUMA node; largest free such set is ${both}`;
}

// --- search ----------------------------------------------------------------------------

/** All N-cliques at threshold t with the highest total, as masks in lexicographic order (m <= EXACT_SEARCH_MAX_GPUS). */
function bestTotalCliques(u: Usable, adj: Int32Array, P: number, n: number): number[] {
  let maxW = 0;
  for (let a = 0; a < u.m; a++) {
    if ((P & (1 << a)) === 0) continue;
    for (let b = a + 1; b < u.m; b++) if ((adj[a]! & (1 << b)) !== 0 && u.w[a]![b]! > maxW) maxW = u.w[a]![b]!;
  }
  let bestTotal = -1;
  let ties: number[] = [];
  const chosen: number[] = [];
  // Depth-first, lowest vertex first: complete sets come out in lexicographic order.
  const rec = (cand: number, mask: number, total: number): void => {
    const size = chosen.length;
    if (size === n) {
      if (total > bestTotal) {
        bestTotal = total;
        ties = [mask];
      } else if (total === bestTotal) ties.push(mask);
      return;
    }
    const need = n - size;
    let rest = cand;
    while (rest !== 0) {
      if (popcount(rest) < need) return;
      const v = lowestBit(rest);
      rest &= ~(1 << v);
      let gain = 0;
      for (const x of chosen) gain += u.w[x]![v]!;
      // Each of the `after` GPUs still to add brings at most maxW per pair.
      const after = need - 1;
      const bound = total + gain + after * (size + 1) * maxW + ((after * (after - 1)) / 2) * maxW;
      if (bound < bestTotal) continue;
      chosen.push(v);
      rec(rest & adj[v]!, mask | (1 << v), total + gain);
      chosen.pop();
    }
  };
  rec(P, 0, 0);
  return ties;
}

function chooseExact(u: Usable, n: number, c: GpuSetConstraints): Scored {
  const verts = u.vertices(c);
  let candidates: number[];
  if (n === 1) candidates = verts.map((v) => 1 << v);
  else {
    const P = listToMask(verts);
    candidates = [];
    for (const t of u.thresholds(c)) {
      const adj = u.adjacency(t, c);
      if (popcount(maxCliqueMask(adj, P, n)) >= n) {
        candidates = bestTotalCliques(u, adj, P, n);
        break;
      }
    }
  }
  // Every candidate ties on tiers 1-3 and comes in lexicographic order, so a
  // later one wins only on fragmentation, or on NUMA span with equal
  // fragmentation. No remainder of m - n GPUs can do better than the best
  // k-sets of all usable GPUs: once the best candidate reaches that bound,
  // only a smaller NUMA span can still win, and fragmentation is computed
  // only for such candidates.
  const all = (1 << u.m) - 1;
  const left = u.m - n;
  const ceiling = fragmentationOfMask(u, all, left);
  let bestMask = candidates[0]!;
  let bestSpan = u.numaSpanOfMask(bestMask);
  let bestFrag = fragmentationOfMask(u, all & ~bestMask, left);
  let atCeiling = compareVectors(bestFrag, ceiling) === 0;
  for (let k = 1; k < candidates.length; k++) {
    const mask = candidates[k]!;
    const span = u.numaSpanOfMask(mask);
    if (atCeiling && span >= bestSpan) continue;
    const frag = fragmentationOfMask(u, all & ~mask, left);
    const f = compareVectors(frag, bestFrag);
    if (f > 0 || (f === 0 && span < bestSpan)) {
      bestMask = mask;
      bestSpan = span;
      bestFrag = frag;
      atCeiling = compareVectors(bestFrag, ceiling) === 0;
    }
  }
  const set = maskToList(bestMask);
  const { bottleneck, total } = pairStats(u, set);
  return { set, bottleneck, total, frag: bestFrag, numaSpan: bestSpan };
}

function chooseGreedy(u: Usable, n: number, c: GpuSetConstraints): Scored | undefined {
  const verts = u.vertices(c);
  const withFrag = u.m <= MASK_MAX_GPUS;
  const candidates: number[][] = [];
  let t = -Infinity;
  if (n === 1) candidates.push(...verts.map((v) => [v]));
  else {
    for (const th of u.thresholds(c)) {
      const clique = u.largestClique(verts, th, c, n);
      if (clique.length >= n) {
        t = th;
        candidates.push(clique.slice(0, n));
        break;
      }
    }
    if (candidates.length === 0) return undefined;
    for (const seed of verts) {
      const set = [seed];
      const numas = new Set([u.numa[seed]]);
      while (set.length < n) {
        let pick = -1;
        let pickGain = -1;
        let pickSameNuma = false;
        for (const v of verts) {
          if (set.includes(v) || !set.every((x) => u.edgeOk(x, v, t, c))) continue;
          let gain = 0;
          for (const x of set) gain += u.w[x]![v]!;
          const sameNuma = numas.has(u.numa[v]);
          if (gain > pickGain || (gain === pickGain && sameNuma && !pickSameNuma)) {
            pick = v;
            pickGain = gain;
            pickSameNuma = sameNuma;
          }
        }
        if (pick < 0) break;
        set.push(pick);
        numas.add(u.numa[pick]);
      }
      if (set.length === n) candidates.push(set.sort((a, b) => a - b));
    }
  }
  let best: Scored | undefined;
  for (const set of candidates) {
    const s = score(u, set, withFrag);
    if (best === undefined || compareScored(s, best) > 0) best = s;
  }
  return best;
}

function toGBps(units: number): number {
  return units / UNITS_PER_GBPS;
}

/** Largest per-entry value residualScoreOf keeps apart (GB/s); 14 bits per entry. */
const RESIDUAL_ENTRY_MAX = 2 ** 14 - 1;

/**
 * Packs a fragmentation vector [b8, b4, b2, b1] (GB/s) into one number that
 * sorts like the vector compared left to right: ((b8·2^14 + b4)·2^14 + b2)·2 + b1,
 * each bandwidth rounded to whole GB/s and capped at 16383. Exact in a double.
 */
export function residualScoreOf(fragmentation: readonly number[]): number {
  let out = 0;
  RESIDUAL_SET_SIZES.forEach((k, idx) => {
    const v = fragmentation[idx] ?? 0;
    out = k === 1 ? out * 2 + (v > 0 ? 1 : 0) : out * (RESIDUAL_ENTRY_MAX + 1) + Math.min(RESIDUAL_ENTRY_MAX, Math.max(0, Math.round(v)));
  });
  return out;
}

/**
 * The best `count` GPUs of a node for one pod (see the objective at the top of
 * this file), or the reason no set satisfies the constraints. `usable[i]` is
 * true when GPU i is free and healthy (and can be handed out whole: leave
 * MIG-enabled GPUs out); missing entries count as unusable.
 */
export function chooseGpuSet(topology: GpuNodeTopology, usable: readonly boolean[], count: number, constraints: GpuSetConstraints): GpuSetOutcome {
  if (!Number.isInteger(count) || count < 1) return { ok: false, reason: `needs a positive whole number of GPUs, got ${count}` };
  const u = new Usable(prepare(topology), usable);
  const feasibleMax = u.m < count ? 0 : count === 1 ? u.vertices(constraints).length : u.largestClique(u.vertices(constraints), -Infinity, constraints, count).length;
  if (u.m < count || feasibleMax < count) return { ok: false, reason: infeasibleReason(u, count, constraints) };
  const exact = u.m <= EXACT_SEARCH_MAX_GPUS;
  const best = exact ? chooseExact(u, count, constraints) : chooseGreedy(u, count, constraints);
  if (best === undefined) return { ok: false, reason: infeasibleReason(u, count, constraints) };
  const stats = pairStats(u, best.set);
  const frag = best.frag.length > 0 ? best.frag : fragmentationOf(u, complement(u, best.set));
  const fragmentation = frag.map((v, k) => (RESIDUAL_SET_SIZES[k] === 1 ? v : toGBps(v)));
  return {
    ok: true,
    choice: {
      gpus: best.set.map((a) => u.ids[a]!),
      bottleneckGBps: toGBps(stats.bottleneck),
      totalGBps: toGBps(stats.total),
      numaSpan: best.numaSpan,
      fragmentation,
      residualScore: residualScoreOf(fragmentation),
      allNvlink: stats.allNvlink,
      exact,
    },
  };
}

/**
 * The best bottleneck (GB/s) chooseGpuSet would reach for every set size:
 * element k is for k + 1 GPUs, null where no set of that size satisfies the
 * constraints; 0 for one GPU (no pairs). One entry per usable GPU. Computed
 * once per node state, it answers "can this node host N GPUs, and how well"
 * for every N without a search.
 */
export function bestBottleneckByCount(topology: GpuNodeTopology, usable: readonly boolean[], constraints: GpuSetConstraints): readonly (number | null)[] {
  const u = new Usable(prepare(topology), usable);
  const out: (number | null)[] = new Array<number | null>(u.m).fill(null);
  const verts = u.vertices(constraints);
  if (verts.length === 0) return out;
  out[0] = 0;
  let reached = 1;
  for (const t of u.thresholds(constraints)) {
    const omega = u.largestClique(verts, t, constraints).length;
    for (let k = reached + 1; k <= omega; k++) out[k - 1] = toGBps(t);
    reached = Math.max(reached, omega);
    if (reached >= verts.length) break;
  }
  return out;
}

/**
 * A largest set of usable GPUs in which every pair is NVLink-connected
 * (lowest indices among the largest), as GPU indices. A single usable GPU
 * counts as a set of one. Exact up to MASK_MAX_GPUS usable GPUs.
 */
export function largestNvlinkClique(topology: GpuNodeTopology, usable: readonly boolean[]): readonly number[] {
  const u = new Usable(prepare(topology), usable);
  const clique = u.largestClique(u.vertices(undefined), -Infinity, { nvlinkRequired: true, singleNuma: false });
  return clique.map((a) => u.ids[a]!);
}

/** The fragmentation vector [b8, b4, b2, b1] (GB/s; b1 is 1 or 0) of a node's usable GPUs as they are now. */
export function residualQuality(topology: GpuNodeTopology, usable: readonly boolean[]): readonly number[] {
  const u = new Usable(prepare(topology), usable);
  return fragmentationOf(u, u.vertices(undefined)).map((v, k) => (RESIDUAL_SET_SIZES[k] === 1 ? v : toGBps(v)));
}

/**
 * The same figures chooseGpuSet reports, for a set fixed by someone else (the
 * DRA allocator takes the first free devices in slice order). `gpus` must all
 * be usable; the remainder is judged as in chooseGpuSet.
 */
export function evaluateGpuSet(topology: GpuNodeTopology, usable: readonly boolean[], gpus: readonly number[]): GpuSetChoice {
  const u = new Usable(prepare(topology), usable);
  const compact = new Map(u.ids.map((id, a) => [id, a] as const));
  const set = gpus.map((g) => {
    const a = compact.get(g);
    if (a === undefined) throw new Error(`GPU ${g} is not usable`);
    return a;
  });
  const stats = pairStats(u, set);
  const fragmentation = fragmentationOf(u, complement(u, set)).map((v, k) => (RESIDUAL_SET_SIZES[k] === 1 ? v : toGBps(v)));
  return {
    gpus: [...gpus].sort((a, b) => a - b),
    bottleneckGBps: toGBps(stats.bottleneck),
    totalGBps: toGBps(stats.total),
    numaSpan: numaSpanOf(u, set),
    fragmentation,
    residualScore: residualScoreOf(fragmentation),
    allNvlink: stats.allNvlink,
    exact: true,
  };
}
