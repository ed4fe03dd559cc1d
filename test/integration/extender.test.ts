// POST /filter and /prioritize through buildApp(...).inject(), with ExtenderArgs
// bodies as kube-scheduler sends them in both modes: nodeCacheCapable (NodeNames,
// Nodes null) and full Node objects (Nodes, NodeNames null).
import { describe, expect, it } from "vitest";
import type { ExtenderArgsWire, ExtenderFilterResultWire, HostPriorityWire } from "../../src/extender/schema.js";
import type { Placement } from "../../src/policy/model.js";
import type { TopologyStore } from "../../src/topology/store.js";
import { buildTestApp } from "../builders/app.js";
import { gpuNodeWire, topologyStore } from "../builders/extender.js";
import { extenderFixture, extenderFixtureNodes, type ExtenderFixture } from "../fixtures/load.js";
import { metricSample as sample } from "../builders/metrics.js";

const ANY: Placement = { gpuLinks: "Any", numa: "Any", strategy: "BinPack" };

/** The fixtures' cluster: every node known (as the node informer would have it), and 6 of dgx-h100-02's 8 GPUs held by a running pod. */
function cluster(opts: { knowNodes: boolean }): TopologyStore {
  const store = topologyStore(opts.knowNodes ? extenderFixtureNodes() : []);
  store.upsertPod({ uid: "3c2b1a09-8f7e-4d6c-b5a4-938271605f4e", key: "ml-train/finetune-0", nodeName: "dgx-h100-02", gpus: 6, placement: ANY });
  return store;
}

function post(t: ReturnType<typeof buildTestApp>, url: "/filter" | "/prioritize", body: ExtenderArgsWire | string, contentType = "application/json") {
  return t.app.inject({ method: "POST", url, headers: { "content-type": contentType }, payload: typeof body === "string" ? body : JSON.stringify(body) });
}


const TRAINING_FAILED = { "dgx-h100-02": "needs 4 GPUs; 2 free and healthy" };
const TRAINING_UNRESOLVABLE = {
  "a100-pcie-01": "needs 4 NVLink-connected GPUs; largest free NVLink-connected set is 2",
  "l40s-01": "needs 4 NVLink-connected GPUs; largest free NVLink-connected set is 1",
  "cpu-01": "node has no GPUs in status.allocatable",
};

describe("POST /filter", () => {
  it("answers a nodeCacheCapable request with NodeNames and null Nodes: busy GPUs are resolvable, wiring and capacity are not", async () => {
    const t = buildTestApp({ topology: cluster({ knowNodes: true }) });
    const r = await post(t, "/filter", extenderFixture("filter-names-training-4gpu"));
    expect(r.statusCode).toBe(200);
    expect(r.headers["content-type"]).toMatch(/^application\/json/);
    expect(r.json()).toEqual({
      NodeNames: ["dgx-h100-01"],
      Nodes: null,
      FailedNodes: TRAINING_FAILED,
      FailedAndUnresolvableNodes: TRAINING_UNRESOLVABLE,
      Error: "",
    });
    await t.app.close();
  });

  it("answers a full-Nodes request with the passing Node objects unchanged and null NodeNames, learning the nodes from the body", async () => {
    const store = cluster({ knowNodes: false });
    const t = buildTestApp({ topology: store });
    const body = extenderFixture("filter-nodes-training-4gpu");
    const r = await post(t, "/filter", body);
    expect(r.statusCode).toBe(200);
    const result = r.json<ExtenderFilterResultWire>();
    expect(result.NodeNames).toBeNull();
    expect(result.Nodes).toEqual({ metadata: {}, items: [body.Nodes!.items![0]] });
    expect(result.FailedNodes).toEqual(TRAINING_FAILED);
    expect(result.FailedAndUnresolvableNodes).toEqual(TRAINING_UNRESOLVABLE);
    expect(store.nodeCount()).toBe(5);
    await t.app.close();
  });

  it("passes every node for a pod without GPUs", async () => {
    const t = buildTestApp({ topology: cluster({ knowNodes: true }) });
    const r = await post(t, "/filter", extenderFixture("filter-names-cpu-pod"));
    expect(r.json()).toEqual({ NodeNames: ["dgx-h100-01", "dgx-h100-02", "a100-pcie-01", "l40s-01", "cpu-01"], Nodes: null, FailedNodes: {}, FailedAndUnresolvableNodes: {}, Error: "" });
    await t.app.close();
  });

  it("answers names that need escaping or are not ASCII as it answers plain ones, in both verbs", async () => {
    const odd = ['gpu "quoted"', "gpu\\back", "gpü-01"];
    const store = topologyStore([...odd, "gpu-plain"].map((n) => gpuNodeWire(n).h100().build()));
    const t = buildTestApp({ topology: store });
    const body = extenderFixture("prioritize-names-inference-2gpu");
    body.NodeNames = ["gpu-plain", ...odd, "not-known"];
    const filter = (await post(t, "/filter", body)).json<ExtenderFilterResultWire>();
    expect(filter.NodeNames).toEqual(["gpu-plain", ...odd]);
    expect(filter.FailedNodes).toEqual({ "not-known": "node is not in topofit's node cache yet" });
    const scores = (await post(t, "/prioritize", body)).json<HostPriorityWire[]>();
    expect(scores.map((s) => s.Host).sort()).toEqual(["gpu-plain", ...odd, "not-known"].sort());
    expect(new Set(scores.filter((s) => s.Host !== "not-known").map((s) => s.Score))).toEqual(new Set([10]));
    await t.app.close();
  });

  it("fails names the cache does not know as resolvable, so kube-scheduler tries again", async () => {
    const t = buildTestApp({ topology: topologyStore() });
    const r = await post(t, "/filter", extenderFixture("filter-names-training-4gpu"));
    const result = r.json<ExtenderFilterResultWire>();
    expect(result.NodeNames).toEqual([]);
    expect(Object.values(result.FailedNodes)).toEqual(new Array(5).fill("node is not in topofit's node cache yet"));
    await t.app.close();
  });
});

