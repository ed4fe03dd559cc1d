// inject.dra with convertExtendedResources: a container's GPU extended
// resources (policy.gpuResources) become a resource claim for as many devices
// of the rule's device class, from a ResourceClaimTemplate that topofit
// ensures exists. PerContainer: one claim per GPU container, sized to it;
// PerPod: one claim, sized to the pod's effective GPU count, that every GPU
// container shares. Pods that already use resourceClaims are left as they are.
import { createHash } from "node:crypto";
import type { Rule, RuleDra } from "../../policy/model.js";
import { claimTemplateFor } from "../claim-template.js";
import { parseQuantity, podResourceClaims } from "../gpu-request.js";
import type { ContainerWire, PodResourceClaimWire, PodWire, ResourceListWire } from "../schema.js";
import type { MutationContext } from "./index.js";
import { specOf } from "./pod-spec.js";

const POD_CLAIM_NAME = "gpus";
/** Notes start with this when the rule converts but this pod keeps its GPU requests (kept short: notes become warnings of at most 120 characters). */
const NOT_CONVERTED = "not converted to DRA claims";
const DNS_LABEL_MAX = 63;

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

type Amount = { readonly n: number } | { readonly bad: string };

/** The GPUs a container asks for, when every amount is a whole number and requests agree with limits. */
function gpuAmount(c: ContainerWire, resources: ReadonlySet<string>): Amount {
  const req = isObject(c.resources?.requests) ? c.resources.requests : {};
  const lim = isObject(c.resources?.limits) ? c.resources.limits : {};
  let n = 0;
  for (const r of resources) {
    const rq = req[r];
    const lm = lim[r];
    if (rq === undefined && lm === undefined) continue;
    const v = parseQuantity(rq ?? lm);
    if (!Number.isInteger(v) || v < 0) return { bad: `container ${c.name ?? "?"} asks for ${r}: ${JSON.stringify(rq ?? lm)}, not a whole number` };
    if (rq !== undefined && lm !== undefined && parseQuantity(lm) !== v) {
      return { bad: `container ${c.name ?? "?"} has different requests (${String(rq)}) and limits (${String(lm)}) of ${r}` };
    }
    n += v;
  }
  return { n };
}

function without(list: ResourceListWire | undefined, resources: ReadonlySet<string>): ResourceListWire | undefined {
  if (!isObject(list)) return list;
  const out: ResourceListWire = {};
  for (const [k, v] of Object.entries(list)) if (!resources.has(k)) out[k] = v as string | number;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The container with its GPU resources removed and a reference to `claim` added. */
function withClaim(c: ContainerWire, resources: ReadonlySet<string>, claim: string): ContainerWire {
  const res = isObject(c.resources) ? c.resources : {};
  const out: NonNullable<ContainerWire["resources"]> = { ...res };
  const requests = without(res.requests, resources);
  const limits = without(res.limits, resources);
  if (requests !== undefined) out.requests = requests;
  else delete out.requests;
  if (limits !== undefined) out.limits = limits;
  else delete out.limits;
  out.claims = [...(Array.isArray(res.claims) ? res.claims : []), { name: claim }];
  return { ...c, resources: out };
}

/** `gpu-<container>`, shortened with a hash when it would not be a DNS label, and unique in `used`. */
export function containerClaimName(container: string, used: ReadonlySet<string>): string {
  const withSuffix = (s: string, suffix: string) => `${s.slice(0, DNS_LABEL_MAX - suffix.length - 1).replace(/-+$/, "")}-${suffix}`;
  const full = `gpu-${container}`;
  const base = full.length <= DNS_LABEL_MAX ? full : withSuffix(full, createHash("sha256").update(container).digest("hex").slice(0, 8));
  let name = base;
  for (let i = 2; used.has(name); i++) name = withSuffix(base, String(i));
  return name;
}

interface GpuContainer {
  readonly list: "containers" | "initContainers";
  readonly index: number;
  readonly container: ContainerWire;
  readonly n: number;
  /** A regular (not restartable) init container: it has finished before the app containers start. */
  readonly runsFirst: boolean;
}

function gpuContainers(pod: PodWire, resources: ReadonlySet<string>): { found: GpuContainer[]; bad?: string } {
  const found: GpuContainer[] = [];
  for (const list of ["initContainers", "containers"] as const) {
    const items = pod.spec?.[list];
    if (!Array.isArray(items)) continue;
    for (const [index, c] of items.entries()) {
      if (!isObject(c)) continue;
      const amount = gpuAmount(c, resources);
      if ("bad" in amount) return { found, bad: amount.bad };
      if (amount.n > 0) found.push({ list, index, container: c, n: amount.n, runsFirst: list === "initContainers" && c.restartPolicy !== "Always" });
    }
  }
  return { found };
}

function convert(pod: PodWire, rule: Rule, dra: RuleDra, ctx: MutationContext, found: readonly GpuContainer[]): readonly string[] {
  const spec = specOf(pod);
  const resources = ctx.policy.gpuResourceSet;
  const claims: PodResourceClaimWire[] = [];
  const claimOf = new Map<GpuContainer, string>();
  const addTemplate = (count: number): string => {
    const t = claimTemplateFor(rule, dra, ctx.namespace, count);
    if (!ctx.templates.some((x) => x.metadata.name === t.metadata.name)) ctx.templates.push(t);
    return t.metadata.name;
  };
  const notes: string[] = [];
  if (dra.claimSharing === "PerPod") {
    claims.push({ name: POD_CLAIM_NAME, resourceClaimTemplateName: addTemplate(ctx.gpus) });
    for (const g of found) claimOf.set(g, POD_CLAIM_NAME);
    ctx.claimGpus = ctx.gpus;
  } else {
    const used = new Set<string>();
    let held = 0;
    for (const g of found) {
      const name = containerClaimName(g.container.name ?? "container", used);
      used.add(name);
      claims.push({ name, resourceClaimTemplateName: addTemplate(g.n) });
      claimOf.set(g, name);
      held += g.n;
    }
    ctx.claimGpus = held;
    if (held > ctx.gpus && found.some((g) => g.runsFirst)) {
      notes.push(
        `the pod holds ${held} GPUs through its claims where the device plugin would give it ${ctx.gpus}: an init container's claim stays allocated for the pod's life (claimSharing: PerPod shares one claim)`,
      );
    }
  }
  for (const list of ["initContainers", "containers"] as const) {
    const mine = found.filter((g) => g.list === list);
    if (mine.length === 0) continue;
    const items = [...(spec[list] as ContainerWire[])];
    for (const g of mine) items[g.index] = withClaim(g.container, resources, claimOf.get(g)!);
    spec[list] = items;
  }
  spec.resourceClaims = claims;
  return notes;
}

export function convertGpusToClaims(pod: PodWire, rule: Rule, ctx: MutationContext): readonly string[] {
  const dra = rule.inject.dra;
  if (dra === undefined || !dra.convertExtendedResources) return [];
  const { found, bad } = gpuContainers(pod, ctx.policy.gpuResourceSet);
  if (bad !== undefined) return [`${NOT_CONVERTED}: ${bad}`];
  if (found.length === 0) return [];
  if (podResourceClaims(pod).length > 0) return [`${NOT_CONVERTED}: the pod already uses resourceClaims`];
  if (ctx.conversionBlocked !== undefined) return [`${NOT_CONVERTED}: ${ctx.conversionBlocked}`];
  return convert(pod, rule, dra, ctx, found);
}
