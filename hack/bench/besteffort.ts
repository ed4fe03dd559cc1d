// An emulation of the GPU choice the stock NVIDIA device plugin makes for a
// pod (GetPreferredAllocation with its best-effort policy), written to measure
// how often topofit's prediction matches it. A measuring tool, not shipped.
//
// The policy, as documented and as its source reads:
//   - every pair of GPUs gets points: a PCIe class (the closest common PCIe
//     ancestor) worth SYS 10, NODE 20, PHB 30, PXB 40, PIX 50, same board 60,
//     plus 100 per NVLink whose far end is the other GPU;
//   - a set's points are the sum over its pairs;
//   - the free GPUs are split into blocks of the pod's size N (when their count
//     is not a multiple of N, one block holds the leftovers, padded with empty
//     slots that score nothing), and the split with the most points in total
//     wins, leftover block included; the plugin returns the block with the
//     most points in that split. So it keeps what stays free well grouped, not
//     only what it hands out;
//   - ties go to whatever comes first: splits are walked with the first free
//     GPU of the list in the first block, then the combinations of the rest in
//     list order; inside the winning split, blocks are compared in the order
//     they were formed. For N = 1 every GPU scores 0 and the first one listed
//     wins.
// The list order matters, and nothing defines it: kubelet sends the free
// device ids from a Go set (map iteration order), the plugin registered them
// from a Go map too, and the ids are UUIDs, unrelated to the GPU index.
// bestEffortPick takes the order as given; bestEffortOutcomes gives every set
// some order could yield.
//
// From topofit's topology: a PCIe link kind is the PCIe class; an NVLink pair
// adds 100 x its link count to a PCIe class the topology does not record
// (`nvlinkPairPcie`; by default NODE on one known NUMA node, else SYS). On an
// NVSwitch baseboard every NVLink ends at a switch, so the plugin counts no
// NVLinks at all (`nvswitch: true`); topofit writes such a baseboard as every
// pair NV<n> (the hgx-* profiles), exactly as `nvidia-smi topo -m` prints it,
// so whether a node is an NVSwitch system is the caller's knowledge.
import type { Gpu, GpuNodeTopology, LinkKind } from "../../src/topology/model.js";

export type PcieClass = Exclude<LinkKind, "NVLink">;

/** Points of a pair by its closest common PCIe ancestor. */
export const PCIE_CLASS_POINTS: Readonly<Record<PcieClass, number>> = {
  SYS: 10,
  NODE: 20,
  PHB: 30,
  PXB: 40,
  PIX: 50,
  SameBoard: 60,
};

/** Points per NVLink between the two GPUs of a pair. */
export const POINTS_PER_NVLINK = 100;

export interface BestEffortOptions {
  /** The node is an NVSwitch system: the plugin sees no NVLinks, only PCIe classes. Default false. */
  readonly nvswitch?: boolean;
  /** PCIe class of an NVLink pair. Default: NODE when both GPUs are on the same known NUMA node, else SYS. */
  readonly nvlinkPairPcie?: (a: Gpu, b: Gpu) => PcieClass;
}

/** Pair points of one node as the plugin sees it. */
export interface PairPoints {
  readonly n: number;
  /** points[i * n + j]; 0 on the diagonal. */
  readonly points: Int32Array;
}

function pcieByNuma(a: Gpu, b: Gpu): PcieClass {
  return a.numaNode !== undefined && a.numaNode === b.numaNode ? "NODE" : "SYS";
}

/**
 * A PCIe class for NVLink pairs from a machine's PCIe layout: GPUs behind one
 * switch (`switchOf[i]` equal) are PIX, others on one known NUMA node
 * `sameNuma`, the rest SYS. The DGX-1: switchOf [0,0,1,1,2,2,3,3], sameNuma PHB.
 */
export function pcieFromLayout(switchOf: readonly number[], sameNuma: PcieClass): (a: Gpu, b: Gpu) => PcieClass {
  return (a, b) => {
    const sa = switchOf[a.index];
    if (sa !== undefined && sa === switchOf[b.index]) return "PIX";
    return a.numaNode !== undefined && a.numaNode === b.numaNode ? sameNuma : "SYS";
  };
}

