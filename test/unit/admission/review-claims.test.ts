// reviewPod for pods whose GPUs come (or are to come) from resource claims:
// conversion by a rule's inject.dra, and pods that bring their own claims.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ClaimTemplateDevices } from "../../../src/admission/gpu-request.js";
import { applyPatch } from "../../../src/admission/patch.js";
import { reviewPod, type Decision, type ReviewContext } from "../../../src/admission/review.js";
import type { PodWire, ResourceClaimTemplateWire } from "../../../src/admission/schema.js";
import { summarizeTemplate } from "../../../src/kube/claim-templates.js";
import type { Policy } from "../../../src/policy/model.js";
import { admissionCall } from "../../builders/admission-review.js";
import { claimContainer, gpuContainer, pod } from "../../builders/pod.js";
import { loadPolicy, policyDocument } from "../../builders/policy.js";

const POLICY = loadPolicy(`apiVersion: topofit.io/v1alpha1
kind: PlacementPolicy
spec:
  rules:
    - name: dra-train
      match: {namespaces: [ml-dra], gpus: {min: 2}}
      inject:
        tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
        schedulerName: topofit-scheduler
        dra:
          deviceClassName: gpu.nvidia.com
          selectors: ['device.attributes["gpu.nvidia.com"].architecture == "Hopper"']
          matchAttributes: [gpu.nvidia.com/productName]
          convertExtendedResources: true
      placement: {gpuLinks: NVLinkRequired}
    - name: any-gpu
      inject:
        tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
`);

/** Templates users made themselves, as the cache holds them. */
const USER_TEMPLATES: Record<string, ClaimTemplateDevices> = {
  "ml-dra/two-h100": { requests: [{ deviceClassName: "gpu.nvidia.com", allocationMode: "ExactCount", count: 2, firstAvailable: false }] },
  "ml-dra/nic": { requests: [{ deviceClassName: "rdma.example.com", allocationMode: "ExactCount", count: 1, firstAvailable: false }] },
};

function ctx(extra: Partial<ReviewContext> = {}, known: Record<string, ClaimTemplateDevices> = USER_TEMPLATES, policy: Policy = POLICY): ReviewContext {
  return { policy, namespaceLabels: () => undefined, claimTemplate: (ns, name) => known[`${ns}/${name}`], ...extra };
}

function review(p: PodWire, c: ReviewContext = ctx(), namespace = "ml-dra"): Decision {
  return reviewPod(admissionCall(p, { namespace }), c);
}

function matched(d: Decision): Extract<Decision, { kind: "matched" }> {
  if (d.kind !== "matched") throw new Error(`expected a matched decision, got ${d.kind}: ${JSON.stringify(d)}`);
  return d;
}

/** The cache entries the created templates would give. */
function known(templates: readonly ResourceClaimTemplateWire[]): Record<string, ClaimTemplateDevices> {
  return { ...USER_TEMPLATES, ...Object.fromEntries(templates.map((t) => [`${t.metadata.namespace}/${t.metadata.name}`, summarizeTemplate(t)])) };
}

