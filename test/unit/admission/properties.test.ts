// Properties of the whole admission step over arbitrary pods and arbitrary
// valid policies: it never throws, its patch applies cleanly and yields the
// mutated pod, a second pass is a no-op, and pods without GPUs are left alone.
import fc from "fast-check";
import fastJsonPatch from "fast-json-patch";
import { describe, expect, it } from "vitest";
import { decodeAdmissionReview, type AdmissionCall } from "../../../src/admission/decode.js";
import { countPodGpus } from "../../../src/admission/gpu-request.js";
import { admissionReviewText, respondToDecision } from "../../../src/admission/respond.js";
import { reviewPod, type Decision } from "../../../src/admission/review.js";
import type { PodWire } from "../../../src/admission/schema.js";
import { loadPolicyText } from "../../../src/policy/load.js";
import type { Policy } from "../../../src/policy/model.js";
import { admissionReview } from "../../builders/admission-review.js";

const RUNS = 400;
/** The generator checks below sample with a fixed seed so that their thresholds are stable. */
const SAMPLE_SEED = 20261001;

// ---------------------------------------------------------------- value pools
// Small pools shared by pods and policies, so that pods often already carry what
// a rule injects (the "already present" paths) and selectors often match.

const NAMESPACES = ["ml-train", "serving", "default", "kube-system", "topofit-system", "team-a"] as const;
const LABEL_KEYS = ["app", "team", "topofit.io/workload", "tier", "example.com/a~b"] as const;
const LABEL_VALUES = ["training", "inference", "serving", "vision", "gold", "x"] as const;
const ANNOTATION_KEYS = ["topofit.io/rule", "topofit.io/placement", "topofit.io/gpus", "example.com/owner", "kubectl.kubernetes.io/last-applied-configuration", "a/b~c"] as const;
/** nvidia.com/gpu twice: the default GPU resource should be the most common name. */
const RESOURCES = ["nvidia.com/gpu", "nvidia.com/gpu", "amd.com/gpu", "example.com/fpga", "cpu", "memory"] as const;
const GPU_RESOURCES = ["nvidia.com/gpu", "amd.com/gpu", "example.com/fpga"] as const;
const NODE_KEYS = ["nvidia.com/gpu.product", "nvidia.com/gpu.family", "kubernetes.io/os", "topology.kubernetes.io/zone"] as const;
const NODE_VALUES = ["NVIDIA-H100-80GB-HBM3", "hopper", "linux", "a", "b"] as const;
const CLASSES = ["gpu-training", "gpu-inference", "batch-low"] as const;
const SCHEDULERS = ["default-scheduler", "topofit-scheduler", "volcano"] as const;
const RUNTIMES = ["nvidia", "kata-nvidia"] as const;

const TOLERATIONS = [
  { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" },
  { key: "karpenter.sh/capacity-type", operator: "Equal", value: "spot", effect: "NoSchedule" },
  { key: "karpenter.sh/capacity-type", value: "spot", effect: "NoSchedule" },
  { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 },
  { operator: "Exists" },
] as const;

const REQUIREMENTS = [
  { key: "nvidia.com/gpu.family", operator: "In", values: ["hopper", "ada-lovelace"] },
  { key: "nvidia.com/gpu.count", operator: "Gt", values: ["3"] },
  { key: "topology.kubernetes.io/zone", operator: "NotIn", values: ["c"] },
  { key: "nvidia.com/mig.capable", operator: "Exists" },
] as const;
const FIELD_REQUIREMENTS = [{ key: "metadata.name", operator: "In", values: ["gpu-node-1"] }] as const;

// ---------------------------------------------------------------- helpers

/**
 * Present with probability `p`, else undefined. (Not fc.option: its bias towards
 * nil grows with depth, which left deep fields such as resources.requests empty.)
 */
const maybe = <T>(arb: fc.Arbitrary<T>, p = 0.5): fc.Arbitrary<T | undefined> => fc.tuple(fc.nat(99), arb).map(([r, v]) => (r < p * 100 ? v : undefined));
const pick = <T>(xs: readonly T[]) => fc.constantFrom(...xs);
const clone = <T>(x: T): T => structuredClone(x) as T;

/** Values of a type nobody expects here: what a hand-written AdmissionReview might carry. */
const odd: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -3, max: 1000 }),
  fc.string({ maxLength: 4 }),
  fc.constant([]),
  fc.array(fc.constantFrom("a", "nvidia.com/gpu", 1, null), { maxLength: 3 }),
  fc.constant({}),
  fc.record({ key: fc.constantFrom("a", 1, null) }),
);

