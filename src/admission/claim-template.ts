// The ResourceClaimTemplates that converted pods refer to, and the port through
// which the webhook reads and creates them. A template's name carries the rule,
// the device count and a hash of its content: a policy change yields a new
// name instead of an update (a template's spec is immutable), and a cache of
// names is enough to know that the right template exists.
import { createHash } from "node:crypto";
import { CLAIM_REQUEST_NAME, type Rule, type RuleDra } from "../policy/model.js";
import type { ClaimTemplateDevices } from "./gpu-request.js";
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, RULE_LABEL } from "./keys.js";
import { RESOURCE_API_VERSION, type ResourceClaimSpecWire, type ResourceClaimTemplateWire } from "./schema.js";

/** What the webhook needs from the cluster's ResourceClaimTemplates (implemented in kube/). */
export interface ClaimTemplates {
  /** The device requests of a template, or undefined when it is not known (not created, not listed yet). */
  lookup(namespace: string, name: string): ClaimTemplateDevices | undefined;
  /** Makes sure that every template exists, creating the missing ones; on failure, a short reason fit for an admission warning. */
  ensure(templates: readonly ResourceClaimTemplateWire[]): Promise<EnsureOutcome>;
}

export type EnsureOutcome =
  | { readonly ok: true; readonly created: readonly string[] }
  | { readonly ok: false; readonly reason: string };

interface TemplateBody {
  readonly name: string;
  readonly spec: { spec: ResourceClaimSpecWire };
  readonly labels: Record<string, string>;
}

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === "object" && !Object.isFrozen(o)) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

// Rules are immutable for the life of a policy, so a body per (rule, count) is computed once.
const bodies = new WeakMap<RuleDra, Map<number, TemplateBody>>();

function claimSpec(dra: RuleDra, count: number): ResourceClaimSpecWire {
  const exactly: ResourceClaimSpecWire["devices"]["requests"][number]["exactly"] = {
    deviceClassName: dra.deviceClassName,
    allocationMode: "ExactCount",
    count,
  };
  if (dra.template.selectors.length > 0) exactly.selectors = dra.template.selectors.map((s) => ({ cel: { expression: s.cel.expression } }));
  const spec: ResourceClaimSpecWire = { devices: { requests: [{ name: CLAIM_REQUEST_NAME, exactly }] } };
  if (dra.template.constraints.length > 0) {
    spec.devices.constraints = dra.template.constraints.map((c) => ({ requests: [...c.requests], matchAttribute: c.matchAttribute }));
  }
  return spec;
}

/** `topofit-<rule>-<n>gpu-<hash8>`: at most 8 + 63 + 1 + 13 + 1 + 8 characters, a DNS subdomain. */
export function claimTemplateName(ruleName: string, count: number, spec: ResourceClaimSpecWire): string {
  const hash = createHash("sha256").update(JSON.stringify(spec)).digest("hex").slice(0, 8);
  return `topofit-${ruleName}-${count}gpu-${hash}`;
}

function bodyFor(rule: Rule, dra: RuleDra, count: number): TemplateBody {
  let byCount = bodies.get(dra);
  if (byCount === undefined) {
    byCount = new Map();
    bodies.set(dra, byCount);
  }
  let body = byCount.get(count);
  if (body === undefined) {
    const spec = claimSpec(dra, count);
    body = deepFreeze({ name: claimTemplateName(rule.name, count, spec), spec: { spec }, labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [RULE_LABEL]: rule.name } });
    byCount.set(count, body);
  }
  return body;
}

/** The template asking for `count` devices as `rule` says, in `namespace`. Its labels and spec are shared and frozen. */
export function claimTemplateFor(rule: Rule, dra: RuleDra, namespace: string, count: number): ResourceClaimTemplateWire {
  const body = bodyFor(rule, dra, count);
  return { apiVersion: RESOURCE_API_VERSION, kind: "ResourceClaimTemplate", metadata: { name: body.name, namespace, labels: body.labels }, spec: body.spec };
}
