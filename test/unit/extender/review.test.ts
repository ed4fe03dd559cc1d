import { describe, expect, it } from "vitest";
import { REASON_UNKNOWN_NODE } from "../../../src/extender/reasons.js";
import { filterCall, prioritizeCall, type ExtenderContext } from "../../../src/extender/review.js";
import type { NodeWire } from "../../../src/extender/schema.js";
import type { Placement } from "../../../src/policy/model.js";
import type { TopologyStore } from "../../../src/topology/store.js";
import { extenderCall, filterReply, gpuNodeWire, placementAnnotations, prioritizeReply, testClock, topologyStore, type ExtenderMode } from "../../builders/extender.js";
import { pod } from "../../builders/pod.js";
import { loadPolicy, policyDocument } from "../../builders/policy.js";

const policy = loadPolicy(policyDocument({}));
const ANY: Placement = { gpuLinks: "Any", numa: "Any", strategy: "BinPack" };
const NVLINK_PAIR: Placement = { gpuLinks: "NVLinkRequired", numa: "Any", strategy: "BinPack" };

const gpuPod = (name: string, gpus: number, placement: Placement, labels: Record<string, string> = {}) =>
  pod().name(name).namespace("ml").labels(labels).gpus(gpus).annotations(placementAnnotations(placement)).build();

/** Binds a pod holding `gpus` GPUs to `node`, as the pod informer reports one. */
function occupy(store: TopologyStore, node: string, gpus: number, key = `other/filler-on-${node}`): void {
  store.upsertPod({ uid: key, key, nodeName: node, gpus, placement: ANY });
}

describe("filterCall", () => {
  it.each<ExtenderMode>(["names", "objects"])("passes every node of a %s request untouched for a pod without GPUs, and reserves nothing", (mode) => {
    const nodes = [gpuNodeWire("dgx-01").h100().build(), gpuNodeWire("cpu-01").build()];
    const store = topologyStore(mode === "names" ? nodes : []);
    const call = extenderCall(pod().name("web").container({ name: "web", image: "nginx" }).build(), nodes, mode);
    const outcome = filterCall(call, { policy, store });
    expect(outcome.passThrough).toBe(true);
    const result = filterReply(call, outcome);
    expect(result.FailedNodes).toEqual({});
    expect(result.FailedAndUnresolvableNodes).toEqual({});
    expect(mode === "names" ? result.NodeNames : result.Nodes?.items).toEqual(mode === "names" ? ["dgx-01", "cpu-01"] : nodes);
    expect(store.reservationCount()).toBe(0);
  });

  it("learns the nodes of a full-Nodes request from the request itself", () => {
    const store = topologyStore();
    const nodes = [gpuNodeWire("dgx-01").h100().build(), gpuNodeWire("l40s-01").l40s().build()];
    const outcome = filterCall(extenderCall(gpuPod("tp", 4, NVLINK_PAIR), nodes, "objects"), { policy, store });
    expect(outcome.verdicts.map((v) => [v.node, v.ok])).toEqual([
      ["dgx-01", true],
      ["l40s-01", false],
    ]);
    expect(store.hasNode("l40s-01")).toBe(true);
  });

  it("fails a named node the cache does not know yet as resolvable", () => {
    const store = topologyStore([gpuNodeWire("dgx-01").h100().build()]);
    const call = extenderCall(gpuPod("p", 1, ANY), [gpuNodeWire("dgx-01").h100().build(), gpuNodeWire("new-node").h100().build()], "names");
    expect(filterReply(call, filterCall(call, { policy, store })).FailedNodes).toEqual({ "new-node": REASON_UNKNOWN_NODE });
  });

  it("reserves the GPUs on the only node that passes (kube-scheduler binds it without prioritize)", () => {
    const nodes = [gpuNodeWire("dgx-01").h100().build(), gpuNodeWire("l40s-01").l40s().build()];
    const store = topologyStore(nodes);
    filterCall(extenderCall(gpuPod("tp", 4, NVLINK_PAIR), nodes), { policy, store });
    expect(store.reservationCount()).toBe(1);
    expect(store.state("dgx-01")!.usableCount).toBe(4);
  });

  it("reserves nothing when several nodes pass: prioritize will choose", () => {
    const nodes = [gpuNodeWire("dgx-01").h100().build(), gpuNodeWire("dgx-02").h100().build()];
    const store = topologyStore(nodes);
    filterCall(extenderCall(gpuPod("tp", 4, NVLINK_PAIR), nodes), { policy, store });
    expect(store.reservationCount()).toBe(0);
  });
});