/** Mostly (6 in 7) a well-typed value, sometimes an odd one; without depth bias. */
const orOdd = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | unknown> => fc.tuple(fc.nat(6), arb, odd).map(([r, v, o]) => (r === 0 ? o : v));

/** An object with some keys from `keys`, values from `values`, without undefined members (as JSON has none). */
function dict<K extends string, V>(keys: readonly K[], values: fc.Arbitrary<V>, maxKeys = 3): fc.Arbitrary<Record<string, V>> {
  return fc.dictionary(pick(keys), values, { maxKeys });
}

function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

// ---------------------------------------------------------------- pods

const quantity = fc.oneof(
  { arbitrary: fc.constantFrom("0", "1", "2", "4", "8", "1k", "500m", "2Gi"), weight: 8 },
  { arbitrary: fc.integer({ min: 0, max: 8 }), weight: 3 },
  { arbitrary: odd, weight: 1 },
);
const resourceList = orOdd(dict(RESOURCES, quantity, 3));
const container = (init: boolean) =>
  fc
    .record({
      name: fc.constantFrom("main", "sidecar", "setup"),
      resources: maybe(orOdd(fc.record({ requests: maybe(resourceList, 0.7), limits: maybe(resourceList, 0.6) }).map(defined)), 0.9),
      restartPolicy: init ? maybe(fc.constantFrom("Always", "Never", "OnFailure"), 0.6) : fc.constant(undefined),
    })
    .map(defined);

const term = fc
  .record({
    matchExpressions: maybe(orOdd(fc.array(orOdd(pick(REQUIREMENTS).map(clone)), { maxLength: 3 })), 0.8),
    matchFields: maybe(fc.array(pick(FIELD_REQUIREMENTS).map(clone), { maxLength: 1 }), 0.3),
  })
  .map(defined);

const affinity = orOdd(
  fc
    .record({
      nodeAffinity: maybe(
        orOdd(
          fc
            .record({
              requiredDuringSchedulingIgnoredDuringExecution: maybe(orOdd(fc.record({ nodeSelectorTerms: orOdd(fc.array(orOdd(term), { maxLength: 3 })) })), 0.7),
              preferredDuringSchedulingIgnoredDuringExecution: maybe(
                orOdd(fc.array(orOdd(fc.record({ weight: fc.integer({ min: 1, max: 100 }), preference: orOdd(term) })), { maxLength: 2 })),
                0.5,
              ),
            })
            .map(defined),
        ),
        0.8,
      ),
      podAntiAffinity: maybe(fc.constant({ preferredDuringSchedulingIgnoredDuringExecution: [] }), 0.2),
    })
    .map(defined),
);

const podSpec = fc
  .record({
    containers: orOdd(fc.array(orOdd(container(false)), { minLength: 1, maxLength: 3 })),
    initContainers: maybe(orOdd(fc.array(container(true), { maxLength: 3 })), 0.4),
    tolerations: maybe(orOdd(fc.array(orOdd(pick(TOLERATIONS).map(clone)), { minLength: 1, maxLength: 4 })), 0.7),
    nodeSelector: maybe(orOdd(dict(NODE_KEYS, orOdd(pick(NODE_VALUES)), 3)), 0.5),
    affinity: maybe(affinity, 0.6),
    priorityClassName: maybe(orOdd(fc.constantFrom(...CLASSES, "")), 0.4),
    priority: maybe(fc.integer({ min: 0, max: 1_000_000 }), 0.6),
    preemptionPolicy: maybe(fc.constantFrom("PreemptLowerPriority", "Never")),
    schedulerName: maybe(orOdd(fc.constantFrom(...SCHEDULERS, "")), 0.6),
    runtimeClassName: maybe(orOdd(fc.constantFrom(...RUNTIMES, "")), 0.3),
    restartPolicy: maybe(fc.constant("Always")),
  })
  .map(defined);

