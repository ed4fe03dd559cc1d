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

/** ExtenderFilterResult (schema.ts) as JSON, written by `out`: the reply is a view of its storage (JsonWriter.bytes). */
export function respondToFilter(call: ExtenderCall, outcome: FilterOutcome, out = new JsonWriter()): Buffer {
  const { names, cores, passThrough } = outcome;
  out.reset();
  if (call.nodes.mode === "names") {
    out.raw('{"NodeNames":[');
    let first = true;
    for (let i = 0; i < names.length; i++) {
      const v = cores[i]!;
      if (!passThrough && !v.ok) continue;
      if (!first) out.raw(",");
      out.string(names[i]!);
      first = false;
    }
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
    for (let i = 0; i < names.length; i++) {
      const v = cores[i]!;
      if (passThrough || v.ok || v.resolvable !== resolvable) continue;
      if (!first) out.raw(",");
      out.string(names[i]!).raw(":").repeatedString(v.reason);
      first = false;
    }
  }
  return out.raw('},"Error":""}').bytes();
}

/** `,"Score":s}` for every score kube-scheduler accepts (0..10). */
const SCORE_TAIL = Array.from({ length: 11 }, (_, s) => `,"Score":${s}}`);

/** HostPriorityList (schema.ts): a bare JSON array of {Host, Score}, written by `out` as respondToFilter's reply is. */
export function respondToPrioritize(outcome: PrioritizeOutcome, out = new JsonWriter()): Buffer {
  const { hosts, hostScores } = outcome;
  out.reset().raw("[");
  for (let i = 0; i < hosts.length; i++) {
    out.raw(i === 0 ? '{"Host":' : ',{"Host":').string(hosts[i]!).raw(SCORE_TAIL[hostScores[i] ?? 0]!);
  }
  return out.raw("]").bytes();
}

/** An ExtenderFilterResult that reports an error, as JSON. */
export function filterError(message: string): Buffer {
  return Buffer.from(`{"FailedNodes":{},"FailedAndUnresolvableNodes":{},"Error":${JSON.stringify(message)}}`);
}
