import { describe, expect, it } from "vitest";
import { GpuShapes } from "../../../src/topology/gpu-shape.js";
import { bridgedA100Topology, gpuTopology, nvswitchTopology, usableExcept } from "../../builders/gpu-topology.js";

const NVLINK = { nvlinkRequired: true, singleNuma: false };
const healthy = (n: number) => new Array<boolean>(n).fill(true);

describe("GpuShapes", () => {
  it("gives nodes wired alike, with the same GPUs free and healthy, one shape, whose answers they share", () => {
    const shapes = new GpuShapes();
    // Two topology objects built separately (as for two nodes), equal in wiring and NUMA.
    const a = shapes.shape(nvswitchTopology(), 8, usableExcept(8, 0, 1), healthy(8));
    const b = shapes.shape(nvswitchTopology(), 8, usableExcept(8, 0, 1), healthy(8));
    expect(b).toBe(a);
    expect(b.best(4, NVLINK)).toBe(a.best(4, NVLINK));
    a.memoSet(7, "verdict");
    expect(b.memoGet(7)).toBe("verdict");
  });

  it.each<[string, () => Parameters<GpuShapes["shape"]>]>([
    ["other GPUs are free", () => [nvswitchTopology(), 8, usableExcept(8, 2, 3), healthy(8)]],
    ["a GPU is unhealthy rather than busy", () => [nvswitchTopology(), 8, usableExcept(8, 0, 1), [false, true, true, true, true, true, true, true]]],
    ["the allocatable count differs", () => [nvswitchTopology(), 7, usableExcept(8, 0, 1), healthy(8)]],
    ["the wiring differs", () => [gpuTopology({ gpus: 8, link: () => "PIX" }), 8, usableExcept(8, 0, 1), healthy(8)]],
    ["the NUMA layout differs", () => [gpuTopology({ gpus: 8, link: () => "NV18", numa: () => 0 }), 8, usableExcept(8, 0, 1), healthy(8)]],
  ])("gives a node another shape when %s", (_name, args) => {
    const shapes = new GpuShapes();
    const first = shapes.shape(nvswitchTopology(), 8, usableExcept(8, 0, 1), healthy(8));
    expect(shapes.shape(...args())).not.toBe(first);
  });

  it("counts usable and unhealthy GPUs of a shape", () => {
    const shape = new GpuShapes().shape(bridgedA100Topology(), 4, [true, false, true, false], [true, true, true, false]);
    expect(shape.usableCount).toBe(2);
    expect(shape.unhealthyCount).toBe(1);
  });

  it("keeps only the shapes still in use when pruned", () => {
    const shapes = new GpuShapes();
    const kept = shapes.shape(nvswitchTopology(), 8, usableExcept(8), healthy(8));
    const dropped = shapes.shape(nvswitchTopology(), 8, usableExcept(8, 5), healthy(8));
    shapes.prune([kept]);
    expect(shapes.size()).toBe(1);
    expect(shapes.shape(nvswitchTopology(), 8, usableExcept(8), healthy(8))).toBe(kept);
    expect(shapes.shape(nvswitchTopology(), 8, usableExcept(8, 5), healthy(8))).not.toBe(dropped);
  });
});
