// The only translation from a Decision to the AdmissionReview wire response.
import type { Decision } from "./review.js";
import { ADMISSION_API_VERSION, ADMISSION_KIND, type AdmissionReviewResponseWire, type AdmissionResponseWire } from "./schema.js";

const MAX_WARNING = 120;

function warning(note: string): string {
  const w = `topofit: ${note}`;
  return w.length > MAX_WARNING ? `${w.slice(0, MAX_WARNING - 3)}...` : w;
}

export function respondToDecision(uid: string, decision: Decision): AdmissionReviewResponseWire {
  const response: AdmissionResponseWire = { uid, allowed: true };
  if (decision.kind !== "skipped") {
    if (decision.patch.length > 0) {
      response.patchType = "JSONPatch";
      response.patch = Buffer.from(JSON.stringify(decision.patch)).toString("base64");
    }
    if (decision.notes.length > 0) response.warnings = decision.notes.slice(0, 8).map(warning);
    response.auditAnnotations = { rule: decision.kind === "matched" ? decision.rule.name : "none" };
  }
  return { apiVersion: ADMISSION_API_VERSION, kind: ADMISSION_KIND, response };
}
