import { describe, expect, it } from "vitest";
import type { Placement } from "../../../src/policy/model.js";
import { GPU_TOPOLOGY_ANNOTATION } from "../../../src/topology/annotation.js";
import type { TopologyProfile } from "../../../src/topology/profiles.js";
import { BUILTIN_PROFILES } from "../../../src/topology/profiles.js";
import type { PredictionCheck, TopologyStore } from "../../../src/topology/store.js";
import { dcgmView, gpuNodeWire, testClock, topologyStore } from "../../builders/extender.js";

const ANY: Placement = { gpuLinks: "Any", numa: "Any", strategy: "BinPack" };
const h100 = (name = "dgx-01") => gpuNodeWire(name).h100();

function bind(store: TopologyStore, key: string, node: string, gpus: number, group?: string): void {
  store.upsertPod({ uid: `uid-${key}`, key, nodeName: node, gpus, placement: ANY, ...(group ? { group } : {}) });
}

const busyIndices = (store: TopologyStore, node: string) => store.state(node)!.busy.flatMap((b, i) => (b ? [i] : []));

describe("TopologyStore: nodes", () => {
  it("builds a node's topology from its labels and annotation, with its network, clique and cost class", () => {
    const store = topologyStore();
    const node = store.upsertNode(h100().clique("f4e1.1").awsNetwork("nn-1", "nn-10").costClass("on-prem").build())!;
    expect(node).toMatchObject({ name: "dgx-01", allocatable: 8, clique: "f4e1.1", costClass: "on-prem", network: [["layer-1", "nn-1"], ["layer-2", "nn-10"]] });
    expect(node.topology.source).toBe("profile");
    expect(node.topology.gpus).toHaveLength(8);
  });

  it("does not rebuild a node whose labels, topology annotation and GPU count are unchanged", () => {
    const store = topologyStore();
    const first = store.upsertNode(h100().resourceVersion("100").build());
    const state = store.state("dgx-01");
    // A kubelet heartbeat: new resourceVersion and conditions, same labels and capacity.
    const again = store.upsertNode(h100().resourceVersion("101").annotations({ "node.alpha.kubernetes.io/ttl": "15" }).build());
    expect(again).toBe(first);
    expect(store.state("dgx-01")).toBe(state);
  });

  it.each<[string, (b: ReturnType<typeof h100>) => ReturnType<typeof h100>]>([
    ["a label changes", (b) => b.labels({ "topofit.io/cost-class": "spot" })],
    ["the topology annotation appears", (b) => b.annotations({ [GPU_TOPOLOGY_ANNOTATION]: '{"v":1,"gpus":[{"index":0},{"index":1}],"links":["NV12"]}' }).allocatable(2)],
    ["the allocatable GPU count changes", (b) => b.allocatable(7)],
  ])("rebuilds a node when %s", (_name, change) => {
    const store = topologyStore();
    const first = store.upsertNode(h100().resourceVersion("200").build());
    const state = store.state("dgx-01");
    // Any change to a Node gives it a new resourceVersion.
    const again = store.upsertNode(change(h100()).resourceVersion("201").build());
    expect(again).not.toBe(first);
    expect(store.state("dgx-01")).not.toBe(state);
  });

  it("trusts an unchanged resourceVersion: the same object is not looked at again", () => {
    const store = topologyStore();
    const first = store.upsertNode(h100().resourceVersion("300").build());
    expect(store.upsertNode(h100().resourceVersion("300").labels({ "topofit.io/cost-class": "spot" }).build())).toBe(first);
    expect(store.upsertNode(h100().resourceVersion("301").labels({ "topofit.io/cost-class": "spot" }).build())).not.toBe(first);
  });

  it("ignores a Node object without a name", () => {
    const store = topologyStore();
    expect(store.upsertNode({ metadata: {} })).toBeUndefined();
    expect(store.nodeCount()).toBe(0);
  });

  it("forgets a deleted node", () => {
    const store = topologyStore([h100().build()]);
    store.deleteNode("dgx-01");
    expect(store.hasNode("dgx-01")).toBe(false);
    expect(store.state("dgx-01")).toBeUndefined();
  });

  it("rebuilds every node with the profiles in force after a policy change", () => {
    let profiles: readonly TopologyProfile[] = BUILTIN_PROFILES;
    const store = topologyStore([gpuNodeWire("rtx-01").gfd("NVIDIA-RTX-6000-Ada-Generation", 4).build()], { profiles: () => profiles });
    expect(store.state("rtx-01")!.node.topology.source).toBe("labels");
    profiles = [{ name: "rtx-bridged", match: { product: "NVIDIA-RTX-6000-Ada-Generation", count: 4 }, gpuCount: 4, numaNodes: [0, 0, 1, 1], allPairs: "SYS", groups: [{ gpus: [0, 1], link: "PIX" }] }, ...BUILTIN_PROFILES];
    store.rebuildTopologies();
    expect(store.state("rtx-01")!.node.topology).toMatchObject({ source: "profile" });
    expect(store.state("rtx-01")!.node.topology.links[0]![1]!.kind).toBe("PIX");
  });
});

