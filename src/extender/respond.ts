// The only translation from filter/prioritize outcomes to the extender wire
// format: PascalCase keys, the node field that matches the request's mode, and
// a bare array of {Host, Score} for prioritize.
//
// Replies are written as JSON text directly: with thousands of nodes, a reply
// is thousands of `"name":"reason"` pairs, and building an object only to
// serialise it costs more than the decision itself. Reason texts repeat (one
// per GPU shape and pod shape), so their JSON form is kept once each.
import type { ExtenderCall } from "./decode.js";
import type { FilterOutcome, PrioritizeOutcome } from "./review.js";

/** `s` as a JSON string literal. Node names and reasons are plain ASCII, so they are checked rather than escaped. */
export function jsonString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) return JSON.stringify(s);
  }
  return `"${s}"`;
}

const REASON_JSON = new Map<string, string>();

function reasonJson(reason: string): string {
  let json = REASON_JSON.get(reason);
  if (json === undefined) {
    json = jsonString(reason);
    if (REASON_JSON.size < 10_000) REASON_JSON.set(reason, json);
  }
  return json;
}

/** ExtenderFilterResult (schema.ts) as JSON text. */
export function respondToFilter(call: ExtenderCall, outcome: FilterOutcome): string {
  const { names, cores, passThrough } = outcome;
  let passed = "";
  let failed = "";
  let unresolvable = "";
  const passedNames = call.nodes.mode === "objects" ? new Set<string>() : undefined;
  for (let i = 0; i < names.length; i++) {
    const node = names[i]!;
    const v = cores[i]!;
    if (passThrough || v.ok) {
      if (passedNames) passedNames.add(node);
      else passed += passed === "" ? jsonString(node) : `,${jsonString(node)}`;
    } else if (v.resolvable) {
      failed += `${failed === "" ? "" : ","}${jsonString(node)}:${reasonJson(v.reason)}`;
    } else {
      unresolvable += `${unresolvable === "" ? "" : ","}${jsonString(node)}:${reasonJson(v.reason)}`;
    }
  }
  const maps = `"FailedNodes":{${failed}},"FailedAndUnresolvableNodes":{${unresolvable}},"Error":""`;
  if (call.nodes.mode === "names") return `{"NodeNames":[${passed}],"Nodes":null,${maps}}`;
  const items = call.nodes.nodes.filter((n) => passedNames!.has(n.metadata?.name ?? ""));
  return `{"Nodes":{"metadata":{},"items":${JSON.stringify(items)}},"NodeNames":null,${maps}}`;
}

/** `,"Score":s}` for every score kube-scheduler accepts (0..10). */
const SCORE_TAIL = Array.from({ length: 11 }, (_, s) => `,"Score":${s}}`);

/** HostPriorityList (schema.ts): a bare JSON array of {Host, Score}. */
export function respondToPrioritize(outcome: PrioritizeOutcome): string {
  const { hosts, hostScores } = outcome;
  let out = "[";
  for (let i = 0; i < hosts.length; i++) {
    out += `${i === 0 ? "" : ","}{"Host":${jsonString(hosts[i]!)}${SCORE_TAIL[hostScores[i] ?? 0]}`;
  }
  return `${out}]`;
}

/** An ExtenderFilterResult that reports an error, as JSON text. */
export function filterError(message: string): string {
  return `{"FailedNodes":{},"FailedAndUnresolvableNodes":{},"Error":${JSON.stringify(message)}}`;
}