describe("prioritizeCall", () => {
  it("scores feasible nodes, gives infeasible ones 0, and keeps every score within 0..10", () => {
    const nodes = [gpuNodeWire("dgx-01").h100().build(), gpuNodeWire("a100-01").a100Bridged().build(), gpuNodeWire("l40s-01").l40s().build(), gpuNodeWire("cpu-01").build()];
    const store = topologyStore(nodes);
    const outcome = prioritizeCall(extenderCall(gpuPod("tp", 2, NVLINK_PAIR), nodes), { policy, store });
    const reply = prioritizeReply(outcome);
    expect(reply).toEqual([
      { Host: "dgx-01", Score: 10 },
      { Host: "a100-01", Score: 9 },
      { Host: "l40s-01", Score: 0 },
      { Host: "cpu-01", Score: 0 },
    ]);
    expect(outcome.topReasons[0]).toBe("GPUs [0,1]: bottleneck 900 GB/s, total 900 GB/s");
  });

  it("records a reservation for the node it ranks first, with the GPUs it picked", () => {
    const nodes = [gpuNodeWire("dgx-01").h100().build(), gpuNodeWire("dgx-02").h100().build()];
    const store = topologyStore(nodes);
    occupy(store, "dgx-02", 2);
    const outcome = prioritizeCall(extenderCall(gpuPod("tp", 2, ANY), nodes), { policy, store });
    expect(outcome.scores[0]?.node).toBe("dgx-02");
    expect(store.reservationCount()).toBe(1);
    expect(store.state("dgx-02")!.assignments.get("ml/tp")).toEqual(outcome.scored.get("dgx-02")!.choice.gpus);
    expect(store.state("dgx-02")!.usableCount).toBe(4);
    expect(store.state("dgx-01")!.usableCount).toBe(8);
  });

  it("answers 0 for every node for a pod without GPUs, and reserves nothing", () => {
    const nodes = [gpuNodeWire("dgx-01").h100().build()];
    const store = topologyStore(nodes);
    const outcome = prioritizeCall(extenderCall(pod().name("web").build(), nodes), { policy, store });
    expect(prioritizeReply(outcome)).toEqual([{ Host: "dgx-01", Score: 0 }]);
    expect(store.reservationCount()).toBe(0);
  });
});

