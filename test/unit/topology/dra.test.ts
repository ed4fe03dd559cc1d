import { describe, expect, it } from "vitest";
import { decodeClaim, decodeSlice, DEFAULT_DRA, mapDevicesToGpus, podClaimKeys, poolView, type DraDevice } from "../../../src/topology/dra.js";
import { DraStore, type DraAllocation } from "../../../src/topology/dra-store.js";
import { gpuTopology } from "../../builders/gpu-topology.js";
import { gpuDevices, pciOf, resourceClaim, resourceSlice } from "../../builders/dra.js";

const topo4 = () => {
  const t = gpuTopology({ gpus: 4, link: (i, j) => (Math.floor(i / 2) === Math.floor(j / 2) ? "NV12" : "SYS") });
  // The agent publishes PCI bus ids and UUIDs; add them as it would.
  return { ...t, gpus: t.gpus.map((g) => ({ ...g, pciBusId: pciOf(g.index), uuid: `GPU-n-${g.index}` })) };
};

describe("decodeSlice", () => {
  it("keeps whole GPUs of a GPU driver, normalises the PCI bus id and notes blocking taints", () => {
    const rec = decodeSlice(
      resourceSlice("n1", [
        { name: "gpu-0", pci: "0000:1B:00.0", uuid: "GPU-a" },
        { name: "gpu-1-mig-1g12gb-19-4", type: "mig" },
        { name: "gpu-2", taint: { key: "gpu.nvidia.com/xid", value: "79", effect: "NoSchedule" } },
        { name: "gpu-3", taint: { key: "gpu.nvidia.com/xid", value: "13", effect: "None" } },
      ]),
      DEFAULT_DRA.gpuDrivers,
    );
    expect(rec).toMatchObject({ node: "n1", pool: "n1", driver: "gpu.nvidia.com", generation: 1 });
    expect(rec!.devices).toEqual([
      { name: "gpu-0", pciBusId: "0000:1b:00.0", uuid: "GPU-a" },
      { name: "gpu-2", blocked: "device taint gpu.nvidia.com/xid=79:NoSchedule" },
      { name: "gpu-3" },
    ]);
  });

  it.each([
    ["another driver's slice", resourceSlice("n1", gpuDevices("n1", 2), { driver: "net.example.com" })],
    ["a slice not bound to one node", { metadata: { name: "x" }, spec: { driver: "gpu.nvidia.com", pool: { name: "p" }, devices: [] } }],
    ["a slice without a name", { spec: { driver: "gpu.nvidia.com", nodeName: "n1", pool: { name: "n1" } } }],
  ])("ignores %s", (_what, wire) => {
    expect(decodeSlice(wire, DEFAULT_DRA.gpuDrivers)).toBeUndefined();
  });
});

describe("poolView", () => {
  it("uses only the highest generation, slices ordered by name, devices in slice order", () => {
    const s = (name: string, gen: number, devs: string[]) =>
      decodeSlice(resourceSlice("n1", devs.map((d) => ({ name: d })), { name, generation: gen }), DEFAULT_DRA.gpuDrivers)!;
    const view = poolView([s("b", 2, ["gpu-2", "gpu-3"]), s("old", 1, ["gpu-9"]), s("a", 2, ["gpu-1", "gpu-0"])]);
    expect(view!.devices.map((d) => d.name)).toEqual(["gpu-1", "gpu-0", "gpu-2", "gpu-3"]);
  });
});

describe("mapDevicesToGpus", () => {
  it.each<[string, DraDevice[], (number | undefined)[]]>([
    ["by PCI bus id, whatever the names say", [{ name: "gpu-0", pciBusId: pciOf(3) }, { name: "gpu-1", pciBusId: pciOf(2) }], [3, 2]],
    ["by UUID when there is no PCI bus id", [{ name: "x", uuid: "GPU-n-1" }], [1]],
    ["by the gpu-<minor> name as a last resort", [{ name: "gpu-2" }, { name: "gpu-7" }, { name: "weird" }], [2, undefined, undefined]],
    ["never twice to the same GPU: an exact match wins over a name", [{ name: "gpu-1" }, { name: "a", pciBusId: pciOf(1) }], [undefined, 1]],
    ["not at all for an unknown PCI bus id", [{ name: "gpu-x", pciBusId: "0000:ff:00.0" }], [undefined]],
  ])("maps devices %s", (_what, devices, want) => {
    expect(mapDevicesToGpus(topo4(), devices)).toEqual(want);
  });
});

