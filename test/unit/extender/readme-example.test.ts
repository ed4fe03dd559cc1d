// The README's worked example of the prioritize score, checked against the code.
import { describe, expect, it } from "vitest";
import { prioritizeCall } from "../../../src/extender/review.js";
import type { Placement } from "../../../src/policy/model.js";
import { loadPolicyText } from "../../../src/policy/load.js";
import { EMBEDDED_POLICY_YAML } from "../../../src/policy/embedded.js";
import { extenderCall, gpuNodeWire, placementAnnotations, topologyStore } from "../../builders/extender.js";
import { pod } from "../../builders/pod.js";

const loaded = loadPolicyText(EMBEDDED_POLICY_YAML);
if (!loaded.ok) throw new Error("embedded policy must load");
const policy = loaded.policy;
const ANY: Placement = { gpuLinks: "Any", numa: "Any", strategy: "BinPack" };

function rank(strategy: "Spread" | "BinPack"): [string, number][] {
  const nodes = [gpuNodeWire("h100-a").h100().build(), gpuNodeWire("h100-b").h100().build(), gpuNodeWire("h100-c").h100().build(), gpuNodeWire("l40s-a").l40s().build()];
  const store = topologyStore(nodes);
  store.upsertPod({ uid: "a", key: "t/a", nodeName: "h100-a", gpus: 2, placement: ANY });
  store.upsertPod({ uid: "b", key: "t/b", nodeName: "h100-b", gpus: 6, placement: ANY });
  const p = pod().namespace("ml").gpus(2).annotations(placementAnnotations({ gpuLinks: "NVLinkPreferred", numa: "Preferred", strategy })).build();
  const out = prioritizeCall(extenderCall(p, nodes), { policy, store });
  return out.scores.map((s) => [s.node, s.score]);
}

describe("the README's worked example", () => {
  it("ranks h100-a, h100-b, h100-c, l40s-a for a 2-GPU NVLinkPreferred Spread pod", () => {
    expect(rank("Spread")).toEqual([
      ["h100-a", 10],
      ["h100-b", 9],
      ["h100-c", 8],
      ["l40s-a", 7],
    ]);
  });

  it("puts h100-b first under BinPack", () => {
    expect(rank("BinPack")[0]).toEqual(["h100-b", 10]);
  });
});