const podMetadata = fc
  .record({
    name: maybe(fc.constantFrom("trainer-0", "llm-server")),
    generateName: maybe(fc.constantFrom("trainer-7d9c8b6f5-")),
    namespace: maybe(orOdd(pick(NAMESPACES)), 0.6),
    labels: maybe(orOdd(dict(LABEL_KEYS, orOdd(pick(LABEL_VALUES)), 4)), 0.8),
    annotations: maybe(orOdd(dict(ANNOTATION_KEYS, orOdd(fc.constantFrom("training", "{}", "x")), 4)), 0.6),
  })
  .map(defined);

/** A pod as JSON would carry it; metadata and spec, when present, are objects (decode enforces that). */
const podArb: fc.Arbitrary<PodWire> = fc
  .record({ metadata: maybe(podMetadata, 0.9), spec: maybe(podSpec, 0.95) })
  .map((p) => JSON.parse(JSON.stringify({ apiVersion: "v1", kind: "Pod", ...defined(p) })) as PodWire);

// ---------------------------------------------------------------- policies

const labelSelector = fc
  .record({
    matchLabels: maybe(dict(LABEL_KEYS, pick(LABEL_VALUES), 2)),
    matchExpressions: maybe(
      fc.array(
        fc.oneof(
          fc.record({ key: pick(LABEL_KEYS), operator: fc.constantFrom("In", "NotIn"), values: fc.uniqueArray(pick(LABEL_VALUES), { minLength: 1, maxLength: 3 }) }),
          fc.record({ key: pick(LABEL_KEYS), operator: fc.constantFrom("Exists", "DoesNotExist") }),
        ),
        { maxLength: 2 },
      ),
    ),
  })
  .map(defined);

const namespaceSelector = fc.record({
  matchLabels: fc.record({ "kubernetes.io/metadata.name": pick(NAMESPACES) }),
});

const gpus = fc
  .tuple(maybe(fc.integer({ min: 0, max: 6 })), maybe(fc.integer({ min: 0, max: 6 })))
  .map(([a, b]) => (a !== undefined && b !== undefined && a > b ? { min: b, max: a } : defined({ min: a, max: b })));

const ruleTerm = fc
  .record({
    matchExpressions: maybe(fc.array(pick(REQUIREMENTS).map(clone), { minLength: 1, maxLength: 2 }), 0.8),
    matchFields: maybe(fc.array(pick(FIELD_REQUIREMENTS).map(clone), { minLength: 1, maxLength: 1 }), 0.3),
  })
  .map((t) => (t.matchExpressions === undefined && t.matchFields === undefined ? { matchExpressions: [clone(REQUIREMENTS[0])] } : defined(t)));

const ruleSpec = fc.record({
  match: maybe(
    fc
      .record({
        namespaces: maybe(fc.uniqueArray(pick(NAMESPACES), { minLength: 1, maxLength: 3 }), 0.3),
        namespaceSelector: maybe(namespaceSelector, 0.15),
        podSelector: maybe(labelSelector, 0.4),
        gpus: maybe(gpus, 0.5),
      })
      .map(defined),
    0.8,
  ),
  inject: maybe(
    fc
      .record({
        tolerations: maybe(fc.array(pick(TOLERATIONS).map(clone), { maxLength: 3 }), 0.6),
        nodeSelector: maybe(dict(NODE_KEYS, pick(NODE_VALUES), 2)),
        nodeSelectorMode: maybe(fc.constantFrom("IfAbsent", "Override")),
        nodeAffinity: maybe(
          fc
            .record({
              required: maybe(fc.array(ruleTerm, { minLength: 1, maxLength: 2 }), 0.6),
              preferred: maybe(fc.array(fc.tuple(fc.integer({ min: 1, max: 100 }), ruleTerm).map(([weight, t]) => ({ weight, ...t })), { minLength: 1, maxLength: 2 })),
            })
            .map(defined),
        ),
        priorityClassName: maybe(pick(CLASSES)),
        priorityClassMode: maybe(fc.constantFrom("IfAbsent", "Override")),
        schedulerName: maybe(pick(SCHEDULERS.filter((s) => s !== "default-scheduler"))),
        runtimeClassName: maybe(pick(RUNTIMES)),
      })
      .map(defined),
    0.9,
  ),
  placement: maybe(fc.record({ gpuLinks: fc.constantFrom("Any", "NVLinkPreferred", "NVLinkRequired"), numa: fc.constantFrom("Any", "Preferred", "SingleNode") })),
});

