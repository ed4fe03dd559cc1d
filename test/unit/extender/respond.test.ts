import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { VerdictCore } from "../../../src/extender/filter.js";
import type { PodIntent } from "../../../src/extender/intent.js";
import { JsonWriter, ReplyBuffers } from "../../../src/extender/json-writer.js";
import { filterError, respondToFilter, respondToPrioritize } from "../../../src/extender/respond.js";
import type { FilterOutcome, PrioritizeOutcome } from "../../../src/extender/review.js";
import { MAX_EXTENDER_PRIORITY, MIN_EXTENDER_PRIORITY, type ExtenderFilterResultWire } from "../../../src/extender/schema.js";
import type { GpuSetChoice } from "../../../src/topology/node-state.js";
import { extenderCall, filterReply, gpuNodeWire, prioritizeReply, type ExtenderMode } from "../../builders/extender.js";
import { pod } from "../../builders/pod.js";

const CHOICE: GpuSetChoice = { gpus: [0, 1], bottleneckGBps: 900, totalGBps: 900, numaSpan: 1, fragmentation: [0, 900, 900, 1], residualScore: 1, allNvlink: true, exact: true };
const INTENT: PodIntent = { gpus: 2, placement: { gpuLinks: "NVLinkRequired", numa: "Any", strategy: "BinPack" }, placementSource: "annotation" };
const NODES = ["dgx-01", "dgx-02", "l40s-01", "cpu-01"].map((n) => gpuNodeWire(n).h100().build());

const BUSY_REASON = "needs 2 GPUs; 1 free and healthy";
const WIRING_REASON = "needs 2 NVLink-connected GPUs; largest free NVLink-connected set is 1";
const NO_GPUS_REASON = "node has no GPUs in status.allocatable";
const PASS: VerdictCore = { ok: true, choice: CHOICE };
const BUSY: VerdictCore = { ok: false, reason: BUSY_REASON, resolvable: true };
const WIRING: VerdictCore = { ok: false, reason: WIRING_REASON, resolvable: false };
const NO_GPUS: VerdictCore = { ok: false, reason: NO_GPUS_REASON, resolvable: false };

function filterOutcome(cores: readonly VerdictCore[], passThrough = false): FilterOutcome {
  return { intent: INTENT, names: NODES.map((n) => n.metadata!.name!), cores, passThrough, verdicts: [] };
}

const call = (mode: ExtenderMode) => extenderCall(pod().name("trainer-0").namespace("ml").gpus(2).build(), NODES, mode);

