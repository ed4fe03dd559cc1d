import { describe, expect, it } from "vitest";
import { filterNode } from "../../../src/extender/filter.js";
import type { PodIntent } from "../../../src/extender/intent.js";
import type { NodeWire } from "../../../src/extender/schema.js";
import { compareTuples, explainScore, localityOf, SAME_CLIQUE_RANK, scoreNode, type ScoreContext, type ScoredNode } from "../../../src/extender/score.js";
import type { Placement } from "../../../src/policy/model.js";
import type { DcgmNodeView } from "../../../src/topology/store.js";
import { dcgmView, gpuNodeWire, topologyStore, liveLoads } from "../../builders/extender.js";
import { GPU } from "../../builders/pod.js";

/** Tuple positions, in the order score.ts compares them. */
const TIERS = ["preferred topology", "bottleneck", "total bandwidth", "fragmentation", "NUMA span", "group locality", "cost class", "strategy", "strategy load"] as const;
type Tier = (typeof TIERS)[number];

const ANY: Placement = { gpuLinks: "Any", numa: "Any", strategy: "BinPack" };
const SPREAD: Placement = { ...ANY, strategy: "Spread" };

interface Candidate {
  readonly node: NodeWire;
  /** GPU counts of pods bound to the node (not of the pod's group). */
  readonly busy?: readonly number[];
  readonly dcgm?: DcgmNodeView;
}

interface Scene {
  readonly candidates: readonly Candidate[];
  readonly placement: Placement;
  readonly gpus: number;
  readonly group?: string;
  /** Where members of the pod's group run (2 GPUs each): a Node, or the name of a candidate. */
  readonly members?: readonly (NodeWire | string)[];
  readonly costPreference?: readonly string[];
}

/** Every candidate's score, as prioritize computes it. */
function score(scene: Scene): Map<string, ScoredNode> {
  const others = (scene.members ?? []).filter((m): m is NodeWire => typeof m !== "string");
  const store = topologyStore([...scene.candidates.map((c) => c.node), ...others]);
  let uid = 0;
  for (const c of scene.candidates) {
    const name = c.node.metadata!.name!;
    for (const gpus of c.busy ?? []) store.upsertPod({ uid: `u${++uid}`, key: `other/p${uid}`, nodeName: name, gpus, placement: ANY });
  }
  for (const m of scene.members ?? []) {
    const nodeName = typeof m === "string" ? m : m.metadata!.name!;
    store.upsertPod({ uid: `u${++uid}`, key: `ml/member-${uid}`, nodeName, gpus: 2, placement: ANY, ...(scene.group ? { group: scene.group } : {}) });
  }
  store.setDcgm(new Map(scene.candidates.flatMap((c) => (c.dcgm ? [[c.node.metadata!.name!, c.dcgm] as const] : []))));
  const intent: PodIntent = { gpus: scene.gpus, placement: scene.placement, placementSource: "annotation", ...(scene.group ? { group: scene.group } : {}) };
  const ctx: ScoreContext = { intent, groupNodes: scene.group ? store.groupPlacements(scene.group) : [], costPreference: scene.costPreference ?? [] };
  const out = new Map<string, ScoredNode>();
  for (const c of scene.candidates) {
    const name = c.node.metadata!.name!;
    const v = filterNode(name, store.state(name), intent, GPU);
    if (!v.ok) throw new Error(`${name} is not feasible: ${v.reason}`);
    out.set(name, scoreNode(v.state, v.choice, ctx));
  }
  return out;
}

/** The tier at which `a` and `b` first differ. */
function decidingTier(a: ScoredNode, b: ScoredNode): Tier | "none" {
  const i = a.tuple.findIndex((v, k) => v !== (b.tuple[k] ?? 0));
  return i < 0 ? "none" : (TIERS[i] ?? "strategy load");
}

// Two-GPU boxes described by the agent's annotation, so every link is chosen by the test.
const pair = (name: string, link: string, numa: [number, number] | undefined = [0, 0], nvlinkGBps?: number) =>
  gpuNodeWire(name)
    .topology({ gpus: 2, link: () => link, numa: numa ? (i) => numa[i] : undefined, ...(nvlinkGBps !== undefined ? { nvlinkGBps } : {}) })
    .build();