describe("the in-flight ledger", () => {
  // Bridged A100 boxes: NV12 on 0-1 and 2-3. A pod holds one pair, leaving exactly one free NVLink pair.
  const oneFreePair = (name: string) => gpuNodeWire(name).a100Bridged().build();
  const setUp = (nodes: readonly NodeWire[], clock = testClock()): ExtenderContext & { clock: typeof clock } => {
    const store = topologyStore(nodes, { now: clock.now, reservationTtlMs: 30_000 });
    for (const n of nodes) occupy(store, n.metadata!.name!, 2);
    return { policy, store, clock };
  };

  it("keeps the second pod of a burst off the NVLink pair the first was given", () => {
    const nodes = [oneFreePair("a100-01")];
    const ctx = setUp(nodes);
    const first = filterCall(extenderCall(gpuPod("tp-0", 2, NVLINK_PAIR), nodes), ctx);
    expect(first.verdicts[0]).toMatchObject({ ok: true, choice: { gpus: [2, 3] } });
    const second = filterCall(extenderCall(gpuPod("tp-1", 2, NVLINK_PAIR), nodes), ctx);
    expect(second.verdicts[0]).toMatchObject({ ok: false, resolvable: true, reason: "needs 2 GPUs; 0 free and healthy" });
  });

  it("sends the second pod of a burst to the next node after prioritize ranked the first", () => {
    const nodes = [oneFreePair("a100-01"), oneFreePair("a100-02")];
    const ctx = setUp(nodes);
    const first = prioritizeReply(prioritizeCall(extenderCall(gpuPod("tp-0", 2, NVLINK_PAIR), nodes), ctx));
    expect(first).toEqual([
      { Host: "a100-01", Score: 10 },
      { Host: "a100-02", Score: 10 },
    ]);
    const second = prioritizeReply(prioritizeCall(extenderCall(gpuPod("tp-1", 2, NVLINK_PAIR), nodes), ctx));
    expect(second).toEqual([
      { Host: "a100-01", Score: 0 },
      { Host: "a100-02", Score: 10 },
    ]);
    const third = filterCall(extenderCall(gpuPod("tp-2", 2, NVLINK_PAIR), nodes), ctx);
    expect(third.verdicts.map((v) => v.ok)).toEqual([false, false]);
  });

  it("frees the reserved GPUs for later requests once the reservation's time is up", () => {
    const nodes = [oneFreePair("a100-01")];
    const ctx = setUp(nodes);
    filterCall(extenderCall(gpuPod("tp-0", 2, NVLINK_PAIR), nodes), ctx);
    ctx.clock.advance(29_999);
    expect(filterCall(extenderCall(gpuPod("tp-1", 2, NVLINK_PAIR), nodes), ctx).verdicts[0]?.ok).toBe(false);
    ctx.clock.advance(1);
    expect(filterCall(extenderCall(gpuPod("tp-1", 2, NVLINK_PAIR), nodes), ctx).verdicts[0]?.ok).toBe(true);
  });

  it("hands the reserved GPUs to the pod once it shows up bound there", () => {
    const nodes = [oneFreePair("a100-01")];
    const ctx = setUp(nodes);
    filterCall(extenderCall(gpuPod("tp-0", 2, NVLINK_PAIR), nodes), ctx);
    ctx.store.upsertPod({ uid: "ml/tp-0", key: "ml/tp-0", nodeName: "a100-01", gpus: 2, placement: NVLINK_PAIR });
    expect(ctx.store.state("a100-01")!.assignments.get("ml/tp-0")).toEqual([2, 3]);
    ctx.clock.advance(60_000);
    expect(filterCall(extenderCall(gpuPod("tp-1", 2, NVLINK_PAIR), nodes), ctx).verdicts[0]?.ok).toBe(false);
  });

  it("does not count a pod's own reservation against it when kube-scheduler asks again for the same pod", () => {
    const nodes = [oneFreePair("a100-01")];
    const ctx = setUp(nodes);
    const call = extenderCall(gpuPod("tp-0", 2, NVLINK_PAIR), nodes);
    expect(filterCall(call, ctx).verdicts[0]?.ok).toBe(true);
    // Binding failed (or the scheduling cycle was aborted): the same pod comes back within the TTL.
    expect(filterCall(call, ctx).verdicts[0]).toMatchObject({ ok: true, choice: { gpus: [2, 3] } });
    expect(ctx.store.reservationCount()).toBe(1);
  });

  it("lets the next member of a group score the node its first member was reserved on as local", () => {
    const nodes = [gpuNodeWire("dgx-01").h100().build(), gpuNodeWire("dgx-02").h100().build()];
    const ctx: ExtenderContext = { policy, store: topologyStore(nodes) };
    const member = (name: string) => gpuPod(name, 2, { ...ANY, strategy: "Spread" }, { "topofit.io/group": "llama" });
    const first = prioritizeCall(extenderCall(member("w-0"), nodes), ctx);
    const chosen = first.scores[0]!.node;
    const second = prioritizeCall(extenderCall(member("w-1"), nodes), ctx);
    expect(second.scores[0]?.node).toBe(chosen);
    expect(second.topReasons).toContain("locality: a group member runs on this node");
  });

  it("does not let a group pod asked about again count its own reservation as a group member", () => {
    const nodes = [gpuNodeWire("dgx-01").h100().build(), gpuNodeWire("dgx-02").h100().build()];
    const ctx: ExtenderContext = { policy, store: topologyStore(nodes) };
    const call = extenderCall(gpuPod("w-0", 2, ANY, { "topofit.io/group": "llama" }), nodes);
    prioritizeCall(call, ctx);
    expect(prioritizeCall(call, ctx).topReasons).toContain("locality: no group members placed yet");
  });
});

