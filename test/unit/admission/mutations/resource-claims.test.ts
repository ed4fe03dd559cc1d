import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { countPodGpus } from "../../../../src/admission/gpu-request.js";
import type { MutationContext } from "../../../../src/admission/mutations/index.js";
import { containerClaimName, convertGpusToClaims } from "../../../../src/admission/mutations/resource-claims.js";
import type { ContainerWire, PodWire } from "../../../../src/admission/schema.js";
import type { Policy, Rule } from "../../../../src/policy/model.js";
import type { DraInjectSpec } from "../../../../src/policy/schema.js";
import { gpuContainer, pod } from "../../../builders/pod.js";
import { loadPolicy, policyDocument } from "../../../builders/policy.js";

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function draPolicy(dra: Partial<DraInjectSpec> = {}, gpuResources?: string[]): Policy {
  return loadPolicy(
    policyDocument({
      ...(gpuResources ? { gpuResources } : {}),
      rules: [{ name: "dra", inject: { dra: { deviceClassName: "gpu.nvidia.com", convertExtendedResources: true, ...dra } } }],
    }),
  );
}

interface Applied {
  readonly pod: PodWire;
  readonly notes: readonly string[];
  readonly ctx: MutationContext;
}

/** Applies the conversion as review.ts does: to a copy of the pod's top levels, with the pod's GPU count. */
function apply(p: PodWire, policy: Policy = draPolicy(), extra: Partial<MutationContext> = {}): Applied {
  const rule: Rule = policy.rules[0]!;
  const copy: PodWire = { ...p, metadata: { ...p.metadata }, spec: { ...p.spec } };
  const ctx: MutationContext = { policy, namespace: "ml", gpus: countPodGpus(p, policy.gpuResourceSet), templates: [], ...extra };
  const notes = convertGpusToClaims(copy, rule, ctx);
  return { pod: copy, notes, ctx };
}

const templateOf = (a: Applied, claim: string) => a.pod.spec?.resourceClaims?.find((c) => c.name === claim)?.resourceClaimTemplateName;
const countOf = (a: Applied, template: string | undefined) => a.ctx.templates.find((t) => t.metadata.name === template)?.spec.spec.devices.requests[0]?.exactly.count;

describe("convertGpusToClaims: PerContainer (the default)", () => {
  const p = pod()
    .container({ ...gpuContainer("trainer", 2), resources: { requests: { "nvidia.com/gpu": "2", cpu: "4" }, limits: { "nvidia.com/gpu": "2", memory: "8Gi" } } })
    .container(gpuContainer("evaluator", 1))
    .container({ name: "logger", image: "busybox", resources: { requests: { cpu: "100m" } } })
    .build();
  const a = apply(p);

  it("gives each GPU container its own claim, named after it, in place of its GPU resource", () => {
    expect(a.notes).toEqual([]);
    expect(a.pod.spec?.containers?.map((c) => c.resources)).toEqual([
      { requests: { cpu: "4" }, limits: { memory: "8Gi" }, claims: [{ name: "gpu-trainer" }] },
      { claims: [{ name: "gpu-evaluator" }] },
      { requests: { cpu: "100m" } },
    ]);
    expect(a.pod.spec?.resourceClaims?.map((c) => c.name)).toEqual(["gpu-trainer", "gpu-evaluator"]);
  });

  it("sizes each claim's template to its container's count", () => {
    expect(countOf(a, templateOf(a, "gpu-trainer"))).toBe(2);
    expect(countOf(a, templateOf(a, "gpu-evaluator"))).toBe(1);
    expect(a.ctx.templates.map((t) => t.metadata.name)).toEqual([templateOf(a, "gpu-trainer"), templateOf(a, "gpu-evaluator")]);
    expect(a.ctx.templates.every((t) => t.metadata.namespace === "ml")).toBe(true);
  });

  it("records the GPUs the claims hold", () => {
    expect(a.ctx.claimGpus).toBe(3);
  });

  it("leaves the pod it was given untouched (copy-on-write)", () => {
    const before = structuredClone(p);
    apply(p);
    expect(p).toEqual(before);
  });

  it("shares one template between containers asking for the same count, with one claim each", () => {
    const b = apply(pod().container(gpuContainer("a", 2)).container(gpuContainer("b", 2)).build());
    expect(b.pod.spec?.resourceClaims?.map((c) => c.name)).toEqual(["gpu-a", "gpu-b"]);
    expect(templateOf(b, "gpu-a")).toBe(templateOf(b, "gpu-b"));
    expect(b.ctx.templates).toHaveLength(1);
  });
});

