import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { linkCodeOf, pairIndex } from "../../../src/topology/annotation.js";
import { buildNodeTopology } from "../../../src/topology/build.js";
import { GPU_COUNT_LABEL, GPU_MACHINE_LABEL, GPU_PRODUCT_LABEL, TOPOLOGY_PROFILE_LABEL } from "../../../src/topology/labels.js";
import {
  BUILTIN_PROFILES,
  matchProfiles,
  profileLinkCodes,
  selectProfile,
  validateProfiles,
  type ProfileIssue,
  type TopologyProfile,
} from "../../../src/topology/profiles.js";

function profile(name: string): TopologyProfile {
  const p = BUILTIN_PROFILES.find((x) => x.name === name);
  if (!p) throw new Error(`no built-in profile ${name}`);
  return p;
}

/** The link code of every pair, as "i-j:CODE". */
function codes(p: TopologyProfile): Map<string, string> {
  const out = new Map<string, string>();
  const list = profileLinkCodes(p);
  for (let i = 0; i < p.gpuCount; i++) for (let j = i + 1; j < p.gpuCount; j++) out.set(`${i}-${j}`, linkCodeOf(list[pairIndex(p.gpuCount, i, j)]!));
  return out;
}

function codeOf(p: TopologyProfile, i: number, j: number): string {
  return codes(p).get(`${Math.min(i, j)}-${Math.max(i, j)}`)!;
}

const gfd = (product: string, count: number, extra: Record<string, string> = {}) => ({ [GPU_PRODUCT_LABEL]: product, [GPU_COUNT_LABEL]: String(count), ...extra });

describe("BUILTIN_PROFILES", () => {
  it("pass the validator that admins' profiles go through", () => {
    expect(validateProfiles(BUILTIN_PROFILES)).toEqual({ ok: true, profiles: BUILTIN_PROFILES });
  });

  it.each(BUILTIN_PROFILES.map((p) => [p.name, p] as const))("%s builds a complete, symmetric topology with a NUMA node per GPU", (_name, p) => {
    const { topology } = buildNodeTopology({ labels: { [TOPOLOGY_PROFILE_LABEL]: p.name }, annotations: {}, allocatableGpus: p.gpuCount, profiles: BUILTIN_PROFILES });
    expect(topology.source).toBe("profile");
    expect(topology.gpus).toHaveLength(p.gpuCount);
    expect(p.numaNodes).toHaveLength(p.gpuCount);
    for (let i = 0; i < p.gpuCount; i++) {
      expect(topology.gpus[i]!.numaNode).toBe(p.numaNodes![i]);
      for (let j = 0; j < p.gpuCount; j++) {
        if (i === j) continue;
        expect(topology.links[i]![j]).toEqual(topology.links[j]![i]);
        expect(topology.links[i]![j]!.bandwidthGBps).toBeGreaterThan(0);
      }
    }
  });

  it.each([
    ["hgx-h100-8", "NV18"],
    ["hgx-h200-8", "NV18"],
    ["hgx-b200-8", "NV18"],
    ["hgx-a100-sxm4-8", "NV12"],
  ])("%s connects every pair with %s and puts GPUs 0-3 on NUMA 0, 4-7 on NUMA 1", (name, code) => {
    const p = profile(name);
    expect(new Set(codes(p).values())).toEqual(new Set([code]));
    expect(p.numaNodes).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
  });

  it("a100-pcie-4-bridged bridges 0-1 and 2-3 with NV12 and crosses sockets elsewhere", () => {
    const p = profile("a100-pcie-4-bridged");
    expect(Object.fromEntries(codes(p))).toEqual({ "0-1": "NV12", "2-3": "NV12", "0-2": "SYS", "0-3": "SYS", "1-2": "SYS", "1-3": "SYS" });
    expect(p.numaNodes).toEqual([0, 0, 1, 1]);
  });

  it("l40s-8 has no NVLink: PIX under a shared switch, NODE within a socket, SYS across", () => {
    const p = profile("l40s-8");
    const socket = (i: number) => (i < 4 ? 0 : 1);
    for (let i = 0; i < 8; i++) {
      for (let j = i + 1; j < 8; j++) {
        const want = Math.floor(i / 2) === Math.floor(j / 2) ? "PIX" : socket(i) === socket(j) ? "NODE" : "SYS";
        expect(codeOf(p, i, j), `pair ${i}-${j}`).toBe(want);
      }
    }
  });

  it("dgx1-v100-8 gives every GPU six NVLinks (the hybrid cube-mesh)", () => {
    const p = profile("dgx1-v100-8");
    for (let i = 0; i < 8; i++) {
      let links = 0;
      for (let j = 0; j < 8; j++) {
        const c = i === j ? "X" : codeOf(p, i, j);
        if (c.startsWith("NV")) links += Number(c.slice(2));
      }
      expect(links, `GPU ${i}`).toBe(6);
    }
  });

  it("gives an H100 NV18 pair 900 GB/s and a B200 NV18 pair 1800 GB/s", () => {
    const bw = (product: string) =>
      buildNodeTopology({ labels: gfd(product, 8), annotations: {}, allocatableGpus: 8, profiles: BUILTIN_PROFILES }).topology.links[0]![7]!.bandwidthGBps;
    expect(bw("NVIDIA-H100-80GB-HBM3")).toBe(900);
    expect(bw("NVIDIA-B200")).toBe(1800);
  });
});