describe("reuseArrays", () => {
  const nodes = [gpuNodeWire("dgx-01").h100().build(), gpuNodeWire("dgx-02").h100().build(), gpuNodeWire("l40s-01").l40s().build(), gpuNodeWire("cpu-01").build()];

  it("fills the same per-node arrays on every call, with the answers fresh arrays get, sized to each call's list", () => {
    const store = topologyStore(nodes);
    occupy(store, "dgx-02", 6);
    const reusing: ExtenderContext = { policy, store, reuseArrays: true };
    const fresh: ExtenderContext = { policy, store };
    const first = filterCall(extenderCall(gpuPod("a", 4, NVLINK_PAIR), nodes), reusing);
    const firstCores = [...first.cores];
    const second = filterCall(extenderCall(gpuPod("b", 1, ANY), nodes.slice(0, 2)), reusing);
    expect(second.cores).toBe(first.cores);
    expect(second.cores).toHaveLength(2);
    expect(first.cores).not.toEqual(firstCores);
    const again = filterCall(extenderCall(gpuPod("b", 1, ANY), nodes.slice(0, 2)), fresh);
    expect(again.cores).not.toBe(second.cores);
    expect([...second.cores]).toEqual([...again.cores]);
    const scored = prioritizeCall(extenderCall(gpuPod("c", 2, NVLINK_PAIR), nodes), reusing);
    const scoredFresh = prioritizeCall(extenderCall(gpuPod("c", 2, NVLINK_PAIR), nodes), fresh);
    expect(Array.from(scored.nameScores)).toEqual(Array.from(scoredFresh.nameScores));
    expect(scored.top?.node).toBe(scoredFresh.top?.node);
  });

  it("makes an outcome's details built on demand throw once a later call has reused its arrays", () => {
    const store = topologyStore(nodes);
    const reusing: ExtenderContext = { policy, store, reuseArrays: true };
    const filtered = filterCall(extenderCall(gpuPod("a", 4, ANY), nodes), reusing);
    const scored = prioritizeCall(extenderCall(gpuPod("a", 4, ANY), nodes), reusing);
    expect(scored.scores.length).toBeGreaterThan(0);
    expect(() => filtered.verdicts).toThrow(/reused by a later call/);
    filterCall(extenderCall(gpuPod("b", 1, ANY), nodes.slice(0, 1)), reusing);
    expect(() => scored.infeasible).not.toThrow();
    const late = prioritizeCall(extenderCall(gpuPod("c", 4, ANY), nodes), reusing);
    filterCall(extenderCall(gpuPod("d", 1, ANY), nodes), reusing);
    expect(() => late.scored).toThrow(/reused by a later call/);
  });

  it("leaves outcomes of calls without it untouched by later calls", () => {
    const store = topologyStore(nodes);
    const kept = filterCall(extenderCall(gpuPod("a", 8, ANY), nodes), { policy, store });
    const copy = [...kept.cores];
    filterCall(extenderCall(gpuPod("b", 1, ANY), nodes), { policy, store, reuseArrays: true });
    filterCall(extenderCall(gpuPod("c", 1, ANY), nodes), { policy, store });
    expect([...kept.cores]).toEqual(copy);
  });
});
