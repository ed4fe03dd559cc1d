// The only translation from filter/prioritize outcomes to the extender wire
// format: PascalCase keys, the node field that matches the request's mode, and
// a bare array of {Host, Score} for prioritize.
//
// Replies are written as JSON bytes directly (json-writer.ts): with thousands
// of nodes, a reply is thousands of `"name":"reason"` pairs, and building an
// object only to serialise it costs more than the decision itself.
import type { ExtenderCall } from "./decode.js";
import { JsonWriter } from "./json-writer.js";
import type { FilterOutcome, PrioritizeOutcome } from "./review.js";
import { MAX_EXTENDER_PRIORITY } from "./schema.js";

/**
 * Answers made once for a NodeNames list and kept while the list lives. kube-
 * scheduler sends the same list call after call, and body.ts hands out the same
 * frozen array for the same bytes, so per-list work can be kept by array. It is
 * only made when a list comes a second time: a list never repeated costs
 * nothing extra.
 */
class PerList<T> {
  readonly #made = new WeakMap<readonly string[], T>();
  readonly #seenOnce = new WeakSet<readonly string[]>();

  constructor(readonly make: (names: readonly string[]) => T) {}

  of(names: readonly string[]): T | undefined {
    const known = this.#made.get(names);
    if (known !== undefined || !Object.isFrozen(names)) return known;
    if (!this.#seenOnce.has(names)) {
      this.#seenOnce.add(names);
      return undefined;
    }
    const made = this.make(names);
    this.#made.set(names, made);
    return made;
  }
}

/**
 * A list's names as JSON string literals, each followed by a comma: name i is
 * bytes[starts[i], starts[i + 1] - 1). A filter reply copies them (runs of
 * passing nodes in one piece) instead of encoding every name again.
 */
interface EncodedNames {
  readonly bytes: Uint8Array;
  readonly starts: Int32Array;
}

const encodedNames = new PerList<EncodedNames>((names) => {
  const out = new JsonWriter(names.length * 16 + 16);
  const starts = new Int32Array(names.length + 1);
  for (let i = 0; i < names.length; i++) {
    starts[i] = out.length;
    out.string(names[i]!).raw(",");
  }
  starts[names.length] = out.length;
  return { bytes: new Uint8Array(out.bytes()), starts };
});

/** The `NodeNames` list of a filter reply in names mode: every node that passed, in the request's order. */
function writePassed(out: JsonWriter, outcome: FilterOutcome, enc: EncodedNames | undefined): void {
  const { names, cores, passThrough } = outcome;
  let first = true;
  for (let i = 0; i < names.length; i++) {
    if (!passThrough && !cores[i]!.ok) continue;
    if (!first) out.raw(",");
    first = false;
    if (enc === undefined) {
      out.string(names[i]!);
      continue;
    }
    let j = i + 1;
    while (j < names.length && (passThrough || cores[j]!.ok)) j++;
    out.copy(enc.bytes, enc.starts[i]!, enc.starts[j]! - 1);
    i = j - 1;
  }
}

/** ExtenderFilterResult (schema.ts) as JSON, written by `out`: the reply is a view of its storage (JsonWriter.bytes). */
export function respondToFilter(call: ExtenderCall, outcome: FilterOutcome, out = new JsonWriter()): Buffer {
  const { names, cores, passThrough } = outcome;
  const enc = call.nodes.mode === "names" ? encodedNames.of(names) : undefined;
  out.reset();
  if (call.nodes.mode === "names") {
    out.raw('{"NodeNames":[');
    writePassed(out, outcome, enc);
    out.raw('],"Nodes":null,');
  } else {
    const passed = new Set<string>();
    for (let i = 0; i < names.length; i++) if (passThrough || cores[i]!.ok) passed.add(names[i]!);
    const items = call.nodes.nodes.filter((n) => passed.has(n.metadata?.name ?? ""));
    out.raw('{"Nodes":{"metadata":{},"items":').json(JSON.stringify(items)).raw('},"NodeNames":null,');
  }
  for (const [key, resolvable] of [
    ['"FailedNodes":{', true],
    ['},"FailedAndUnresolvableNodes":{', false],
  ] as const) {
    out.raw(key);
    let first = true;
    if (!passThrough) {
      for (let i = 0; i < names.length; i++) {
        const v = cores[i]!;
        if (v.ok || v.resolvable !== resolvable) continue;
        if (!first) out.raw(",");
        if (enc === undefined) out.string(names[i]!);
        else out.copy(enc.bytes, enc.starts[i]!, enc.starts[i + 1]! - 1);
        out.repeatedValue(v.reason);
        first = false;
      }
    }
  }
  return out.raw('},"Error":""}').bytes();
}

