// Validates a PlacementPolicy document: JSON-Schema shape first, then the rules
// Kubernetes itself would enforce on the injected fields. Returns every problem
// with its field path, never only the first.
import { Environment as CelEnvironment, ParseError as CelParseError } from "@marcbachmann/cel-js";
import { Ajv, type ErrorObject } from "ajv";
import { DEFAULT_GPU_DEVICE_CLASSES, DEFAULT_GPU_RESOURCES } from "./defaults.js";
import type { PolicyIssue } from "./model.js";
import {
  PlacementPolicySchema,
  type DraInjectSpec,
  type LabelSelectorSpec,
  type NodeSelectorRequirementSpec,
  type PlacementPolicyDocument,
  type TolerationSpec,
} from "./schema.js";
import { describeValue, joinPath } from "../validation/field-path.js";
import { validateProfiles } from "../topology/profiles.js";

export type ValidationResult =
  | { readonly ok: true; readonly document: PlacementPolicyDocument; readonly warnings: readonly PolicyIssue[] }
  | { readonly ok: false; readonly errors: readonly PolicyIssue[]; readonly warnings: readonly PolicyIssue[] };

const ajv = new Ajv({ allErrors: true, strict: false, verbose: true });
const checkShape = ajv.compile<PlacementPolicyDocument>(PlacementPolicySchema);

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const C_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

// Limits resource.k8s.io/v1 puts on a device request (ResourceClaimTemplate validation).
const CEL_MAX_BYTES = 10 * 1024;
const MAX_SELECTORS = 32;
const MAX_CONSTRAINTS = 32;
const ATTRIBUTE_DOMAIN_MAX = 63;
const ATTRIBUTE_NAME_MAX = 32;
const DRIVER_NAME_MAX = 63;

// Kubernetes evaluates DRA selectors with optional types on (`.?field`, `[?key]`, `orValue`),
// so the parser must accept them too. Parsing only: functions such as quantity() or
// semver() are resolved at allocation time, not here.
const cel = new CelEnvironment({ enableOptionalTypes: true });

/** Renders a JSON pointer as `spec.rules[1].inject.nodeSelector["a.b/c"]`. */
export function pointerToPath(pointer: string): string {
  if (pointer === "") return "";
  let out = "";
  for (const raw of pointer.split("/").slice(1)) {
    const seg = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (/^\d+$/.test(seg)) out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(seg)) out += out === "" ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}



function schemaIssue(e: ErrorObject): PolicyIssue | undefined {
  const path = pointerToPath(e.instancePath);
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case "additionalProperties": {
      const props = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      return {
        path: joinPath(path, String(params.additionalProperty)),
        message: `unknown field${props.length > 0 ? ` (known fields here: ${props.join(", ")})` : ""}`,
      };
    }
    case "required":
      return { path: joinPath(path, String(params.missingProperty)), message: "is required" };
    case "enum":
      return {
        path,
        message: `must be one of ${(params.allowedValues as unknown[]).join(", ")} (got ${describeValue(e.data)})`,
      };
    case "const":
      return { path, message: `must be ${JSON.stringify(params.allowedValue)} (got ${describeValue(e.data)})` };
    case "type":
      return { path, message: `must be ${params.type === "integer" ? "an integer" : `a ${String(params.type)}`} (got ${describeValue(e.data)})` };
    case "minimum":
    case "maximum":
      return { path, message: `must be ${e.keyword === "minimum" ? ">=" : "<="} ${String(params.limit)} (got ${describeValue(e.data)})` };
    default:
      return { path, message: e.message ?? e.keyword };
  }
}

class IssueList {
  readonly items: PolicyIssue[] = [];
  add(path: string, message: string): void {
    this.items.push({ path, message });
  }
}

function checkLabelKey(out: IssueList, path: string, key: string): void {
  const slash = key.lastIndexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    out.add(path, `label key ${JSON.stringify(key)} has an invalid prefix (must be a DNS subdomain)`);
  }
  if (name.length === 0 || name.length > 63 || !LABEL_NAME.test(name)) {
    out.add(path, `label key ${JSON.stringify(key)} is invalid (name part: 1-63 alphanumerics, '-', '_', '.')`);
  }
}

