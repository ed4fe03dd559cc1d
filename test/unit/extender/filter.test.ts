import { describe, expect, it } from "vitest";
import { filterNode, nodeVerdict, requiredConstraints } from "../../../src/extender/filter.js";
import type { PodIntent } from "../../../src/extender/intent.js";
import { REASON_NOT_A_GPU_NODE, REASON_UNKNOWN_NODE } from "../../../src/extender/reasons.js";
import type { Placement } from "../../../src/policy/model.js";
import type { NodeWire } from "../../../src/extender/schema.js";
import type { DcgmNodeView } from "../../../src/topology/store.js";
import { dcgmView, gpuNodeWire, topologyStore } from "../../builders/extender.js";
import { GPU } from "../../builders/pod.js";

const ANY: Placement = { gpuLinks: "Any", numa: "Any", strategy: "BinPack" };
const NVLINK: Placement = { gpuLinks: "NVLinkRequired", numa: "Any", strategy: "BinPack" };
const SINGLE_NUMA: Placement = { gpuLinks: "Any", numa: "SingleNode", strategy: "BinPack" };
const intent = (gpus: number, placement: Placement): PodIntent => ({ gpus, placement, placementSource: "annotation" });

interface Setup {
  readonly node: NodeWire;
  /** GPUs held by pods bound to the node: each entry is one pod's GPU count. */
  readonly bound?: readonly number[];
  readonly dcgm?: DcgmNodeView;
}

/** The verdict filterNode gives `want` GPUs under `placement` on the node set up as described. */
function verdict(setup: Setup, want: number, placement: Placement) {
  const store = topologyStore([setup.node]);
  const name = setup.node.metadata!.name!;
  (setup.bound ?? []).forEach((gpus, i) => store.upsertPod({ uid: `u${i}`, key: `ml/filler-${i}`, nodeName: name, gpus, placement: ANY }));
  if (setup.dcgm) store.setDcgm(new Map([[name, setup.dcgm]]));
  return filterNode(name, store.state(name), intent(want, placement), GPU);
}

const h100 = () => gpuNodeWire("dgx-01").h100().build();
const l40s = () => gpuNodeWire("l40s-01").l40s().build();
const a100 = () => gpuNodeWire("a100-01").a100Bridged().build();

