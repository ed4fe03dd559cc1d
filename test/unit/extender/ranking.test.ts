// prioritize ranks thousands of nodes without building a tuple per node: the
// tiers a GPU shape decides are ranked once per distinct verdict, and only the
// best nine distinct tuples are kept. On random fleets its scores must be the
// ones that ranking every node's full tuple gives (normalizeScores over
// scoreNode), and its outcome's best-first view must be sorted by score.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { prioritizeCall, type PrioritizeOutcome } from "../../../src/extender/review.js";
import type { NodeWire } from "../../../src/extender/schema.js";
import type { Placement } from "../../../src/policy/model.js";
import { GPU_LINK_MODES, NUMA_MODES, STRATEGIES } from "../../../src/policy/schema.js";
import { extenderCall, gpuNodeWire, placementAnnotations, topologyStore, liveLoads } from "../../builders/extender.js";
import { pod } from "../../builders/pod.js";
import { loadPolicy, policyDocument } from "../../builders/policy.js";

const policy = loadPolicy(policyDocument({ scoring: { costPreference: ["on-prem", "on-demand", "spot"] } }));
const ANY: Placement = { gpuLinks: "Any", numa: "Any", strategy: "BinPack" };

const KINDS = ["h100", "a100", "l40s", "nvPair", "pciePair"] as const;
const COSTS = ["spot", "on-demand", "on-prem", undefined] as const;

interface NodeSpec {
  readonly kind: (typeof KINDS)[number];
  readonly cost: (typeof COSTS)[number];
  readonly rack: number;
  readonly clique: boolean;
  readonly busy: readonly number[];
  readonly load: number;
  readonly member: boolean;
}

function nodeWire(name: string, s: NodeSpec): NodeWire {
  const b = gpuNodeWire(name);
  if (s.kind === "h100") b.h100();
  else if (s.kind === "a100") b.a100Bridged();
  else if (s.kind === "l40s") b.l40s();
  else b.topology({ gpus: 2, link: () => (s.kind === "nvPair" ? "NV4" : "PIX"), numa: () => 0 });
  if (s.cost !== undefined) b.costClass(s.cost);
  if (s.clique) b.clique("c1.1");
  b.awsNetwork("spine-0", `block-${s.rack % 2}`, `rack-${s.rack}`);
  return b.build();
}

const nodeSpec = fc.record({
  kind: fc.constantFrom(...KINDS),
  cost: fc.constantFrom(...COSTS),
  rack: fc.integer({ min: 0, max: 3 }),
  clique: fc.boolean(),
  busy: fc.array(fc.constantFrom(1, 1, 2, 4), { maxLength: 3 }),
  load: fc.integer({ min: 0, max: 100 }),
  member: fc.boolean(),
});

const scene = fc.record({
  nodes: fc.array(nodeSpec, { minLength: 10, maxLength: 60, size: "max" }),
  gpus: fc.constantFrom(1, 2, 3, 4, 8),
  placement: fc.record({ gpuLinks: fc.constantFrom(...GPU_LINK_MODES), numa: fc.constantFrom(...NUMA_MODES), strategy: fc.constantFrom(...STRATEGIES) }),
  grouped: fc.boolean(),
});

type Scene = typeof scene extends fc.Arbitrary<infer T> ? T : never;

function run(s: Scene): PrioritizeOutcome {
  const names = s.nodes.map((_, i) => `n${String(i).padStart(2, "0")}`);
  const wires = s.nodes.map((spec, i) => nodeWire(names[i]!, spec));
  const loads = liveLoads(Object.fromEntries(s.nodes.map((spec, i) => [names[i]!, spec.load] as const)));
  const store = topologyStore(wires, { loadOf: loads.loadOf });
  let uid = 0;
  s.nodes.forEach((spec, i) => {
    for (const gpus of spec.busy) store.upsertPod({ uid: `u${++uid}`, key: `other/p${uid}`, nodeName: names[i]!, gpus, placement: ANY });
    if (s.grouped && spec.member) store.upsertPod({ uid: `u${++uid}`, key: `ml/m${uid}`, nodeName: names[i]!, gpus: 1, placement: ANY, group: "ml/llama" });
  });
  const labels: Record<string, string> = s.grouped ? { "topofit.io/group": "llama" } : {};
  const p = pod().name("candidate").namespace("ml").labels(labels).gpus(s.gpus).annotations(placementAnnotations(s.placement)).build();
  return prioritizeCall(extenderCall(p, wires), { policy, store });
}

describe("prioritize's ranking", () => {
  it("gives every node the score that ranking full tuples gives, on random fleets", () => {
    let compared = 0;
    let withTies = 0;
    fc.assert(
      fc.property(scene, (s) => {
        const outcome = run(s);
        const fast = new Map<string, number>();
        for (let i = 0; i < outcome.hosts.length; i++) fast.set(outcome.hosts[i]!, outcome.hostScores[i]!);
        const reference = new Map<string, number>(outcome.scores.map((x) => [x.node, x.score]));
        for (const n of outcome.infeasible) reference.set(n, 0);
        expect(fast).toEqual(reference);
        expect(outcome.top?.node).toBe(outcome.scores[0]?.node);
        const scores = Array.from(outcome.hostScores);
        expect(scores).toEqual([...scores].sort((a, b) => b - a));
        compared += outcome.hosts.length;
        if (new Set(outcome.scores.map((x) => x.score)).size < outcome.scores.length) withTies += 1;
      }),
      { numRuns: 200 },
    );
    // The property must have exercised real rankings, ties included.
    expect(compared).toBeGreaterThan(2000);
    expect(withTies).toBeGreaterThan(10);
  });
});