describe("decodeClaim and podClaimKeys", () => {
  it.each([
    ["an exact count", { exactly: { deviceClassName: "gpu.nvidia.com", count: 4 } }, 4],
    ["a default count of one", { exactly: { deviceClassName: "gpu.nvidia.com" } }, 1],
    ["allocationMode All as at least one", { exactly: { deviceClassName: "gpu.nvidia.com", allocationMode: "All" } }, 1],
    ["the first alternative of firstAvailable", { firstAvailable: [{ deviceClassName: "gpu.nvidia.com", count: 2 }, { deviceClassName: "gpu.nvidia.com", count: 8 }] }, 2],
    ["nothing for another device class", { exactly: { deviceClassName: "nic.example.com", count: 2 } }, 0],
  ])("counts %s", (_what, request, gpus) => {
    const rec = decodeClaim({ metadata: { namespace: "ml", name: "c" }, spec: { devices: { requests: [{ name: "r", ...request }] } } }, DEFAULT_DRA.gpuDeviceClasses);
    expect(rec?.gpus).toBe(gpus);
  });

  it("reads the allocated devices and the pods the claim is reserved for", () => {
    const rec = decodeClaim(resourceClaim("ml/c", { gpus: 2, node: "n1", allocated: ["gpu-0", "gpu-1"], reservedFor: ["p1"] }), DEFAULT_DRA.gpuDeviceClasses);
    expect(rec).toEqual({ key: "ml/c", gpus: 2, allocated: ["gpu.nvidia.com/n1/gpu-0", "gpu.nvidia.com/n1/gpu-1"], reservedFor: ["p1"] });
  });

  it("names a pod's direct claims, its generated claims, and counts templates not generated yet", () => {
    const keys = podClaimKeys({
      metadata: { namespace: "ml" },
      spec: {
        resourceClaims: [
          { name: "shared", resourceClaimName: "team-gpus" },
          { name: "a", resourceClaimTemplateName: "t" },
          { name: "b", resourceClaimTemplateName: "t" },
        ],
      },
      status: { resourceClaimStatuses: [{ name: "a", resourceClaimName: "pod-a-x7k2q" }] },
    });
    expect(keys).toEqual({ keys: ["ml/team-gpus", "ml/pod-a-x7k2q"], pending: 1 });
  });
});

describe("DraStore", () => {
  const store = () => new DraStore({ gpuDrivers: () => DEFAULT_DRA.gpuDrivers, gpuDeviceClasses: () => DEFAULT_DRA.gpuDeviceClasses });

  it("shows a node's devices and which claims hold them; deleting the claim frees them", () => {
    const s = store();
    const changed: string[] = [];
    s.onNodeChange((n) => changed.push(n));
    s.upsertSlice(resourceSlice("n1", gpuDevices("n1", 4)));
    s.upsertClaim(resourceClaim("ml/c", { gpus: 2, node: "n1", allocated: ["gpu-0", "gpu-1"] }));
    expect([...s.view("n1")!.allocated]).toEqual([
      ["gpu-0", "ml/c"],
      ["gpu-1", "ml/c"],
    ]);
    s.deleteClaim("ml/c");
    expect(s.view("n1")!.allocated.size).toBe(0);
    expect(changed).toEqual(["n1", "n1", "n1"]);
    expect(s.view("n2")).toBeUndefined();
  });

  it("reports an allocation once, when a claim first gets devices", () => {
    const s = store();
    const seen: DraAllocation[] = [];
    s.onAllocation((a) => seen.push(a));
    s.upsertSlice(resourceSlice("n1", gpuDevices("n1", 4)));
    s.upsertClaim(resourceClaim("ml/c", { gpus: 2 }));
    s.upsertClaim(resourceClaim("ml/c", { gpus: 2, node: "n1", allocated: ["gpu-2", "gpu-3"], reservedFor: ["pod-uid"] }));
    s.upsertClaim(resourceClaim("ml/c", { gpus: 2, node: "n1", allocated: ["gpu-2", "gpu-3"], reservedFor: ["pod-uid", "other"] }));
    expect(seen).toEqual([{ claim: "ml/c", podUids: ["pod-uid"], node: "n1", devices: ["gpu-2", "gpu-3"] }]);
  });

  it("counts a pod's GPUs from the claims it knows, and says how many it does not know yet", () => {
    const s = store();
    s.upsertClaim(resourceClaim("ml/gpus", { gpus: 4 }));
    s.upsertClaim(resourceClaim("ml/nic", { gpus: 1, deviceClassName: "nic.example.com" }));
    const pod = (names: string[]) => ({ metadata: { namespace: "ml" }, spec: { resourceClaims: names.map((n) => ({ name: n, resourceClaimName: n })) } });
    expect(s.claimGpus(pod(["gpus", "nic"]))).toEqual({ gpus: 4, unresolved: 0 });
    expect(s.claimGpus(pod(["gpus", "later"]))).toEqual({ gpus: 4, unresolved: 1 });
  });

  it("moves a node's view when a slice is replaced by a newer pool generation", () => {
    const s = store();
    s.upsertSlice(resourceSlice("n1", gpuDevices("n1", 4), { name: "s1", generation: 1 }));
    s.upsertSlice(resourceSlice("n1", gpuDevices("n1", 2), { name: "s2", generation: 2 }));
    expect(s.view("n1")!.devices).toHaveLength(2);
    s.deleteSlice("s2");
    expect(s.view("n1")!.devices).toHaveLength(4);
    s.deleteSlice("s1");
    expect(s.view("n1")).toBeUndefined();
  });
});