function checkLabelValue(out: IssueList, path: string, value: string): void {
  if (value.length > 63 || !LABEL_VALUE.test(value)) {
    out.add(path, `label value ${JSON.stringify(value)} is invalid (at most 63 alphanumerics, '-', '_', '.')`);
  }
}

function checkValues(out: IssueList, path: string, operator: string, values: readonly string[] | undefined): void {
  const n = values?.length ?? 0;
  if ((operator === "In" || operator === "NotIn") && n === 0) out.add(joinPath(path, "values"), `must be non-empty for operator ${operator}`);
  if ((operator === "Exists" || operator === "DoesNotExist") && n > 0) out.add(joinPath(path, "values"), `must be empty for operator ${operator}`);
  if (operator === "Gt" || operator === "Lt") {
    if (n !== 1 || !/^-?\d+$/.test(values?.[0] ?? "")) out.add(joinPath(path, "values"), `must hold exactly one integer for operator ${operator}`);
  }
}

function checkLabelSelector(out: IssueList, path: string, sel: LabelSelectorSpec | undefined): void {
  if (sel === undefined) return;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) {
    checkLabelKey(out, joinPath(joinPath(path, "matchLabels"), k), k);
    checkLabelValue(out, joinPath(joinPath(path, "matchLabels"), k), v);
  }
  (sel.matchExpressions ?? []).forEach((r, i) => {
    const p = `${joinPath(path, "matchExpressions")}[${i}]`;
    checkLabelKey(out, joinPath(p, "key"), r.key);
    checkValues(out, p, r.operator, r.values);
  });
}

function checkNodeRequirements(out: IssueList, path: string, reqs: readonly NodeSelectorRequirementSpec[] | undefined, fields: boolean): void {
  (reqs ?? []).forEach((r, i) => {
    const p = `${path}[${i}]`;
    if (fields) {
      if (r.key !== "metadata.name") out.add(joinPath(p, "key"), `matchFields supports only metadata.name (got ${JSON.stringify(r.key)})`);
      if (r.operator !== "In" && r.operator !== "NotIn") out.add(joinPath(p, "operator"), "matchFields supports only In and NotIn");
    } else {
      checkLabelKey(out, joinPath(p, "key"), r.key);
    }
    checkValues(out, p, r.operator, r.values);
  });
}

function checkToleration(out: IssueList, path: string, t: TolerationSpec): void {
  const op = t.operator ?? "Equal";
  if (t.key !== undefined && t.key !== "") checkLabelKey(out, joinPath(path, "key"), t.key);
  if ((t.key === undefined || t.key === "") && op !== "Exists") out.add(joinPath(path, "operator"), "must be Exists when key is empty");
  if (op === "Exists" && t.value !== undefined && t.value !== "") out.add(joinPath(path, "value"), "must be empty when operator is Exists");
  if (t.value !== undefined && t.value !== "") checkLabelValue(out, joinPath(path, "value"), t.value);
  if (t.tolerationSeconds !== undefined && t.effect !== "NoExecute") {
    out.add(joinPath(path, "tolerationSeconds"), "is only valid with effect NoExecute");
  }
}

function checkName(out: IssueList, path: string, value: string | undefined, what: string): void {
  if (value === undefined) return;
  if (value.length === 0 || value.length > 253 || !DNS_SUBDOMAIN.test(value)) {
    out.add(path, `${what} ${JSON.stringify(value)} is not a valid name (lowercase DNS subdomain)`);
  }
}

function checkCelSelector(out: IssueList, path: string, expression: string): void {
  const bytes = Buffer.byteLength(expression, "utf8");
  if (bytes > CEL_MAX_BYTES) {
    out.add(path, `is ${bytes} bytes long; Kubernetes accepts CEL selectors of at most ${CEL_MAX_BYTES} bytes`);
    return;
  }
  try {
    cel.parse(expression);
  } catch (err) {
    if (!(err instanceof CelParseError)) throw err;
    const at = err.range !== undefined ? ` at character ${err.range.start + 1}` : "";
    out.add(path, `is not valid CEL: ${err.summary}${at} (got ${describeValue(expression)})`);
  }
}

