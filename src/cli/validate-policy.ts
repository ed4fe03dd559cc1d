// `topofit validate-policy FILE...`: every error with its path; exit 1 if any file fails.
import { readFile } from "node:fs/promises";
import { formatIssue } from "../policy/model.js";
import { loadPolicyText } from "../policy/load.js";

export async function runValidatePolicy(files: readonly string[], out: (line: string) => void): Promise<number> {
  let failed = 0;
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      out(`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      failed += 1;
      continue;
    }
    const result = loadPolicyText(text);
    if (result.ok) {
      out(`${file}: valid (${result.policy.rules.length} rule${result.policy.rules.length === 1 ? "" : "s"}: ${result.policy.rules.map((r) => r.name).join(", ")})`);
    } else {
      failed += 1;
      out(`${file}: ${result.errors.length} error${result.errors.length === 1 ? "" : "s"}`);
      for (const e of result.errors) out(`  ${formatIssue(e)}`);
    }
    for (const w of result.warnings) out(`  warning: ${formatIssue(w)}`);
  }
  return failed === 0 ? 0 : 1;
}
