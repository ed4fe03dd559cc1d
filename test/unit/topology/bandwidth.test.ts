import { describe, expect, it } from "vitest";
import {
  DEFAULT_NVLINK_GBPS,
  DEFAULT_PCIE_GBPS,
  PCIE_PATH_FACTOR,
  linkBandwidth,
  nvlinkGBpsPerLink,
  pcieGBps,
} from "../../../src/topology/bandwidth.js";
import { LINK_KINDS, type LinkKind } from "../../../src/topology/model.js";

describe("nvlinkGBpsPerLink", () => {
  it.each<[string, string | undefined, number]>([
    ["B200 (NVLink 5) runs 100 GB/s per link", "NVIDIA B200", 100],
    ["GB200 is NVLink 5, not mistaken for B200's older relatives", "NVIDIA-GB200", 100],
    ["B300 is NVLink 5", "NVIDIA-B300-SXM6-AC", 100],
    ["H100 (NVLink 4) runs 50 GB/s per link", "NVIDIA H100 80GB HBM3", 50],
    ["the GFD label form of a name is read the same way", "NVIDIA-H100-80GB-HBM3", 50],
    ["H200 is NVLink 4", "NVIDIA-H200", 50],
    ["GH200 is NVLink 4, not confused with H200", "NVIDIA-GH200-480GB", 50],
    ["A100 (NVLink 3) runs 50 GB/s per link", "NVIDIA-A100-SXM4-80GB", 50],
    ["V100 (NVLink 2) runs 50 GB/s per link", "Tesla-V100-SXM2-32GB", 50],
    ["P100 (NVLink 1) runs 40 GB/s per link", "Tesla P100-SXM2-16GB", 40],
    ["an RTX A6000 bridge runs 28.125 GB/s per link", "NVIDIA RTX A6000", 28.125],
    ["an A40 bridge runs 28.125 GB/s per link", "NVIDIA-A40", 28.125],
    ["a GeForce RTX 3090 bridge runs 28.125 GB/s per link", "NVIDIA GeForce RTX 3090", 28.125],
    ["an RTX 6000 Ada is not taken for an RTX A6000", "NVIDIA RTX 6000 Ada Generation", DEFAULT_NVLINK_GBPS],
    ["an unknown product gets the default", "Some-Future-GPU", DEFAULT_NVLINK_GBPS],
    ["no product at all gets the default", undefined, DEFAULT_NVLINK_GBPS],
  ])("%s", (_name, product, want) => {
    expect(nvlinkGBpsPerLink(product)).toBe(want);
  });
});

describe("pcieGBps", () => {
  it.each<[string, string | undefined, number]>([
    ["H100 is PCIe Gen5 x16 (128 GB/s)", "NVIDIA-H100-80GB-HBM3", 128],
    ["H100 PCIe cards are Gen5 too", "NVIDIA H100 PCIe", 128],
    ["B200 is Gen5", "NVIDIA-B200", 128],
    ["an RTX PRO Blackwell card is Gen5", "NVIDIA RTX PRO 6000 Blackwell Server Edition", 128],
    ["A100 is Gen4 x16 (64 GB/s)", "NVIDIA-A100-PCIE-40GB", 64],
    ["L40S is Gen4", "NVIDIA-L40S", 64],
    ["L4 is Gen4", "NVIDIA-L4", 64],
    ["V100 is Gen3 x16 (32 GB/s)", "Tesla-V100-PCIE-16GB", 32],
    ["T4 is Gen3", "Tesla-T4", 32],
    ["an unknown product gets the Gen4 default", "Mystery", DEFAULT_PCIE_GBPS],
    ["no product gets the Gen4 default", undefined, DEFAULT_PCIE_GBPS],
  ])("%s", (_name, product, want) => {
    expect(pcieGBps(product)).toBe(want);
  });
});

describe("linkBandwidth", () => {
  it.each<[string, LinkKind, number, string | undefined, number | undefined, number]>([
    ["H100 NV18 is 900 GB/s", "NVLink", 18, "NVIDIA H100 80GB HBM3", undefined, 900],
    ["B200 NV18 is 1800 GB/s", "NVLink", 18, "NVIDIA B200", undefined, 1800],
    ["A100 NV12 is 600 GB/s", "NVLink", 12, "NVIDIA A100-SXM4-40GB", undefined, 600],
    ["an RTX A6000 NV4 bridge is 112.5 GB/s", "NVLink", 4, "NVIDIA RTX A6000", undefined, 112.5],
    ["a DGX-1 V100 NV2 pair is 100 GB/s", "NVLink", 2, "Tesla V100-SXM2-16GB", undefined, 100],
    ["the annotation's per-link figure overrides the product table", "NVLink", 18, "NVIDIA H100 80GB HBM3", 25, 450],
    ["an unknown product's NVLink pair uses 50 GB/s per link", "NVLink", 4, undefined, undefined, 200],
    ["the override leaves PCIe pairs alone", "PIX", 0, "NVIDIA-L40S", 25, 64],
    ["SameBoard keeps the full slot rate", "SameBoard", 0, "NVIDIA-L40S", undefined, 64],
    ["PIX keeps the full slot rate", "PIX", 0, "NVIDIA H100 PCIe", undefined, 128],
    ["PXB keeps 90%", "PXB", 0, "NVIDIA-L40S", undefined, 64 * 0.9],
    ["PHB keeps 80%", "PHB", 0, "NVIDIA-L40S", undefined, 64 * 0.8],
    ["NODE keeps 70%", "NODE", 0, "NVIDIA-L40S", undefined, 64 * 0.7],
    ["SYS keeps half", "SYS", 0, "NVIDIA-L40S", undefined, 32],
    ["SYS on a Gen5 product is 64 GB/s", "SYS", 0, "NVIDIA-H100-80GB-HBM3", undefined, 64],
  ])("%s", (_name, kind, nvlinks, product, override, want) => {
    expect(linkBandwidth(kind, nvlinks, product, override)).toBeCloseTo(want, 9);
  });

  it("ranks the PCIe kinds from closest to farthest", () => {
    const pcie = LINK_KINDS.filter((k): k is Exclude<LinkKind, "NVLink"> => k !== "NVLink").map((k) => linkBandwidth(k, 0, "NVIDIA H100 PCIe"));
    expect([...pcie].sort((a, b) => b - a)).toEqual(pcie);
    // A single bridged GA102 link is slower than the card's own Gen4 slot; the full NV4 bridge is faster.
    expect(linkBandwidth("NVLink", 1, "NVIDIA RTX A6000")).toBeLessThan(linkBandwidth("PIX", 0, "NVIDIA RTX A6000"));
    expect(linkBandwidth("NVLink", 4, "NVIDIA RTX A6000")).toBeGreaterThan(linkBandwidth("PIX", 0, "NVIDIA RTX A6000"));
  });

  it("keeps every path factor in (0, 1]", () => {
    for (const f of Object.values(PCIE_PATH_FACTOR)) expect(f > 0 && f <= 1).toBe(true);
  });
});