describe("TopologyStore.statesOf", () => {
  const names = (...n: string[]) => Object.freeze(n);

  it("gives, in order, what state() gives for each name: undefined for unknown nodes, fresh states after a change", () => {
    const store = topologyStore([h100("a").build(), h100("b").build()]);
    const list = names("b", "nope", "a");
    expect(store.statesOf(list)).toEqual([store.state("b"), undefined, store.state("a")]);
    bind(store, "ml/p", "a", 2);
    const [, , a] = store.statesOf(list);
    expect(a).toBe(store.state("a"));
    expect(a!.busy.filter(Boolean)).toHaveLength(2);
  });

  it("sees a node that is added, rebuilt with other labels or deleted after a frozen list was first resolved", () => {
    const store = topologyStore([h100("a").build()]);
    const list = names("a", "b");
    expect(store.statesOf(list)[1]).toBeUndefined();
    store.upsertNode(h100("b").build());
    expect(store.statesOf(list)[1]).toBe(store.state("b"));
    store.upsertNode(h100("a").costClass("spot").resourceVersion("2").build());
    expect(store.statesOf(list)[0]!.node.costClass).toBe("spot");
    expect(store.statesOf(list)[0]).toBe(store.state("a"));
    store.deleteNode("a");
    expect(store.statesOf(list)[0]).toBeUndefined();
  });

  it("resolves a list that is not frozen name by name every time", () => {
    const store = topologyStore([h100("a").build()]);
    const list = ["a"];
    expect(store.statesOf(list)).toEqual([store.state("a")]);
    list[0] = "b";
    expect(store.statesOf(list)).toEqual([undefined]);
  });
});

describe("TopologyStore: pods", () => {
  it("marks the GPUs of a pod bound to the node busy, predicting which ones", () => {
    const store = topologyStore([h100().build()]);
    bind(store, "ml/train-0", "dgx-01", 4);
    const state = store.state("dgx-01")!;
    expect(state.usableCount).toBe(4);
    expect(state.assignments.get("ml/train-0")).toEqual([0, 1, 2, 3]);
  });

  it("keeps a pod on the GPUs predicted for it when a neighbour goes", () => {
    const store = topologyStore([h100().build()]);
    bind(store, "ml/x", "dgx-01", 1);
    bind(store, "ml/y", "dgx-01", 1);
    const predicted = store.state("dgx-01")!.assignments.get("ml/y");
    store.deletePod("uid-ml/x");
    expect(store.state("dgx-01")!.assignments.get("ml/y")).toEqual(predicted);
    expect(store.state("dgx-01")!.usableCount).toBe(7);
  });

  it("does not count a pod that is not bound yet", () => {
    const store = topologyStore([h100().build()]);
    store.upsertPod({ uid: "u", key: "ml/pending", gpus: 4, placement: ANY });
    expect(store.state("dgx-01")!.usableCount).toBe(8);
  });

  it("frees the GPUs of a deleted pod", () => {
    const store = topologyStore([h100().build()]);
    bind(store, "ml/train-0", "dgx-01", 4);
    expect(store.state("dgx-01")!.usableCount).toBe(4);
    store.deletePod("uid-ml/train-0");
    expect(store.state("dgx-01")!.usableCount).toBe(8);
  });

  it("moves a pod's GPUs when it shows up on another node", () => {
    const store = topologyStore([h100("dgx-01").build(), h100("dgx-02").build()]);
    bind(store, "ml/p", "dgx-01", 2);
    bind(store, "ml/p", "dgx-02", 2);
    expect(store.state("dgx-01")!.usableCount).toBe(8);
    expect(store.state("dgx-02")!.usableCount).toBe(6);
  });

  it("keeps a node's state while nothing about it changes, and rebuilds it when one of its pods does", () => {
    const store = topologyStore([h100("dgx-01").build(), h100("dgx-02").build()]);
    const before = store.state("dgx-01");
    bind(store, "ml/p", "dgx-02", 2);
    expect(store.state("dgx-01")).toBe(before);
    bind(store, "ml/q", "dgx-01", 2);
    expect(store.state("dgx-01")).not.toBe(before);
    expect(store.state("dgx-01")!.version).toBeGreaterThan(before!.version);
  });

  it("keeps the group index current as pods change group, move and go", () => {
    const store = topologyStore([h100("dgx-01").build(), h100("dgx-02").build()]);
    bind(store, "ml/w-0", "dgx-01", 2, "ml/a");
    bind(store, "ml/w-0", "dgx-02", 2, "ml/b");
    expect(store.groupPlacements("ml/a")).toEqual([]);
    expect(store.groupPlacements("ml/b").map((n) => n.name)).toEqual(["dgx-02"]);
    store.deletePod("uid-ml/w-0");
    expect(store.groupPlacements("ml/b")).toEqual([]);
  });

  it("lists the nodes where members of a group run or are reserved", () => {
    const store = topologyStore([h100("dgx-01").build(), h100("dgx-02").build(), h100("dgx-03").build()]);
    bind(store, "ml/w-0", "dgx-01", 2, "ml/llama");
    bind(store, "ml/other", "dgx-02", 2, "ml/other");
    store.reserve({ podUid: "w-1", podKey: "ml/w-1", node: "dgx-03", gpus: [0, 1], group: "ml/llama" });
    expect(store.groupPlacements("ml/llama").map((n) => n.name)).toEqual(["dgx-01", "dgx-03"]);
  });
});