describe("filterNode", () => {
  it.each<[string, Setup, number, Placement, string, boolean]>([
    ["asks for more GPUs than the node has in total", { node: a100() }, 8, ANY, `needs 8 ${GPU}; node has 4 in total`, false],
    ["asks for more GPUs than the device plugin advertises, whatever the labels say", { node: gpuNodeWire("dgx-01").h100().allocatable(4).build() }, 8, ANY, `needs 8 ${GPU}; node has 4 in total`, false],
    ["lands on a node without GPUs in status.allocatable", { node: gpuNodeWire("cpu-01").build() }, 1, ANY, REASON_NOT_A_GPU_NODE, false],
    ["finds too few GPUs free because pods hold them", { node: h100(), bound: [6] }, 4, ANY, "needs 4 GPUs; 2 free and healthy", true],
    ["needs NVLink on a PCIe-only node", { node: l40s() }, 2, NVLINK, "needs 2 NVLink-connected GPUs; largest free NVLink-connected set is 1", false],
    ["needs 4 NVLink GPUs where NVLink bridges join pairs only", { node: a100() }, 4, NVLINK, "needs 4 NVLink-connected GPUs; largest free NVLink-connected set is 2", false],
    [
      "needs an NVLink pair where busy GPUs broke both bridges",
      { node: a100(), dcgm: dcgmView(4, { pods: { 0: "ml/a", 2: "ml/b" } }) },
      2,
      NVLINK,
      "needs 2 NVLink-connected GPUs; largest free NVLink-connected set is 1",
      true,
    ],
    ["needs more GPUs on one NUMA node than any NUMA node has", { node: h100() }, 8, SINGLE_NUMA, "needs 8 GPUs on one NUMA node; at most 4 free on any NUMA node", false],
    [
      "needs 4 GPUs on one NUMA node where pods hold one GPU on each",
      { node: h100(), dcgm: dcgmView(8, { pods: { 0: "ml/a", 4: "ml/b" } }) },
      4,
      SINGLE_NUMA,
      "needs 4 GPUs on one NUMA node; at most 3 free on any NUMA node",
      true,
    ],
    ["needs every GPU of a node with an unhealthy GPU", { node: h100(), dcgm: dcgmView(8, { unhealthy: [3] }) }, 8, ANY, "needs 8 GPUs; 7 free and healthy (1 GPU unhealthy)", false],
    [
      "needs every healthy GPU of a node where a pod holds one and one is unhealthy",
      { node: h100(), dcgm: dcgmView(8, { unhealthy: [3], pods: { 0: "ml/a" } }) },
      7,
      ANY,
      "needs 7 GPUs; 6 free and healthy (1 GPU unhealthy)",
      true,
    ],
    [
      "needs an NVLink pair where unhealthy GPUs broke both bridges",
      { node: a100(), dcgm: dcgmView(4, { unhealthy: [1, 3] }) },
      2,
      NVLINK,
      "needs 2 NVLink-connected GPUs; largest free NVLink-connected set is 1 (2 GPUs unhealthy)",
      false,
    ],
  ])("rejects a pod that %s", (_name, setup, want, placement, reason, resolvable) => {
    expect(verdict(setup, want, placement)).toMatchObject({ ok: false, reason, resolvable });
  });

  it("passes a node that is not in the cache yet as resolvable, so the scheduler retries it", () => {
    expect(filterNode("new-node", undefined, intent(1, ANY), GPU)).toEqual({ ok: false, node: "new-node", reason: REASON_UNKNOWN_NODE, resolvable: true });
  });

  it.each<[string, Setup, number, Placement, readonly number[]]>([
    ["4 NVLink GPUs on one NUMA node of an idle H100 box", { node: h100() }, 4, { gpuLinks: "NVLinkRequired", numa: "SingleNode", strategy: "BinPack" }, [0, 1, 2, 3]],
    ["an NVLink pair on a bridged A100 box with one bridge busy", { node: a100(), dcgm: dcgmView(4, { pods: { 0: "ml/a", 1: "ml/a" } }) }, 2, NVLINK, [2, 3]],
    ["2 GPUs under one PCIe switch on an L40S box", { node: l40s() }, 2, ANY, [0, 1]],
    ["the healthy GPUs of a node with an unhealthy one", { node: h100(), dcgm: dcgmView(8, { unhealthy: [0] }) }, 7, ANY, [1, 2, 3, 4, 5, 6, 7]],
  ])("accepts %s, with the GPU set it would pick", (_name, setup, want, placement, gpus) => {
    const v = verdict(setup, want, placement);
    expect(v.ok).toBe(true);
    if (v.ok) expect(v.choice.gpus).toEqual(gpus);
  });

  it("answers the same pod shape from the node state's memo", () => {
    const store = topologyStore([h100()]);
    const state = store.state("dgx-01");
    const constraints = requiredConstraints(NVLINK);
    expect(nodeVerdict(state, 4, GPU, constraints)).toBe(nodeVerdict(state, 4, GPU, constraints));
    expect(nodeVerdict(state, 4, GPU, constraints)).not.toBe(nodeVerdict(state, 4, GPU, requiredConstraints(ANY)));
  });
});

describe("requiredConstraints", () => {
  it.each<[Placement, { nvlinkRequired: boolean; singleNuma: boolean }]>([
    [{ gpuLinks: "NVLinkRequired", numa: "SingleNode", strategy: "BinPack" }, { nvlinkRequired: true, singleNuma: true }],
    [{ gpuLinks: "NVLinkPreferred", numa: "Preferred", strategy: "Spread" }, { nvlinkRequired: false, singleNuma: false }],
    [{ gpuLinks: "Any", numa: "SingleNode", strategy: "Spread" }, { nvlinkRequired: false, singleNuma: true }],
  ])("turns %j into hard constraints %j (Preferred variants never filter)", (placement, constraints) => {
    expect(requiredConstraints(placement)).toEqual(constraints);
  });
});
