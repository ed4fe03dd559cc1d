// admissionReview(pod, {namespace, operation, dryRun}): the AdmissionReview v1
// request kube-apiserver sends for a pod (wire-formats §3.1), and
// admissionCall(...) for the decoded form that review.ts works on.
import { decodeAdmissionReview, type AdmissionCall } from "../../src/admission/decode.js";
import type { AdmissionReviewRequestWire, PodWire } from "../../src/admission/schema.js";

export interface ReviewOptions {
  readonly uid?: string;
  /** request.namespace; defaults to the pod's metadata.namespace, else "default". */
  readonly namespace?: string;
  readonly operation?: "CREATE" | "UPDATE" | "DELETE" | "CONNECT";
  readonly dryRun?: boolean;
  readonly kind?: string;
  readonly subResource?: string;
}

export function admissionReview(pod: PodWire, options: ReviewOptions = {}): AdmissionReviewRequestWire {
  const operation = options.operation ?? "CREATE";
  const kind = { group: "", version: "v1", kind: options.kind ?? "Pod" };
  const resource = { group: "", version: "v1", resource: "pods" };
  const name = pod.metadata?.name;
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: options.uid ?? "705ab4f5-6393-11e8-b7cc-42010a800002",
      kind,
      resource,
      ...(options.subResource !== undefined ? { subResource: options.subResource } : {}),
      requestKind: kind,
      requestResource: resource,
      ...(options.subResource !== undefined ? { requestSubResource: options.subResource } : {}),
      ...(typeof name === "string" && name !== "" ? { name } : {}),
      namespace: options.namespace ?? (typeof pod.metadata?.namespace === "string" ? pod.metadata.namespace : "default"),
      operation,
      userInfo: { username: "kubernetes-admin", groups: ["kubeadm:cluster-admins", "system:authenticated"] },
      object: operation === "DELETE" ? null : pod,
      oldObject: operation === "CREATE" || operation === "CONNECT" ? null : pod,
      dryRun: options.dryRun ?? false,
      options: { kind: `${operation === "CREATE" ? "Create" : operation === "UPDATE" ? "Update" : "Delete"}Options`, apiVersion: "meta.k8s.io/v1" },
    } as AdmissionReviewRequestWire["request"],
  };
}

/** Decodes admissionReview(pod, options); throws if decode rejects it (a test bug). */
export function admissionCall(pod: PodWire, options: ReviewOptions = {}): AdmissionCall {
  const decoded = decodeAdmissionReview(JSON.parse(JSON.stringify(admissionReview(pod, options))));
  if (!decoded.ok) throw new Error(`test pod does not decode: ${decoded.error.message}`);
  return decoded.call;
}