/**
 * Each score kube-scheduler accepts (0..10) as the two bytes of its slot in a
 * prioritize reply: "10", or the digit and a space (JSON allows the space). A
 * slot of fixed width lets the reply for a list seen before be patched in place.
 */
const SLOTS = Array.from({ length: MAX_EXTENDER_PRIORITY + 1 }, (_, s) => String(s).padEnd(2));
const SLOT_BYTES = Buffer.from(SLOTS.join(""), "latin1");
/** A score's slot and the object's closing brace. */
const SCORE_ENDS = SLOTS.map((slot) => `${slot}}`);

/**
 * Writes `[{"Host":…,"Score":__},…]` for `names`, each score slot filled from
 * `scores` (0 when there are none), and records where each slot starts (in
 * `slots`, when given).
 */
function writeHosts(out: JsonWriter, names: readonly string[], scores: ArrayLike<number> | undefined, slots: Int32Array | undefined): void {
  out.raw("[");
  for (let i = 0; i < names.length; i++) {
    out.raw(i === 0 ? '{"Host":' : ',{"Host":').string(names[i]!).raw(',"Score":');
    if (slots !== undefined) slots[i] = out.length;
    out.raw(SCORE_ENDS[scores === undefined ? 0 : Math.min(scores[i]!, MAX_EXTENDER_PRIORITY)]!);
  }
  out.raw("]");
}

/**
 * The prioritize reply for a repeated NodeNames list (PerList), its scores
 * left to fill: the reply's bytes and where each node's score slot is. A reply
 * is then one copy of these bytes and two stores per node, where writing it
 * costs ~45 byte stores and three calls per node (about 0.4 ms at 5,000 nodes).
 */
interface Skeleton {
  readonly bytes: Uint8Array;
  readonly slots: Int32Array;
}

const skeletons = new PerList<Skeleton>((names) => {
  const out = new JsonWriter(names.length * 48 + 16);
  const slots = new Int32Array(names.length);
  writeHosts(out, names, undefined, slots);
  return { bytes: new Uint8Array(out.bytes()), slots };
});

/**
 * HostPriorityList (schema.ts): a bare JSON array of {Host, Score}, one per
 * node in the request's order (kube-scheduler adds scores up by host; the
 * order is not read), written by `out` as respondToFilter's reply is.
 */
export function respondToPrioritize(outcome: PrioritizeOutcome, out = new JsonWriter()): Buffer {
  const { names, nameScores } = outcome;
  out.reset();
  const skeleton = skeletons.of(names);
  if (skeleton === undefined) {
    writeHosts(out, names, nameScores, undefined);
    return out.bytes();
  }
  out.append(skeleton.bytes);
  const buf = out.storage;
  const slots = skeleton.slots;
  for (let i = 0; i < slots.length; i++) {
    const at = slots[i]!;
    const s = Math.min(nameScores[i]!, MAX_EXTENDER_PRIORITY) * 2;
    buf[at] = SLOT_BYTES[s]!;
    buf[at + 1] = SLOT_BYTES[s + 1]!;
  }
  return out.bytes();
}

/** An ExtenderFilterResult that reports an error, as JSON. */
export function filterError(message: string): Buffer {
  return Buffer.from(`{"FailedNodes":{},"FailedAndUnresolvableNodes":{},"Error":${JSON.stringify(message)}}`);
}