const h100 = (name: string) => gpuNodeWire(name).h100();
const aws = (...layers: string[]) => layers;

describe("scoreNode: each tier decides when the earlier ones tie", () => {
  it.each<[string, Scene, string, string, Tier]>([
    [
      "NVLinkPreferred takes a slow NVLink pair over a faster PCIe pair",
      { candidates: [{ node: pair("nv-slow", "NV1", [0, 0], 10) }, { node: pair("pcie-fast", "PIX") }], placement: { ...ANY, gpuLinks: "NVLinkPreferred" }, gpus: 2 },
      "nv-slow",
      "pcie-fast",
      "preferred topology",
    ],
    [
      "numa Preferred takes a pair on one NUMA node over a faster pair across two",
      { candidates: [{ node: pair("one-numa", "PXB", [0, 0]) }, { node: pair("two-numa", "PIX", [0, 1]) }], placement: { ...ANY, numa: "Preferred" }, gpus: 2 },
      "one-numa",
      "two-numa",
      "preferred topology",
    ],
    [
      "the faster bottleneck wins: NV18 H100 over NV12-bridged A100",
      { candidates: [{ node: h100("h100").build() }, { node: gpuNodeWire("a100").a100Bridged().build() }], placement: ANY, gpus: 2 },
      "h100",
      "a100",
      "bottleneck",
    ],
    [
      "with equal bottlenecks, the higher total wins",
      {
        candidates: [
          { node: gpuNodeWire("nv-2-2-4").topology({ gpus: 3, link: (i, j) => (i === 1 && j === 2 ? "NV4" : "NV2") }).build() },
          { node: gpuNodeWire("nv-2-2-2").topology({ gpus: 3, link: () => "NV2" }).build() },
        ],
        placement: ANY,
        gpus: 3,
      },
      "nv-2-2-4",
      "nv-2-2-2",
      "total bandwidth",
    ],
    [
      "a 1-GPU pod goes where it leaves an NVLink pair whole, even against BinPack's fuller node",
      {
        candidates: [
          { node: gpuNodeWire("pair-plus-one").topology({ gpus: 3, link: (i, j) => (i === 0 && j === 1 ? "NV4" : "PIX"), numa: () => 0 }).build() },
          { node: pair("pcie-pair", "PIX") },
        ],
        placement: ANY,
        gpus: 1,
      },
      "pair-plus-one",
      "pcie-pair",
      "fragmentation",
    ],
    [
      "with the same links, one NUMA node beats two, even against a preferred cost class",
      {
        candidates: [{ node: gpuNodeWire("same-socket").topology({ gpus: 2, link: () => "PIX", numa: () => 0 }).costClass("spot").build() }, { node: gpuNodeWire("two-sockets").topology({ gpus: 2, link: () => "PIX", numa: (i) => i }).costClass("on-prem").build() }],
        placement: ANY,
        gpus: 2,
        costPreference: ["on-prem", "spot"],
      },
      "same-socket",
      "two-sockets",
      "NUMA span",
    ],
    [
      "a node in a group member's NVLink clique beats one sharing every network level with it",
      {
        candidates: [{ node: h100("in-clique").clique("f4e1.1").awsNetwork("nn-9", "nn-90", "nn-900").build() }, { node: h100("same-switch").awsNetwork(...aws("nn-1", "nn-10", "nn-100")).build() }],
        members: [h100("member").clique("f4e1.1").awsNetwork("nn-1", "nn-10", "nn-100").build()],
        group: "ml/llama",
        placement: ANY,
        gpus: 2,
      },
      "in-clique",
      "same-switch",
      "group locality",
    ],
    [
      "a node in a group member's NVLink clique beats one sharing network levels with it, even when it carries no network labels",
      {
        candidates: [{ node: h100("in-clique").clique("f4e1.1").build() }, { node: h100("same-spine").awsNetwork("nn-1", "nn-10", "nn-101").build() }],
        members: [h100("member").clique("f4e1.1").awsNetwork("nn-1", "nn-10", "nn-100").build()],
        group: "ml/llama",
        placement: ANY,
        gpus: 2,
      },
      "in-clique",
      "same-spine",
      "group locality",
    ],
    [
      "a node sharing a deeper network level with a group member wins, even against a preferred cost class",
      {
        candidates: [{ node: h100("same-spine").awsNetwork("nn-1", "nn-10", "nn-101").costClass("spot").build() }, { node: h100("same-core").awsNetwork("nn-1", "nn-11", "nn-110").costClass("on-prem").build() }],
        members: [h100("member").awsNetwork("nn-1", "nn-10", "nn-100").build()],
        group: "ml/llama",
        placement: ANY,
        gpus: 2,
        costPreference: ["on-prem", "spot"],
      },
      "same-spine",
      "same-core",
      "group locality",
    ],
    [
      "the node a group member runs on beats an unrelated one",
      { candidates: [{ node: h100("member").build() }, { node: h100("elsewhere").build(), busy: [2] }], members: ["member"], group: "ml/llama", placement: ANY, gpus: 2 },
      "member",
      "elsewhere",
      "group locality",
    ],
    [
      "the cost class the policy prefers wins, even against BinPack's fuller node",
      { candidates: [{ node: h100("on-prem").costClass("on-prem").build(), busy: [1] }, { node: h100("spot").costClass("spot").build(), busy: [2] }], placement: ANY, gpus: 1, costPreference: ["on-prem", "on-demand", "spot"] },
      "on-prem",
      "spot",
      "cost class",
    ],
    [
      "a listed cost class beats one the policy does not list",
      { candidates: [{ node: h100("spot").costClass("spot").build() }, { node: h100("unlabelled").build() }], placement: ANY, gpus: 2, costPreference: ["on-prem", "spot"] },
      "spot",
      "unlabelled",
      "cost class",
    ],
    [
      "a 2-GPU pod fills a node with 6 free GPUs rather than break an idle node's 8-GPU slot, even under Spread",
      { candidates: [{ node: h100("two-busy").build(), busy: [2] }, { node: h100("idle").build() }], placement: SPREAD, gpus: 2 },
      "two-busy",
      "idle",
      "fragmentation",
    ],
    [
      "BinPack fills the fuller node when neither placement breaks a larger slot",
      { candidates: [{ node: h100("two-busy").build(), busy: [2] }, { node: h100("one-busy").build(), busy: [1] }], placement: ANY, gpus: 1 },
      "two-busy",
      "one-busy",
      "strategy",
    ],
    [
      "Spread takes the emptier node when neither placement breaks a larger slot",
      { candidates: [{ node: h100("one-busy").build(), busy: [1] }, { node: h100("two-busy").build(), busy: [2] }], placement: SPREAD, gpus: 1 },
      "one-busy",
      "two-busy",
      "strategy",
    ],
    [
      "Spread takes the less loaded of two equally free nodes (DCGM utilisation)",
      {
        candidates: [
          { node: h100("cool").build(), dcgm: dcgmView(8, { utilization: 10 }) },
          { node: h100("hot").build(), dcgm: dcgmView(8, { utilization: 80 }) },
        ],
        placement: SPREAD,
        gpus: 2,
      },
      "cool",
      "hot",
      "strategy load",
    ],
  ])("%s", (_name, scene, winner, loser, tier) => {
    const scored = score(scene);
    const w = scored.get(winner)!;
    const l = scored.get(loser)!;
    expect(compareTuples(w.tuple, l.tuple)).toBeLessThan(0);
    expect(decidingTier(w, l)).toBe(tier);
  });

  it("BinPack pays no attention to DCGM load: equally free nodes tie", () => {
    const scored = score({
      candidates: [
        { node: h100("cool").build(), dcgm: dcgmView(8, { utilization: 10 }) },
        { node: h100("hot").build(), dcgm: dcgmView(8, { utilization: 80 }) },
      ],
      placement: ANY,
      gpus: 2,
    });
    expect(compareTuples(scored.get("cool")!.tuple, scored.get("hot")!.tuple)).toBe(0);
  });

  it("Spread reads load live from the store's load source when it has one", () => {
    const load = liveLoads({ cool: 5, hot: 95 });
    const store = topologyStore([h100("cool").build(), h100("hot").build()], { loadOf: load.loadOf });
    const intent: PodIntent = { gpus: 2, placement: SPREAD, placementSource: "annotation" };
    const ctx: ScoreContext = { intent, groupNodes: [], costPreference: [] };
    const tuple = (name: string) => {
      const v = filterNode(name, store.state(name), intent, GPU);
      if (!v.ok) throw new Error(v.reason);
      return scoreNode(v.state, v.choice, ctx).tuple;
    };
    expect(compareTuples(tuple("cool"), tuple("hot"))).toBeLessThan(0);
    load.set("cool", 99);
    expect(compareTuples(tuple("cool"), tuple("hot"))).toBeGreaterThan(0);
  });
});

