// Placement on DRA nodes: the node's GPUs are the devices its ResourceSlices
// publish, taken ones are those ResourceClaims hold, and the scheduler's
// allocator (not kubelet) picks the devices, first free in slice order.
import { describe, expect, it } from "vitest";
import { filterCall, prioritizeCall } from "../../../src/extender/review.js";
import type { PodWire } from "../../../src/admission/schema.js";
import { extenderCall, gpuNodeWire, placementAnnotations } from "../../builders/extender.js";
import { draCluster, gpuDevices, resourceClaim } from "../../builders/dra.js";
import { loadPolicy, policyDocument } from "../../builders/policy.js";
import { pod } from "../../builders/pod.js";
import type { Placement } from "../../../src/policy/model.js";

const NVLINK: Placement = { gpuLinks: "NVLinkRequired", numa: "Any", strategy: "BinPack" };
const policy = loadPolicy(policyDocument({}));

const cluster = draCluster;

/** A pod whose GPUs come from one claim (already generated) of `gpus` devices. */
function claimPod(c: ReturnType<typeof cluster>, name: string, gpus: number, placement: Placement = NVLINK): PodWire {
  c.dra.upsertClaim(resourceClaim(`ml/${name}-gpus`, { gpus }));
  const p = pod().name(name).namespace("ml").annotations(placementAnnotations(placement)).build() as PodWire & { spec: Record<string, unknown>; status?: unknown };
  p.spec.resourceClaims = [{ name: "gpus", resourceClaimTemplateName: "two-gpus" }];
  p.status = { resourceClaimStatuses: [{ name: "gpus", resourceClaimName: `${name}-gpus` }] };
  return p;
}

const ctx = (c: ReturnType<typeof cluster>) => ({ policy, store: c.store });
const names = (...n: string[]) => n.map((x) => gpuNodeWire(x).build());