describe("respondToFilter", () => {
  it("answers a names request with NodeNames (in request order), Nodes null, and each failed node in the map its resolvability picks", () => {
    expect(filterReply(call("names"), filterOutcome([PASS, BUSY, WIRING, NO_GPUS]))).toEqual({
      NodeNames: ["dgx-01"],
      Nodes: null,
      FailedNodes: { "dgx-02": BUSY_REASON },
      FailedAndUnresolvableNodes: { "l40s-01": WIRING_REASON, "cpu-01": NO_GPUS_REASON },
      Error: "",
    });
  });

  it("answers a full-Nodes request with the passing Node objects as they came, and NodeNames null", () => {
    const c = call("objects");
    const result = filterReply(c, filterOutcome([BUSY, PASS, PASS, WIRING]));
    expect(result.NodeNames).toBeNull();
    expect(result.Nodes).toEqual({ metadata: {}, items: [NODES[1], NODES[2]] });
    expect(result.FailedNodes).toEqual({ "dgx-01": BUSY_REASON });
    expect(Object.keys(result.FailedAndUnresolvableNodes)).toEqual(["cpu-01"]);
  });

  it("keeps non-ASCII text in the Node objects it returns intact (UTF-8 in, UTF-8 out)", () => {
    const odd = gpuNodeWire("dgx-03").h100().annotations({ "example.com/owner": "Zoë Müller 🚀", "example.com/note": "\u2028 line sep" }).build();
    const nodes = [odd, NODES[1]!];
    const c = extenderCall(pod().name("trainer-0").namespace("ml").gpus(2).build(), nodes, "objects");
    const outcome: FilterOutcome = { intent: INTENT, names: nodes.map((n) => n.metadata!.name!), cores: [PASS, BUSY], passThrough: false, verdicts: [] };
    expect(filterReply(c, outcome).Nodes).toEqual({ metadata: {}, items: [odd] });
  });

  it.each<[ExtenderMode, object]>([
    ["names", { NodeNames: [], Nodes: null }],
    ["objects", { Nodes: { metadata: {}, items: [] }, NodeNames: null }],
  ])("answers a %s request where no node passes with an empty list in the matching field, never null", (mode, fields) => {
    expect(filterReply(call(mode), filterOutcome([BUSY, BUSY, WIRING, NO_GPUS]))).toMatchObject(fields);
  });

  it.each<ExtenderMode>(["names", "objects"])("passes every node of a %s request untouched for a pod without GPUs", (mode) => {
    const pass: VerdictCore = { ok: false, reason: "", resolvable: true };
    const result = filterReply(call(mode), filterOutcome([pass, pass, pass, pass], true));
    expect(result.FailedNodes).toEqual({});
    expect(result.FailedAndUnresolvableNodes).toEqual({});
    if (mode === "names") expect(result.NodeNames).toEqual(["dgx-01", "dgx-02", "l40s-01", "cpu-01"]);
    else expect(result.Nodes?.items).toEqual(NODES);
  });

  it("reports an error through Error with empty maps", () => {
    expect(JSON.parse(filterError('boom "quoted"').toString("utf8"))).toEqual({ FailedNodes: {}, FailedAndUnresolvableNodes: {}, Error: 'boom "quoted"' });
  });

  it("writes node names and reasons that need escaping as valid JSON", () => {
    const odd = ['node "a"', "node\\b", "nöde-ç", "tab\there"];
    const nodes = odd.map((n) => gpuNodeWire(n).h100().build());
    const c = extenderCall(pod().name("p").namespace("ml").gpus(2).build(), nodes, "names");
    const reason = 'needs 2 GPUs; "quoted" \\ reason';
    const outcome: FilterOutcome = { intent: INTENT, names: odd, cores: [PASS, { ok: false, reason, resolvable: true }, PASS, WIRING], passThrough: false, verdicts: [] };
    expect(filterReply(c, outcome)).toEqual({
      NodeNames: [odd[0], odd[2]],
      Nodes: null,
      FailedNodes: { [odd[1]!]: reason },
      FailedAndUnresolvableNodes: { [odd[3]!]: WIRING_REASON },
      Error: "",
    });
  });
});

describe("respondToFilter for a list sent again", () => {
  // The same frozen array (what body.ts hands out for a repeated list) is answered from names
  // encoded once; the bytes must be those a fresh list gets, for any pattern of verdicts.
  const names = Object.freeze(Array.from({ length: 30 }, (_, i) => (i === 4 ? "gpu-ü-04" : i === 9 ? 'odd"09' : `gpu-${String(i).padStart(2, "0")}`)));
  const c = extenderCall(pod().name("p").namespace("ml").gpus(2).build(), [], "names");
  const namesCall = { ...c, nodes: { mode: "names" as const, names } };
  const freshCall = { ...c, nodes: { mode: "names" as const, names: [...names] } };

  it("writes what it writes for a fresh list, over random verdicts, runs of passing nodes at either end included", () => {
    let calls = 0;
    fc.assert(
      fc.property(fc.array(fc.constantFrom(PASS, BUSY, WIRING, NO_GPUS), { minLength: names.length, maxLength: names.length }), fc.boolean(), (cores, passThrough) => {
        const outcome = (list: readonly string[]): FilterOutcome => ({ intent: INTENT, names: list, cores, passThrough, verdicts: [] });
        const again = respondToFilter(namesCall, outcome(names)).toString("utf8");
        const afresh = respondToFilter(freshCall, outcome(freshCall.nodes.names)).toString("utf8");
        expect(again).toBe(afresh);
        const parsed = JSON.parse(again) as ExtenderFilterResultWire;
        expect(parsed.NodeNames).toEqual(names.filter((_, i) => passThrough || cores[i]!.ok));
        calls += 1;
      }),
      { numRuns: 300, examples: [[new Array(names.length).fill(PASS), false], [new Array(names.length).fill(BUSY), false]] },
    );
    expect(calls).toBeGreaterThanOrEqual(300);
  });
});

