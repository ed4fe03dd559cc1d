import { describe, expect, it } from "vitest";
import { GPU_TOPOLOGY_ANNOTATION } from "../../../src/topology/annotation.js";
import { buildNodeTopology, type BuildNodeTopologyInput } from "../../../src/topology/build.js";
import { GPU_COUNT_LABEL, GPU_MEMORY_LABEL, GPU_PRODUCT_LABEL, TOPOLOGY_PROFILE_LABEL } from "../../../src/topology/labels.js";
import { BUILTIN_PROFILES, type TopologyProfile } from "../../../src/topology/profiles.js";
import { topologyAnnotation } from "../../builders/gpu-topology.js";

const H100_LABELS = { [GPU_PRODUCT_LABEL]: "NVIDIA-H100-80GB-HBM3", [GPU_COUNT_LABEL]: "8", [GPU_MEMORY_LABEL]: "81559" };

function input(over: Partial<BuildNodeTopologyInput> = {}): BuildNodeTopologyInput {
  return { labels: H100_LABELS, annotations: {}, allocatableGpus: 8, profiles: BUILTIN_PROFILES, ...over };
}

const fourGpuAnnotation = topologyAnnotation({ gpus: 4, link: (i, j) => (j === i + 1 ? "NV4" : "PHB"), numa: (i) => (i < 2 ? 0 : 1), product: "NVIDIA RTX A6000" });

