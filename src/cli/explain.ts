// `topofit explain --pod POD.yaml [--policy FILE]`: the decision the webhook
// would take for a pod, with the reason for every rule tried.
import { readFile } from "node:fs/promises";
import { parse, stringify } from "yaml";
import type { ExplainSettings } from "../config.js";
import type { AdmissionCall } from "../admission/decode.js";
import { reviewPod, type Decision } from "../admission/review.js";
import type { PodWire } from "../admission/schema.js";
import { EMBEDDED_POLICY_YAML } from "../policy/embedded.js";
import { formatIssue } from "../policy/model.js";
import { loadPolicyText } from "../policy/load.js";

export interface Explanation {
  readonly pod: string;
  readonly namespace: string;
  readonly decision: Decision["kind"];
  readonly detail?: string;
  readonly rule?: string;
  readonly placement?: unknown;
  readonly gpus?: number;
  readonly trials: readonly { rule: string; matched: boolean; reason: string }[];
  readonly notes: readonly string[];
  readonly patch: readonly unknown[];
  readonly result?: PodWire;
}

export function explainDecision(pod: PodWire, namespace: string, decision: Decision): Explanation {
  const name = pod.metadata?.name ?? (pod.metadata?.generateName ? `${pod.metadata.generateName}*` : "<unnamed>");
  if (decision.kind === "skipped") {
    return { pod: name, namespace, decision: decision.kind, detail: decision.detail, trials: [], notes: [], patch: [] };
  }
  return {
    pod: name,
    namespace,
    decision: decision.kind,
    ...(decision.kind === "matched" ? { rule: decision.rule.name, placement: decision.rule.placement } : {}),
    gpus: decision.gpus,
    trials: decision.trials,
    notes: decision.notes,
    patch: decision.patch,
    result: decision.mutated,
  };
}

export function renderExplanation(e: Explanation): string {
  const lines: string[] = [`Pod ${e.namespace}/${e.pod}`];
  if (e.decision === "skipped") {
    lines.push(`  not mutated: ${e.detail ?? ""}`);
    return `${lines.join("\n")}\n`;
  }
  lines.push(`  GPUs requested: ${e.gpus ?? 0}`, "", "Rules tried (first match wins):");
  for (const t of e.trials) lines.push(`  ${t.matched ? "✔" : "✘"} ${t.rule}: ${t.reason}`);
  if (e.decision === "unmatched") lines.push("  no rule matched: the pod is admitted unchanged apart from removing topofit.io/ annotations");
  else lines.push("", `Rule ${e.rule}: placement ${JSON.stringify(e.placement)}`);
  if (e.notes.length > 0) {
    lines.push("", "Notes:");
    for (const n of e.notes) lines.push(`  - ${n}`);
  }
  lines.push("", `JSON patch (${e.patch.length} operation${e.patch.length === 1 ? "" : "s"}):`);
  for (const op of e.patch) lines.push(`  ${JSON.stringify(op)}`);
  lines.push("", "Resulting pod:", stringify(e.result).replace(/^/gm, "  ").trimEnd());
  return `${lines.join("\n")}\n`;
}

export async function runExplain(settings: ExplainSettings, out: (text: string) => void): Promise<number> {
  const policyText = settings.policyFile !== undefined ? await readFile(settings.policyFile, "utf8") : EMBEDDED_POLICY_YAML;
  const loaded = loadPolicyText(policyText);
  if (!loaded.ok) {
    out(`policy ${settings.policyFile ?? "(embedded)"} is not valid:\n${loaded.errors.map((e) => `  ${formatIssue(e)}`).join("\n")}\n`);
    return 1;
  }
  const parsed: unknown = parse(await readFile(settings.podFile, "utf8"));
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed) || (parsed as PodWire).kind !== "Pod") {
    out(`${settings.podFile} does not hold a Pod manifest (kind: Pod)\n`);
    return 1;
  }
  const pod = parsed as PodWire;
  const namespace = settings.namespace ?? pod.metadata?.namespace ?? "default";
  const call: AdmissionCall = {
    uid: "explain",
    operation: "CREATE",
    namespace,
    kind: "Pod",
    group: "",
    subResource: "",
    dryRun: true,
    pod,
    podName: pod.metadata?.name ?? "",
  };
  const labels = { "kubernetes.io/metadata.name": namespace, ...settings.namespaceLabels };
  const decision = reviewPod(call, { policy: loaded.policy, namespaceLabels: () => labels });
  const explanation = explainDecision(pod, namespace, decision);
  out(settings.output === "json" ? `${JSON.stringify(explanation, null, 2)}\n` : renderExplanation(explanation));
  return 0;
}