function checkAttributeName(out: IssueList, path: string, name: string): void {
  const slash = name.indexOf("/");
  const domain = slash > 0 ? name.slice(0, slash) : "";
  const id = slash > 0 ? name.slice(slash + 1) : "";
  if (domain === "" || domain.length > ATTRIBUTE_DOMAIN_MAX || !DNS_SUBDOMAIN.test(domain) || id.length > ATTRIBUTE_NAME_MAX || !C_IDENTIFIER.test(id)) {
    out.add(
      path,
      `${JSON.stringify(name)} is not a fully qualified attribute name (expected <domain>/<name>: a DNS subdomain of at most ${ATTRIBUTE_DOMAIN_MAX} characters, then a C identifier of at most ${ATTRIBUTE_NAME_MAX}, e.g. gpu.nvidia.com/productName)`,
    );
  }
}

function checkDraSettings(doc: PlacementPolicyDocument, errors: IssueList): void {
  const dra = doc.spec.dra;
  if (dra === undefined) return;
  const lists = [
    ["gpuDeviceClasses", dra.gpuDeviceClasses, 253, "device class"],
    ["gpuDrivers", dra.gpuDrivers, DRIVER_NAME_MAX, "driver"],
  ] as const;
  for (const [field, names, max, what] of lists) {
    if (names === undefined) continue;
    if (names.length === 0) errors.add(`spec.dra.${field}`, `must name at least one ${what} (or be left out for the default ${DEFAULT_GPU_DEVICE_CLASSES.join(", ")})`);
    names.forEach((n, i) => {
      if (n.length === 0 || n.length > max || !DNS_SUBDOMAIN.test(n)) {
        errors.add(`spec.dra.${field}[${i}]`, `${JSON.stringify(n)} is not a valid ${what} name (lowercase DNS subdomain of at most ${max} characters)`);
      }
    });
  }
}

/** `inject.dra` of one rule: what Kubernetes would reject in the generated template, and conversions that could not work. */
function checkDraInject(doc: PlacementPolicyDocument, path: string, dra: DraInjectSpec, errors: IssueList, warnings: IssueList): void {
  const cls = dra.deviceClassName;
  if (cls.length === 0 || cls.length > 253 || !DNS_SUBDOMAIN.test(cls)) {
    errors.add(`${path}.deviceClassName`, `${JSON.stringify(cls)} is not a valid device class name (lowercase DNS subdomain, e.g. gpu.nvidia.com)`);
  } else {
    const gpuClasses: readonly string[] = doc.spec.dra?.gpuDeviceClasses ?? DEFAULT_GPU_DEVICE_CLASSES;
    if (!gpuClasses.includes(cls)) {
      errors.add(
        `${path}.deviceClassName`,
        `${cls} is not in spec.dra.gpuDeviceClasses (${gpuClasses.join(", ")}): converted pods would ask for GPUs through a claim that topofit does not count as GPUs, so they would be placed as pods without GPUs`,
      );
    }
  }
  const selectors = dra.selectors ?? [];
  if (selectors.length > MAX_SELECTORS) errors.add(`${path}.selectors`, `has ${selectors.length} entries; a device request takes at most ${MAX_SELECTORS}`);
  selectors.forEach((expr, j) => checkCelSelector(errors, `${path}.selectors[${j}]`, expr));
  const attributes = dra.matchAttributes ?? [];
  if (attributes.length > MAX_CONSTRAINTS) errors.add(`${path}.matchAttributes`, `has ${attributes.length} entries; a claim takes at most ${MAX_CONSTRAINTS} constraints`);
  attributes.forEach((a, j) => checkAttributeName(errors, `${path}.matchAttributes[${j}]`, a));
  if (dra.convertExtendedResources !== true) {
    errors.add(
      `${path}.convertExtendedResources`,
      "must be true: inject.dra acts only by converting extended-resource GPU requests into claims (pods that already use resourceClaims are left as they are), so without it the rule's dra settings would do nothing",
    );
  }
  const resources: readonly string[] = doc.spec.gpuResources ?? DEFAULT_GPU_RESOURCES;
  if (dra.convertExtendedResources === true && resources.length > 1) {
    warnings.add(
      `${path}.convertExtendedResources`,
      `every resource in spec.gpuResources (${resources.join(", ")}) is converted into devices of class ${cls}; a container's amounts are added up`,
    );
  }
}

