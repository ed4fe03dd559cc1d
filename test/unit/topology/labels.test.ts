import { describe, expect, it } from "vitest";
import {
  COST_CLASS_LABEL,
  GPU_CLIQUE_LABEL,
  GPU_COUNT_LABEL,
  cliqueOf,
  costClassOf,
  detectNetworkLevels,
  gpuCountOf,
  networkPath,
  type CostClass,
  type CostClassRule,
} from "../../../src/topology/labels.js";

describe("networkPath", () => {
  it.each<[string, Record<string, string>, [string, string][]]>([
    [
      "Topograph tiers come outermost first, then the accelerator domain",
      {
        "fabric.topograph.run/tier-0": "leaf-3",
        "fabric.topograph.run/tier-2": "core-1",
        "fabric.topograph.run/tier-1": "spine-2",
        "accelerator.topograph.run/domain": "nvl-a",
      },
      [
        ["tier-2", "core-1"],
        ["tier-1", "spine-2"],
        ["tier-0", "leaf-3"],
        ["accelerator", "nvl-a"],
      ],
    ],
    [
      "tier 10 sorts above tier 9 (numerically, not as text)",
      { "fabric.topograph.run/tier-9": "a", "fabric.topograph.run/tier-10": "b" },
      [
        ["tier-10", "b"],
        ["tier-9", "a"],
      ],
    ],
    [
      "Topograph's earlier keys read core, spine, leaf, accelerator",
      {
        "network.topology.nvidia.com/leaf": "l",
        "network.topology.nvidia.com/core": "c",
        "network.topology.nvidia.com/spine": "s",
        "network.topology.nvidia.com/accelerator": "a",
      },
      [
        ["core", "c"],
        ["spine", "s"],
        ["leaf", "l"],
        ["accelerator", "a"],
      ],
    ],
    [
      "AWS layer 1 is the outermost and layer 3 the nearest",
      {
        "topology.k8s.aws/network-node-layer-3": "nn-3",
        "topology.k8s.aws/network-node-layer-1": "nn-1",
        "topology.k8s.aws/network-node-layer-2": "nn-2",
      },
      [
        ["layer-1", "nn-1"],
        ["layer-2", "nn-2"],
        ["layer-3", "nn-3"],
      ],
    ],
    [
      "GCP reads block, sub-block, host",
      { "cloud.google.com/gce-topology-host": "h", "cloud.google.com/gce-topology-block": "b", "cloud.google.com/gce-topology-subblock": "sb" },
      [
        ["block", "b"],
        ["subblock", "sb"],
        ["host", "h"],
      ],
    ],
    [
      "OCI reads the network block, then the rack",
      { "oci.oraclecloud.com/host.rack_id": "r", "oci.oraclecloud.com/host.network_block_id": "nb" },
      [
        ["network-block", "nb"],
        ["rack", "r"],
      ],
    ],
    [
      "a missing middle level is skipped, the rest keep their order",
      { "topology.k8s.aws/network-node-layer-1": "nn-1", "topology.k8s.aws/network-node-layer-3": "nn-3" },
      [
        ["layer-1", "nn-1"],
        ["layer-3", "nn-3"],
      ],
    ],
    [
      "Topograph labels win over a cloud's own when both are present",
      { "fabric.topograph.run/tier-0": "leaf", "topology.k8s.aws/network-node-layer-1": "nn-1" },
      [["tier-0", "leaf"]],
    ],
    ["a node without network labels has an empty path", { "kubernetes.io/hostname": "n1" }, []],
    ["an empty label value does not count", { "cloud.google.com/gce-topology-block": "" }, []],
  ])("%s", (_name, labels, want) => {
    expect(networkPath(labels)).toEqual(want);
  });

  it("reads exactly the levels it is given, in that order", () => {
    const labels = { "example.com/rack": "r1", "example.com/row": "row4", "fabric.topograph.run/tier-0": "x" };
    expect(
      networkPath(labels, [
        { name: "row", key: "example.com/row" },
        { name: "rack", key: "example.com/rack" },
        { name: "pod", key: "example.com/pod" },
      ]),
    ).toEqual([
      ["row", "row4"],
      ["rack", "r1"],
    ]);
  });

  it("detects no levels on a node without network labels", () => {
    expect(detectNetworkLevels({})).toEqual([]);
  });
});