/** The plugin's points for every pair of a node's GPUs. */
export function pairPoints(topology: GpuNodeTopology, options: BestEffortOptions = {}): PairPoints {
  const n = topology.gpus.length;
  const nvlinkPcie = options.nvlinkPairPcie ?? pcieByNuma;
  const points = new Int32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (i === j) continue;
      const link = topology.links[i]?.[j];
      if (link === undefined) throw new Error(`topology has no link between GPUs ${i} and ${j}`);
      if (link.kind === "NVLink") {
        const pcie = PCIE_CLASS_POINTS[nvlinkPcie(topology.gpus[i]!, topology.gpus[j]!)];
        points[i * n + j] = pcie + (options.nvswitch ? 0 : POINTS_PER_NVLINK * link.nvlinks);
      } else points[i * n + j] = PCIE_CLASS_POINTS[link.kind];
    }
  }
  return { n, points };
}

/** An empty slot that pads the free list to a multiple of the pod's size. */
const PAD = -1;

function blockPoints(pp: PairPoints, block: readonly number[]): number {
  let sum = 0;
  for (let a = 0; a < block.length; a++) {
    const x = block[a]!;
    if (x === PAD) continue;
    for (let b = a + 1; b < block.length; b++) {
      const y = block[b]!;
      if (y !== PAD) sum += pp.points[x * pp.n + y]!;
    }
  }
  return sum;
}

/** Calls visit for every k-combination of items, in list order (first positions vary slowest). */
function forEachCombination(items: readonly number[], k: number, visit: (combo: readonly number[]) => void): void {
  const combo: number[] = [];
  const walk = (from: number): void => {
    if (combo.length === k) {
      visit(combo);
      return;
    }
    for (let i = from; i <= items.length - (k - combo.length); i++) {
      combo.push(items[i]!);
      walk(i + 1);
      combo.pop();
    }
  };
  walk(0);
}

/**
 * Calls visit for every split of `items` (GPU indices, possibly ending in PAD
 * slots; length a multiple of `size`) into blocks of `size`, in the plugin's
 * walking order. A block holds either no PAD or all of them.
 */
function forEachSplit(items: readonly number[], size: number, visit: (blocks: readonly (readonly number[])[]) => void): void {
  const pads = items.filter((x) => x === PAD).length;
  const blocks: (readonly number[])[] = [];
  const walk = (rest: readonly number[]): void => {
    if (rest.length === size) {
      blocks.push(rest);
      visit(blocks);
      blocks.pop();
      return;
    }
    const head = rest[0]!;
    forEachCombination(rest.slice(1), size - 1, (combo) => {
      const block = [head, ...combo];
      const inBlock = block.filter((x) => x === PAD).length;
      if (inBlock !== 0 && inBlock !== pads) return;
      blocks.push(block);
      walk(rest.filter((x) => !block.includes(x)));
      blocks.pop();
    });
  };
  walk(items);
}

function padded(free: readonly number[], size: number): number[] {
  const items = [...free];
  while (items.length % size !== 0) items.push(PAD);
  return items;
}

function checkRequest(pp: PairPoints, free: readonly number[], size: number): void {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`pod size must be a positive whole number, got ${size}`);
  const seen = new Set<number>();
  for (const g of free) {
    if (!Number.isInteger(g) || g < 0 || g >= pp.n) throw new RangeError(`free GPU ${g} is not an index of this ${pp.n}-GPU node`);
    if (seen.has(g)) throw new RangeError(`free GPU ${g} is listed twice`);
    seen.add(g);
  }
}

export interface BestEffortPick {
  /** The GPUs the plugin returns, ascending; empty when fewer than `size` are free. */
  readonly gpus: readonly number[];
  /**
   * The winning block was the padded leftover block: the plugin would hand
   * back fewer GPUs than asked (with empty entries), which it cannot turn into
   * device ids. `gpus` then lists the real GPUs of that block.
   */
  readonly short: boolean;
}

/**
 * The set the plugin returns for a pod of `size` GPUs when kubelet lists the
 * free GPUs in the order `free` (GPU indices). Mirrors the policy's walk,
 * including which of several equal answers comes first.
 */