describe("reviewPod: converting nvidia.com/gpu into a claim", () => {
  const p = pod().namespace("ml-dra").container(gpuContainer("trainer", 2)).defaulted().build();

  it("replaces the request with a claim, lists the template it needs, applies the rest of the rule and records the GPU count", () => {
    const d = matched(review(p));
    expect(d.rule.name).toBe("dra-train");
    expect(d.gpus).toBe(2);
    expect(d.templates.map((t) => [t.metadata.namespace, t.metadata.name])).toEqual([["ml-dra", expect.stringMatching(/^topofit-dra-train-2gpu-[0-9a-f]{8}$/)]]);
    const out = applyPatch(p, d.patch);
    expect(out.spec?.containers?.[0]?.resources).toEqual({ claims: [{ name: "gpu-trainer" }] });
    expect(out.spec?.resourceClaims).toEqual([{ name: "gpu-trainer", resourceClaimTemplateName: d.templates[0]!.metadata.name }]);
    expect(out.spec?.schedulerName).toBe("topofit-scheduler");
    expect(out.spec?.tolerations?.map((t) => t.key)).toContain("nvidia.com/gpu");
    expect(out.metadata?.annotations).toEqual({
      "topofit.io/rule": "dra-train",
      "topofit.io/placement": '{"gpuLinks":"NVLinkRequired","numa":"Any","strategy":"BinPack"}',
      "topofit.io/gpus": "2",
    });
  });

  it("decided again with conversion blocked: keeps the request, applies the rest of the rule, and says why", () => {
    const d = matched(review(p, ctx({ conversionBlocked: "HTTP 403: forbidden" })));
    expect(d.templates).toEqual([]);
    const out = applyPatch(p, d.patch);
    expect(out.spec?.containers?.[0]?.resources).toEqual(p.spec?.containers?.[0]?.resources);
    expect(out.spec?.resourceClaims).toBeUndefined();
    expect(out.spec?.schedulerName).toBe("topofit-scheduler");
    expect(out.metadata?.annotations?.["topofit.io/gpus"]).toBeUndefined();
    expect(d.notes).toEqual(["not converted to DRA claims: HTTP 403: forbidden"]);
  });

  it("a second pass over the admitted pod (reinvocation) changes nothing once its template is known", () => {
    const d = matched(review(p));
    const again = review(applyPatch(p, d.patch), ctx({}, known(d.templates)));
    expect(matched(again).patch).toEqual([]);
    expect(matched(again).gpus).toBe(2);
  });

  it("a second pass while its template is unknown (a dry run created none) skips the pod: no patch, nothing undone", () => {
    const d = matched(review(p));
    const again = review(applyPatch(p, d.patch));
    expect(again).toMatchObject({ kind: "skipped", reason: "uncounted-claims" });
  });

  it("does not convert in a namespace whose rule has no inject.dra", () => {
    const d = matched(review(pod().gpus(2).build(), ctx(), "batch"));
    expect(d.rule.name).toBe("any-gpu");
    expect(d.templates).toEqual([]);
    expect(applyPatch(pod().gpus(2).build(), d.patch).spec?.resourceClaims).toBeUndefined();
  });
});

describe("reviewPod: pods that bring their own claims", () => {
  const claimOnly = (template: string) => pod().namespace("ml-dra").container(claimContainer("trainer", "gpus")).resourceClaims([{ name: "gpus", resourceClaimTemplateName: template }]).build();

  it("counts the GPUs of a claim-only pod from its template, so the rule's other injections apply", () => {
    const p = claimOnly("two-h100");
    const d = matched(review(p));
    expect(d.gpus).toBe(2);
    expect(d.rule.name).toBe("dra-train");
    expect(d.templates).toEqual([]);
    const out = applyPatch(p, d.patch);
    expect(out.spec?.schedulerName).toBe("topofit-scheduler");
    expect(out.spec?.resourceClaims).toEqual(p.spec?.resourceClaims);
    expect(out.metadata?.annotations?.["topofit.io/gpus"]).toBe("2");
  });

  it("skips a claim-only pod whose template is unknown, saying which", () => {
    expect(review(claimOnly("made-later"))).toEqual({
      kind: "skipped",
      reason: "uncounted-claims",
      detail: "cannot tell how many GPUs the pod's claims hold: claim gpus: ResourceClaimTemplate ml-dra/made-later is not known to topofit (not created yet, or not listed yet)",
    });
  });

  it("skips a pod whose claims hold no GPU device", () => {
    expect(review(claimOnly("nic"))).toEqual({
      kind: "skipped",
      reason: "no-gpu-request",
      detail: "requests none of nvidia.com/gpu and its claims hold no device of class gpu.nvidia.com",
    });
  });

  it("skips a claim-only pod when no template is known at all (standalone)", () => {
    expect(review(claimOnly("two-h100"), { policy: POLICY, namespaceLabels: () => undefined })).toMatchObject({ kind: "skipped", reason: "uncounted-claims" });
  });

  it("adds claim GPUs to extended-resource GPUs, and leaves both as they are", () => {
    const p = pod().namespace("ml-dra").container(gpuContainer("trainer", 1)).container(claimContainer("helper", "more")).resourceClaims([{ name: "more", resourceClaimTemplateName: "two-h100" }]).build();
    const d = matched(review(p));
    expect(d.gpus).toBe(3);
    expect(d.templates).toEqual([]);
    expect(d.notes).toEqual(["not converted to DRA claims: the pod already uses resourceClaims"]);
    const out = applyPatch(p, d.patch);
    expect(out.spec?.containers).toEqual(p.spec?.containers);
    expect(out.metadata?.annotations?.["topofit.io/gpus"]).toBe("3");
  });

  it("reviews a pod with extended-resource GPUs and an unknown claim on what it can count, and notes the rest", () => {
    const p = pod().namespace("ml-dra").container(gpuContainer("trainer", 2)).resourceClaims([{ name: "x", resourceClaimTemplateName: "made-later" }]).build();
    const d = matched(review(p));
    expect(d.gpus).toBe(2);
    expect(d.notes).toContain("not counted: claim x: ResourceClaimTemplate ml-dra/made-later is not known to topofit (not created yet, or not listed yet)");
    expect(applyPatch(p, d.patch).metadata?.annotations?.["topofit.io/gpus"]).toBeUndefined();
  });

  it("strips topofit.io/ annotations from a claim GPU pod that matches no rule", () => {
    const policy = loadPolicy(`apiVersion: topofit.io/v1alpha1
kind: PlacementPolicy
spec:
  rules: [{name: big, match: {gpus: {min: 8}}}]
`);
    const p = pod().namespace("ml-dra").annotations({ "topofit.io/gpus": "8" }).container(claimContainer("t", "gpus")).resourceClaims([{ name: "gpus", resourceClaimTemplateName: "two-h100" }]).build();
    const d = review(p, ctx({}, USER_TEMPLATES, policy));
    expect(d.kind).toBe("unmatched");
    expect(d.kind !== "skipped" && applyPatch(p, d.patch).metadata?.annotations).toEqual({});
  });
});

