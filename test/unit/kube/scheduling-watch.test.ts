// The informers cut every Node and Pod down to what the extender reads: a cut
// object must lead to the same decisions as the whole one.
import type { V1Node, V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { countPodGpus } from "../../../src/admission/gpu-request.js";
import { PLACEMENT_ANNOTATION } from "../../../src/admission/keys.js";
import type { PodWire } from "../../../src/admission/schema.js";
import { podIntent } from "../../../src/extender/intent.js";
import type { NodeWire } from "../../../src/extender/schema.js";
import { compactNode, compactPod } from "../../../src/kube/scheduling-watch.js";
import { GPU_TOPOLOGY_ANNOTATION } from "../../../src/topology/annotation.js";
import { gpuNodeWire, placementAnnotations, topologyStore } from "../../builders/extender.js";
import { gpuContainer, pod } from "../../builders/pod.js";
import { loadPolicy, policyDocument } from "../../builders/policy.js";

const policy = loadPolicy(policyDocument({}));
const managedFields = [{ manager: "kubelet", operation: "Update", apiVersion: "v1", time: "2026-11-23T12:00:00Z", fieldsType: "FieldsV1", fieldsV1: { "f:status": {} } }];

/** A Node as the API serves it to an informer: the builder's, plus what a real kubelet adds. */
function fullNode(): V1Node {
  const wire = gpuNodeWire("dgx-01").h100().clique("c1.2").costClass("on-prem").topology({ gpus: 2, link: () => "NV12" }).build();
  const n = structuredClone(wire) as unknown as V1Node & { metadata: { managedFields?: unknown } };
  n.metadata.managedFields = managedFields as never;
  n.status!.images = [{ names: ["nvcr.io/nvidia/pytorch:25.09-py3"], sizeBytes: 9_000_000_000 }];
  return n;
}

/** A GPU Pod as the API serves it: env, volumes, status and all. */
function fullPod(): V1Pod {
  const wire = pod()
    .name("trainer-0")
    .namespace("ml")
    .labels({ "topofit.io/group": "llama", app: "train" })
    .annotations({ ...placementAnnotations({ gpuLinks: "NVLinkRequired", numa: "Any", strategy: "BinPack" }), "kubectl.kubernetes.io/last-applied-configuration": "x".repeat(4000) })
    .container({ ...gpuContainer("main", 4), env: [{ name: "NCCL_DEBUG", value: "INFO" }], volumeMounts: [{ name: "data", mountPath: "/data" }] })
    .build();
  const p = structuredClone(wire) as unknown as V1Pod;
  p.metadata!.uid = "3c2b1a09";
  p.metadata!.resourceVersion = "77";
  (p.metadata as { managedFields?: unknown }).managedFields = managedFields;
  p.spec!.nodeName = "dgx-01";
  p.spec!.initContainers = [{ name: "proxy", restartPolicy: "Always", resources: { limits: { "nvidia.com/gpu": "1" } } }];
  p.status = { phase: "Running", conditions: [{ type: "Ready", status: "True" }], podIP: "10.0.0.9" };
  return p;
}

describe("compactNode", () => {
  it("keeps what the topology store reads, so the node it builds is the same", () => {
    const whole = topologyStore([fullNode() as unknown as NodeWire]).state("dgx-01")!.node;
    const cut = topologyStore([compactNode(fullNode(), [GPU_TOPOLOGY_ANNOTATION]) as unknown as NodeWire]).state("dgx-01")!.node;
    expect(cut).toEqual(whole);
    expect(cut.topology.source).toBe("annotation");
  });

  it("drops managedFields, images, conditions, the spec and the annotations nobody reads", () => {
    const cut = compactNode(fullNode(), [GPU_TOPOLOGY_ANNOTATION]);
    expect(Object.keys(cut.metadata!).sort()).toEqual(["annotations", "labels", "name", "resourceVersion"]);
    expect(Object.keys(cut.metadata!.annotations!)).toEqual([GPU_TOPOLOGY_ANNOTATION]);
    expect(cut.spec).toBeUndefined();
    expect(Object.keys(cut.status!)).toEqual(["allocatable"]);
    expect(JSON.stringify(cut).length).toBeLessThan(JSON.stringify(fullNode()).length / 2);
  });
});

describe("compactPod", () => {
  it("keeps what the extender reads, so the GPU count and the intent are the same", () => {
    const whole = fullPod() as unknown as PodWire;
    const cut = compactPod(fullPod(), [PLACEMENT_ANNOTATION]) as unknown as PodWire;
    expect(countPodGpus(cut, policy.gpuResourceSet)).toBe(countPodGpus(whole, policy.gpuResourceSet));
    expect(countPodGpus(cut, policy.gpuResourceSet)).toBe(5);
    expect(podIntent(cut, policy, policy.scoring.groupLabels)).toEqual(podIntent(whole, policy, policy.scoring.groupLabels));
    expect(cut).toMatchObject({ metadata: { name: "trainer-0", namespace: "ml", uid: "3c2b1a09", resourceVersion: "77" }, spec: { nodeName: "dgx-01" }, status: { phase: "Running" } });
  });

  it("drops environments, volumes, statuses and the annotations nobody reads", () => {
    const cut = compactPod(fullPod(), [PLACEMENT_ANNOTATION]);
    expect(Object.keys(cut.metadata!.annotations!)).toEqual([PLACEMENT_ANNOTATION]);
    expect(cut.spec!.containers).toEqual([{ name: "main", resources: { requests: { "nvidia.com/gpu": "4" }, limits: { "nvidia.com/gpu": "4" } } }]);
    expect(cut.status).toEqual({ phase: "Running" });
    expect(JSON.stringify(cut).length).toBeLessThan(JSON.stringify(fullPod()).length / 5);
  });

  it("keeps a DRA pod's resource claims and the names of its generated claims, so its GPUs can still be counted", () => {
    const pod = fullPod();
    pod.spec!.resourceClaims = [{ name: "gpus", resourceClaimTemplateName: "two" }];
    pod.status = { ...pod.status, resourceClaimStatuses: [{ name: "gpus", resourceClaimName: "trainer-0-gpus-x1" }] };
    const cut = compactPod(pod, [PLACEMENT_ANNOTATION]);
    expect(cut.spec!.resourceClaims).toEqual([{ name: "gpus", resourceClaimTemplateName: "two" }]);
    expect(cut.status).toEqual({ phase: "Running", resourceClaimStatuses: [{ name: "gpus", resourceClaimName: "trainer-0-gpus-x1" }] });
  });

  it("keeps a pod without annotations or a spec as it is", () => {
    const bare = { metadata: { name: "p", namespace: "default", uid: "u" } } as V1Pod;
    expect(compactPod(bare, [PLACEMENT_ANNOTATION])).toEqual({ metadata: { name: "p", namespace: "default", uid: "u", resourceVersion: undefined, labels: undefined, annotations: undefined }, spec: undefined, status: undefined });
  });
});
