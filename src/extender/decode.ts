// The only translation from ExtenderArgs into what filter and score work on.
import type { PodWire } from "../admission/schema.js";
import { isNameList } from "./body.js";
import type { ExtenderArgsWire, NodeWire } from "./schema.js";

export type NodeRefs =
  | { readonly mode: "names"; readonly names: readonly string[] }
  | { readonly mode: "objects"; readonly nodes: readonly NodeWire[] };

export interface ExtenderCall {
  readonly pod: PodWire;
  readonly podKey: string;
  readonly podUid: string;
  readonly nodes: NodeRefs;
}

export interface ExtenderDecodeError {
  readonly code: "InvalidExtenderArgs";
  readonly message: string;
}

export type ExtenderDecodeResult = { readonly ok: true; readonly call: ExtenderCall } | { readonly ok: false; readonly error: ExtenderDecodeError };

function fail(message: string): ExtenderDecodeResult {
  return { ok: false, error: { code: "InvalidExtenderArgs", message } };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

export function decodeExtenderArgs(body: unknown): ExtenderDecodeResult {
  if (!isObject(body)) return fail("body must be a JSON object holding ExtenderArgs {Pod, Nodes, NodeNames}");
  const pod = body.Pod;
  if (!isObject(pod)) return fail("Pod is missing or not an object (keys are PascalCase: Pod, Nodes, NodeNames)");
  const meta = isObject(pod.metadata) ? pod.metadata : {};
  const podKey = `${typeof meta.namespace === "string" ? meta.namespace : "default"}/${typeof meta.name === "string" ? meta.name : "?"}`;
  const podUid = typeof meta.uid === "string" && meta.uid !== "" ? meta.uid : podKey;
  let nodes: NodeRefs;
  if (Array.isArray(body.NodeNames)) {
    if (!isNameList(body.NodeNames)) return fail("NodeNames must be an array of strings");
    nodes = { mode: "names", names: body.NodeNames };
  } else if (isObject(body.Nodes)) {
    const items = body.Nodes.items ?? [];
    if (!Array.isArray(items) || !items.every(isObject)) return fail("Nodes.items must be an array of Node objects");
    nodes = { mode: "objects", nodes: items as NodeWire[] };
  } else {
    return fail("neither NodeNames nor Nodes is set");
  }
  return { ok: true, call: { pod: pod as PodWire, podKey, podUid, nodes } };
}
