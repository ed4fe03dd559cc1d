import { describe, expect, it } from "vitest";
import type { GpuCondition, GpuNode } from "../../../src/topology/model.js";
import { makeNodeState, type NodeStateInput } from "../../../src/topology/node-state.js";
import { bridgedA100Topology, nvswitchTopology } from "../../builders/gpu-topology.js";

const NVLINK = { nvlinkRequired: true, singleNuma: false };
const ANY = { nvlinkRequired: false, singleNuma: false };

function node(topology = nvswitchTopology()): GpuNode {
  return { name: "n", labels: {}, topology, allocatable: topology.gpus.length, network: [], costClass: "unknown" };
}

const cond = (c: Partial<GpuCondition> = {}): GpuCondition => ({ healthy: true, reasons: [], pods: [], ...c });

function input(over: Partial<NodeStateInput> = {}): NodeStateInput {
  const n = over.node ?? node();
  const count = n.topology.gpus.length;
  return { node: n, version: 1, busy: new Array<boolean>(count).fill(false), conditions: new Array(count).fill(undefined), dcgm: "unknown", assignments: new Map(), ...over };
}

describe("makeNodeState", () => {
  it.each<[string, boolean[], (GpuCondition | undefined)[], number, number]>([
    ["an idle node without DCGM data", [false, false, false, false, false, false, false, false], [], 8, 0],
    ["two busy GPUs", [true, true, false, false, false, false, false, false], [], 6, 0],
    ["an unhealthy GPU", [false, false, false, false, false, false, false, false], [undefined, cond({ healthy: false })], 7, 1],
    ["a GPU both busy and unhealthy, counted once each way", [true, false, false, false, false, false, false, false], [cond({ healthy: false })], 7, 1],
  ])("counts usable and unhealthy GPUs for %s", (_name, busy, conditions, usable, unhealthy) => {
    const state = makeNodeState(input({ busy, conditions }));
    expect(state.usableCount).toBe(usable);
    expect(state.unhealthyCount).toBe(unhealthy);
    expect(state.usable.filter(Boolean)).toHaveLength(usable);
  });

  it("averages utilisation over the GPUs DCGM reported it for", () => {
    const state = makeNodeState(input({ conditions: [cond({ utilization: 90 }), cond({ utilization: 10 }), cond()] }));
    expect(state.meanUtilization()).toBe(50);
  });

  it("has no utilisation without DCGM data", () => {
    expect(makeNodeState(input()).meanUtilization()).toBeUndefined();
  });

  it("reads utilisation live from the load source when given one", () => {
    const table = { values: Float64Array.of(Number.NaN, 20) };
    const state = makeNodeState(input({ conditions: [cond({ utilization: 90 })], load: { table, slot: 1 } }));
    expect(state.meanUtilization()).toBe(20);
    table.values[1] = 70;
    expect(state.meanUtilization()).toBe(70);
    table.values = Float64Array.of(Number.NaN, 33, 0);
    expect(state.meanUtilization()).toBe(33);
    table.values[1] = Number.NaN;
    expect(state.meanUtilization()).toBeUndefined();
  });

  it("memoises the best set per count and constraints", () => {
    const state = makeNodeState(input());
    expect(state.best(4, NVLINK)).toBe(state.best(4, NVLINK));
    expect(state.best(4, NVLINK)).not.toBe(state.best(4, ANY));
    expect(state.best(4, NVLINK)).not.toBe(state.best(2, NVLINK));
  });

  it("looks past busy GPUs but not unhealthy ones when asked what an idle node could do", () => {
    const busy = [false, true, false, true];
    const state = makeNodeState(input({ node: node(bridgedA100Topology()), busy, conditions: [undefined, undefined, cond({ healthy: false })] }));
    expect(state.best(2, NVLINK).ok).toBe(false);
    const idle = state.bestIfIdle(2, NVLINK);
    expect(idle).toMatchObject({ ok: true, choice: { gpus: [0, 1] } });
    expect(state.bestIfIdle(4, ANY).ok).toBe(false);
  });

  it("keeps a caller's memo entries per state", () => {
    const a = makeNodeState(input());
    const b = makeNodeState(input({ version: 2 }));
    a.memoSet(9, "verdict");
    expect(a.memoGet(9)).toBe("verdict");
    expect(a.memoGet(5)).toBeUndefined();
    expect(b.memoGet(9)).toBeUndefined();
  });
});
