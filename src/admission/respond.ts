// The only translation from a Decision to the AdmissionReview wire response.
import { jsonString } from "./json-text.js";
import type { Decision } from "./review.js";
import { ADMISSION_API_VERSION, ADMISSION_KIND, type AdmissionReviewResponseWire, type AdmissionResponseWire } from "./schema.js";

const MAX_WARNING = 120;

function warning(note: string): string {
  const w = `topofit: ${note}`;
  return w.length > MAX_WARNING ? `${w.slice(0, MAX_WARNING - 3)}...` : w;
}

/** Reused for the UTF-8 bytes of a patch, so that encoding one to base64 allocates only the result. */
const patchBytes = Buffer.alloc(64 * 1024);

function base64(text: string): string {
  // A UTF-16 code unit takes at most 3 bytes in UTF-8.
  if (text.length * 3 > patchBytes.length) return Buffer.from(text).toString("base64");
  return patchBytes.toString("base64", 0, patchBytes.write(text));
}

export function respondToDecision(uid: string, decision: Decision): AdmissionReviewResponseWire {
  const response: AdmissionResponseWire = { uid, allowed: true };
  if (decision.kind !== "skipped") {
    if (decision.patch.length > 0) {
      response.patchType = "JSONPatch";
      response.patch = base64(JSON.stringify(decision.patch));
    }
    if (decision.notes.length > 0) response.warnings = decision.notes.slice(0, 8).map(warning);
    response.auditAnnotations = { rule: decision.kind === "matched" ? decision.rule.name : "none" };
  }
  return { apiVersion: ADMISSION_API_VERSION, kind: ADMISSION_KIND, response };
}

const REVIEW_HEAD = `{"apiVersion":${JSON.stringify(ADMISSION_API_VERSION)},"kind":${JSON.stringify(ADMISSION_KIND)},"response":{"uid":`;

/**
 * The JSON text of a response made by respondToDecision, equal to what
 * JSON.stringify gives for it. Written member by member because the patch is
 * base64, which needs no escaping: JSON.stringify would check its kilobyte or
 * so character by character, which costs more than all the rest.
 */
export function admissionReviewText(review: AdmissionReviewResponseWire): string {
  const r = review.response;
  let text = `${REVIEW_HEAD}${jsonString(r.uid)},"allowed":${r.allowed ? "true" : "false"}`;
  if (r.patchType !== undefined) text += `,"patchType":"${r.patchType}"`;
  if (r.patch !== undefined) text += `,"patch":"${r.patch}"`;
  if (r.warnings !== undefined) text += `,"warnings":${JSON.stringify(r.warnings)}`;
  if (r.auditAnnotations !== undefined) {
    const a = r.auditAnnotations;
    const keys = Object.keys(a);
    // The one annotation respondToDecision writes, without a walk of the object.
    text += keys.length === 1 && keys[0] === "rule" ? `,"auditAnnotations":{"rule":${jsonString(a.rule!)}}` : `,"auditAnnotations":${JSON.stringify(a)}`;
  }
  if (r.status !== undefined) text += `,"status":${JSON.stringify(r.status)}`;
  return `${text}}}`;
}
