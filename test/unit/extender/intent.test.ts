import { describe, expect, it } from "vitest";
import { PLACEMENT_ANNOTATION } from "../../../src/admission/keys.js";
import { podIntent } from "../../../src/extender/intent.js";
import type { Placement } from "../../../src/policy/model.js";
import { placementAnnotations } from "../../builders/extender.js";
import { pod } from "../../builders/pod.js";
import { loadPolicy, policyDocument } from "../../builders/policy.js";

const policy = loadPolicy(policyDocument({ defaultPlacement: { gpuLinks: "NVLinkPreferred", numa: "Any", strategy: "Spread" } }));
const groupLabels = policy.scoring.groupLabels;
const TRAINING: Placement = { gpuLinks: "NVLinkRequired", numa: "SingleNode", strategy: "BinPack" };

describe("podIntent", () => {
  it("takes the placement the webhook recorded in the pod's annotation", () => {
    const intent = podIntent(pod().gpus(4).annotations(placementAnnotations(TRAINING)).build(), policy, groupLabels);
    expect(intent).toEqual({ gpus: 4, placement: TRAINING, placementSource: "annotation", gpuSource: "resources", unresolvedClaims: 0 });
  });

  it.each<[string, string]>([
    ["is not JSON", "{gpuLinks: NVLinkRequired"],
    ["is a JSON string", '"NVLinkRequired"'],
    ["is JSON null", "null"],
    ["names an unknown link mode", '{"gpuLinks":"NVLinkMandatory","numa":"Any","strategy":"BinPack"}'],
    ["lacks the strategy", '{"gpuLinks":"NVLinkRequired","numa":"Any"}'],
    ["has a number for numa", '{"gpuLinks":"Any","numa":0,"strategy":"BinPack"}'],
  ])("falls back to the policy's defaultPlacement when the annotation %s", (_name, text) => {
    const intent = podIntent(pod().gpus(2).annotations({ [PLACEMENT_ANNOTATION]: text }).build(), policy, groupLabels);
    expect(intent.placement).toEqual({ gpuLinks: "NVLinkPreferred", numa: "Any", strategy: "Spread" });
    expect(intent.placementSource).toBe("policy-default");
  });

  it("uses the policy's defaultPlacement for a GPU pod the webhook never saw", () => {
    expect(podIntent(pod().gpus(1).build(), policy, groupLabels)).toMatchObject({ gpus: 1, placementSource: "policy-default" });
  });

  it.each<[string, Record<string, string>, string | undefined]>([
    ["topofit.io/group", { "topofit.io/group": "llama-70b" }, "ml/llama-70b"],
    ["a JobSet name", { "jobset.sigs.k8s.io/jobset-name": "pretrain" }, "ml/pretrain"],
    ["a LeaderWorkerSet name", { "leaderworkerset.sigs.k8s.io/name": "vllm-lws" }, "ml/vllm-lws"],
    ["a Job name", { "batch.kubernetes.io/job-name": "sweep-7" }, "ml/sweep-7"],
    ["topofit.io/group before a Job name (labels tried in order)", { "batch.kubernetes.io/job-name": "sweep-7", "topofit.io/group": "g" }, "ml/g"],
    ["an empty group label, skipping to the next", { "topofit.io/group": "", "batch.kubernetes.io/job-name": "sweep-7" }, "ml/sweep-7"],
    ["no group label", { app: "trainer" }, undefined],
  ])("names the group from %s", (_name, labels, group) => {
    const intent = podIntent(pod().namespace("ml").labels(labels).gpus(8).build(), policy, groupLabels);
    expect(intent.group).toBe(group);
  });

  it("reads only the group labels the policy names", () => {
    const intent = podIntent(pod().namespace("ml").labels({ "topofit.io/group": "g", team: "vision" }).gpus(1).build(), policy, ["team"]);
    expect(intent.group).toBe("ml/vision");
  });

  it("counts GPUs as the scheduler does: app containers plus sidecars, or the largest init container", () => {
    const p = pod()
      .gpus(2)
      .initContainer({ name: "warmup", resources: { limits: { "nvidia.com/gpu": "4" } } })
      .build();
    expect(podIntent(p, policy, groupLabels).gpus).toBe(4);
  });

  it("counts no GPUs for a pod that asks for none", () => {
    expect(podIntent(pod().container({ name: "web", image: "nginx" }).build(), policy, groupLabels).gpus).toBe(0);
  });
});
