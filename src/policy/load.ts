// Text -> validated, defaulted Policy. Pure: no I/O beyond the string given.
import { createHash } from "node:crypto";
import { LineCounter, parseDocument } from "yaml";
import { buildPolicy } from "./defaults.js";
import type { Policy, PolicyIssue } from "./model.js";
import { validatePolicyDocument } from "./validate.js";

export type LoadResult =
  | { readonly ok: true; readonly policy: Policy; readonly digest: string; readonly warnings: readonly PolicyIssue[] }
  | { readonly ok: false; readonly errors: readonly PolicyIssue[]; readonly warnings: readonly PolicyIssue[] };

export function digestOf(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

/** Parses a PlacementPolicy written as YAML or JSON and validates it. */
export function loadPolicyText(text: string): LoadResult {
  if (text.trim() === "") return { ok: false, errors: [{ path: "", message: "the policy document is empty" }], warnings: [] };
  // With prettyErrors off, the parser leaves YAMLError.linePos unset; a LineCounter
  // turns each error's offset into a line and column.
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => {
        const at = lineCounter.linePos(e.pos[0]);
        return { path: "", message: `not valid YAML/JSON at line ${at.line}, column ${at.col}: ${e.message.split("\n")[0]}` };
      }),
      warnings: [],
    };
  }
  let parsed: unknown;
  try {
    parsed = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // toJS throws (instead of reporting) when aliases expand too far: a rejection, not a crash.
    return { ok: false, errors: [{ path: "", message: `not valid YAML/JSON: ${(err as Error).message}` }], warnings: [] };
  }
  const validated = validatePolicyDocument(parsed);
  if (!validated.ok) return validated;
  return { ok: true, policy: buildPolicy(validated.document), digest: digestOf(text), warnings: validated.warnings };
}