export function bestEffortPick(pp: PairPoints, free: readonly number[], size: number): BestEffortPick {
  checkRequest(pp, free, size);
  if (free.length < size) return { gpus: [], short: false };
  if (size === 1) return { gpus: [free[0]!], short: false };
  let best: (readonly number[])[] | undefined;
  let bestPoints = 0;
  forEachSplit(padded(free, size), size, (blocks) => {
    let sum = 0;
    for (const b of blocks) sum += blockPoints(pp, b);
    if (best === undefined || sum > bestPoints) {
      best = blocks.map((b) => [...b]);
      bestPoints = sum;
    }
  });
  let pick = best![0]!;
  let pickPoints = blockPoints(pp, pick);
  for (const b of best!.slice(1)) {
    const p = blockPoints(pp, b);
    if (p > pickPoints) {
      pick = b;
      pickPoints = p;
    }
  }
  return { gpus: pick.filter((x) => x !== PAD).sort((a, b) => a - b), short: pick.includes(PAD) };
}

export interface BestEffortOutcomes {
  /** Points of the best split. */
  readonly splitPoints: number;
  /** Every full set some listing order makes the plugin return, each ascending, in ascending order. */
  readonly sets: readonly (readonly number[])[];
  /** Some order may make the padded leftover block win (see BestEffortPick.short). */
  readonly shortPossible: boolean;
}

function compareLists(a: readonly number[], b: readonly number[]): number {
  for (let k = 0; k < Math.min(a.length, b.length); k++) if (a[k] !== b[k]) return a[k]! - b[k]!;
  return a.length - b.length;
}

/**
 * Every answer the plugin can give, whatever order kubelet lists the free GPUs
 * in: each best-scoring block of each best-scoring split. (Listing a block of
 * a best split first, then the rest of that split block by block, makes that
 * split the first best one walked and that block the first best one in it.)
 */
export function bestEffortOutcomes(pp: PairPoints, free: readonly number[], size: number): BestEffortOutcomes {
  checkRequest(pp, free, size);
  if (free.length < size) return { splitPoints: 0, sets: [], shortPossible: false };
  if (size === 1) return { splitPoints: 0, sets: [...free].sort((a, b) => a - b).map((g) => [g]), shortPossible: false };
  let bestPoints = -1;
  let winners: number[][][] = [];
  forEachSplit(padded([...free].sort((a, b) => a - b), size), size, (blocks) => {
    let sum = 0;
    for (const b of blocks) sum += blockPoints(pp, b);
    if (sum > bestPoints) {
      bestPoints = sum;
      winners = [];
    }
    if (sum === bestPoints) winners.push(blocks.map((b) => [...b]));
  });
  const seen = new Map<string, readonly number[]>();
  let shortPossible = false;
  for (const split of winners) {
    const top = Math.max(...split.map((b) => blockPoints(pp, b)));
    for (const b of split) {
      if (blockPoints(pp, b) !== top) continue;
      if (b.includes(PAD)) shortPossible = true;
      else seen.set(b.join(","), [...b].sort((x, y) => x - y));
    }
  }
  return { splitPoints: bestPoints, sets: [...seen.values()].sort(compareLists), shortPossible };
}

/**
 * The plugin's own measure of handing out `set`: the points of the best split
 * of the free GPUs that has `set` as one block (the set plus the best grouping
 * of what stays free). The plugin's choice has the highest value of all sets.
 */
export function bestEffortSplitPoints(pp: PairPoints, free: readonly number[], size: number, set: readonly number[]): number {
  checkRequest(pp, free, size);
  if (set.length !== size || !set.every((g) => free.includes(g))) {
    throw new RangeError(`set [${set.join(",")}] is not ${size} of the free GPUs [${free.join(",")}]`);
  }
  const rest = free.filter((g) => !set.includes(g));
  let best = 0;
  if (rest.length > 0) {
    forEachSplit(padded(rest, size), size, (blocks) => {
      let sum = 0;
      for (const b of blocks) sum += blockPoints(pp, b);
      best = Math.max(best, sum);
    });
  }
  return blockPoints(pp, set) + best;
}
