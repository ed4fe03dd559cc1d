// Required terms are ANDed into every term the pod already has (a pod with
// several terms keeps its OR semantics); preferred terms are appended.
// Both steps are idempotent: a term that already holds the policy's
// requirements is left alone.
import type { Rule } from "../../policy/model.js";
import type { NodeSelectorRequirementSpec, NodeSelectorTermSpec, PreferredTermSpec } from "../../policy/schema.js";
import type { AffinityWire, NodeSelectorRequirementWire, NodeSelectorTermWire, PodWire, PreferredSchedulingTermWire } from "../schema.js";
import { extensibleCopy, specOf } from "./pod-spec.js";

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** The object entries of a list the pod brought; anything else (a malformed field) counts as empty. */
function objectsIn<T>(v: unknown): T[] {
  return Array.isArray(v) ? (v.filter(isObject) as T[]) : [];
}

function requirementKey(r: NodeSelectorRequirementSpec | NodeSelectorRequirementWire): string {
  return JSON.stringify([r.key, r.operator, r.values ?? []]);
}

/**
 * `make(o)`, computed once per object of the policy (a loaded policy is
 * immutable) instead of once per pod.
 */
function memoized<T extends object>(make: (o: T) => string): (o: T) => string {
  const keys = new WeakMap<T, string>();
  return (o) => {
    let key = keys.get(o);
    if (key === undefined) {
      key = make(o);
      keys.set(o, key);
    }
    return key;
  };
}

const policyRequirementKey = memoized<NodeSelectorRequirementSpec>(requirementKey);

function toWireReqs(reqs: readonly NodeSelectorRequirementSpec[] | undefined): NodeSelectorRequirementWire[] {
  return (reqs ?? []).map((r) => (r.values !== undefined ? { key: r.key, operator: r.operator, values: [...r.values] } : { key: r.key, operator: r.operator }));
}

function termHolds(term: NodeSelectorTermWire, want: NodeSelectorTermSpec): boolean {
  const have = new Set([...objectsIn<NodeSelectorRequirementWire>(term.matchExpressions), ...objectsIn<NodeSelectorRequirementWire>(term.matchFields)].map(requirementKey));
  return [...(want.matchExpressions ?? []), ...(want.matchFields ?? [])].every((r) => have.has(policyRequirementKey(r)));
}

function andTerms(term: NodeSelectorTermWire, want: NodeSelectorTermSpec): NodeSelectorTermWire {
  const out = extensibleCopy(term);
  const addTo = (list: NodeSelectorRequirementWire[] | undefined, extra: readonly NodeSelectorRequirementSpec[] | undefined) => {
    const cur = objectsIn<NodeSelectorRequirementWire>(list);
    const keys = new Set(cur.map(requirementKey));
    const add = toWireReqs(extra).filter((r) => !keys.has(requirementKey(r)));
    return add.length > 0 ? [...cur, ...add] : list;
  };
  const exprs = addTo(term.matchExpressions, want.matchExpressions);
  const fields = addTo(term.matchFields, want.matchFields);
  if (exprs !== undefined) out.matchExpressions = exprs;
  if (fields !== undefined) out.matchFields = fields;
  return out;
}

function toWireTerm(t: NodeSelectorTermSpec): NodeSelectorTermWire {
  const out: NodeSelectorTermWire = {};
  if (t.matchExpressions !== undefined) out.matchExpressions = toWireReqs(t.matchExpressions);
  if (t.matchFields !== undefined) out.matchFields = toWireReqs(t.matchFields);
  return out;
}

function preferredKey(p: { weight: number; term: NodeSelectorTermWire | NodeSelectorTermSpec }): string {
  const term: { matchExpressions?: unknown; matchFields?: unknown } = isObject(p.term) ? p.term : {};
  return JSON.stringify([p.weight, objectsIn<NodeSelectorRequirementWire>(term.matchExpressions).map(requirementKey), objectsIn<NodeSelectorRequirementWire>(term.matchFields).map(requirementKey)]);
}

const policyPreferredKey = memoized<PreferredTermSpec>((p) => preferredKey({ weight: p.weight, term: p }));

export function injectNodeAffinity(pod: PodWire, rule: Rule): readonly string[] {
  const { requiredTerms, preferredTerms } = rule.inject;
  if (requiredTerms.length === 0 && preferredTerms.length === 0) return [];
  const spec = specOf(pod);
  const affinity: AffinityWire = spec.affinity !== null && typeof spec.affinity === "object" ? extensibleCopy(spec.affinity) : {};
  const nodeAffinity: NonNullable<AffinityWire["nodeAffinity"]> = isObject(affinity.nodeAffinity) ? extensibleCopy(affinity.nodeAffinity) : {};

  if (requiredTerms.length > 0) {
    const required = isObject(nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution) ? nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution : {};
    const existing = objectsIn<NodeSelectorTermWire>(required.nodeSelectorTerms);
    let terms: NodeSelectorTermWire[];
    if (existing.length === 0) {
      terms = requiredTerms.map(toWireTerm);
    } else {
      terms = existing.flatMap((t) => (requiredTerms.some((w) => termHolds(t, w)) ? [t] : requiredTerms.map((w) => andTerms(t, w))));
    }
    const nextRequired = extensibleCopy(required);
    nextRequired.nodeSelectorTerms = terms;
    nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution = nextRequired;
  }

  if (preferredTerms.length > 0) {
    const existing = objectsIn<PreferredSchedulingTermWire>(nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution);
    const have = new Set(existing.map((p) => preferredKey({ weight: p.weight, term: p.preference ?? {} })));
    const add: PreferredSchedulingTermWire[] = preferredTerms
      .filter((p) => !have.has(policyPreferredKey(p)))
      .map((p) => ({ weight: p.weight, preference: toWireTerm(p) }));
    if (add.length > 0) nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution = [...existing, ...add];
  }

  affinity.nodeAffinity = nodeAffinity;
  spec.affinity = affinity;
  return [];
}