function checkSemantics(doc: PlacementPolicyDocument, errors: IssueList, warnings: IssueList): void {
  const spec = doc.spec;
  if (spec.topologyProfiles !== undefined) {
    const profiles = validateProfiles(spec.topologyProfiles, "spec.topologyProfiles");
    if (!profiles.ok) for (const e of profiles.errors) errors.add(e.path, e.message);
  }
  (spec.gpuResources ?? []).forEach((r, i) => {
    const p = `spec.gpuResources[${i}]`;
    const slash = r.indexOf("/");
    if (slash <= 0 || !DNS_SUBDOMAIN.test(r.slice(0, slash)) || !LABEL_NAME.test(r.slice(slash + 1))) {
      errors.add(p, `${JSON.stringify(r)} is not an extended resource name (expected <domain>/<name>, e.g. nvidia.com/gpu)`);
    } else if (r.startsWith("kubernetes.io/") || r.slice(0, slash).endsWith(".kubernetes.io")) {
      errors.add(p, `${JSON.stringify(r)} is in the kubernetes.io domain, which is reserved for native resources`);
    }
  });
  if (spec.gpuResources !== undefined && spec.gpuResources.length === 0) {
    errors.add("spec.gpuResources", "must name at least one resource (or be left out for the default nvidia.com/gpu)");
  }
  checkDraSettings(doc, errors);
  (spec.excludedNamespaces ?? []).forEach((ns, i) => {
    if (ns.length > 63 || !DNS_LABEL.test(ns)) errors.add(`spec.excludedNamespaces[${i}]`, `${JSON.stringify(ns)} is not a valid namespace name`);
  });

  const seen = new Map<string, number>();
  let catchAll: string | undefined;
  (spec.rules ?? []).forEach((rule, i) => {
    const p = `spec.rules[${i}]`;
    if (rule.name.length === 0 || rule.name.length > 63 || !DNS_LABEL.test(rule.name)) {
      errors.add(`${p}.name`, `${JSON.stringify(rule.name)} is not a valid rule name (lowercase letters, digits and '-', at most 63)`);
    }
    const prev = seen.get(rule.name);
    if (prev !== undefined) errors.add(`${p}.name`, `duplicates the name of spec.rules[${prev}]`);
    else seen.set(rule.name, i);
    if (catchAll !== undefined) warnings.add(p, `is never reached: rule ${JSON.stringify(catchAll)} before it matches every GPU pod`);

    const m = rule.match ?? {};
    (m.namespaces ?? []).forEach((ns, j) => {
      if (ns.length > 63 || !DNS_LABEL.test(ns)) errors.add(`${p}.match.namespaces[${j}]`, `${JSON.stringify(ns)} is not a valid namespace name`);
      else if ((spec.excludedNamespaces ?? []).includes(ns)) warnings.add(`${p}.match.namespaces[${j}]`, `namespace ${ns} is excluded by spec.excludedNamespaces`);
    });
    checkLabelSelector(errors, `${p}.match.namespaceSelector`, m.namespaceSelector);
    checkLabelSelector(errors, `${p}.match.podSelector`, m.podSelector);
    if (m.gpus?.min !== undefined && m.gpus.max !== undefined && m.gpus.min > m.gpus.max) {
      errors.add(`${p}.match.gpus`, `min (${m.gpus.min}) is greater than max (${m.gpus.max})`);
    }
    const isCatchAll =
      m.namespaces === undefined &&
      isEmptySelector(m.namespaceSelector) &&
      isEmptySelector(m.podSelector) &&
      (m.gpus?.min ?? 0) <= 1 &&
      m.gpus?.max === undefined;
    if (isCatchAll && catchAll === undefined) catchAll = rule.name;

    const inj = rule.inject ?? {};
    (inj.tolerations ?? []).forEach((t, j) => checkToleration(errors, `${p}.inject.tolerations[${j}]`, t));
    for (const [k, v] of Object.entries(inj.nodeSelector ?? {})) {
      checkLabelKey(errors, joinPath(`${p}.inject.nodeSelector`, k), k);
      checkLabelValue(errors, joinPath(`${p}.inject.nodeSelector`, k), v);
    }
    (inj.nodeAffinity?.required ?? []).forEach((term, j) => {
      const tp = `${p}.inject.nodeAffinity.required[${j}]`;
      if ((term.matchExpressions?.length ?? 0) + (term.matchFields?.length ?? 0) === 0) {
        errors.add(tp, "a required term needs at least one matchExpressions or matchFields entry");
      }
      checkNodeRequirements(errors, `${tp}.matchExpressions`, term.matchExpressions, false);
      checkNodeRequirements(errors, `${tp}.matchFields`, term.matchFields, true);
    });
    (inj.nodeAffinity?.preferred ?? []).forEach((term, j) => {
      const tp = `${p}.inject.nodeAffinity.preferred[${j}]`;
      checkNodeRequirements(errors, `${tp}.matchExpressions`, term.matchExpressions, false);
      checkNodeRequirements(errors, `${tp}.matchFields`, term.matchFields, true);
    });
    checkName(errors, `${p}.inject.priorityClassName`, inj.priorityClassName, "priority class");
    checkName(errors, `${p}.inject.schedulerName`, inj.schedulerName, "scheduler");
    checkName(errors, `${p}.inject.runtimeClassName`, inj.runtimeClassName, "runtime class");
    if (inj.priorityClassMode !== undefined && inj.priorityClassName === undefined) {
      warnings.add(`${p}.inject.priorityClassMode`, "has no effect without priorityClassName");
    }
    if (inj.nodeSelectorMode !== undefined && inj.nodeSelector === undefined) {
      warnings.add(`${p}.inject.nodeSelectorMode`, "has no effect without nodeSelector");
    }
    if (inj.dra !== undefined) checkDraInject(doc, `${p}.inject.dra`, inj.dra, errors, warnings);
  });
}