describe("cliqueOf", () => {
  it.each<[string, Record<string, string>, ReturnType<typeof cliqueOf>]>([
    [
      "splits the ClusterUUID (domain) from the full value (partition)",
      { [GPU_CLIQUE_LABEL]: "7b968a6d-c8aa-45e1-9e07-e1e51be99c31.1" },
      { domain: "7b968a6d-c8aa-45e1-9e07-e1e51be99c31", partition: "7b968a6d-c8aa-45e1-9e07-e1e51be99c31.1" },
    ],
    [
      "splits at the last dot",
      { [GPU_CLIQUE_LABEL]: "a.b.32766" },
      { domain: "a.b", partition: "a.b.32766" },
    ],
    ["takes a value without a dot as both domain and partition", { [GPU_CLIQUE_LABEL]: "rack7" }, { domain: "rack7", partition: "rack7" }],
    ["is undefined without the label (HGX, or Fabric Manager not ready)", {}, undefined],
    ["is undefined for an empty label", { [GPU_CLIQUE_LABEL]: "" }, undefined],
  ])("%s", (_name, labels, want) => {
    expect(cliqueOf(labels)).toEqual(want);
  });
});

describe("costClassOf", () => {
  it.each<[string, Record<string, string>, CostClass]>([
    ["a Karpenter spot node is spot", { "karpenter.sh/capacity-type": "spot" }, "spot"],
    ["a Karpenter on-demand node is on-demand", { "karpenter.sh/capacity-type": "on-demand" }, "on-demand"],
    ["a Karpenter reserved node is on-demand", { "karpenter.sh/capacity-type": "reserved" }, "on-demand"],
    ["an EKS managed SPOT node is spot", { "eks.amazonaws.com/capacityType": "SPOT" }, "spot"],
    ["an EKS ON_DEMAND node is on-demand", { "eks.amazonaws.com/capacityType": "ON_DEMAND" }, "on-demand"],
    ["an EKS capacity block is on-demand", { "eks.amazonaws.com/capacityType": "CAPACITY_BLOCK" }, "on-demand"],
    ["a GKE spot node is spot", { "cloud.google.com/gke-spot": "true", "cloud.google.com/gke-nodepool": "gpu" }, "spot"],
    ["a GKE preemptible node is spot", { "cloud.google.com/gke-preemptible": "true" }, "spot"],
    ["a plain GKE node pool node is on-demand", { "cloud.google.com/gke-nodepool": "gpu" }, "on-demand"],
    ["gke-spot=false does not make a node spot", { "cloud.google.com/gke-spot": "false" }, "unknown"],
    ["an AKS spot node is spot", { "kubernetes.azure.com/scalesetpriority": "spot", "kubernetes.azure.com/agentpool": "gpu" }, "spot"],
    ["an AKS node without a priority label is on-demand", { "kubernetes.azure.com/agentpool": "gpu" }, "on-demand"],
    ["values compare case-insensitively", { "karpenter.sh/capacity-type": "SPOT" }, "spot"],
    ["the admin's label declares on-prem", { [COST_CLASS_LABEL]: "on-prem" }, "on-prem"],
    ["the admin's label wins over cloud labels", { [COST_CLASS_LABEL]: "on-demand", "karpenter.sh/capacity-type": "spot" }, "on-demand"],
    ["a node without cost labels is unknown", { "kubernetes.io/hostname": "n1" }, "unknown"],
  ])("%s", (_name, labels, want) => {
    expect(costClassOf(labels)).toBe(want);
  });

  it("uses the given rules instead of the defaults, first match winning", () => {
    const rules: CostClassRule[] = [
      { key: "example.com/pool", values: ["preemptible"], costClass: "spot" },
      { key: "example.com/datacenter", costClass: "on-prem" },
    ];
    expect(costClassOf({ "example.com/pool": "preemptible", "example.com/datacenter": "fra1" }, rules)).toBe("spot");
    expect(costClassOf({ "example.com/datacenter": "fra1" }, rules)).toBe("on-prem");
    expect(costClassOf({ "karpenter.sh/capacity-type": "spot" }, rules)).toBe("unknown");
  });
});

describe("gpuCountOf", () => {
  it.each<[string, string | undefined, number | undefined]>([
    ["reads a whole number", "8", 8],
    ["ignores zero", "0", undefined],
    ["ignores a negative number", "-1", undefined],
    ["ignores text", "eight", undefined],
    ["ignores a missing label", undefined, undefined],
  ])("%s", (_name, value, want) => {
    expect(gpuCountOf(value === undefined ? {} : { [GPU_COUNT_LABEL]: value })).toBe(want);
  });
});