describe("selectProfile", () => {
  it.each<[string, Record<string, string>, string | undefined]>([
    ["an HGX H100 node by product and count", gfd("NVIDIA-H100-80GB-HBM3", 8), "hgx-h100-8"],
    ["a time-sliced HGX H100 node (product marked -SHARED)", gfd("NVIDIA-H100-80GB-HBM3-SHARED", 8), "hgx-h100-8"],
    ["an HGX H200 node", gfd("NVIDIA-H200", 8), "hgx-h200-8"],
    ["an HGX H200 node whose product names its memory", gfd("NVIDIA-H200-141GB-HBM3e", 8), "hgx-h200-8"],
    ["a B200 node", gfd("NVIDIA-B200", 8), "hgx-b200-8"],
    ["an A100 SXM4 80GB node", gfd("NVIDIA-A100-SXM4-80GB", 8), "hgx-a100-sxm4-8"],
    ["an A100 SXM4 node from an older driver without the NVIDIA prefix", gfd("A100-SXM4-40GB", 8), "hgx-a100-sxm4-8"],
    ["a 4-GPU A100 PCIe node", gfd("NVIDIA-A100-PCIE-40GB", 4), "a100-pcie-4-bridged"],
    ["a 4-GPU A100 80GB PCIe node", gfd("NVIDIA-A100-80GB-PCIe", 4), "a100-pcie-4-bridged"],
    ["an 8-GPU L40S node", gfd("NVIDIA-L40S", 8), "l40s-8"],
    ["a 4-GPU L40S node", gfd("NVIDIA-L40S", 4), "l40s-4"],
    ["a DGX-1 by its machine label", { [GPU_MACHINE_LABEL]: "DGX-1", [GPU_COUNT_LABEL]: "8", [GPU_PRODUCT_LABEL]: "Tesla-V100-SXM2-16GB" }, "dgx1-v100-8"],
    ["no profile for a 4-GPU H100 node (count differs)", gfd("NVIDIA-H100-80GB-HBM3", 4), undefined],
    ["no profile for H100 PCIe cards (no NVSwitch)", gfd("NVIDIA-H100-PCIe", 8), undefined],
    ["no profile for H100 NVL cards", gfd("NVIDIA-H100-NVL", 8), undefined],
    ["no profile for H200 NVL cards", gfd("NVIDIA-H200-NVL", 8), undefined],
    ["no profile without GPU labels", { "kubernetes.io/hostname": "n1" }, undefined],
    ["the generic profiles by name only", { [TOPOLOGY_PROFILE_LABEL]: "pcie-2socket-8" }, "pcie-2socket-8"],
    ["the named profile even when another would match the labels", gfd("NVIDIA-L40S", 8, { [TOPOLOGY_PROFILE_LABEL]: "pcie-2socket-8" }), "pcie-2socket-8"],
    ["nothing for a name that is not defined", gfd("NVIDIA-L40S", 8, { [TOPOLOGY_PROFILE_LABEL]: "nope" }), undefined],
  ])("picks %s", (_name, labels, want) => {
    expect(selectProfile(labels, BUILTIN_PROFILES)?.profile.name).toBe(want);
  });

  it("says which labels selected the profile", () => {
    expect(selectProfile(gfd("NVIDIA-H100-80GB-HBM3", 8), BUILTIN_PROFILES)?.reason).toBe(
      "profile hgx-h100-8 (labels nvidia.com/gpu.product=NVIDIA-H100-80GB-HBM3, nvidia.com/gpu.count=8)",
    );
  });

  it("prefers an earlier profile in the list, so admins' profiles go first", () => {
    const mine: TopologyProfile = { name: "our-h100", match: { product: "NVIDIA-H100-80GB-HBM3" }, gpuCount: 8, allPairs: "NV18" };
    const all = [mine, ...BUILTIN_PROFILES];
    expect(matchProfiles(gfd("NVIDIA-H100-80GB-HBM3", 8), all).map((m) => m.profile.name)).toEqual(["our-h100", "hgx-h100-8"]);
  });

  it("matches arbitrary labels, exactly or by regular expression", () => {
    const p: TopologyProfile = { name: "rack-a", match: { labels: { "example.com/sku": "/^gpu-box-(a|b)$/i", "example.com/site": "fra" } }, gpuCount: 2, allPairs: "PIX" };
    expect(selectProfile({ "example.com/sku": "GPU-BOX-B", "example.com/site": "fra" }, [p])?.reason).toBe("profile rack-a (labels example.com/sku=GPU-BOX-B, example.com/site=fra)");
    expect(selectProfile({ "example.com/sku": "gpu-box-c", "example.com/site": "fra" }, [p])).toBeUndefined();
    expect(selectProfile({ "example.com/sku": "gpu-box-a" }, [p])).toBeUndefined();
  });
});