function isEmptySelector(sel: LabelSelectorSpec | undefined): boolean {
  return sel === undefined || (Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions?.length ?? 0) === 0);
}

/** Shape errors after which every field checkSemantics reads still has its schema type. */
const TYPE_PRESERVING_KEYWORDS: ReadonlySet<string> = new Set(["additionalProperties", "enum", "const", "minimum", "maximum"]);

/** Validates a parsed document (any JSON value). */
export function validatePolicyDocument(doc: unknown): ValidationResult {
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    return { ok: false, errors: [{ path: "", message: `a PlacementPolicy must be an object (got ${describeValue(doc)})` }], warnings: [] };
  }
  if (!checkShape(doc)) {
    const seen = new Set<string>();
    const errors: PolicyIssue[] = [];
    for (const e of checkShape.errors ?? []) {
      const issue = schemaIssue(e);
      if (issue === undefined) continue;
      const key = `${issue.path}\u0000${issue.message}`;
      if (!seen.has(key)) {
        seen.add(key);
        errors.push(issue);
      }
    }
    // When every shape error leaves the field types intact (a typo'd field name, a
    // bad enum value, a number out of range), the semantic checks can still run
    // safely, so the admin sees every error at once instead of in two rounds.
    const shapeErrors = checkShape.errors ?? [];
    if (shapeErrors.length > 0 && shapeErrors.every((e) => TYPE_PRESERVING_KEYWORDS.has(e.keyword))) {
      const semantic = new IssueList();
      const warnings = new IssueList();
      checkSemantics(doc as PlacementPolicyDocument, semantic, warnings);
      return { ok: false, errors: [...errors, ...semantic.items], warnings: warnings.items };
    }
    return { ok: false, errors, warnings: [] };
  }
  const errors = new IssueList();
  const warnings = new IssueList();
  checkSemantics(doc, errors, warnings);
  if (errors.items.length > 0) return { ok: false, errors: errors.items, warnings: warnings.items };
  return { ok: true, document: doc, warnings: warnings.items };
}
