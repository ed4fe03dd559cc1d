// Reading ExtenderArgs bodies. kube-scheduler (Go's encoding/json, fields in
// struct order: Pod, Nodes, NodeNames) ends a nodeCacheCapable body with
// `,"NodeNames":[…]}`, and sends the same list again and again: every GPU
// pod's /filter call names every node that passed the scheduler's own filters,
// and a pod's /prioritize names what passed topofit's. At 5,000 nodes that
// list is ~100 KiB, and turning it into 5,000 fresh strings (and then finding
// each in the node map by hashing it) is a third of a call's work.
//
// So the list's bytes are compared with the last few lists seen; on a match
// the strings already made for it are used again, the same frozen array, which
// also lets the topology store resolve the whole list at once
// (TopologyStore.statesOf). Only the rest of the body (the pod) is parsed.
// Anything that does not have that exact shape is parsed whole, by fastify's
// default JSON parser, as every body was before; both paths go through it, so
// errors, limits and prototype-poisoning checks are the same.

/** Parses JSON text the way the app's default parser does (secure-json-parse, same options); throws on bad JSON. */
export type JsonParse = (text: string) => unknown;

const KEY = Buffer.from(',"NodeNames":[');
const CLOSE_BRACKET = 0x5d;
const CLOSE_BRACE = 0x7d;

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

/** Lists made by NodeNameLists: arrays of strings, checked once when they were parsed, and frozen since. */
const CHECKED_LISTS = new WeakSet<readonly string[]>();

/** Whether `v` is an array of strings; a list NodeNameLists made is known to be one without looking at each name again. */
export function isNameList(v: unknown): v is readonly string[] {
  return CHECKED_LISTS.has(v as readonly string[]) || (Array.isArray(v) && v.every((n) => typeof n === "string"));
}

interface KnownList {
  readonly bytes: Buffer;
  readonly names: readonly string[];
}

/**
 * Remembers the last `keep` NodeNames lists by their bytes. A list that is
 * not an array of strings is never remembered (decode rejects it).
 */
export class NodeNameLists {
  readonly #known: KnownList[] = [];
  readonly #keep: number;
  #hits = 0;
  #misses = 0;

  readonly #onRead: ((reused: boolean) => void) | undefined;

  /** `onRead` hears of every list read: reused or parsed (for a metric). */
  constructor(keep = 4, onRead?: (reused: boolean) => void) {
    this.#keep = keep;
    this.#onRead = onRead;
  }

  /** The names in `region` (the JSON text of an array): the array made for the same bytes before, or a new one. */
  names(region: Buffer, parse: JsonParse): unknown {
    for (let i = 0; i < this.#known.length; i++) {
      const k = this.#known[i]!;
      if (k.bytes.length === region.length && k.bytes.equals(region)) {
        this.#hits += 1;
        this.#onRead?.(true);
        if (i > 0) {
          this.#known.splice(i, 1);
          this.#known.unshift(k);
        }
        return k.names;
      }
    }
    this.#misses += 1;
    this.#onRead?.(false);
    const parsed = parse(region.toString("utf8"));
    if (Array.isArray(parsed) && parsed.every((n) => typeof n === "string")) {
      const names = Object.freeze(parsed as string[]);
      CHECKED_LISTS.add(names);
      this.#known.unshift({ bytes: Buffer.from(region), names });
      if (this.#known.length > this.#keep) this.#known.pop();
      return names;
    }
    return parsed;
  }

  get stats(): { readonly hits: number; readonly misses: number } {
    return { hits: this.#hits, misses: this.#misses };
  }
}

/**
 * Parses an ExtenderArgs body that ends with a top-level NodeNames list: the
 * pod part and the list apart, the list through `lists`. Returns undefined for
 * any other body, or if either part is not valid JSON on its own; the caller
 * then parses the body whole.
 */
export function parseNodeNamesBody(body: Buffer, parse: JsonParse, lists: NodeNameLists): object | undefined {
  let end = body.length;
  while (end > 0 && isSpace(body[end - 1]!)) end -= 1;
  if (end < 2 || body[end - 1] !== CLOSE_BRACE || body[end - 2] !== CLOSE_BRACKET) return undefined;
  const at = body.lastIndexOf(KEY, end);
  if (at <= 0) return undefined;
  // head + "}" and the list are each valid JSON exactly when the body is an
  // object whose last member is NodeNames (quotes inside strings are escaped,
  // so the key's bytes cannot come from inside a string).
  try {
    const head = parse(`${body.toString("utf8", 0, at)}}`);
    if (head === null || typeof head !== "object" || Array.isArray(head)) return undefined;
    (head as Record<string, unknown>).NodeNames = lists.names(body.subarray(at + KEY.length - 1, end - 1), parse);
    return head;
  } catch {
    return undefined;
  }
}
