import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { countClaimGpus, countPodGpus, parseQuantity, podResourceClaims, type ClaimTemplateDevices, type DeviceRequestSummary } from "../../../src/admission/gpu-request.js";
import type { ContainerWire, PodWire } from "../../../src/admission/schema.js";
import { GPU, gpuContainer, pod } from "../../builders/pod.js";

const NVIDIA = new Set([GPU]);

function withRequests(requests?: Record<string, string | number>, limits?: Record<string, string | number>): ContainerWire {
  return { name: "c", resources: { ...(requests ? { requests } : {}), ...(limits ? { limits } : {}) } };
}

const sidecar = (n: number): ContainerWire => ({ ...gpuContainer("sidecar", n), restartPolicy: "Always" });
const init = (n: number): ContainerWire => gpuContainer("init", n);

describe("parseQuantity", () => {
  it.each<[unknown, number]>([
    ["2", 2],
    [2, 2],
    ["1k", 1000],
    ["1Ki", 1024],
    ["0", 0],
    ["500m", 0.5],
    ["1e3", 1000],
    [" 4 ", 4],
  ])("reads %j as %d", (raw, n) => {
    expect(parseQuantity(raw)).toBe(n);
  });

  it("reads any run of decimal digits as its number, leading zeros and long runs included", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9]{1,12}$/), (digits) => {
        expect(parseQuantity(digits)).toBe(Number(digits));
      }),
    );
  });

  it.each<[unknown]>([["two"], ["2 GPUs"], [""], [null], [undefined], [{}], [Number.POSITIVE_INFINITY]])("reads %j as not a number", (raw) => {
    expect(parseQuantity(raw)).toBeNaN();
  });
});

describe("countPodGpus", () => {
  it.each<[string, PodWire, number]>([
    ["a pod with no containers asks for none", pod().build(), 0],
    ["a CPU-only pod asks for none", pod().container(withRequests({ cpu: "2", memory: "8Gi" })).build(), 0],
    ["one container asking for 4 in requests and limits asks for 4", pod().gpus(4).build(), 4],
    ["a count in limits only counts", pod().container(withRequests(undefined, { [GPU]: "2" })).build(), 2],
    ["a count in requests only counts", pod().container(withRequests({ [GPU]: "3" })).build(), 3],
    ["a numeric quantity counts", pod().container(withRequests({ [GPU]: 2 }, { [GPU]: 2 })).build(), 2],
    ["a quantity with a decimal suffix counts", pod().container(withRequests({ [GPU]: "1k" })).build(), 1000],
    ["a quantity of \"0\" is no request", pod().container(withRequests({ [GPU]: "0" }, { [GPU]: "0" })).build(), 0],
    ["an unparsable quantity is no request", pod().container(withRequests({ [GPU]: "lots" })).build(), 0],
    ["app containers add up", pod().gpus(2).gpus(3).build(), 5],
    ["a GPU resource not named in gpuResources does not count", pod().gpus(4, "amd.com/gpu").build(), 0],
    ["an init container larger than the app containers sets the peak", pod().gpus(1).initContainer(init(4)).build(), 4],
    ["an init container smaller than the app containers does not", pod().gpus(4).initContainer(init(2)).build(), 4],
    ["init containers run one at a time, so they do not add up", pod().gpus(1).initContainer(init(3)).initContainer(init(3)).build(), 3],
    ["a sidecar adds to the app containers", pod().gpus(2).initContainer(sidecar(1)).build(), 3],
    ["sidecars add to each other", pod().gpus(1).initContainer(sidecar(1)).initContainer(sidecar(2)).build(), 4],
    ["an init container runs alongside the sidecars started before it", pod().gpus(1).initContainer(sidecar(2)).initContainer(init(3)).build(), 5],
    ["an init container does not run alongside sidecars started after it", pod().gpus(1).initContainer(init(3)).initContainer(sidecar(2)).build(), 3],
    [
      "the peak is the larger of the init peak and app plus sidecars",
      pod().gpus(2).initContainer(sidecar(1)).initContainer(init(2)).initContainer(sidecar(1)).build(),
      4,
    ],
    ["a pod with only init containers asks for their peak", pod().initContainer(init(2)).build(), 2],
    ["a spec-less pod asks for none", { apiVersion: "v1", kind: "Pod", metadata: { name: "x" } }, 0],
    ["containers that are not a list ask for none", { spec: { containers: { name: "x" } as never } }, 0],
  ])("%s", (_name, p, n) => {
    expect(countPodGpus(p, NVIDIA)).toBe(n);
  });

  it("counts every resource named in gpuResources, summed", () => {
    const resources = new Set([GPU, "nvidia.com/mig-1g.10gb"]);
    const p = pod().gpus(2).gpus(3, "nvidia.com/mig-1g.10gb").container(withRequests({ [GPU]: "1", "nvidia.com/mig-1g.10gb": "1" })).build();
    expect(countPodGpus(p, resources)).toBe(7);
  });
});