const policyDocArb = fc.record({
  gpuResources: maybe(fc.uniqueArray(pick(GPU_RESOURCES), { minLength: 1, maxLength: 2 }), 0.3),
  excludedNamespaces: maybe(fc.uniqueArray(pick(NAMESPACES), { maxLength: 2 })),
  defaultPlacement: maybe(fc.record({ strategy: fc.constantFrom("BinPack", "Spread") }), 0.3),
  rules: fc.array(ruleSpec, { maxLength: 4 }),
  /** A trailing catch-all, so that more GPU pods meet a rule that injects something. */
  catchAll: maybe(ruleSpec.map((r) => ({ ...r, match: {} })), 0.3),
});

/** Arbitrary policies that the real loader accepts. */
const policyArb: fc.Arbitrary<Policy> = policyDocArb
  .map(({ catchAll, ...spec }) => {
    const rules = catchAll === undefined ? spec.rules : [...spec.rules, catchAll];
    const doc = {
      apiVersion: "topofit.io/v1alpha1",
      kind: "PlacementPolicy",
      spec: defined({ ...spec, rules: rules.map((r, i) => ({ name: `rule-${i}`, ...defined(r) })) }),
    };
    return loadPolicyText(JSON.stringify(doc));
  })
  .filter((r) => r.ok)
  .map((r) => (r.ok ? r.policy : (undefined as never)));

const namespaceArb = pick(NAMESPACES);

// ---------------------------------------------------------------- the step under test

function decode(p: PodWire, namespace: string): AdmissionCall {
  const decoded = decodeAdmissionReview(JSON.parse(JSON.stringify(admissionReview(p, { namespace }))));
  if (!decoded.ok) throw new Error(`pod did not decode: ${decoded.error.message}`);
  return decoded.call;
}

function review(p: PodWire, namespace: string, policy: Policy): Decision {
  return reviewPod(decode(p, namespace), { policy, namespaceLabels: () => undefined });
}

/** The patch the apiserver would receive, decoded from the wire response. */
function wirePatch(d: Decision): fastJsonPatch.Operation[] | undefined {
  const wire = respondToDecision("uid", d);
  expect(admissionReviewText(wire)).toBe(JSON.stringify(wire));
  const r = wire.response;
  expect(r.patch === undefined).toBe(r.patchType === undefined);
  return r.patch === undefined ? undefined : (JSON.parse(Buffer.from(r.patch, "base64").toString("utf8")) as fastJsonPatch.Operation[]);
}

const params = { numRuns: RUNS };

