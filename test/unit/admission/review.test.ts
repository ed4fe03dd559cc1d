import { describe, expect, it } from "vitest";
import { decodeAdmissionReview, type AdmissionCall } from "../../../src/admission/decode.js";
import { applyPatch, type PatchOperation } from "../../../src/admission/patch.js";
import { reviewPod, type Decision, type ReviewContext } from "../../../src/admission/review.js";
import { EMBEDDED_POLICY_YAML } from "../../../src/policy/embedded.js";
import type { Policy } from "../../../src/policy/model.js";
import { admissionCall } from "../../builders/admission-review.js";
import { pod } from "../../builders/pod.js";
import { loadPolicy, policyDocument } from "../../builders/policy.js";
import { admissionFixture, type AdmissionFixture } from "../../fixtures/load.js";

const EXAMPLE = loadPolicy(EMBEDDED_POLICY_YAML);
const ctx = (policy: Policy = EXAMPLE, labels?: Record<string, string>): ReviewContext => ({ policy, namespaceLabels: () => labels });

function fixtureCall(name: AdmissionFixture): AdmissionCall {
  const d = decodeAdmissionReview(admissionFixture(name));
  if (!d.ok) throw new Error(d.error.message);
  return d.call;
}

function byPath(ops: readonly PatchOperation[]): PatchOperation[] {
  return [...ops].sort((a, b) => `${a.path} ${a.op}`.localeCompare(`${b.path} ${b.op}`));
}

function mutatedOf(d: Decision) {
  if (d.kind === "skipped") throw new Error(`expected a GPU decision, got skipped: ${d.detail}`);
  return d;
}

describe("reviewPod: what it skips", () => {
  it.each<[string, AdmissionFixture, string]>([
    ["a CPU-only pod", "cpu-deployment-pod-create", "no-gpu-request"],
    ["a GPU pod in an excluded namespace", "kube-system-gpu-pod-create", "excluded-namespace"],
    ["an UPDATE of a GPU pod", "pod-update", "not-a-pod-create"],
    ["a CREATE of pods/binding", "pod-binding-create", "not-a-pod-create"],
  ])("skips %s", (_name, fixture, reason) => {
    const d = reviewPod(fixtureCall(fixture), ctx());
    expect(d.kind).toBe("skipped");
    expect(d.kind === "skipped" && d.reason).toBe(reason);
  });

  it("skips on request.namespace even when the object claims another namespace", () => {
    const p = pod().namespace("ml-train").labels({ "topofit.io/workload": "training" }).gpus(8).build();
    const d = reviewPod(admissionCall(p, { namespace: "topofit-system" }), ctx());
    expect(d.kind === "skipped" && d.reason).toBe("excluded-namespace");
  });

  it("skips a pod asking only for a GPU resource the policy does not name", () => {
    const d = reviewPod(admissionCall(pod().gpus(2, "amd.com/gpu").build()), ctx());
    expect(d.kind === "skipped" && d.reason).toBe("no-gpu-request");
  });

  it("uses the policy's excludedNamespaces, not the defaults, when it sets them", () => {
    const policy = loadPolicy(policyDocument({ excludedNamespaces: ["batch"], rules: [{ name: "any" }] }));
    expect(reviewPod(admissionCall(pod().gpus(1).build(), { namespace: "kube-system" }), ctx(policy)).kind).toBe("matched");
    expect(reviewPod(admissionCall(pod().gpus(1).build(), { namespace: "batch" }), ctx(policy)).kind).toBe("skipped");
  });
});