describe("convertGpusToClaims: PerPod", () => {
  it("gives the pod one claim, sized to its effective GPU count, that every GPU container refers to", () => {
    const p = pod()
      .initContainer(gpuContainer("warmup", 4))
      .container(gpuContainer("trainer", 2))
      .container(gpuContainer("evaluator", 1))
      .container({ name: "logger", image: "busybox" })
      .build();
    const a = apply(p, draPolicy({ claimSharing: "PerPod" }));
    expect(a.pod.spec?.resourceClaims).toEqual([{ name: "gpus", resourceClaimTemplateName: templateOf(a, "gpus") }]);
    expect(countOf(a, templateOf(a, "gpus"))).toBe(4);
    const claims = (cs: ContainerWire[] | undefined) => cs?.map((c) => c.resources?.claims);
    expect(claims(a.pod.spec?.initContainers)).toEqual([[{ name: "gpus" }]]);
    expect(claims(a.pod.spec?.containers)).toEqual([[{ name: "gpus" }], [{ name: "gpus" }], undefined]);
    expect(a.ctx.claimGpus).toBe(4);
    expect(a.notes).toEqual([]);
  });
});

describe("convertGpusToClaims: init containers", () => {
  it("converts a GPU init container too, and says when its claim makes the pod hold more GPUs than the device plugin would give", () => {
    const a = apply(pod().initContainer(gpuContainer("prepare", 1)).container(gpuContainer("trainer", 2)).build());
    expect(a.pod.spec?.initContainers?.[0]?.resources).toEqual({ claims: [{ name: "gpu-prepare" }] });
    expect(a.pod.spec?.resourceClaims?.map((c) => c.name)).toEqual(["gpu-prepare", "gpu-trainer"]);
    expect(a.ctx.claimGpus).toBe(3);
    expect(a.notes).toEqual([
      "the pod holds 3 GPUs through its claims where the device plugin would give it 2: an init container's claim stays allocated for the pod's life (claimSharing: PerPod shares one claim)",
    ]);
  });

  it("adds no such note for a sidecar (restartable init container), which runs beside the app anyway", () => {
    const a = apply(pod().initContainer({ ...gpuContainer("sidecar", 1), restartPolicy: "Always" }).container(gpuContainer("trainer", 2)).build());
    expect(a.ctx.claimGpus).toBe(3);
    expect(a.notes).toEqual([]);
  });
});

describe("convertGpusToClaims: where the GPU resource is", () => {
  it.each<[string, ContainerWire["resources"], ContainerWire["resources"]]>([
    ["requests only", { requests: { "nvidia.com/gpu": "1", cpu: "1" } }, { requests: { cpu: "1" }, claims: [{ name: "gpu-c" }] }],
    ["limits only", { limits: { "nvidia.com/gpu": 1 } }, { claims: [{ name: "gpu-c" }] }],
    ["both, as the API server defaults them", { requests: { "nvidia.com/gpu": "3" }, limits: { "nvidia.com/gpu": "3" } }, { claims: [{ name: "gpu-c" }] }],
  ])("%s: removed, and the map dropped when nothing else is in it", (_name, resources, want) => {
    const a = apply(pod().container({ name: "c", image: "x", resources }).build());
    expect(a.pod.spec?.containers?.[0]?.resources).toEqual(want);
  });

  it("adds up and removes every GPU resource the policy names (several gpuResources)", () => {
    const c = { name: "c", image: "x", resources: { limits: { "nvidia.com/gpu": "1", "nvidia.com/gpu.shared": "2", cpu: "1" } } };
    const a = apply(pod().container(c).build(), draPolicy({}, ["nvidia.com/gpu", "nvidia.com/gpu.shared"]));
    expect(a.pod.spec?.containers?.[0]?.resources).toEqual({ limits: { cpu: "1" }, claims: [{ name: "gpu-c" }] });
    expect(countOf(a, templateOf(a, "gpu-c"))).toBe(3);
  });

  it("leaves a resource the policy does not name (amd.com/gpu) where it is", () => {
    const c = { name: "c", image: "x", resources: { limits: { "nvidia.com/gpu": "1", "amd.com/gpu": "1" } } };
    const a = apply(pod().container(c).build());
    expect(a.pod.spec?.containers?.[0]?.resources).toEqual({ limits: { "amd.com/gpu": "1" }, claims: [{ name: "gpu-c" }] });
  });

  it("leaves a container asking for 0 GPUs as it is", () => {
    const a = apply(pod().container(gpuContainer("zero", 0)).container(gpuContainer("one", 1)).build());
    expect(a.pod.spec?.containers?.[0]?.resources).toEqual(gpuContainer("zero", 0).resources);
    expect(a.pod.spec?.resourceClaims?.map((c) => c.name)).toEqual(["gpu-one"]);
  });
});