describe("admission properties", () => {
  it("the policy arbitrary yields varied valid policies", () => {
    const sample = fc.sample(policyArb, { numRuns: 200, seed: SAMPLE_SEED });
    const rules = sample.flatMap((p) => p.rules);
    expect(sample.filter((p) => p.rules.length >= 2).length).toBeGreaterThan(40);
    expect(rules.filter((r) => r.inject.tolerations.length > 0).length).toBeGreaterThan(40);
    expect(rules.filter((r) => Object.keys(r.inject.nodeSelector).length > 0).length).toBeGreaterThan(40);
    expect(rules.filter((r) => r.inject.requiredTerms.length > 0).length).toBeGreaterThan(20);
    expect(rules.filter((r) => r.inject.preferredTerms.length > 0).length).toBeGreaterThan(20);
    expect(rules.filter((r) => r.inject.priorityClassMode === "Override" && r.inject.priorityClassName).length).toBeGreaterThan(10);
    expect(rules.filter((r) => r.match.podSelector !== undefined).length).toBeGreaterThan(20);
  });

  it("the pod arbitrary yields GPU pods, CPU pods, odd pods, and pods already carrying what rules inject", () => {
    const sample = fc.sample(podArb, { numRuns: 500, seed: SAMPLE_SEED });
    const gpuPods = sample.filter((p) => countPodGpus(p, new Set(["nvidia.com/gpu"])) > 0);
    expect(gpuPods.length).toBeGreaterThan(100);
    expect(sample.length - gpuPods.length).toBeGreaterThan(100);
    expect(sample.some((p) => p.spec === undefined)).toBe(true);
    expect(sample.some((p) => p.metadata === undefined)).toBe(true);
    expect(gpuPods.filter((p) => (p.spec?.initContainers?.length ?? 0) > 0).length).toBeGreaterThan(10);
    expect(gpuPods.filter((p) => Array.isArray(p.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms)).length).toBeGreaterThan(10);
    expect(gpuPods.filter((p) => Object.keys(p.metadata?.annotations ?? {}).some((k) => k.startsWith("topofit.io/"))).length).toBeGreaterThan(20);
    expect(gpuPods.filter((p) => p.spec?.tolerations?.some?.((t) => t?.key === "nvidia.com/gpu")).length).toBeGreaterThan(10);
  });

  it("the generated pods and policies often meet: many GPU pods match a rule and get a non-empty patch", () => {
    const decisions = fc.sample(fc.tuple(podArb, namespaceArb, policyArb), { numRuns: 300, seed: SAMPLE_SEED }).map(([p, ns, policy]) => review(p, ns, policy));
    expect(decisions.filter((d) => d.kind === "matched" && d.patch.length > 0).length).toBeGreaterThan(35);
    expect(decisions.filter((d) => d.kind === "unmatched").length).toBeGreaterThan(10);
  });

  it("reviewPod never throws, and its patch applies cleanly to the original to give the mutated pod", () => {
    fc.assert(
      fc.property(podArb, namespaceArb, policyArb, (p, ns, policy) => {
        const original = structuredClone(p);
        const d = review(p, ns, policy);
        expect(p).toEqual(original);
        const ops = wirePatch(d);
        if (d.kind === "skipped") {
          expect(ops).toBeUndefined();
          return;
        }
        const result = fastJsonPatch.applyPatch(structuredClone(original), ops ?? [], true, false).newDocument;
        expect(result).toEqual(JSON.parse(JSON.stringify(d.mutated)));
      }),
      params,
    );
  });

  it("a second review of the mutated pod gives an empty patch, the same decision and no patchType", () => {
    fc.assert(
      fc.property(podArb, namespaceArb, policyArb, (p, ns, policy) => {
        const first = review(p, ns, policy);
        if (first.kind === "skipped") return;
        const second = review(JSON.parse(JSON.stringify(first.mutated)) as PodWire, ns, policy);
        expect(second.kind).toBe(first.kind);
        if (second.kind === "skipped") return;
        expect(second.patch).toEqual([]);
        expect(second.kind === "matched" && second.rule.name).toBe(first.kind === "matched" && first.rule.name);
        expect(wirePatch(second)).toBeUndefined();
      }),
      params,
    );
  });

  it("pods that ask for none of the policy's GPU resources get no patch", () => {
    fc.assert(
      fc.property(podArb, namespaceArb, policyArb, (p, ns, policy) => {
        fc.pre(countPodGpus(p, policy.gpuResourceSet) === 0);
        const d = review(p, ns, policy);
        expect(d.kind).toBe("skipped");
        expect(wirePatch(d)).toBeUndefined();
      }),
      params,
    );
  });

  it("a matched pod carries exactly the rule and placement annotations under topofit.io/, and keeps every other annotation", () => {
    fc.assert(
      fc.property(podArb, namespaceArb, policyArb, (p, ns, policy) => {
        const d = review(p, ns, policy);
        if (d.kind === "skipped") return;
        const after = (d.mutated.metadata?.annotations ?? {}) as Record<string, unknown>;
        const before = p.metadata?.annotations;
        const foreign = (a: unknown) =>
          a !== null && typeof a === "object" ? Object.fromEntries(Object.entries(a).filter(([k]) => !k.startsWith("topofit.io/"))) : {};
        const ours = Object.keys(after).filter((k) => k.startsWith("topofit.io/")).sort();
        if (d.kind === "matched") {
          expect(ours).toEqual(["topofit.io/placement", "topofit.io/rule"]);
          expect(after["topofit.io/rule"]).toBe(d.rule.name);
          expect(after["topofit.io/placement"]).toBe(d.rule.placementAnnotation);
        } else {
          expect(ours).toEqual([]);
        }
        if (before !== null && typeof before === "object" && !Array.isArray(before)) expect(foreign(after)).toEqual(foreign(before));
      }),
      params,
    );
  });
});