const PER_POD = loadPolicy(
  policyDocument({
    rules: [{ name: "dra-train", match: { namespaces: ["ml-dra"], gpus: { min: 2 } }, inject: { dra: { deviceClassName: "gpu.nvidia.com", convertExtendedResources: true, claimSharing: "PerPod" } } }],
  }),
);

describe("reviewPod with a converting rule: properties", () => {
  const container = fc.record({
    name: fc.constantFrom("a", "b", "c", "trainer", "x".repeat(62)),
    gpus: fc.integer({ min: 0, max: 4 }),
    where: fc.constantFrom("requests", "limits", "both"),
    sidecar: fc.boolean(),
  });
  const pods = fc.record({
    containers: fc.uniqueArray(container, { selector: (c) => c.name, minLength: 1, maxLength: 3 }),
    inits: fc.uniqueArray(container, { selector: (c) => `init-${c.name}`, maxLength: 2 }),
    perPod: fc.boolean(),
  });
  const toWire = (c: { name: string; gpus: number; where: string }, prefix = "") => {
    const list = { "nvidia.com/gpu": String(c.gpus), cpu: "1" };
    return { name: `${prefix}${c.name}`, resources: { ...(c.where !== "limits" ? { requests: list } : {}), ...(c.where !== "requests" ? { limits: list } : {}) } };
  };

  it("the patch applies, no GPU resource is left, every GPU container has a claim, and a second pass is a no-op", () => {
    fc.assert(
      fc.property(pods, ({ containers, inits, perPod }) => {
        const policy = perPod ? PER_POD : POLICY;
        const p: PodWire = {
          metadata: { name: "p", namespace: "ml-dra" },
          spec: {
            containers: containers.map((c) => toWire(c)),
            initContainers: inits.map((c) => ({ ...toWire(c, "init-"), ...(c.sidecar ? { restartPolicy: "Always" } : {}) })),
          },
        };
        const d = review(p, ctx({}, USER_TEMPLATES, policy));
        const asked = [...containers, ...inits].some((c) => c.gpus > 0);
        if (!asked) return d.kind === "skipped";
        if (d.kind !== "matched" || d.rule.name !== "dra-train") return d.kind !== "skipped" && d.gpus < 2; // below the converting rule's gpus.min
        const out = applyPatch(p, d.patch);
        const all = [...(out.spec?.containers ?? []), ...(out.spec?.initContainers ?? [])];
        // Containers asking for 0 keep their (zero) entries; no other GPU resource is left.
        expect(all.filter((c) => JSON.stringify(c.resources).includes("nvidia.com/gpu")).map((c) => c.resources?.requests?.["nvidia.com/gpu"] ?? c.resources?.limits?.["nvidia.com/gpu"])).toEqual(
          all.filter((c) => JSON.stringify(c.resources).includes("nvidia.com/gpu")).map(() => "0"),
        );
        const claimNames = new Set(out.spec?.resourceClaims?.map((c) => c.name));
        for (const c of all) for (const ref of c.resources?.claims ?? []) expect(claimNames.has(ref.name)).toBe(true);
        expect(all.filter((c) => (c.resources?.claims?.length ?? 0) > 0)).toHaveLength([...containers, ...inits].filter((c) => c.gpus > 0).length);
        const again = review(out, ctx({}, known(d.templates), policy));
        return again.kind === "matched" && again.patch.length === 0;
      }),
      { numRuns: 300 },
    );
  });
});
