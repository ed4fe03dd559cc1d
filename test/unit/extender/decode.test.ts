import { describe, expect, it } from "vitest";
import { decodeExtenderArgs } from "../../../src/extender/decode.js";
import { extenderArgs, gpuNodeWire } from "../../builders/extender.js";
import { pod } from "../../builders/pod.js";

const trainer = () => pod().name("trainer-0").namespace("ml").gpus(4).build();
const nodes = [gpuNodeWire("dgx-01").h100().build(), gpuNodeWire("dgx-02").h100().build()];

describe("decodeExtenderArgs", () => {
  it("reads a nodeCacheCapable body (NodeNames set, Nodes null) as names", () => {
    const decoded = decodeExtenderArgs(extenderArgs(trainer(), nodes, "names"));
    expect(decoded).toMatchObject({ ok: true, call: { podKey: "ml/trainer-0", nodes: { mode: "names", names: ["dgx-01", "dgx-02"] } } });
  });

  it("reads a full body (Nodes set, NodeNames null) as Node objects, kept as they came", () => {
    const decoded = decodeExtenderArgs(extenderArgs(trainer(), nodes, "objects"));
    expect(decoded.ok).toBe(true);
    if (!decoded.ok || decoded.call.nodes.mode !== "objects") throw new Error("expected objects mode");
    expect(decoded.call.nodes.nodes).toEqual(nodes);
  });

  it.each<[string, Record<string, unknown>]>([
    ["an empty NodeNames list", { NodeNames: [], Nodes: null }],
    ["NodeNames with Nodes left out", { NodeNames: [] }],
  ])("reads %s as names mode with no nodes", (_name, fields) => {
    expect(decodeExtenderArgs({ Pod: trainer(), ...fields })).toMatchObject({ ok: true, call: { nodes: { mode: "names", names: [] } } });
  });

  it.each<[string, unknown]>([
    ["items: null (Go's nil slice)", { metadata: {}, items: null }],
    ["no items key", { metadata: {} }],
  ])("reads a NodeList with %s as no nodes", (_name, list) => {
    expect(decodeExtenderArgs({ Pod: trainer(), Nodes: list, NodeNames: null })).toMatchObject({ ok: true, call: { nodes: { mode: "objects", nodes: [] } } });
  });

  it("takes the pod's uid as its identity, and its namespace/name as its key", () => {
    const p = trainer();
    p.metadata = { ...p.metadata, uid: "8a1e5f3c-0b1d-4c55-9f0e-2b7d6c1a9e40" };
    expect(decodeExtenderArgs(extenderArgs(p, nodes, "names"))).toMatchObject({ ok: true, call: { podUid: "8a1e5f3c-0b1d-4c55-9f0e-2b7d6c1a9e40", podKey: "ml/trainer-0" } });
  });

  it("falls back to the pod key as identity, and to the default namespace, when the pod carries neither uid nor namespace", () => {
    const decoded = decodeExtenderArgs({ Pod: { metadata: { name: "p" } }, NodeNames: ["a"], Nodes: null });
    expect(decoded).toMatchObject({ ok: true, call: { podKey: "default/p", podUid: "default/p" } });
  });

  it.each<[string, unknown, RegExp]>([
    ["a JSON array", [], /JSON object/],
    ["a string", "filter", /JSON object/],
    ["null", null, /JSON object/],
    ["camelCase keys (pod, nodeNames)", { pod: { metadata: { name: "p" } }, nodeNames: ["a"] }, /Pod is missing.*PascalCase/],
    ["a null Pod", { Pod: null, NodeNames: ["a"], Nodes: null }, /Pod is missing/],
    ["a Pod that is a list", { Pod: [], NodeNames: ["a"], Nodes: null }, /Pod is missing/],
    ["both NodeNames and Nodes null", { Pod: { metadata: {} }, NodeNames: null, Nodes: null }, /neither NodeNames nor Nodes/],
    ["neither key", { Pod: { metadata: {} } }, /neither NodeNames nor Nodes/],
    ["NodeNames holding a number", { Pod: { metadata: {} }, NodeNames: ["a", 7], Nodes: null }, /NodeNames must be an array of strings/],
    ["Nodes.items that is not a list", { Pod: { metadata: {} }, NodeNames: null, Nodes: { items: { name: "a" } } }, /Nodes.items must be an array/],
    ["Nodes.items holding a string", { Pod: { metadata: {} }, NodeNames: null, Nodes: { items: ["a"] } }, /Nodes.items must be an array/],
  ])("rejects %s as InvalidExtenderArgs", (_name, body, message) => {
    const decoded = decodeExtenderArgs(body);
    expect(decoded.ok).toBe(false);
    if (decoded.ok) return;
    expect(decoded.error.code).toBe("InvalidExtenderArgs");
    expect(decoded.error.message).toMatch(message);
  });
});