describe("JsonWriter", () => {
  it("copies spans of bytes, short and long, as they are", () => {
    const src = Buffer.from(`"${"x".repeat(100)}","y"`);
    const out = new JsonWriter(4);
    expect(out.raw("[").copy(src, 0, 102).raw(",").copy(src, 103, 106).raw("]").bytes().toString()).toBe(`["${"x".repeat(100)}","y"]`);
  });


  it.each<[string]>([["gpu-00001"], ['a "quoted" name'], ["back\\slash"], ["new\nline"], ["ünïcode"], ["\u2028"], ["emoji 🚀"], [""]])("writes %j as JSON.stringify does", (s) => {
    const out = new JsonWriter(4);
    const text = out.raw("[").string(s).raw(",").repeatedString(s).raw(",{\"k\"").repeatedValue(s).raw("}]").bytes().toString("utf8");
    expect(text).toBe(`[${JSON.stringify(s)},${JSON.stringify(s)},{"k":${JSON.stringify(s)}}]`);
  });

  it("grows past its first buffer, and starts afresh on reset", () => {
    const out = new JsonWriter(8);
    expect(out.raw("[").string("x".repeat(100)).raw("]").bytes().toString()).toBe(`["${"x".repeat(100)}"]`);
    expect(out.storage.length).toBeGreaterThanOrEqual(104);
    expect(out.reset().raw("[]").bytes().toString()).toBe("[]");
  });
});

describe("JsonWriter.json", () => {
  it("writes JSON text of any characters as UTF-8, growing as needed", () => {
    const text = JSON.stringify({ a: "ünïcode 🚀", b: ["\u2028", 'q"'] });
    const out = new JsonWriter(4);
    expect(out.raw("[").json(text).raw("]").bytes().toString("utf8")).toBe(`[${text}]`);
  });
});

describe("JsonWriter.bytes", () => {
  it("is the text written since reset, as a view of the storage (no copy)", () => {
    const out = new JsonWriter(64);
    const bytes = out.raw("[").string("dgx-01").raw("]").bytes();
    expect(bytes.toString()).toBe('["dgx-01"]');
    expect(bytes.buffer).toBe(out.storage.buffer);
  });
});

describe("ReplyBuffers", () => {
  it("never lends one buffer to two replies at once", () => {
    const pool = new ReplyBuffers({ firstBytes: 16 });
    const a = pool.writer();
    const b = pool.writer();
    expect(a.storage).not.toBe(b.storage);
    expect(pool.stats).toEqual({ reused: 0, allocated: 2, idle: 0 });
  });

  it("lends a returned buffer again, and takes back the larger one a writer grew into", () => {
    const pool = new ReplyBuffers({ firstBytes: 16 });
    const a = pool.writer();
    a.raw("x".repeat(100));
    const grown = a.storage;
    expect(grown.length).toBeGreaterThanOrEqual(100);
    pool.release(a);
    const b = pool.writer();
    expect(b.storage).toBe(grown);
    expect(b.reset().raw("[]").bytes().toString()).toBe("[]");
    expect(pool.stats).toEqual({ reused: 1, allocated: 1, idle: 0 });
  });

  it("keeps at most `keep` idle buffers, none larger than maxBytes, and ignores a second release", () => {
    const pool = new ReplyBuffers({ keep: 2, maxBytes: 64, firstBytes: 16 });
    const [a, b, c] = [pool.writer(), pool.writer(), pool.writer()];
    const big = pool.writer();
    big.raw("y".repeat(200));
    pool.release(big);
    expect(pool.stats.idle).toBe(0);
    pool.release(a);
    pool.release(a);
    expect(pool.stats.idle).toBe(1);
    pool.release(b);
    pool.release(c);
    expect(pool.stats.idle).toBe(2);
  });
});

