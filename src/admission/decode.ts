// The only translation from the AdmissionReview wire shape into what review.ts
// works on. Anything malformed becomes a DecodeError with a stable code.
import { ADMISSION_API_VERSION, ADMISSION_KIND, type PodWire } from "./schema.js";

export interface AdmissionCall {
  readonly uid: string;
  readonly operation: string;
  /** request.namespace: the reliable namespace, also for generateName pods. */
  readonly namespace: string;
  /** Kind of the object, e.g. "Pod". */
  readonly kind: string;
  readonly group: string;
  readonly subResource: string;
  readonly dryRun: boolean;
  /** The pod being created; undefined when the call is not a pod CREATE. */
  readonly pod?: PodWire;
  /** A display name: request.name, metadata.name, or generateName + "*". */
  readonly podName: string;
}

export interface DecodeError {
  readonly code: "InvalidAdmissionReview";
  readonly message: string;
}

export type DecodeResult = { readonly ok: true; readonly call: AdmissionCall } | { readonly ok: false; readonly error: DecodeError };

function fail(message: string): DecodeResult {
  return { ok: false, error: { code: "InvalidAdmissionReview", message } };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}

export function decodeAdmissionReview(body: unknown): DecodeResult {
  if (!isObject(body)) return fail("body must be a JSON object holding an AdmissionReview");
  if (body.apiVersion !== ADMISSION_API_VERSION) {
    return fail(`apiVersion must be ${ADMISSION_API_VERSION} (got ${JSON.stringify(body.apiVersion ?? null)}); register the webhook with admissionReviewVersions: ["v1"]`);
  }
  if (body.kind !== ADMISSION_KIND) return fail(`kind must be ${ADMISSION_KIND} (got ${JSON.stringify(body.kind ?? null)})`);
  const req = body.request;
  if (!isObject(req)) return fail("request is missing or not an object");
  if (typeof req.uid !== "string" || req.uid === "") return fail("request.uid is missing or empty");
  const operation = str(req.operation);
  if (operation === "") return fail("request.operation is missing");
  const kindObj = isObject(req.kind) ? req.kind : {};
  const kind = str(kindObj.kind);
  const group = str(kindObj.group);
  const subResource = str(req.subResource);
  const namespace = str(req.namespace);
  const isPodCreate = operation === "CREATE" && kind === "Pod" && group === "" && subResource === "";
  let pod: PodWire | undefined;
  if (isPodCreate) {
    if (!isObject(req.object)) return fail("request.object is missing or not an object for a Pod CREATE");
    const o = req.object;
    if (o.metadata !== undefined && !isObject(o.metadata)) return fail("request.object.metadata must be an object");
    if (o.spec !== undefined && !isObject(o.spec)) return fail("request.object.spec must be an object");
    pod = o as PodWire;
  }
  const meta = pod?.metadata;
  const podName = str(req.name) || str(meta?.name) || (meta?.generateName ? `${meta.generateName}*` : "");
  // Built member by member rather than with a conditional spread, which costs a hidden class per call.
  const call: { -readonly [K in keyof AdmissionCall]: AdmissionCall[K] } = {
    uid: req.uid,
    operation,
    namespace: namespace || str(meta?.namespace),
    kind,
    group,
    subResource,
    dryRun: req.dryRun === true,
    podName,
  };
  if (pod !== undefined) call.pod = pod;
  return { ok: true, call };
}
