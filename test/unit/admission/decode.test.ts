import { describe, expect, it } from "vitest";
import { decodeAdmissionReview } from "../../../src/admission/decode.js";
import { admissionReview } from "../../builders/admission-review.js";
import { pod } from "../../builders/pod.js";
import { admissionFixture } from "../../fixtures/load.js";

type Review = Record<string, any>;

function review(): Review {
  return JSON.parse(JSON.stringify(admissionReview(pod().namespace("ml").gpus(1).build()))) as Review;
}

describe("decodeAdmissionReview", () => {
  it("decodes a Deployment pod CREATE, taking the namespace from request.namespace and naming the pod by generateName", () => {
    const decoded = decodeAdmissionReview(admissionFixture("deployment-training-pod-create"));
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(decoded.call).toMatchObject({
      uid: "3f1c9e52-8a7d-4b1e-9c2f-6d0a4b8e7f31",
      operation: "CREATE",
      namespace: "ml-train",
      kind: "Pod",
      group: "",
      subResource: "",
      dryRun: false,
      podName: "trainer-7d9c8b6f5-*",
    });
    expect(decoded.call.pod?.metadata?.generateName).toBe("trainer-7d9c8b6f5-");
  });

  it("prefers request.namespace over the object's namespace", () => {
    const r = review();
    r.request.namespace = "from-request";
    r.request.object.metadata.namespace = "from-object";
    const decoded = decodeAdmissionReview(r);
    expect(decoded.ok && decoded.call.namespace).toBe("from-request");
  });

  it("falls back to the object's namespace when request.namespace is absent", () => {
    const r = review();
    delete r.request.namespace;
    const decoded = decodeAdmissionReview(r);
    expect(decoded.ok && decoded.call.namespace).toBe("ml");
  });

  it("reads dryRun", () => {
    const decoded = decodeAdmissionReview(admissionFixture("inference-pod-create-dry-run"));
    expect(decoded.ok && decoded.call.dryRun).toBe(true);
    expect(decoded.ok && decoded.call.podName).toBe("llm-server");
  });

  it.each<[string, string]>([
    ["an UPDATE", "pod-update"],
    ["a CREATE on the pods/binding subresource", "pod-binding-create"],
  ])("decodes %s without a pod to review", (_name, fixture) => {
    const decoded = decodeAdmissionReview(admissionFixture(fixture as "pod-update"));
    expect(decoded.ok).toBe(true);
    expect(decoded.ok && decoded.call.pod).toBeUndefined();
  });

  it("decodes a DELETE (object null) without a pod", () => {
    const decoded = decodeAdmissionReview(admissionReview(pod().build(), { operation: "DELETE" }));
    expect(decoded.ok && decoded.call.operation).toBe("DELETE");
    expect(decoded.ok && decoded.call.pod).toBeUndefined();
  });

  it.each<[string, (r: Review) => unknown, RegExp]>([
    ["the body is not an object", () => "AdmissionReview", /JSON object/],
    ["the body is an array", () => [], /JSON object/],
    ["the body is null", () => null, /JSON object/],
    ["apiVersion is v1beta1", (r) => ((r.apiVersion = "admission.k8s.io/v1beta1"), r), /apiVersion must be admission\.k8s\.io\/v1 \(got "admission\.k8s\.io\/v1beta1"\)/],
    ["apiVersion is missing", (r) => (delete r.apiVersion, r), /apiVersion must be admission\.k8s\.io\/v1 \(got null\)/],
    ["kind is not AdmissionReview", (r) => ((r.kind = "Pod"), r), /kind must be AdmissionReview \(got "Pod"\)/],
    ["request is missing", (r) => (delete r.request, r), /request is missing/],
    ["request is not an object", (r) => ((r.request = "x"), r), /request is missing or not an object/],
    ["request.uid is missing", (r) => (delete r.request.uid, r), /request\.uid is missing or empty/],
    ["request.uid is empty", (r) => ((r.request.uid = ""), r), /request\.uid is missing or empty/],
    ["request.uid is not a string", (r) => ((r.request.uid = 42), r), /request\.uid/],
    ["request.operation is missing", (r) => (delete r.request.operation, r), /request\.operation is missing/],
    ["the object of a Pod CREATE is missing", (r) => (delete r.request.object, r), /request\.object is missing.*Pod CREATE/],
    ["the object of a Pod CREATE is null", (r) => ((r.request.object = null), r), /request\.object is missing.*Pod CREATE/],
    ["the pod's metadata is not an object", (r) => ((r.request.object.metadata = "x"), r), /metadata must be an object/],
    ["the pod's spec is not an object", (r) => ((r.request.object.spec = []), r), /spec must be an object/],
  ])("fails with InvalidAdmissionReview when %s", (_name, breakIt, message) => {
    const decoded = decodeAdmissionReview(breakIt(review()));
    expect(decoded.ok).toBe(false);
    if (decoded.ok) return;
    expect(decoded.error.code).toBe("InvalidAdmissionReview");
    expect(decoded.error.message).toMatch(message);
  });
});