describe("respondToPrioritize", () => {
  const outcome: PrioritizeOutcome = {
    intent: INTENT,
    names: ["dgx-01", "dgx-02", "l40s-01", "cpu-01"],
    nameScores: [9, 10, 0, 0],
    hosts: ["dgx-02", "dgx-01", "l40s-01", "cpu-01"],
    hostScores: [10, 9, 0, 0],
    top: { node: "dgx-02", score: 10, choice: CHOICE },
    topReasons: [],
    scores: [],
    scored: new Map(),
    infeasible: ["l40s-01", "cpu-01"],
  };

  it("is a bare array of {Host, Score}, one per node of the request, in its order", () => {
    expect(prioritizeReply(outcome)).toEqual([
      { Host: "dgx-01", Score: 9 },
      { Host: "dgx-02", Score: 10 },
      { Host: "l40s-01", Score: 0 },
      { Host: "cpu-01", Score: 0 },
    ]);
  });

  it("keeps every score within kube-scheduler's 0..10", () => {
    for (const h of prioritizeReply(outcome)) {
      expect(h.Score).toBeGreaterThanOrEqual(MIN_EXTENDER_PRIORITY);
      expect(h.Score).toBeLessThanOrEqual(MAX_EXTENDER_PRIORITY);
      expect(Number.isInteger(h.Score)).toBe(true);
    }
  });

  it("answers an empty array for a request without nodes", () => {
    expect(prioritizeReply({ ...outcome, names: [], nameScores: [], top: undefined })).toEqual([]);
    expect(prioritizeReply({ ...outcome, names: Object.freeze([]), nameScores: [], top: undefined })).toEqual([]);
  });

  it("gives a list sent again (the same frozen array) the same bytes it would write afresh, whatever the scores", () => {
    const names = Object.freeze(Array.from({ length: 40 }, (_, i) => (i === 7 ? "gpu-ü-07" : i === 8 ? 'odd"name' : `gpu-${i}`)));
    const fresh = [...names];
    const seen = new Set<string>();
    for (let round = 0; round < 6; round++) {
      // Every score 0..10 at every position over the rounds, including the slot's two widths.
      const nameScores = Uint8Array.from(names, (_, i) => (i * 3 + round * 5) % 11);
      const again = respondToPrioritize({ ...outcome, names, nameScores }).toString("utf8");
      const afresh = respondToPrioritize({ ...outcome, names: fresh, nameScores }).toString("utf8");
      expect(again).toBe(afresh);
      expect(JSON.parse(again)).toEqual(names.map((Host, i) => ({ Host, Score: nameScores[i] })));
      seen.add(again);
    }
    expect(seen.size).toBe(6);
  });

  it("writes a repeated list's reply into the writer it is given, which may be reused for the next reply", () => {
    const names = Object.freeze(["a", "b", "c"]);
    const out = new JsonWriter(8);
    const replies = [[10, 0, 5], [1, 10, 0], [0, 0, 10]].map((scores) => JSON.parse(respondToPrioritize({ ...outcome, names, nameScores: scores }, out).toString()) as unknown);
    expect(replies).toEqual([
      [{ Host: "a", Score: 10 }, { Host: "b", Score: 0 }, { Host: "c", Score: 5 }],
      [{ Host: "a", Score: 1 }, { Host: "b", Score: 10 }, { Host: "c", Score: 0 }],
      [{ Host: "a", Score: 0 }, { Host: "b", Score: 0 }, { Host: "c", Score: 10 }],
    ]);
  });
});