describe("countClaimGpus", () => {
  const GPU_CLASSES = new Set(["gpu.nvidia.com"]);
  const exact = (deviceClassName: string, count: number, allocationMode = "ExactCount"): DeviceRequestSummary => ({ deviceClassName, allocationMode, count, firstAvailable: false });
  const templates: Record<string, ClaimTemplateDevices> = {
    "ml/two-h100": { requests: [exact("gpu.nvidia.com", 2)] },
    "ml/gpu-and-nic": { requests: [exact("gpu.nvidia.com", 4), exact("rdma.example.com", 1)] },
    "ml/all-gpus": { requests: [exact("gpu.nvidia.com", 1, "All")] },
    "ml/h100-or-a100": { requests: [{ deviceClassName: "gpu.nvidia.com", allocationMode: "ExactCount", count: 1, firstAvailable: true }] },
    "ml/mig": { requests: [exact("mig.nvidia.com", 3)] },
  };
  const lookup = (ns: string, name: string) => templates[`${ns}/${name}`];
  const count = (...names: string[]) => countClaimGpus(names.map((t, i) => ({ name: `c${i}`, resourceClaimTemplateName: t })), "ml", lookup, GPU_CLASSES);

  it.each<[string, string[], number]>([
    ["a template asking for 2 GPUs", ["two-h100"], 2],
    ["only the requests of a GPU class", ["gpu-and-nic"], 4],
    ["every claim once, however many containers share it", ["two-h100", "gpu-and-nic"], 6],
    ["none for a class that is not a GPU class", ["mig"], 0],
  ])("counts %s", (_name, names, gpus) => {
    expect(count(...names)).toEqual({ gpus, uncounted: [], notes: [] });
  });

  it("counts allocationMode All as one GPU, and says so", () => {
    expect(count("all-gpus")).toEqual({ gpus: 1, uncounted: [], notes: ["claim c0: allocationMode All of class gpu.nvidia.com counted as 1 GPU (at least one)"] });
  });

  it("counts a firstAvailable request as its first alternative, and says so", () => {
    expect(count("h100-or-a100")).toEqual({ gpus: 1, uncounted: [], notes: ["claim c0: firstAvailable counted as its first alternative (1 GPU)"] });
  });

  it("names each claim it cannot count, and why", () => {
    const claims = [
      { name: "known", resourceClaimTemplateName: "two-h100" },
      { name: "new", resourceClaimTemplateName: "not-yet" },
      { name: "shared", resourceClaimName: "team-gpus" },
      { name: "empty" },
    ];
    const r = countClaimGpus(claims, "ml", lookup, GPU_CLASSES);
    expect(r.gpus).toBe(2);
    expect(r.uncounted).toEqual([
      "claim new: ResourceClaimTemplate ml/not-yet is not known to topofit (not created yet, or not listed yet)",
      "claim shared names ResourceClaim team-gpus; topofit counts GPUs only in claims made from templates",
      "claim empty names neither a template nor a claim",
    ]);
  });

  it("looks templates up in the pod's namespace", () => {
    expect(countClaimGpus([{ name: "c", resourceClaimTemplateName: "two-h100" }], "other", lookup, GPU_CLASSES).uncounted).toHaveLength(1);
  });

  it("podResourceClaims keeps the object entries of spec.resourceClaims only", () => {
    const p = pod().resourceClaims([{ name: "a", resourceClaimTemplateName: "t" }]).build();
    (p.spec!.resourceClaims as unknown[]).push(null, "x");
    expect(podResourceClaims(p)).toEqual([{ name: "a", resourceClaimTemplateName: "t" }]);
    expect(podResourceClaims(pod().build())).toEqual([]);
  });
});