describe("profileLinkCodes", () => {
  it("applies groups in order over allPairs, later groups winning", () => {
    const p: TopologyProfile = {
      name: "x",
      match: {},
      gpuCount: 3,
      allPairs: "SYS",
      groups: [
        { gpus: [0, 1, 2], link: "NODE" },
        { gpus: [2, 0], link: "NV4" },
      ],
    };
    expect(Object.fromEntries(codes(p))).toEqual({ "0-1": "NODE", "0-2": "NV4", "1-2": "NODE" });
  });
});

describe("validateProfiles", () => {
  const valid = (): Record<string, any> => ({ name: "my-box", match: { product: "NVIDIA-L40S", count: 2 }, gpuCount: 2, numaNodes: [0, null], allPairs: "PIX" });
  const errorsOf = (list: unknown, path?: string): string[] => {
    const r = validateProfiles(list, path);
    return r.ok ? [] : r.errors.map((e: ProfileIssue) => `${e.path}: ${e.message}`);
  };

  it("accepts the base profile used by the cases below", () => {
    expect(errorsOf([valid()])).toEqual([]);
  });

  it("accepts a profile written in YAML", () => {
    const yaml = `
- name: box-4
  match: {labels: {example.com/sku: "/^box4$/"}}
  gpuCount: 4
  numaNodes: [0, 0, 1, 1]
  links: [NV4, SYS, SYS, SYS, SYS, NV4]
  nvlinkGBps: 25
`;
    expect(errorsOf(parseYaml(yaml))).toEqual([]);
  });

  it.each<[string, (p: Record<string, any>) => void, string[]]>([
    ["an unknown field lists the known ones", (p) => (p.gpus = 2), ["profiles[0].gpus: unknown field (known fields here: name, description, match, gpuCount, numaNodes, links, allPairs, groups, nvlinkGBps)"]],
    ["a missing name", (p) => delete p.name, ["profiles[0].name: is required"]],
    ["a name that is not a DNS label", (p) => (p.name = "My Box"), ['profiles[0].name: must be a lowercase DNS label, at most 63 characters (got "My Box")']],
    ["a missing gpuCount", (p) => delete p.gpuCount, ["profiles[0].gpuCount: is required"]],
    ["a gpuCount over the limit", (p) => (p.gpuCount = 65), ["profiles[0].gpuCount: must be an integer in 1..64 (got 65)"]],
    ["a missing match", (p) => delete p.match, ["profiles[0].match: is required (use {} for a profile chosen only by name)"]],
    ["an unknown match field", (p) => (p.match.family = "ada"), ["profiles[0].match.family: unknown field (known fields here: product, count, machine, labels)"]],
    ["a match count that contradicts gpuCount", (p) => (p.match.count = 4), ["profiles[0].match.count: is 4 but gpuCount is 2: the profile could never apply"]],
    ["a broken regular expression", (p) => (p.match.product = "/L40S(/"), ["profiles[0].match.product: is not a valid regular expression: Invalid regular expression: /L40S(/: Unterminated group"]],
    ["a numeric product", (p) => (p.match.product = 40), ["profiles[0].match.product: must be a string (got 40)"]],
    ["a label value that is not a string, with the key quoted in the path", (p) => (p.match.labels = { "example.com/sku": 3 }), ['profiles[0].match.labels["example.com/sku"]: must be a string (got 3)']],
    ["numaNodes of the wrong length", (p) => (p.numaNodes = [0]), ["profiles[0].numaNodes: must list 2 entries, one per GPU (got 1)"]],
    ["a negative NUMA node", (p) => (p.numaNodes = [0, -1]), ["profiles[0].numaNodes[1]: must be a NUMA node number or null (got -1)"]],
    ["both links and allPairs", (p) => (p.links = ["PIX"]), ["profiles[0].links: give either links or allPairs, not both"]],
    ["neither links nor allPairs", (p) => delete p.allPairs, ["profiles[0]: needs links (upper-triangle codes) or allPairs (one code for every pair)"]],
    ["a bad allPairs code", (p) => (p.allPairs = "NVLINK"), ['profiles[0].allPairs: must be a link code (NV<n>, SB, PIX, PXB, PHB, NODE, SYS) (got "NVLINK")']],
    [
      "links of the wrong length and with a bad code, both reported",
      (p) => (delete p.allPairs, (p.links = ["PIX", "XX"])),
      ["profiles[0].links: must list the 1 pairs of 2 GPUs (upper triangle, row-major), got 2", 'profiles[0].links[1]: must be a link code (NV<n>, SB, PIX, PXB, PHB, NODE, SYS) (got "XX")'],
    ],
    ["a group with one GPU", (p) => (p.groups = [{ gpus: [0], link: "NV2" }]), ["profiles[0].groups[0].gpus: must list at least 2 GPU indices (got an array)"]],
    ["a group GPU out of range", (p) => (p.groups = [{ gpus: [0, 2], link: "NV2" }]), ["profiles[0].groups[0].gpus[1]: must be a GPU index in 0..1 (got 2)"]],
    ["a group repeating a GPU", (p) => (p.groups = [{ gpus: [1, 1], link: "NV2" }]), ["profiles[0].groups[0].gpus[1]: repeats GPU 1"]],
    ["a group with a bad code and an unknown field", (p) => (p.groups = [{ gpus: [0, 1], link: "NV", via: "bridge" }]), [
      "profiles[0].groups[0].via: unknown field (known fields here: gpus, link)",
      'profiles[0].groups[0].link: must be a link code (NV<n>, SB, PIX, PXB, PHB, NODE, SYS) (got "NV")',
    ]],
    ["a zero nvlinkGBps", (p) => (p.nvlinkGBps = 0), ["profiles[0].nvlinkGBps: must be a number in (0, 1000] (got 0)"]],
  ])("reports %s with its path", (_name, breakIt, want) => {
    const p = valid();
    breakIt(p);
    expect(errorsOf([p])).toEqual(want);
  });

  it("reports every error across profiles, not just the first, under the given path", () => {
    const a = valid();
    a.gpuCount = 0;
    const b = valid();
    b.name = "other-box";
    b.allPairs = "??";
    expect(errorsOf([a, b, "nope"], "spec.topologyProfiles")).toEqual([
      "spec.topologyProfiles[0].gpuCount: must be an integer in 1..64 (got 0)",
      'spec.topologyProfiles[1].allPairs: must be a link code (NV<n>, SB, PIX, PXB, PHB, NODE, SYS) (got "??")',
      'spec.topologyProfiles[2]: must be an object (got "nope")',
    ]);
  });

  it("rejects two profiles with one name", () => {
    expect(errorsOf([valid(), valid()])).toEqual(["profiles[1].name: repeats the name of profiles[0]"]);
  });

  it("rejects something that is not a list", () => {
    expect(errorsOf({ name: "x" })).toEqual(["profiles: must be a list of profiles (got an object)"]);
  });
});
