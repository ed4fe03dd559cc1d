// bench:agreement: how often the GPU set topofit predicts for a pod is the set
// the stock NVIDIA device plugin hands out (best-effort policy, emulated in
// besteffort.ts), on the built-in machine profiles, for 1-, 2-, 4- and 8-GPU
// pods. A simulation: no GPUs are involved.
//
// Part 1, random occupancy: each case is a random free set with more GPUs free
// than the pod asks for (a set of the same size leaves no choice); topofit's
// choice is chooseGpuSet over the free GPUs without constraints (what the
// topology store predicts), the plugin's is emulated on the same free set.
// kubelet lists the free GPUs to the plugin in Go map order, which is not
// defined, so the plugin's answer is measured three ways: with the GPUs listed
// in index order, averaged over random listing orders, and as the set of
// answers some order could give.
// Part 2, churn: pods of random sizes arrive and leave one node, and the GPUs a
// pod holds are those the plugin picked (in a random listing order), so the
// free sets are the ones the plugin itself leaves behind.
//
//   BENCH_SEED (default 1)            PRNG seed; printed, and the run is reproducible with it
//   BENCH_CASES (default 2000)        random free sets per machine and pod size
//   BENCH_ORDERS (default 8)          random listing orders per case
//   BENCH_CHURN_EVENTS (default 4000) arrivals and departures per machine
import { buildNodeTopology } from "../../src/topology/build.js";
import { chooseGpuSet, evaluateGpuSet, type GpuSetChoice } from "../../src/topology/gpu-set.js";
import { GPU_COUNT_LABEL, GPU_PRODUCT_LABEL, TOPOLOGY_PROFILE_LABEL } from "../../src/topology/labels.js";
import type { Gpu, GpuNodeTopology } from "../../src/topology/model.js";
import { BUILTIN_PROFILES } from "../../src/topology/profiles.js";
import { bestEffortOutcomes, bestEffortPick, bestEffortSplitPoints, pairPoints, pcieFromLayout, type PairPoints, type PcieClass } from "./besteffort.js";
import { rng } from "./fleet.js";

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 1) {
    console.error(`${name} must be a positive whole number, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return v;
}

const SEED = positiveInt("BENCH_SEED", 1);
const CASES = positiveInt("BENCH_CASES", 2000);
const ORDERS = positiveInt("BENCH_ORDERS", 8);
const CHURN_EVENTS = positiveInt("BENCH_CHURN_EVENTS", 4000);
const POD_SIZES = [1, 2, 4, 8];
const NO_CONSTRAINTS = { nvlinkRequired: false, singleNuma: false } as const;

interface Machine {
  readonly profile: string;
  /** nvidia.com/gpu.product, which sets the bandwidth tables. */
  readonly product: string;
  /** NVSwitch baseboard: the plugin counts no NVLinks there. */
  readonly nvswitch: boolean;
  readonly nvlinkPairPcie?: (a: Gpu, b: Gpu) => PcieClass;
}

const MACHINES: readonly Machine[] = [
  { profile: "hgx-h100-8", product: "NVIDIA-H100-80GB-HBM3", nvswitch: true },
  { profile: "hgx-b200-8", product: "NVIDIA-B200", nvswitch: true },
  { profile: "hgx-a100-sxm4-8", product: "NVIDIA-A100-SXM4-80GB", nvswitch: true },
  { profile: "a100-pcie-4-bridged", product: "NVIDIA-A100-PCIE-80GB", nvswitch: false },
  // Two GPUs per PCIe switch, host bridges within a socket.
  { profile: "dgx1-v100-8", product: "Tesla-V100-SXM2-32GB", nvswitch: false, nvlinkPairPcie: pcieFromLayout([0, 0, 1, 1, 2, 2, 3, 3], "PHB") },
  { profile: "l40s-8", product: "NVIDIA-L40S", nvswitch: false },
  { profile: "pcie-2socket-8", product: "NVIDIA-L4", nvswitch: false },
];

interface Prepared {
  readonly machine: Machine;
  readonly topology: GpuNodeTopology;
  readonly n: number;
  /** The plugin's pair points as it sees them (NVLinks hidden on NVSwitch boards). */
  readonly plugin: PairPoints;
  /** The same with NVLinks counted, to show what the NVSwitch gap changes. */
  readonly withNvlinks: PairPoints;
}

function prepare(machine: Machine): Prepared | undefined {
  const profile = BUILTIN_PROFILES.find((p) => p.name === machine.profile);
  if (profile === undefined) return undefined;
  const n = profile.gpuCount;
  const built = buildNodeTopology({
    labels: { [TOPOLOGY_PROFILE_LABEL]: profile.name, [GPU_PRODUCT_LABEL]: machine.product, [GPU_COUNT_LABEL]: String(n) },
    annotations: {},
    allocatableGpus: n,
    profiles: BUILTIN_PROFILES,
  });
  if (built.topology.source !== "profile") throw new Error(`profile ${profile.name} did not apply: ${built.warnings.join("; ")}`);
  const pcie = machine.nvlinkPairPcie ? { nvlinkPairPcie: machine.nvlinkPairPcie } : {};
  return {
    machine,
    topology: built.topology,
    n,
    plugin: pairPoints(built.topology, { ...pcie, nvswitch: machine.nvswitch }),
    withNvlinks: pairPoints(built.topology, pcie),
  };
}

// --- helpers --------------------------------------------------------------------

function shuffled<T>(items: readonly T[], rand: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const sameSet = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((g, i) => g === b[i]);
const fmtSet = (s: readonly number[]) => `{${s.join(",")}}`;
const pct = (num: number, den: number) => (den === 0 ? "-" : `${((100 * num) / den).toFixed(1)}%`);
const gb = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(1));

function usableMask(n: number, free: readonly number[]): boolean[] {
  const mask = new Array<boolean>(n).fill(false);
  for (const g of free) mask[g] = true;
  return mask;
}

function topofitChoice(p: Prepared, free: readonly number[], size: number): GpuSetChoice {
  const out = chooseGpuSet(p.topology, usableMask(p.n, free), size, NO_CONSTRAINTS);
  if (!out.ok) throw new Error(`chooseGpuSet found no ${size}-GPU set among ${fmtSet(free)} on ${p.machine.profile}: ${out.reason}`);
  return out.choice;
}

/** Compares two choices as topofit does: bottleneck, total, what remains ([b8, b4, b2]), fewer NUMA nodes. Positive: a is better. */
function compareQuality(a: GpuSetChoice, b: GpuSetChoice): number {
  const ka = [a.bottleneckGBps, a.totalGBps, ...a.fragmentation.slice(0, 3), -a.numaSpan];
  const kb = [b.bottleneckGBps, b.totalGBps, ...b.fragmentation.slice(0, 3), -b.numaSpan];
  for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i]! - kb[i]!;
  return 0;
}

function describeChoice(c: GpuSetChoice): string {
  const [b8, b4, b2] = c.fragmentation;
  return `${fmtSet(c.gpus)} ${gb(c.bottleneckGBps)}/${gb(c.totalGBps)} GB/s, leaves best 8/4/2 ${gb(b8!)}/${gb(b4!)}/${gb(b2!)}`;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

// --- part 1: random occupancy ------------------------------------------------------

type Verdict = "topofit better" | "equal" | "plugin better";

interface Row {
  readonly profile: string;
  readonly size: number;
  cases: number;
  agreeIndexOrder: number;
  agreeShuffled: number;
  unique: number;
  possible: number;
  short: number;
  nvswitchChanged: number;
  readonly verdicts: Record<Verdict, number>;
  /** One example per verdict, preferring one where the plugin never gives topofit's set. */
  readonly examples: Partial<Record<Verdict, { readonly text: string; readonly tie: boolean }>>;
}

function randomFreeSet(n: number, size: number, rand: () => number): number[] {
  const k = size + 1 + Math.floor(rand() * (n - size));
  return shuffled(Array.from({ length: n }, (_, i) => i), rand)
    .slice(0, k)
    .sort((a, b) => a - b);
}

function measureRandom(p: Prepared, size: number, rand: () => number): Row {
  const row: Row = {
    profile: p.machine.profile,
    size,
    cases: 0,
    agreeIndexOrder: 0,
    agreeShuffled: 0,
    unique: 0,
    possible: 0,
    short: 0,
    nvswitchChanged: 0,
    verdicts: { "topofit better": 0, equal: 0, "plugin better": 0 },
    examples: {},
  };
  for (let c = 0; c < CASES; c++) {
    const free = randomFreeSet(p.n, size, rand);
    const mine = topofitChoice(p, free, size);
    const theirs = bestEffortPick(p.plugin, free, size);
    const outcomes = bestEffortOutcomes(p.plugin, free, size);
    row.cases += 1;
    if (theirs.short) row.short += 1;
    if (p.machine.nvswitch && !sameSet(bestEffortPick(p.withNvlinks, free, size).gpus, theirs.gpus)) row.nvswitchChanged += 1;
    if (outcomes.sets.length === 1 && !outcomes.shortPossible) row.unique += 1;
    const possible = outcomes.sets.some((s) => sameSet(s, mine.gpus));
    if (possible) row.possible += 1;
    if (!theirs.short && sameSet(theirs.gpus, mine.gpus)) row.agreeIndexOrder += 1;
    // The realistic answer: the plugin's pick in random listing orders, judged against topofit's.
    const usable = usableMask(p.n, free);
    for (let o = 0; o < ORDERS; o++) {
      const order = shuffled(free, rand);
      const pick = bestEffortPick(p.plugin, order, size);
      if (pick.short) continue;
      if (sameSet(pick.gpus, mine.gpus)) {
        row.agreeShuffled += 1 / ORDERS;
        continue;
      }
      const theirChoice = evaluateGpuSet(p.topology, usable, pick.gpus);
      const q = compareQuality(mine, theirChoice);
      const verdict: Verdict = q > 0 ? "topofit better" : q < 0 ? "plugin better" : "equal";
      row.verdicts[verdict] += 1 / ORDERS;
      const kept = row.examples[verdict];
      if (kept === undefined || (kept.tie && !possible)) {
        row.examples[verdict] = {
          tie: possible,
          text:
            `free GPUs listed [${order.join(",")}]: topofit ${describeChoice(mine)} [plugin points ${bestEffortSplitPoints(p.plugin, free, size, mine.gpus)}]` +
            `; plugin ${describeChoice(theirChoice)} [${outcomes.splitPoints}]` +
            (possible ? " (a tie for the plugin: another order gives topofit's set)" : " (no order gives topofit's set)"),
        };
      }
    }
  }
  return row;
}

// --- part 2: churn -----------------------------------------------------------------

interface ChurnRow {
  readonly profile: string;
  readonly size: number;
  arrivals: number;
  choices: number;
  agreeActual: number;
  agreeIndexOrder: number;
  short: number;
  freeSum: number;
}

function measureChurn(p: Prepared, rand: () => number): ChurnRow[] {
  const sizes = POD_SIZES.filter((s) => s <= p.n);
  const rows = new Map<number, ChurnRow>(sizes.map((size) => [size, { profile: p.machine.profile, size, arrivals: 0, choices: 0, agreeActual: 0, agreeIndexOrder: 0, short: 0, freeSum: 0 }]));
  const busy = new Array<boolean>(p.n).fill(false);
  const pods: number[][] = [];
  for (let e = 0; e < CHURN_EVENTS; e++) {
    if (pods.length > 0 && rand() < 0.45) {
      const [gone] = pods.splice(Math.floor(rand() * pods.length), 1);
      for (const g of gone!) busy[g] = false;
      continue;
    }
    const size = sizes[Math.floor(rand() * sizes.length)]!;
    const row = rows.get(size)!;
    row.arrivals += 1;
    const free = busy.flatMap((b, g) => (b ? [] : [g]));
    if (free.length < size) continue;
    let gpus = free.slice(0, size);
    if (free.length > size) {
      row.choices += 1;
      row.freeSum += free.length;
      const mine = topofitChoice(p, free, size).gpus;
      const actual = bestEffortPick(p.plugin, shuffled(free, rand), size);
      if (sameSet(bestEffortPick(p.plugin, free, size).gpus, mine)) row.agreeIndexOrder += 1;
      if (actual.short) {
        // The plugin cannot answer; the pod does not start.
        row.short += 1;
        continue;
      }
      if (sameSet(actual.gpus, mine)) row.agreeActual += 1;
      gpus = [...actual.gpus];
    }
    for (const g of gpus) busy[g] = true;
    pods.push(gpus);
  }
  return [...rows.values()];
}

// --- main ------------------------------------------------------------------------------

function main(): void {
  console.log(`bench:agreement  seed ${SEED}  cases ${CASES} per machine and pod size  listing orders ${ORDERS} per case  churn events ${CHURN_EVENTS} per machine`);
  console.log("topofit: chooseGpuSet over the free GPUs, no constraints. plugin: go-gpuallocator best-effort, emulated (hack/bench/besteffort.ts).");
  const rand = rng(SEED);
  const machines: Prepared[] = [];
  for (const m of MACHINES) {
    const p = prepare(m);
    if (p === undefined) console.log(`(profile ${m.profile} is not built in; skipped)`);
    else machines.push(p);
  }
  console.log(
    `NVSwitch boards (plugin sees no NVLinks): ${machines.filter((p) => p.machine.nvswitch).map((p) => p.machine.profile).join(", ")}. ` +
      "PCIe class of NVLink pairs: NODE on one socket, else SYS; dgx1-v100-8 from its PCIe layout.",
  );

  const rows: Row[] = [];
  const skipped: string[] = [];
  for (const p of machines) {
    for (const size of POD_SIZES) {
      if (size >= p.n) {
        if (size === p.n) skipped.push(`${p.machine.profile} N=${size}`);
        continue;
      }
      rows.push(measureRandom(p, size, rand));
    }
  }

  console.log("\nPart 1: random occupancy (a random free set with more GPUs than the pod asks for)");
  console.log(`
Where several sets tie on the plugin's points, it returns the first one it walks, and the walk follows
the order kubelet lists the free GPUs in. kubelet sends them unsorted (Go map order), the plugin's own
device list reaches kubelet in map order too, and the ids are UUIDs, unrelated to the index. So:
  agree (index order)   topofit's set is the plugin's answer with the free GPUs listed by index
                        (a model that assumes a sorted list, which nothing guarantees);
  agree (random order)  the same, averaged over ${ORDERS} random listing orders per case: the realistic figure;
  plugin order-free     the plugin gives the same answer in every order;
  topofit possible      topofit's set is an answer the plugin gives in some order.
  differ: topofit better / equal   where the random-order pick differs, whether topofit's set is better
                        (bottleneck, total, then the best 8-, 4- and 2-GPU bottleneck of what remains, then
                        fewer NUMA nodes) or equal. That is topofit's own objective, so the plugin cannot win
                        on it (a plugin win would show as a line below); by the plugin's own points (in
                        brackets in the examples) topofit cannot win.
`);
  console.log(
    table(
      ["profile", "N", "cases", "agree (index order)", "agree (random order)", "differ: topofit better", "differ: equal", "plugin order-free", "topofit possible"],
      rows.map((r) => [
        r.profile,
        String(r.size),
        String(r.cases),
        pct(r.agreeIndexOrder, r.cases),
        pct(r.agreeShuffled, r.cases),
        pct(r.verdicts["topofit better"], r.cases),
        pct(r.verdicts.equal, r.cases),
        pct(r.unique, r.cases),
        pct(r.possible, r.cases),
      ]),
    ),
  );
  const total = rows.reduce((s, r) => s + r.cases, 0);
  const sum = (f: (r: Row) => number) => rows.reduce((s, r) => s + f(r), 0);
  console.log(
    `\noverall (${total} cases): agree ${pct(sum((r) => r.agreeIndexOrder), total)} with the free GPUs listed in index order, ` +
      `${pct(sum((r) => r.agreeShuffled), total)} averaged over random listing orders; ` +
      `the plugin's answer is order-free in ${pct(sum((r) => r.unique), total)}; topofit's set is one the plugin can give in ${pct(sum((r) => r.possible), total)}.`,
  );
  const nonN1 = rows.filter((r) => r.size > 1);
  const nonN1Total = nonN1.reduce((s, r) => s + r.cases, 0);
  console.log(
    `pods of 2+ GPUs only (${nonN1Total} cases): ${pct(nonN1.reduce((s, r) => s + r.agreeIndexOrder, 0), nonN1Total)} in index order, ` +
      `${pct(nonN1.reduce((s, r) => s + r.agreeShuffled, 0), nonN1Total)} in random order.`,
  );
  console.log(
    `where they differ (random order): topofit's set is better by topofit's objective in ${pct(sum((r) => r.verdicts["topofit better"]), total)} of all cases, ` +
      `equal in ${pct(sum((r) => r.verdicts.equal), total)}, the plugin's better in ${pct(sum((r) => r.verdicts["plugin better"]), total)}.`,
  );
  for (const r of rows.filter((x) => x.verdicts["plugin better"] > 0)) {
    console.log(`the plugin's set was better on ${r.profile} N=${r.size} in ${pct(r.verdicts["plugin better"], r.cases)} of the cases.`);
  }
  const shortCases = sum((r) => r.short);
  console.log(`padded leftover block winning (the plugin would return fewer GPUs than asked): ${shortCases} of ${total} cases in index order.`);
  for (const r of rows.filter((x) => x.nvswitchChanged > 0)) {
    console.log(`NVSwitch gap changed the plugin's pick on ${r.profile} N=${r.size} in ${r.nvswitchChanged} of ${r.cases} cases.`);
  }
  const nvswitchRows = rows.filter((r) => MACHINES.find((m) => m.profile === r.profile)?.nvswitch);
  if (nvswitchRows.every((r) => r.nvswitchChanged === 0)) {
    console.log(
      `NVSwitch gap: counting NVLinks or not changed none of the plugin's ${nvswitchRows.reduce((s, r) => s + r.cases, 0)} picks on the NVSwitch boards ` +
        "(every pair there has the same link count, so the NVLink points add the same to every split).",
    );
  }
  if (skipped.length > 0) console.log(`no choice, left out (the pod takes every GPU of the node): ${skipped.join(", ")}.`);

  console.log(
    "\nDifferences, an example for each verdict, one the plugin never resolves topofit's way where there is one\n" +
      "(bottleneck/total GB/s of the set; best bottleneck 8, 4 and 2 of the remaining GPUs could form; [points the plugin gives the split]):",
  );
  for (const r of rows) {
    for (const [verdict, example] of Object.entries(r.examples)) console.log(`  ${r.profile} N=${r.size} (${verdict}): ${example.text}`);
  }

  console.log("\nPart 2: churn (pods of 1, 2, 4, 8 GPUs arrive and leave one node; each gets what the plugin picks in a random listing order)\n");
  const churn = machines.flatMap((p) => measureChurn(p, rand));
  console.log(
    table(
      ["profile", "N", "arrivals", "with a choice", "agree (actual pick)", "agree (index order)", "mean free"],
      churn.filter((r) => r.choices > 0).map((r) => [
        r.profile,
        String(r.size),
        String(r.arrivals),
        String(r.choices),
        pct(r.agreeActual, r.choices),
        pct(r.agreeIndexOrder, r.choices),
        r.choices === 0 ? "-" : (r.freeSum / r.choices).toFixed(1),
      ]),
    ),
  );
  console.log("(a pod as large as the node fits only an idle node and leaves no choice; such sizes are not listed)");
  const cTotal = churn.reduce((s, r) => s + r.choices, 0);
  console.log(
    `\noverall churn (${cTotal} arrivals with a choice): agree ${pct(churn.reduce((s, r) => s + r.agreeActual, 0), cTotal)} with the plugin's actual pick, ` +
      `${pct(churn.reduce((s, r) => s + r.agreeIndexOrder, 0), cTotal)} with its index-order pick; plugin short of GPUs ${churn.reduce((s, r) => s + r.short, 0)} times.`,
  );

  console.log(`
What this means:
- The node choice does not depend on this. topofit ranks nodes by the set it would pick on each, and
  the pod lands on the node topofit ranked first whatever the plugin then does there.
- On that node, kubelet asks the plugin which GPUs to give, and the plugin may pick another set. Where
  it does, the pod gets that set, which can be worse than the one topofit scored the node for (see the
  verdicts above), and topofit's view of the node's free GPUs is off until the truth arrives.
- Most differences are between sets of equal quality, and topofit's set is usually one the plugin can give:
  which of its equal answers the plugin gives depends on a listing order nobody defines, so no prediction,
  not even an exact copy of the plugin, can name it reliably.
- The truth arrives from DCGM: once dcgm-exporter shows the pod on its GPUs, topofit uses the observed
  set and counts the comparison in topofit_gpu_predictions_total{result="agreed"|"differed"} (logged as
  "GPU prediction checked"): the real cluster's counterpart of the churn figures above.`);
}

main();
