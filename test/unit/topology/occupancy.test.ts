import { describe, expect, it } from "vitest";
import { occupancyOf, type OccupancyInput } from "../../../src/topology/occupancy.js";
import { nvswitchTopology } from "../../builders/gpu-topology.js";
import { dcgmView } from "../../builders/extender.js";

function input(over: Partial<OccupancyInput> = {}): OccupancyInput {
  return { topology: nvswitchTopology(), dcgm: undefined, bound: [], reservations: [], knownPod: undefined, predicted: () => undefined, ...over };
}

const busyOf = (o: { busy: readonly boolean[] }) => o.busy.flatMap((b, i) => (b ? [i] : []));

describe("occupancyOf", () => {
  it("takes the GPUs DCGM attributes to a pod the API knows, as observed", () => {
    const o = occupancyOf(input({ dcgm: dcgmView(8, { pods: { 5: "ml/a", 6: "ml/a" } }), bound: [{ key: "ml/a", gpus: 2 }], knownPod: (k) => k === "ml/a" }));
    expect(busyOf(o)).toEqual([5, 6]);
    expect(o.assignments.get("ml/a")).toEqual([5, 6]);
    expect([...o.observed]).toEqual(["ml/a"]);
    expect(o.newPredictions).toEqual([]);
  });

  it("frees a GPU DCGM still attributes to a pod the API no longer has", () => {
    const o = occupancyOf(input({ dcgm: dcgmView(8, { pods: { 2: "ml/gone" } }), knownPod: () => false }));
    expect(busyOf(o)).toEqual([]);
  });

  it("trusts DCGM's attributions as they are when no pods are tracked", () => {
    expect(busyOf(occupancyOf(input({ dcgm: dcgmView(8, { pods: { 2: "ml/x" } }) })))).toEqual([2]);
  });

  it("ignores pod attributions and health in stale DCGM data", () => {
    const o = occupancyOf(input({ dcgm: dcgmView(8, { pods: { 2: "ml/x" }, unhealthy: [3], freshness: "stale" }) }));
    expect(busyOf(o)).toEqual([]);
    expect(o.freshness).toBe("stale");
    expect(o.conditions.every((c) => c === undefined)).toBe(true);
  });

  it("places a bound pod DCGM does not show yet on the GPUs reserved for it, else on the set topofit would pick, as a new prediction", () => {
    const o = occupancyOf(input({ bound: [{ key: "ml/r", gpus: 2, reserved: [6, 7] }, { key: "ml/p", gpus: 2 }] }));
    expect(o.assignments.get("ml/r")).toEqual([6, 7]);
    expect(o.assignments.get("ml/p")).toEqual([0, 1]);
    expect(o.newPredictions).toEqual(["ml/r", "ml/p"]);
  });

  it("does not call a prediction new when one was made before", () => {
    const o = occupancyOf(input({ bound: [{ key: "ml/p", gpus: 2 }], predicted: (k) => (k === "ml/p" ? [0, 1] : undefined) }));
    expect(o.newPredictions).toEqual([]);
  });

  it("holds the GPUs of reservations for pods not bound yet, unless DCGM shows them taken", () => {
    const o = occupancyOf(input({ dcgm: dcgmView(8, { pods: { 4: "ml/a" } }), bound: [{ key: "ml/a", gpus: 1 }], reservations: [{ podKey: "ml/next", gpus: [4, 5] }], knownPod: (k) => k === "ml/a" }));
    expect(o.assignments.get("ml/next")).toHaveLength(2);
    expect(o.assignments.get("ml/next")).not.toContain(4);
    expect(busyOf(o)).toHaveLength(3);
  });
});