describe("convertGpusToClaims: pods it leaves as they are", () => {
  it.each<[string, PodWire, Partial<MutationContext>, string | undefined]>([
    [
      "a pod that already uses resourceClaims (its GPU requests stay)",
      { ...pod().gpus(1).build(), spec: { ...pod().gpus(1).build().spec, resourceClaims: [{ name: "nic", resourceClaimTemplateName: "rdma" }] } },
      {},
      "not converted to DRA claims: the pod already uses resourceClaims",
    ],
    ["a pod whose GPUs come from claims only", { spec: { containers: [{ name: "c", resources: { claims: [{ name: "g" }] } }], resourceClaims: [{ name: "g", resourceClaimTemplateName: "t" }] } }, {}, undefined],
    [
      "a fractional GPU amount (the API server rejects the pod)",
      pod().container({ name: "c", resources: { limits: { "nvidia.com/gpu": "0.5" } } }).build(),
      {},
      'not converted to DRA claims: container c asks for nvidia.com/gpu: "0.5", not a whole number',
    ],
    [
      "requests and limits that differ",
      pod().container({ name: "c", resources: { requests: { "nvidia.com/gpu": "1" }, limits: { "nvidia.com/gpu": "2" } } }).build(),
      {},
      "not converted to DRA claims: container c has different requests (1) and limits (2) of nvidia.com/gpu",
    ],
    [
      "any pod while its templates cannot be ensured",
      pod().gpus(2).build(),
      { conversionBlocked: "HTTP 403: forbidden" },
      "not converted to DRA claims: HTTP 403: forbidden",
    ],
  ])("%s", (_name, p, extra, note) => {
    const a = apply(p, draPolicy(), extra);
    expect(a.notes).toEqual(note === undefined ? [] : [note]);
    expect(a.pod.spec).toEqual(p.spec);
    expect(a.ctx.templates).toEqual([]);
    expect(a.ctx.claimGpus).toBeUndefined();
  });

  it("does nothing for a rule without inject.dra", () => {
    const policy = loadPolicy(policyDocument({ rules: [{ name: "plain" }] }));
    const a = apply(pod().gpus(2).build(), policy);
    expect(a.notes).toEqual([]);
    expect(a.pod.spec).toEqual(pod().gpus(2).build().spec);
  });

  it("changes nothing on a second pass over its own output", () => {
    const once = apply(pod().container(gpuContainer("t", 2)).build()).pod;
    const twice = apply(once);
    expect(twice.pod).toEqual(once);
    expect(twice.notes).toEqual([]);
  });
});

describe("containerClaimName", () => {
  it("is gpu-<container> when that is a DNS label", () => {
    expect(containerClaimName("trainer", new Set())).toBe("gpu-trainer");
  });

  it("shortens a long name with a hash, so that two long names with one prefix stay apart", () => {
    const a = containerClaimName(`${"x".repeat(58)}-a`, new Set());
    const b = containerClaimName(`${"x".repeat(58)}-b`, new Set());
    expect(a).toMatch(DNS_LABEL);
    expect(a.length).toBeLessThanOrEqual(63);
    expect(a).not.toBe(b);
  });

  it("is always a DNS label of at most 63 characters, not yet used in the pod", () => {
    const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
    fc.assert(
      fc.property(label, fc.array(label, { maxLength: 5 }), (container, others) => {
        const used = new Set([...others.map((o) => containerClaimName(o, new Set())), `gpu-${container}`.slice(0, 63)]);
        const name = containerClaimName(container, used);
        return DNS_LABEL.test(name) && name.length <= 63 && !used.has(name);
      }),
      { numRuns: 300 },
    );
  });
});