describe("POST /prioritize", () => {
  it.each<[string, ExtenderFixture, boolean]>([
    ["a nodeCacheCapable request", "prioritize-names-inference-2gpu", true],
    ["a full-Nodes request", "prioritize-nodes-inference-2gpu", false],
  ])("answers %s with a bare array of {Host, Score} in the request's order, within 0..10", async (_name, fixture, knowNodes) => {
    const t = buildTestApp({ topology: cluster({ knowNodes }) });
    const r = await post(t, "/prioritize", extenderFixture(fixture));
    expect(r.statusCode).toBe(200);
    const scores = r.json<HostPriorityWire[]>();
    // The busy H100's last free NVLink pair ranks highest: an exact fit breaks no larger slot, which
    // outranks Spread's wish for the idle H100 (it would lose its 8-GPU slot); then the NV12 pair, then PCIe L40S.
    expect(scores).toEqual([
      { Host: "dgx-h100-01", Score: 9 },
      { Host: "dgx-h100-02", Score: 10 },
      { Host: "a100-pcie-01", Score: 8 },
      { Host: "l40s-01", Score: 7 },
    ]);
    await t.app.close();
  });

  it("scores nodes the pod cannot use 0", async () => {
    const t = buildTestApp({ topology: cluster({ knowNodes: true }) });
    const body = extenderFixture("filter-names-training-4gpu");
    const scores = (await post(t, "/prioritize", body)).json<HostPriorityWire[]>();
    expect(scores).toEqual([
      { Host: "dgx-h100-01", Score: 10 },
      { Host: "dgx-h100-02", Score: 0 },
      { Host: "a100-pcie-01", Score: 0 },
      { Host: "l40s-01", Score: 0 },
      { Host: "cpu-01", Score: 0 },
    ]);
    for (const s of scores) expect(s.Score >= 0 && s.Score <= 10).toBe(true);
    await t.app.close();
  });

  it("keeps the next pod of a burst off the GPUs the previous one was ranked onto", async () => {
    const t = buildTestApp({ topology: cluster({ knowNodes: true }) });
    const pod = (name: string) => {
      const body = extenderFixture("prioritize-names-inference-2gpu");
      body.Pod!.metadata = { ...body.Pod!.metadata, name, uid: `uid-${name}` };
      body.NodeNames = ["dgx-h100-02", "a100-pcie-01"];
      return body;
    };
    // dgx-h100-02 has exactly two free GPUs; the first pod is ranked onto them.
    expect((await post(t, "/prioritize", pod("vllm-a"))).json()).toEqual([
      { Host: "dgx-h100-02", Score: 10 },
      { Host: "a100-pcie-01", Score: 9 },
    ]);
    expect((await post(t, "/prioritize", pod("vllm-b"))).json()).toEqual([
      { Host: "dgx-h100-02", Score: 0 },
      { Host: "a100-pcie-01", Score: 10 },
    ]);
    await t.app.close();
  });
});