describe("localityOf", () => {
  const node = (name: string, labels: Record<string, string>) => topologyStore([h100(name).labels(labels).build()]).state(name)!.node;
  const member = node("member", { "nvidia.com/gpu.clique": "c.1", "topology.k8s.aws/network-node-layer-1": "a", "topology.k8s.aws/network-node-layer-2": "b" });

  it.each<[string, Record<string, string>, number, RegExp]>([
    ["the same NVLink clique", { "nvidia.com/gpu.clique": "c.1", "topology.k8s.aws/network-node-layer-1": "x", "topology.k8s.aws/network-node-layer-2": "y" }, SAME_CLIQUE_RANK, /same NVLink clique as group member on member/],
    ["the same NVLink clique (while carrying no network labels)", { "nvidia.com/gpu.clique": "c.1" }, SAME_CLIQUE_RANK, /same NVLink clique/],
    ["both network levels", { "topology.k8s.aws/network-node-layer-1": "a", "topology.k8s.aws/network-node-layer-2": "b" }, 3, /shares layer-2 b/],
    ["the outer network level only", { "topology.k8s.aws/network-node-layer-1": "a", "topology.k8s.aws/network-node-layer-2": "z" }, 2, /shares layer-1 a/],
    ["an inner level but not the outer one (no relation)", { "topology.k8s.aws/network-node-layer-1": "q", "topology.k8s.aws/network-node-layer-2": "b" }, 0, /no group member shares/],
  ])("ranks a node sharing %s with a group member", (_name, labels, rank, detail) => {
    const out = localityOf(node("candidate", labels), [member]);
    expect(out.rank).toBe(rank);
    expect(out.detail).toMatch(detail);
  });

  it("says so when no group member is placed yet", () => {
    expect(localityOf(member, [])).toEqual({ rank: 0, detail: "no group members placed yet" });
  });
});