describe("TopologyStore: the in-flight ledger", () => {
  it("holds reserved GPUs until the reservation's time is up, then frees them on the next sweep", () => {
    const clock = testClock();
    const store = topologyStore([h100().build()], { now: clock.now, reservationTtlMs: 30_000 });
    store.reserve({ podUid: "u1", podKey: "ml/p", node: "dgx-01", gpus: [4, 5] });
    expect(busyIndices(store, "dgx-01")).toEqual([4, 5]);
    clock.advance(29_999);
    store.expireReservations();
    expect(store.reservationCount()).toBe(1);
    expect(busyIndices(store, "dgx-01")).toEqual([4, 5]);
    clock.advance(1);
    store.expireReservations();
    expect(store.reservationCount()).toBe(0);
    expect(busyIndices(store, "dgx-01")).toEqual([]);
  });

  it("expires only the reservations that are due", () => {
    const clock = testClock();
    const store = topologyStore([h100().build()], { now: clock.now, reservationTtlMs: 30_000 });
    store.reserve({ podUid: "u1", podKey: "ml/a", node: "dgx-01", gpus: [0] });
    clock.advance(20_000);
    store.reserve({ podUid: "u2", podKey: "ml/b", node: "dgx-01", gpus: [1] });
    clock.advance(10_000);
    store.expireReservations();
    expect(busyIndices(store, "dgx-01")).toEqual([1]);
    clock.advance(20_000);
    store.expireReservations();
    expect(busyIndices(store, "dgx-01")).toEqual([]);
  });

  it("replaces a pod's earlier reservation rather than adding to it", () => {
    const store = topologyStore([h100("dgx-01").build(), h100("dgx-02").build()]);
    store.reserve({ podUid: "u1", podKey: "ml/p", node: "dgx-01", gpus: [0, 1] });
    store.reserve({ podUid: "u1", podKey: "ml/p", node: "dgx-02", gpus: [6, 7] });
    expect(store.reservationCount()).toBe(1);
    expect(busyIndices(store, "dgx-01")).toEqual([]);
    expect(busyIndices(store, "dgx-02")).toEqual([6, 7]);
  });

  it("releases a pod's reservation on request", () => {
    const store = topologyStore([h100().build()]);
    store.reserve({ podUid: "u1", podKey: "ml/p", node: "dgx-01", gpus: [0, 1] });
    store.release("u1");
    expect(store.reservationCount()).toBe(0);
    expect(busyIndices(store, "dgx-01")).toEqual([]);
  });

  it("gives a pod bound to its reserved node the reserved GPUs", () => {
    const store = topologyStore([h100().build()]);
    store.reserve({ podUid: "uid-ml/p", podKey: "ml/p", node: "dgx-01", gpus: [6, 7] });
    bind(store, "ml/p", "dgx-01", 2);
    expect(store.state("dgx-01")!.assignments.get("ml/p")).toEqual([6, 7]);
    expect(busyIndices(store, "dgx-01")).toEqual([6, 7]);
  });

  it("drops the reservation of a pod that kube-scheduler bound elsewhere", () => {
    const store = topologyStore([h100("dgx-01").build(), h100("dgx-02").build()]);
    store.reserve({ podUid: "uid-ml/p", podKey: "ml/p", node: "dgx-01", gpus: [6, 7] });
    bind(store, "ml/p", "dgx-02", 2);
    expect(store.reservationCount()).toBe(0);
    expect(busyIndices(store, "dgx-01")).toEqual([]);
    expect(store.state("dgx-02")!.usableCount).toBe(6);
  });

  it("does not reserve for a pod that is already bound", () => {
    const store = topologyStore([h100().build()]);
    bind(store, "ml/p", "dgx-01", 2);
    store.reserve({ podUid: "uid-ml/p", podKey: "ml/p", node: "dgx-01", gpus: [6, 7] });
    expect(store.reservationCount()).toBe(0);
  });

  it("drops a deleted pod's reservation", () => {
    const store = topologyStore([h100().build()]);
    store.upsertPod({ uid: "u1", key: "ml/p", gpus: 2, placement: ANY });
    store.reserve({ podUid: "u1", podKey: "ml/p", node: "dgx-01", gpus: [0, 1] });
    store.deletePod("u1");
    expect(store.reservationCount()).toBe(0);
  });
});