describe("buildNodeTopology", () => {
  it("trusts the agent's annotation over a matching profile", () => {
    const { topology, warnings } = buildNodeTopology(input({ annotations: { [GPU_TOPOLOGY_ANNOTATION]: topologyAnnotation({ gpus: 8, link: () => "NV18", numa: () => 0 }) } }));
    expect(topology.source).toBe("annotation");
    expect(topology.sourceNote).toBe("annotation topofit.io/gpu-topology (8 GPUs)");
    expect(topology.gpus.map((g) => g.numaNode)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(warnings).toEqual([]);
  });

  it("takes each annotated GPU's fields, and its product for the bandwidth", () => {
    const { topology } = buildNodeTopology(input({ labels: {}, allocatableGpus: 4, annotations: { [GPU_TOPOLOGY_ANNOTATION]: fourGpuAnnotation } }));
    expect(topology.gpus[2]).toEqual({ index: 2, numaNode: 1, product: "NVIDIA RTX A6000" });
    expect(topology.links[0]![1]).toEqual({ kind: "NVLink", nvlinks: 4, bandwidthGBps: 112.5 });
    expect(topology.links[0]![2]).toEqual({ kind: "PHB", nvlinks: 0, bandwidthGBps: 64 * 0.8 });
    expect(topology.links[2]![0]).toBe(topology.links[0]![2]);
  });

  it("applies the annotation's per-link NVLink figure", () => {
    const text = topologyAnnotation({ gpus: 2, link: () => "NV18", product: "NVIDIA H100 80GB HBM3", nvlinkGBps: 25 });
    const { topology } = buildNodeTopology(input({ labels: {}, allocatableGpus: 2, annotations: { [GPU_TOPOLOGY_ANNOTATION]: text } }));
    expect(topology.links[0]![1]!.bandwidthGBps).toBe(450);
  });

  it("falls back to the label's product when the annotation has none", () => {
    const text = topologyAnnotation({ gpus: 2, link: () => "NV18" });
    const { topology } = buildNodeTopology(input({ labels: { [GPU_PRODUCT_LABEL]: "NVIDIA-B200", [GPU_COUNT_LABEL]: "2" }, allocatableGpus: 2, annotations: { [GPU_TOPOLOGY_ANNOTATION]: text } }));
    expect(topology.links[0]![1]!.bandwidthGBps).toBe(1800);
  });

  it("keeps the annotation but warns when the GPU counts disagree", () => {
    const { topology, warnings } = buildNodeTopology(input({ annotations: { [GPU_TOPOLOGY_ANNOTATION]: fourGpuAnnotation } }));
    expect(topology.source).toBe("annotation");
    expect(warnings).toEqual([
      "annotation topofit.io/gpu-topology lists 4 GPUs but label nvidia.com/gpu.count says 8; using the annotation",
      "node has 8 allocatable GPUs but annotation topofit.io/gpu-topology lists only 4",
    ]);
  });

  it.each<[string, string, RegExp]>([
    ["text that is not JSON", "{", /^annotation topofit\.io\/gpu-topology ignored: annotation is not JSON/],
    ["an unsupported version", '{"v":9,"gpus":[{"index":0}],"links":[]}', /ignored: unsupported format version 9/],
    ["a bad link code", '{"v":1,"gpus":[{"index":0},{"index":1}],"links":["NV-18"]}', /ignored: links\[0\] "NV-18" is not a link code/],
  ])("falls back to the profile when the annotation is malformed (%s), saying why", (_name, text, want) => {
    const { topology, warnings } = buildNodeTopology(input({ annotations: { [GPU_TOPOLOGY_ANNOTATION]: text } }));
    expect(topology.source).toBe("profile");
    expect(topology.sourceNote).toBe("profile hgx-h100-8 (labels nvidia.com/gpu.product=NVIDIA-H100-80GB-HBM3, nvidia.com/gpu.count=8)");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(want);
  });

  it("uses a matching profile with GPU facts from the labels", () => {
    const { topology, warnings } = buildNodeTopology(input());
    expect(topology.source).toBe("profile");
    expect(topology.gpus[5]).toEqual({ index: 5, numaNode: 1, memoryMiB: 81559, product: "NVIDIA-H100-80GB-HBM3" });
    expect(topology.links[1]![6]).toEqual({ kind: "NVLink", nvlinks: 18, bandwidthGBps: 900 });
    expect(warnings).toEqual([]);
  });

  it("skips a profile whose size disagrees with the node, tries the next, and warns", () => {
    const wrong: TopologyProfile = { name: "four-way", match: { product: "NVIDIA-H100-80GB-HBM3" }, gpuCount: 4, allPairs: "NV6" };
    const { topology, warnings } = buildNodeTopology(input({ profiles: [wrong, ...BUILTIN_PROFILES] }));
    expect(topology.sourceNote).toMatch(/^profile hgx-h100-8/);
    expect(warnings).toEqual(["profile four-way (labels nvidia.com/gpu.product=NVIDIA-H100-80GB-HBM3) ignored: it describes 4 GPUs but the node has 8 (label nvidia.com/gpu.count)"]);
  });

  it("judges a profile's size against allocatable when there is no count label", () => {
    const mine: TopologyProfile = { name: "mine", match: { product: "NVIDIA-L40S" }, gpuCount: 8, allPairs: "PIX" };
    const { topology, warnings } = buildNodeTopology(input({ labels: { [GPU_PRODUCT_LABEL]: "NVIDIA-L40S" }, allocatableGpus: 4, profiles: [mine] }));
    expect(topology.source).toBe("labels");
    expect(warnings).toEqual(["profile mine (labels nvidia.com/gpu.product=NVIDIA-L40S) ignored: it describes 8 GPUs but the node has 4 (allocatable)"]);
  });

  it("uses a profile named on the node", () => {
    const { topology } = buildNodeTopology(input({ labels: { [TOPOLOGY_PROFILE_LABEL]: "pcie-2socket-4", [GPU_COUNT_LABEL]: "4" }, allocatableGpus: 4 }));
    expect(topology.sourceNote).toBe("profile pcie-2socket-4 (named by label topofit.io/topology-profile)");
    expect(topology.gpus.map((g) => g.numaNode)).toEqual([0, 0, 1, 1]);
  });

  it("warns about a profile name that is not defined, and falls back to the labels", () => {
    const { topology, warnings } = buildNodeTopology(input({ labels: { ...H100_LABELS, [TOPOLOGY_PROFILE_LABEL]: "hgx-h999" } }));
    expect(topology.source).toBe("labels");
    expect(warnings).toEqual(['label topofit.io/topology-profile names profile "hgx-h999", which is not defined']);
  });

  it("assumes interchangeable GPUs from the labels when nothing else applies", () => {
    const { topology, warnings } = buildNodeTopology(input({ labels: { [GPU_PRODUCT_LABEL]: "NVIDIA-L4", [GPU_COUNT_LABEL]: "3" }, allocatableGpus: 3 }));
    expect(topology.source).toBe("labels");
    expect(topology.sourceNote).toBe("GPUs assumed interchangeable: no topology annotation or matching profile (3 GPUs from label nvidia.com/gpu.count)");
    expect(topology.gpus).toEqual([0, 1, 2].map((index) => ({ index, product: "NVIDIA-L4" })));
    for (const [i, j] of [[0, 1], [0, 2], [1, 2]] as const) expect(topology.links[i]![j]).toEqual({ kind: "PIX", nvlinks: 0, bandwidthGBps: 64 });
    expect(warnings).toEqual([]);
  });

  it("counts GPUs from allocatable when there are no GPU labels", () => {
    const { topology } = buildNodeTopology(input({ labels: {}, allocatableGpus: 2 }));
    expect(topology.gpus).toHaveLength(2);
    expect(topology.sourceNote).toBe("GPUs assumed interchangeable: no topology annotation or matching profile (2 GPUs from allocatable)");
  });

  it("warns when allocatable exceeds the labelled GPU count without sharing", () => {
    const { warnings } = buildNodeTopology(input({ labels: { [GPU_PRODUCT_LABEL]: "NVIDIA-L4", [GPU_COUNT_LABEL]: "2" }, allocatableGpus: 4 }));
    expect(warnings).toEqual(["node has 4 allocatable GPUs but label nvidia.com/gpu.count says 2; using the label"]);
  });

  it("does not warn when time-slicing multiplies allocatable", () => {
    const { topology, warnings } = buildNodeTopology(input({ labels: { [GPU_PRODUCT_LABEL]: "NVIDIA-L4-SHARED", [GPU_COUNT_LABEL]: "2" }, allocatableGpus: 8 }));
    expect(topology.gpus).toHaveLength(2);
    expect(warnings).toEqual([]);
  });

  it("describes a node without GPUs", () => {
    const { topology } = buildNodeTopology(input({ labels: {}, allocatableGpus: 0 }));
    expect(topology.gpus).toEqual([]);
    expect(topology.sourceNote).toBe("no GPUs: no topology annotation, no matching profile, and allocatable gives 0");
  });

  it("returns a frozen topology", () => {
    const { topology } = buildNodeTopology(input());
    expect(Object.isFrozen(topology)).toBe(true);
    expect(Object.isFrozen(topology.links[0])).toBe(true);
    expect(Object.isFrozen(topology.gpus[0])).toBe(true);
  });
});