describe("explainScore", () => {
  it("gives one line per tier that applies, strategy last", () => {
    const scene: Scene = { candidates: [{ node: h100("dgx").costClass("on-prem").build(), busy: [2] }], placement: { gpuLinks: "NVLinkPreferred", numa: "Preferred", strategy: "BinPack" }, gpus: 2, group: "ml/g", costPreference: ["on-prem"] };
    const store = topologyStore([scene.candidates[0]!.node]);
    store.upsertPod({ uid: "u", key: "other/p", nodeName: "dgx", gpus: 2, placement: ANY });
    const intent: PodIntent = { gpus: 2, placement: scene.placement, placementSource: "annotation", group: "ml/g" };
    const v = filterNode("dgx", store.state("dgx"), intent, GPU);
    if (!v.ok) throw new Error(v.reason);
    expect(explainScore(v.state, v.choice, { intent, groupNodes: [], costPreference: ["on-prem"] })).toEqual([
      "NVLinkPreferred met",
      "NUMA Preferred met",
      "GPUs [2,3]: bottleneck 900 GB/s, total 900 GB/s",
      "leaves [0,900,900,1] (best bottleneck of 8/4/2/1 remaining GPUs; was [0,900,900,1]; damage to larger pods 0)",
      "NUMA span 1",
      "locality: no group members placed yet",
      "cost class on-prem",
      "4 GPUs left free (BinPack: fewer is better)",
    ]);
  });
});

describe("compareTuples", () => {
  it.each<[readonly number[], readonly number[], "first" | "second" | "tie"]>([
    [[1, 0], [0, 9], "first"],
    [[0, 5, 1], [0, 5, 2], "second"],
    [[3, 2], [3, 2], "tie"],
    [[3, 2], [3, 2, 0], "tie"],
    [[3, 2, -1], [3, 2], "second"],
  ])("orders %j against %j: %s ranks higher", (a, b, which) => {
    const c = compareTuples(a, b);
    expect(which === "first" ? c < 0 : which === "second" ? c > 0 : c === 0).toBe(true);
  });
});