describe("TopologyStore: GPU shapes and rebuilds", () => {
  it("lets nodes wired and occupied alike share one GPU shape, and moves a node whose pods change to another", () => {
    const store = topologyStore([h100("dgx-01").build(), h100("dgx-02").build(), h100("dgx-03").build()]);
    bind(store, "ml/a", "dgx-01", 2);
    bind(store, "ml/b", "dgx-02", 2);
    expect(store.state("dgx-01")!.shape).toBe(store.state("dgx-02")!.shape);
    expect(store.state("dgx-03")!.shape).not.toBe(store.state("dgx-01")!.shape);
    bind(store, "ml/c", "dgx-03", 2);
    expect(store.state("dgx-03")!.shape).toBe(store.state("dgx-01")!.shape);
    expect(store.shapeCount()).toBe(2);
  });

  it("rebuilds a changed node's state by itself after the change, without waiting for a request", async () => {
    const checks: string[] = [];
    const store = topologyStore([h100().build()], { onPredictionChecked: (c) => checks.push(c.pod) });
    bind(store, "ml/p", "dgx-01", 2);
    store.state("dgx-01");
    store.setDcgm(new Map([["dgx-01", dcgmView(8, { pods: { 6: "ml/p", 7: "ml/p" } })]]));
    expect(checks).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(checks).toEqual(["ml/p"]);
  });

  it("builds the states of new nodes after the event-loop turn that added them", async () => {
    const store = topologyStore([h100().build()]);
    await new Promise((resolve) => setImmediate(resolve));
    const state = store.state("dgx-01");
    expect(state).toBeDefined();
    expect(store.state("dgx-01")).toBe(state);
  });
});