describe("extender errors", () => {
  it.each<[string, number, string, string, string]>([
    ["a body that is not JSON", 400, "InvalidJSON", "{Pod:", "application/json"],
    ["a JSON array", 400, "InvalidExtenderArgs", "[]", "application/json"],
    ["camelCase keys", 400, "InvalidExtenderArgs", JSON.stringify({ pod: { metadata: { name: "p" } }, nodeNames: ["a"] }), "application/json"],
    ["neither NodeNames nor Nodes", 400, "InvalidExtenderArgs", JSON.stringify({ Pod: { metadata: { name: "p" } }, Nodes: null, NodeNames: null }), "application/json"],
    ["a non-JSON content type", 415, "UnsupportedMediaType", "Pod=x", "application/x-www-form-urlencoded"],
  ])("answers %s with %i %s on both verbs", async (_name, status, code, payload, type) => {
    const t = buildTestApp({ topology: cluster({ knowNodes: true }) });
    for (const url of ["/filter", "/prioritize"] as const) {
      const r = await post(t, url, payload, type);
      expect(r.statusCode).toBe(status);
      expect(r.json()).toMatchObject({ code });
    }
    await t.app.close();
  });

  it("answers 503 PolicyNotLoaded on both verbs until a policy is in force", async () => {
    const t = buildTestApp({ policy: null, topology: cluster({ knowNodes: true }) });
    for (const url of ["/filter", "/prioritize"] as const) {
      const r = await post(t, url, extenderFixture("filter-names-training-4gpu"));
      expect(r.statusCode).toBe(503);
      expect(r.json()).toMatchObject({ code: "PolicyNotLoaded" });
    }
    await t.app.close();
  });

  it("does not serve the extender without a topology store", async () => {
    const t = buildTestApp();
    expect((await post(t, "/filter", extenderFixture("filter-names-training-4gpu"))).statusCode).toBe(404);
    await t.app.close();
  });
});

describe("extender metrics", () => {
  it("counts requests by route and outcome, and filtered nodes by cause", async () => {
    const t = buildTestApp({ topology: cluster({ knowNodes: true }) });
    await post(t, "/filter", extenderFixture("filter-names-training-4gpu"));
    await post(t, "/filter", extenderFixture("filter-names-cpu-pod"));
    const none = extenderFixture("filter-names-training-4gpu");
    none.NodeNames = ["l40s-01", "cpu-01"];
    await post(t, "/filter", none);
    await post(t, "/prioritize", extenderFixture("prioritize-names-inference-2gpu"));
    await post(t, "/prioritize", extenderFixture("filter-names-cpu-pod"));
    await post(t, "/filter", "[]");
    const text = (await t.app.inject({ method: "GET", url: "/metrics" })).body;

    expect(sample(text, "topofit_http_requests_total", { route: "/filter", outcome: "feasible" })).toBe(1);
    expect(sample(text, "topofit_http_requests_total", { route: "/filter", outcome: "no_gpus" })).toBe(1);
    expect(sample(text, "topofit_http_requests_total", { route: "/filter", outcome: "unschedulable" })).toBe(1);
    expect(sample(text, "topofit_http_requests_total", { route: "/filter", outcome: "bad_request" })).toBe(1);
    expect(sample(text, "topofit_http_requests_total", { route: "/prioritize", outcome: "scored" })).toBe(1);
    expect(sample(text, "topofit_http_requests_total", { route: "/prioritize", outcome: "no_gpus" })).toBe(1);
    expect(sample(text, "topofit_http_request_duration_seconds_count", { route: "/filter", outcome: "feasible" })).toBe(1);

    expect(text).toContain("# TYPE topofit_extender_filtered_nodes_total counter");
    expect(sample(text, "topofit_extender_filtered_nodes_total", { cause: "busy" })).toBe(1);
    expect(sample(text, "topofit_extender_filtered_nodes_total", { cause: "nvlink" })).toBe(3);
    expect(sample(text, "topofit_extender_filtered_nodes_total", { cause: "capacity" })).toBe(2);
    await t.app.close();
  });

  it("counts a request refused for want of a policy as not_ready", async () => {
    const t = buildTestApp({ policy: null, topology: cluster({ knowNodes: true }) });
    await post(t, "/prioritize", extenderFixture("prioritize-names-inference-2gpu"));
    const text = (await t.app.inject({ method: "GET", url: "/metrics" })).body;
    expect(sample(text, "topofit_http_requests_total", { route: "/prioritize", outcome: "not_ready" })).toBe(1);
    await t.app.close();
  });
});
