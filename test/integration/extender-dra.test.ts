// POST /filter and /prioritize for a pod whose GPUs come from a DRA claim, on
// nodes whose GPUs a driver publishes in ResourceSlices: the full HTTP path
// with the stores wired as `topofit serve` wires them.
import { describe, expect, it } from "vitest";
import type { ExtenderFilterResultWire, HostPriorityWire } from "../../src/extender/schema.js";
import { buildTestApp } from "../builders/app.js";
import { draCluster, resourceClaim } from "../builders/dra.js";
import { extenderArgs, gpuNodeWire } from "../builders/extender.js";
import { pod } from "../builders/pod.js";
import type { PodWire } from "../../src/admission/schema.js";

function cluster() {
  const c = draCluster();
  c.draNode("dra-first-bad");
  c.draNode("dra-good");
  c.dra.upsertClaim(resourceClaim("ml/filler", { gpus: 1, node: "dra-first-bad", allocated: ["gpu-0"] }));
  c.dra.upsertClaim(resourceClaim("ml/train-gpus", { gpus: 2 }));
  return c;
}

function trainPod(gpuLinks: string): PodWire {
  const p = pod()
    .name("train")
    .namespace("ml")
    .annotations({ "topofit.io/placement": JSON.stringify({ gpuLinks, numa: "Any", strategy: "BinPack" }) })
    .build() as PodWire & { spec: Record<string, unknown>; status?: unknown };
  p.spec.resourceClaims = [{ name: "gpus", resourceClaimTemplateName: "two" }];
  p.status = { resourceClaimStatuses: [{ name: "gpus", resourceClaimName: "train-gpus" }] };
  return p;
}

const nodes = ["dra-first-bad", "dra-good"].map((n) => gpuNodeWire(n).build());

describe("the extender on DRA nodes, over HTTP", () => {
  it("/filter refuses the node whose first free devices are not NVLink-connected, as resolvable", async () => {
    const { store } = cluster();
    const t = buildTestApp({ topology: store });
    const r = await t.app.inject({ method: "POST", url: "/filter", payload: extenderArgs(trainPod("NVLinkRequired"), nodes, "names") });
    expect(r.json<ExtenderFilterResultWire>()).toEqual({
      NodeNames: ["dra-good"],
      Nodes: null,
      FailedNodes: { "dra-first-bad": "needs 2 GPUs NVLink-connected; the DRA allocator would take the first free devices (gpu-1, gpu-2), which are not" },
      FailedAndUnresolvableNodes: {},
      Error: "",
    });
    await t.app.close();
  });

  it("/prioritize ranks the node where the allocator's pair is bridged first", async () => {
    const { store } = cluster();
    const t = buildTestApp({ topology: store });
    const r = await t.app.inject({ method: "POST", url: "/prioritize", payload: extenderArgs(trainPod("Any"), nodes, "names") });
    const scores = Object.fromEntries(r.json<HostPriorityWire[]>().map((h) => [h.Host, h.Score]));
    expect(scores["dra-good"]).toBeGreaterThan(scores["dra-first-bad"]!);
    await t.app.close();
  });
});
