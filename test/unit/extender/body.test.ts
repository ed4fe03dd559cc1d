// ExtenderArgs bodies that end with a NodeNames list are read in two parts, the
// list through a cache of recent lists; every other body is left to the whole-
// body parser. Either way the result must be what JSON.parse gives.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isNameList, NodeNameLists, parseNodeNamesBody } from "../../../src/extender/body.js";

const parse = (text: string): unknown => JSON.parse(text);
const pod = { metadata: { name: "trainer-0", namespace: "ml", annotations: { "topofit.io/placement": '{"gpuLinks":"Any"}' } } };
const names = ["gpu-00001", "gpu-00002", "gpu-00003"];
/** kube-scheduler's body: Go's encoding/json, ExtenderArgs fields in struct order. */
const goBody = (n: readonly string[], p: object = pod) => Buffer.from(JSON.stringify({ Pod: p, Nodes: null, NodeNames: n }));

describe("parseNodeNamesBody", () => {
  it("reads kube-scheduler's nodeCacheCapable body into what JSON.parse gives", () => {
    const body = goBody(names);
    expect(parseNodeNamesBody(body, parse, new NodeNameLists())).toEqual(JSON.parse(body.toString()));
  });

  it("gives the same frozen array for a list it has seen, even under another pod, and a new one for another list", () => {
    const lists = new NodeNameLists();
    const a = parseNodeNamesBody(goBody(names), parse, lists) as { NodeNames: readonly string[] };
    const b = parseNodeNamesBody(goBody(names, { metadata: { name: "other" } }), parse, lists) as { NodeNames: readonly string[]; Pod: unknown };
    const c = parseNodeNamesBody(goBody(["gpu-00009"]), parse, lists) as { NodeNames: readonly string[] };
    expect(b.NodeNames).toBe(a.NodeNames);
    expect(Object.isFrozen(a.NodeNames)).toBe(true);
    expect(b.Pod).toEqual({ metadata: { name: "other" } });
    expect(c.NodeNames).toEqual(["gpu-00009"]);
    expect(lists.stats).toEqual({ hits: 1, misses: 2 });
  });

  it("tells its listener of every list it reads, reused or parsed", () => {
    const heard: boolean[] = [];
    const lists = new NodeNameLists(4, (reused) => heard.push(reused));
    for (const n of [names, names, ["x"]]) parseNodeNamesBody(goBody(n), parse, lists);
    expect(heard).toEqual([false, true, false]);
  });

  it("keeps only the last `keep` lists", () => {
    const lists = new NodeNameLists(2);
    for (const n of [["a"], ["b"], ["c"], ["a"]]) parseNodeNamesBody(goBody(n), parse, lists);
    expect(lists.stats).toEqual({ hits: 0, misses: 4 });
    parseNodeNamesBody(goBody(["a"]), parse, lists);
    expect(lists.stats.hits).toBe(1);
  });

  it.each<[string, string]>([
    ["full Nodes (NodeNames null)", JSON.stringify({ Pod: pod, Nodes: { items: [] }, NodeNames: null })],
    ["NodeNames not the last member", JSON.stringify({ Pod: pod, NodeNames: names, Nodes: null })],
    ["a NodeNames list only inside the pod", JSON.stringify({ Nodes: null, Pod: { spec: { x: 1, NodeNames: ["a"] } } })],
    ["a list followed by more members", '{"Pod":{},"NodeNames":["a"],"Extra":["b"]}'],
    ["broken JSON before the list", '{"Pod":{"a":,"NodeNames":["a"]}'],
    ["broken JSON in the list", '{"Pod":{},"NodeNames":["a",]}'],
    ["not an object", '[1,"NodeNames":["a"]]'],
    ["empty", ""],
  ])("leaves a body with %s to the whole-body parser", (_name, text) => {
    expect(parseNodeNamesBody(Buffer.from(text), parse, new NodeNameLists())).toBeUndefined();
  });

  it("reads a body with a trailing newline and spacing inside the pod or the list; other spacing is left to the whole-body parser", () => {
    const text = '{ "Pod": {"metadata": {"name": "p"}}, "Nodes": null,"NodeNames":[ "a" , "b" ]}\r\n';
    expect(parseNodeNamesBody(Buffer.from(text), parse, new NodeNameLists())).toEqual(JSON.parse(text));
    expect(parseNodeNamesBody(Buffer.from('{"Pod":{},"NodeNames": ["a"]}'), parse, new NodeNameLists())).toBeUndefined();
    expect(parseNodeNamesBody(Buffer.from('{"Pod":{},"NodeNames":["a"] }'), parse, new NodeNameLists())).toBeUndefined();
  });

  it("hands a list that is not all strings over as parsed, for decode to refuse, and never caches it", () => {
    const lists = new NodeNameLists();
    const out = parseNodeNamesBody(Buffer.from('{"Pod":{},"Nodes":null,"NodeNames":["a",1]}'), parse, lists) as { NodeNames: unknown[] };
    expect(out.NodeNames).toEqual(["a", 1]);
    parseNodeNamesBody(Buffer.from('{"Pod":{},"Nodes":null,"NodeNames":["a",1]}'), parse, lists);
    expect(lists.stats.hits).toBe(0);
  });

  it("marks the lists it makes as checked name lists; other arrays are looked at name by name, frozen or not", () => {
    const made = (parseNodeNamesBody(goBody(names), parse, new NodeNameLists()) as { NodeNames: readonly string[] }).NodeNames;
    expect(isNameList(made)).toBe(true);
    expect(isNameList(["a", "b"])).toBe(true);
    expect(isNameList([])).toBe(true);
    expect(isNameList(Object.freeze(["a", 1]))).toBe(false);
    expect(isNameList(["a", null])).toBe(false);
    expect(isNameList("a")).toBe(false);
    expect(isNameList({ length: 0 })).toBe(false);
  });

  it("equals JSON.parse of the whole body whenever it reads one, over random pods and lists", () => {
    const name = fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,20}$/);
    const value = fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.constant("NodeNames"), fc.constant(',"NodeNames":['));
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 12 }), value), fc.array(name, { maxLength: 30 }), fc.boolean(), (p, n, spaced) => {
        const lists = new NodeNameLists();
        const text = JSON.stringify({ Pod: p, Nodes: null, NodeNames: n }, null, spaced ? 1 : undefined);
        const out = parseNodeNamesBody(Buffer.from(text), parse, lists);
        if (out !== undefined) expect(out).toEqual(JSON.parse(text));
        if (!spaced) expect(out).toBeDefined();
        // Twice: the second read comes from the cache and must be the same.
        if (out !== undefined) expect(parseNodeNamesBody(Buffer.from(text), parse, lists)).toEqual(out);
      }),
      { numRuns: 300 },
    );
  });
});