describe("TopologyStore: DCGM", () => {
  it("updates the DCGM views of the nodes a change names, leaving the others' states alone", () => {
    const store = topologyStore([h100("dgx-01").build(), h100("dgx-02").build()]);
    store.setDcgm(new Map([["dgx-01", dcgmView(8)], ["dgx-02", dcgmView(8)]]));
    const s1 = store.state("dgx-01");
    const s2 = store.state("dgx-02");
    store.updateDcgm(new Map([["dgx-02", dcgmView(8, { unhealthy: [1] })]]));
    expect(store.state("dgx-01")).toBe(s1);
    expect(store.state("dgx-02")).not.toBe(s2);
    expect(store.state("dgx-02")!.unhealthyCount).toBe(1);
    store.updateDcgm(new Map([["dgx-02", undefined]]));
    expect(store.state("dgx-02")).toMatchObject({ dcgm: "unknown", unhealthyCount: 0 });
  });

  it("takes the GPUs DCGM attributes to a bound pod over the predicted ones", () => {
    const store = topologyStore([h100().build()]);
    bind(store, "ml/p", "dgx-01", 2);
    expect(store.state("dgx-01")!.assignments.get("ml/p")).toEqual([0, 1]);
    store.setDcgm(new Map([["dgx-01", dcgmView(8, { pods: { 4: "ml/p", 5: "ml/p" } })]]));
    expect(store.state("dgx-01")!.assignments.get("ml/p")).toEqual([4, 5]);
    expect(busyIndices(store, "dgx-01")).toEqual([4, 5]);
  });

  it("never offers a GPU DCGM reports unhealthy, and counts it", () => {
    const store = topologyStore([h100().build()]);
    store.setDcgm(new Map([["dgx-01", dcgmView(8, { unhealthy: [3] })]]));
    const state = store.state("dgx-01")!;
    expect(state.usable[3]).toBe(false);
    expect(state.unhealthyCount).toBe(1);
    expect(state.usableCount).toBe(7);
    expect(state.conditions[3]?.reasons).toEqual(["XID 79 (GPU has fallen off the bus)"]);
  });

  it("treats stale DCGM data as unknown health: every GPU stays usable and attributions are ignored", () => {
    const store = topologyStore([h100().build()]);
    store.setDcgm(new Map([["dgx-01", dcgmView(8, { unhealthy: [3], pods: { 0: "ml/p" }, freshness: "stale" })]]));
    const state = store.state("dgx-01")!;
    expect(state.dcgm).toBe("stale");
    expect(state.usableCount).toBe(8);
    expect(state.unhealthyCount).toBe(0);
    expect(state.conditions.every((c) => c === undefined)).toBe(true);
  });

  it("reports a node without DCGM data as unknown, with every GPU usable", () => {
    const store = topologyStore([h100().build()]);
    expect(store.state("dgx-01")).toMatchObject({ dcgm: "unknown", usableCount: 8 });
  });

  it("does not hold GPUs for a pod DCGM still shows but the API no longer has", () => {
    const store = topologyStore([h100().build()]);
    bind(store, "ml/live", "dgx-01", 1);
    store.setDcgm(new Map([["dgx-01", dcgmView(8, { pods: { 0: "ml/live", 2: "ml/deleted" } })]]));
    expect(busyIndices(store, "dgx-01")).toEqual([0]);
  });

  it("trusts DCGM's attributions when it tracks no pods at all (no pod informer)", () => {
    const store = topologyStore([h100().build()]);
    store.setDcgm(new Map([["dgx-01", dcgmView(8, { pods: { 2: "ml/a", 3: "ml/a" } })]]));
    expect(busyIndices(store, "dgx-01")).toEqual([2, 3]);
  });

  it("rebuilds only the nodes whose DCGM view changed", () => {
    const store = topologyStore([h100("dgx-01").build(), h100("dgx-02").build()]);
    const view1 = dcgmView(8);
    store.setDcgm(new Map([["dgx-01", view1], ["dgx-02", dcgmView(8)]]));
    const s1 = store.state("dgx-01");
    const s2 = store.state("dgx-02");
    store.setDcgm(new Map([["dgx-01", view1], ["dgx-02", dcgmView(8, { unhealthy: [0] })]]));
    expect(store.state("dgx-01")).toBe(s1);
    expect(store.state("dgx-02")).not.toBe(s2);
    expect(store.state("dgx-02")!.unhealthyCount).toBe(1);
  });

  it("rebuilds a node whose DCGM view disappears", () => {
    const store = topologyStore([h100().build()]);
    store.setDcgm(new Map([["dgx-01", dcgmView(8, { unhealthy: [0] })]]));
    expect(store.state("dgx-01")!.unhealthyCount).toBe(1);
    store.setDcgm(new Map());
    expect(store.state("dgx-01")).toMatchObject({ dcgm: "unknown", unhealthyCount: 0 });
  });

  it("ignores DCGM conditions for GPU indices the topology does not have", () => {
    const store = topologyStore([gpuNodeWire("a100-01").a100Bridged().build()]);
    store.setDcgm(new Map([["a100-01", dcgmView(8, { unhealthy: [6] })]]));
    expect(store.state("a100-01")).toMatchObject({ usableCount: 4, unhealthyCount: 0 });
  });

  it("checks a predicted GPU set against DCGM once the device plugin's choice shows up", () => {
    const checks: PredictionCheck[] = [];
    const store = topologyStore([h100().build()], { onPredictionChecked: (c) => checks.push(c) });
    bind(store, "ml/p", "dgx-01", 2);
    store.state("dgx-01");
    store.setDcgm(new Map([["dgx-01", dcgmView(8, { pods: { 6: "ml/p", 7: "ml/p" } })]]));
    store.state("dgx-01");
    // Other GPUs, but on NVSwitch and one NUMA node each: as good a pair.
    expect(checks).toEqual([{ pod: "ml/p", node: "dgx-01", predicted: [0, 1], observed: [6, 7], agreed: false, equivalent: true }]);
  });
});
