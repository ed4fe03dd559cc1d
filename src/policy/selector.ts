// Label-selector evaluation (metav1.LabelSelector semantics), shared by rule
// matching and node filtering. Each function returns why a selector failed, or
// undefined when it holds, so callers can explain every non-match.
import type { LabelSelectorSpec } from "./schema.js";

export function explainLabelSelector(sel: LabelSelectorSpec, labels: Readonly<Record<string, string>>): string | undefined {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) {
    const have = labels[k];
    if (have !== v) return have === undefined ? `label ${k} is absent (want ${v})` : `label ${k}=${have} (want ${v})`;
  }
  for (const e of sel.matchExpressions ?? []) {
    const have = labels[e.key];
    const values = e.values ?? [];
    switch (e.operator) {
      case "In":
        if (have === undefined || !values.includes(have)) {
          return `label ${e.key}${have === undefined ? " is absent" : `=${have}`} (want one of ${values.join(", ")})`;
        }
        break;
      case "NotIn":
        if (have !== undefined && values.includes(have)) return `label ${e.key}=${have} is excluded (NotIn ${values.join(", ")})`;
        break;
      case "Exists":
        if (have === undefined) return `label ${e.key} is absent (want it to exist)`;
        break;
      case "DoesNotExist":
        if (have !== undefined) return `label ${e.key} exists (want it absent)`;
        break;
    }
  }
  return undefined;
}