describe("DRA nodes", () => {
  it("counts a claim pod's GPUs from its ResourceClaim and treats a node without a device plugin as a GPU node", () => {
    const c = cluster();
    c.draNode("dra-a");
    const out = filterCall(extenderCall(claimPod(c, "p", 2), names("dra-a")), ctx(c));
    expect(out.intent).toMatchObject({ gpus: 2, gpuSource: "claims", unresolvedClaims: 0 });
    expect(out.verdicts[0]).toMatchObject({ ok: true, choice: { gpus: [0, 1], allNvlink: true } });
  });

  it("refuses NVLinkRequired where the allocator's first free devices are not NVLink-connected, though a connected pair is free", () => {
    const c = cluster();
    c.draNode("dra-first-bad");
    c.draNode("dra-good");
    c.dra.upsertClaim(resourceClaim("ml/filler", { gpus: 1, node: "dra-first-bad", allocated: ["gpu-0"] }));
    const out = filterCall(extenderCall(claimPod(c, "p", 2), names("dra-first-bad", "dra-good")), ctx(c));
    expect(out.verdicts[0]).toMatchObject({
      ok: false,
      resolvable: true,
      reason: "needs 2 GPUs NVLink-connected; the DRA allocator would take the first free devices (gpu-1, gpu-2), which are not",
    });
    expect(out.verdicts[1]).toMatchObject({ ok: true, choice: { gpus: [0, 1] } });
  });

  it("scores the set the allocator will take: the node whose first free pair is bridged ranks first", () => {
    const c = cluster();
    c.draNode("dra-first-bad");
    c.draNode("dra-good");
    c.dra.upsertClaim(resourceClaim("ml/filler", { gpus: 1, node: "dra-first-bad", allocated: ["gpu-0"] }));
    const out = prioritizeCall(extenderCall(claimPod(c, "p", 2, { gpuLinks: "Any", numa: "Any", strategy: "BinPack" }), names("dra-first-bad", "dra-good")), ctx(c));
    expect(out.scores[0]!.node).toBe("dra-good");
    expect(out.scored.get("dra-first-bad")!.choice.gpus).toEqual([1, 2]);
  });

  it("follows the slice's device order, not the GPU index order", () => {
    const c = cluster();
    const devices = gpuDevices("dra-x", 4);
    c.draNode("dra-x", [devices[2]!, devices[0]!, devices[3]!, devices[1]!]);
    const out = filterCall(extenderCall(claimPod(c, "p", 2, { gpuLinks: "Any", numa: "Any", strategy: "BinPack" }), names("dra-x")), ctx(c));
    expect(out.verdicts[0]).toMatchObject({ ok: true, choice: { gpus: [0, 2], allNvlink: false } });
  });

  it("never counts a GPU the driver does not publish or has tainted", () => {
    const c = cluster();
    const devices = gpuDevices("dra-t", 4);
    c.draNode("dra-t", [devices[0]!, { ...devices[1]!, taint: { key: "gpu.nvidia.com/xid", value: "79", effect: "NoSchedule" } }, devices[2]!]);
    const state = c.store.state("dra-t")!;
    expect(state.usable).toEqual([true, false, true, false]);
    const four = filterCall(extenderCall(claimPod(c, "p", 4), names("dra-t")), ctx(c));
    expect(four.verdicts[0]).toMatchObject({ ok: false, resolvable: false, reason: "needs 4 GPUs; the node's ResourceSlices publish 3 GPU devices" });
    const three = filterCall(extenderCall(claimPod(c, "q", 3), names("dra-t")), ctx(c));
    expect(three.verdicts[0]).toMatchObject({ ok: false, resolvable: false, reason: "needs 3 GPUs; 2 of the node's 3 DRA GPU devices are free (1 unhealthy or tainted)" });
  });

  it("says how many devices are free when too few are", () => {
    const c = cluster();
    c.draNode("dra-busy");
    c.dra.upsertClaim(resourceClaim("ml/filler", { gpus: 3, node: "dra-busy", allocated: ["gpu-0", "gpu-1", "gpu-3"] }));
    const out = filterCall(extenderCall(claimPod(c, "p", 2), names("dra-busy")), ctx(c));
    expect(out.verdicts[0]).toMatchObject({ ok: false, resolvable: true, reason: "needs 2 GPUs; 1 of the node's 4 DRA GPU devices are free" });
  });

  it("serves an extended-resource pod (DRAExtendedResource) on a DRA node the same way", () => {
    const c = cluster();
    c.draNode("dra-a");
    const p = pod().name("ext").namespace("ml").gpus(2).annotations(placementAnnotations(NVLINK)).build();
    const out = filterCall(extenderCall(p, names("dra-a")), ctx(c));
    expect(out.intent).toMatchObject({ gpus: 2, gpuSource: "resources" });
    expect(out.verdicts[0]).toMatchObject({ ok: true, choice: { gpus: [0, 1] } });
  });

  it("holds the chosen devices until the claim is allocated, then checks the prediction and lets the claim count", () => {
    const c = cluster();
    c.draNode("dra-a");
    const p = claimPod(c, "p", 2);
    const call = extenderCall(p, names("dra-a"));
    filterCall(call, ctx(c));
    expect(c.store.reservationOf(call.podUid)?.gpus).toEqual([0, 1]);
    expect(c.store.state("dra-a")!.usable).toEqual([false, false, true, true]);
    c.dra.upsertClaim(resourceClaim("ml/p-gpus", { gpus: 2, node: "dra-a", allocated: ["gpu-0", "gpu-1"], reservedFor: [call.podUid] }));
    expect(c.store.reservationOf(call.podUid)).toBeUndefined();
    expect(c.checks).toEqual([{ pod: "ml/p", node: "dra-a", predicted: [0, 1], observed: [0, 1], agreed: true, equivalent: false }]);
    expect(c.store.state("dra-a")!.usable).toEqual([false, false, true, true]);
  });

  it("lets a claim pod through untouched while its claim is not known yet", () => {
    const c = cluster();
    c.draNode("dra-a");
    const p = pod().name("early").namespace("ml").build() as PodWire & { spec: Record<string, unknown> };
    p.spec.resourceClaims = [{ name: "gpus", resourceClaimTemplateName: "t" }];
    const out = filterCall(extenderCall(p, names("dra-a")), ctx(c));
    expect(out).toMatchObject({ passThrough: true, intent: { gpus: 0, gpuSource: "claims", unresolvedClaims: 1 } });
  });
});