describe("reviewPod: the example policy on apiserver payloads", () => {
  it("gives a Deployment training pod the training rule, with exactly the patch the rule implies", () => {
    const d = mutatedOf(reviewPod(fixtureCall("deployment-training-pod-create"), ctx()));
    expect(d.kind).toBe("matched");
    expect(d.kind === "matched" && d.rule.name).toBe("training");
    expect(d.gpus).toBe(8);
    expect(byPath(d.patch)).toEqual(
      byPath([
        {
          op: "add",
          path: "/metadata/annotations",
          value: { "topofit.io/rule": "training", "topofit.io/placement": '{"gpuLinks":"NVLinkRequired","numa":"SingleNode","strategy":"BinPack"}' },
        },
        { op: "add", path: "/spec/tolerations/2", value: { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" } },
        { op: "add", path: "/spec/tolerations/3", value: { key: "karpenter.sh/capacity-type", operator: "Equal", value: "spot", effect: "NoSchedule" } },
        { op: "add", path: "/spec/nodeSelector", value: { "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3" } },
        { op: "add", path: "/spec/priorityClassName", value: "gpu-training" },
        { op: "remove", path: "/spec/priority" },
        { op: "remove", path: "/spec/preemptionPolicy" },
        { op: "replace", path: "/spec/schedulerName", value: "topofit-scheduler" },
        { op: "add", path: "/spec/runtimeClassName", value: "nvidia" },
      ]),
    );
  });

  it("gives a labelled serving pod the inference rule, replacing the rule annotation the user forged", () => {
    const d = mutatedOf(reviewPod(fixtureCall("inference-pod-create"), ctx()));
    expect(d.kind === "matched" && d.rule.name).toBe("inference");
    expect(d.trials.map((t) => [t.rule, t.matched])).toEqual([
      ["training", false],
      ["inference", true],
    ]);
    expect(byPath(d.patch)).toEqual(
      byPath([
        { op: "replace", path: "/metadata/annotations/topofit.io~1rule", value: "inference" },
        { op: "add", path: "/metadata/annotations/topofit.io~1placement", value: '{"gpuLinks":"NVLinkPreferred","numa":"Preferred","strategy":"Spread"}' },
        { op: "add", path: "/spec/tolerations/2", value: { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" } },
        {
          op: "add",
          path: "/spec/affinity",
          value: {
            nodeAffinity: {
              preferredDuringSchedulingIgnoredDuringExecution: [
                { weight: 50, preference: { matchExpressions: [{ key: "nvidia.com/gpu.family", operator: "In", values: ["hopper", "ada-lovelace"] }] } },
              ],
            },
          },
        },
        { op: "add", path: "/spec/priorityClassName", value: "gpu-inference" },
        { op: "remove", path: "/spec/priority" },
        { op: "remove", path: "/spec/preemptionPolicy" },
      ]),
    );
  });

  it.each<[AdmissionFixture]>([["deployment-training-pod-create"], ["inference-pod-create"]])(
    "%s: applying the patch to the original gives the mutated pod",
    (fixture) => {
      const call = fixtureCall(fixture);
      const d = mutatedOf(reviewPod(call, ctx()));
      expect(applyPatch(call.pod!, d.patch)).toEqual(d.mutated);
    },
  );

  it.each<[AdmissionFixture]>([["deployment-training-pod-create"], ["inference-pod-create"]])(
    "%s: reviewing the mutated pod again yields an empty patch",
    (fixture) => {
      const d = mutatedOf(reviewPod(fixtureCall(fixture), ctx()));
      const again = mutatedOf(reviewPod(admissionCall(d.mutated, { namespace: fixtureCall(fixture).namespace }), ctx()));
      expect(again.patch).toEqual([]);
      expect(again.kind === "matched" && again.rule.name).toBe(d.kind === "matched" ? d.rule.name : "");
    },
  );

  it("does not touch the pod it was given", () => {
    const call = fixtureCall("deployment-training-pod-create");
    const before = structuredClone(call.pod);
    reviewPod(call, ctx());
    expect(call.pod).toEqual(before);
  });

  it("decides a dryRun request exactly as the same request without dryRun", () => {
    const wet = reviewPod(fixtureCall("inference-pod-create"), ctx());
    const dry = reviewPod(fixtureCall("inference-pod-create-dry-run"), ctx());
    expect(dry).toEqual(wet);
  });

  it("matches a Deployment pod that has no name and no metadata.namespace (pre-1.24) by request.namespace", () => {
    const p = pod().generateName("trainer-7d9c8b6f5-").labels({ "topofit.io/workload": "training" }).gpus(4).build();
    delete p.metadata!.namespace;
    const call = admissionCall(p, { namespace: "ml-train" });
    expect(call.podName).toBe("trainer-7d9c8b6f5-*");
    const d = reviewPod(call, ctx());
    expect(d.kind === "matched" && d.rule.name).toBe("training");
  });
});

describe("reviewPod: the patch on the wire", () => {
  const training = () => pod().namespace("ml-train").labels({ "topofit.io/workload": "training" }).gpus(2);

  it("escapes / in nodeSelector keys (nvidia.com~1gpu)", () => {
    const d = mutatedOf(reviewPod(admissionCall(training().nodeSelector({ "kubernetes.io/os": "linux" }).build()), ctx()));
    expect(d.patch).toContainEqual({ op: "add", path: "/spec/nodeSelector/nvidia.com~1gpu.product", value: "NVIDIA-H100-80GB-HBM3" });
  });

  it("escapes / in annotation keys (topofit.io~1rule) when the pod has annotations", () => {
    const d = mutatedOf(reviewPod(admissionCall(training().annotations({ owner: "ml" }).build()), ctx()));
    expect(d.patch).toContainEqual({ op: "add", path: "/metadata/annotations/topofit.io~1rule", value: "training" });
    expect(d.patch).toContainEqual(expect.objectContaining({ op: "add", path: "/metadata/annotations/topofit.io~1placement" }));
    expect(d.patch.some((op) => op.path === "/metadata/annotations")).toBe(false);
  });

  it("adds the whole annotations map when the pod has none", () => {
    const d = mutatedOf(reviewPod(admissionCall(training().build()), ctx()));
    const ops = d.patch.filter((op) => op.path.startsWith("/metadata"));
    expect(ops).toEqual([{ op: "add", path: "/metadata/annotations", value: expect.objectContaining({ "topofit.io/rule": "training" }) }]);
  });

  it("removes a user-set topofit.io/ annotation of a matched pod and says so in a note", () => {
    const d = mutatedOf(reviewPod(admissionCall(training().annotations({ "topofit.io/gpus": "0,1" }).build()), ctx()));
    expect(d.patch).toContainEqual({ op: "remove", path: "/metadata/annotations/topofit.io~1gpus" });
    expect(d.notes.join("\n")).toContain("topofit.io/gpus");
  });
});

describe("reviewPod: GPU pods no rule matches", () => {
  const noCatchAll = loadPolicy(policyDocument({ rules: [{ name: "training", match: { namespaces: ["ml-train"] }, inject: { runtimeClassName: "nvidia" } }] }));

  it("reports unmatched with the reason of every rule tried", () => {
    const d = reviewPod(admissionCall(pod().gpus(1).build(), { namespace: "web" }), ctx(noCatchAll));
    expect(d.kind).toBe("unmatched");
    expect(d.kind === "unmatched" && d.trials).toEqual([{ rule: "training", matched: false, reason: expect.stringContaining("namespace web") }]);
  });

  it("removes every topofit.io/ annotation and nothing else", () => {
    const p = pod().gpus(1).annotations({ "topofit.io/rule": "training", "topofit.io/placement": "{}", owner: "web" }).build();
    const d = mutatedOf(reviewPod(admissionCall(p, { namespace: "web" }), ctx(noCatchAll)));
    expect(byPath(d.patch)).toEqual([
      { op: "remove", path: "/metadata/annotations/topofit.io~1placement" },
      { op: "remove", path: "/metadata/annotations/topofit.io~1rule" },
    ]);
  });

  it("yields an empty patch for a pod without topofit.io/ annotations", () => {
    const d = mutatedOf(reviewPod(admissionCall(pod().gpus(1).annotations({ owner: "web" }).build(), { namespace: "web" }), ctx(noCatchAll)));
    expect(d.patch).toEqual([]);
  });
});

describe("reviewPod: namespace labels", () => {
  const bySelector = loadPolicy(
    policyDocument({ rules: [{ name: "vision", match: { namespaceSelector: { matchLabels: { team: "vision" } } } }, { name: "by-name", match: { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "lab" } } } }] }),
  );

  it("matches namespaceSelector against the labels the context knows", () => {
    const d = reviewPod(admissionCall(pod().gpus(1).build(), { namespace: "lab" }), ctx(bySelector, { team: "vision" }));
    expect(d.kind === "matched" && d.rule.name).toBe("vision");
  });

  it("falls back to kubernetes.io/metadata.name when the namespace's labels are unknown", () => {
    const d = reviewPod(admissionCall(pod().gpus(1).build(), { namespace: "lab" }), ctx(bySelector, undefined));
    expect(d.kind === "matched" && d.rule.name).toBe("by-name");
  });
});
