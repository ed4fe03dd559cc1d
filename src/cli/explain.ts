// `topofit explain --pod POD.yaml [--policy FILE] [--nodes NODES.yaml [--pods PODS.yaml] [--dcgm SCRAPE] [--dra DRA.yaml]]`:
// the decision the webhook would take for a pod, with the reason for every rule
// tried; with --nodes, what the scheduler extender would then answer for each
// node: its filter verdict, its score, the tiers behind it and the GPUs it would pick.
import { readFile } from "node:fs/promises";
import { Writable } from "node:stream";
import { parse, parseAllDocuments, stringify } from "yaml";
import type { DcgmScrapeFile, ExplainSettings } from "../config.js";
import type { AdmissionCall } from "../admission/decode.js";
import { countPodGpus } from "../admission/gpu-request.js";
import { reviewPod, type Decision } from "../admission/review.js";
import type { PodWire } from "../admission/schema.js";
import type { ExtenderCall } from "../extender/decode.js";
import { podIntent } from "../extender/intent.js";
import { filterCall, prioritizeCall, scoreContext, type ExtenderContext } from "../extender/review.js";
import type { NodeWire } from "../extender/schema.js";
import { explainScore } from "../extender/score.js";
import { EMBEDDED_POLICY_YAML } from "../policy/embedded.js";
import { formatIssue, type Placement, type Policy } from "../policy/model.js";
import { loadPolicyText } from "../policy/load.js";
import { createLogger } from "../telemetry/logger.js";
import { evaluateGpuHealth, groupReadingsByNode, readDcgmGpus } from "../topology/dcgm.js";
import { parseExposition } from "../topology/exposition.js";
import type { GpuCondition } from "../topology/model.js";
import type { DcgmFreshness } from "../topology/node-state.js";
import { BUILTIN_PROFILES } from "../topology/profiles.js";
import { TopologyStore, type DcgmNodeView } from "../topology/store.js";
import { DraStore } from "../topology/dra-store.js";
import type { ResourceClaimWire, ResourceSliceWire } from "../topology/dra-schema.js";

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
  /** What the scheduler extender would answer, when nodes were given. */
  readonly extender?: ExtenderExplanation;
}

/** One node as the extender would see it for the pod. */
export interface NodeReport {
  readonly node: string;
  readonly verdict: "passed" | "filtered";
  /** Why it was filtered. */
  readonly reason?: string;
  /** Filtered, but freeing busy GPUs (preemption) could make it fit: FailedNodes rather than FailedAndUnresolvableNodes. */
  readonly resolvable?: boolean;
  /** The prioritize score, 0..10 (0: filtered). */
  readonly score: number;
  /** The GPU indices it would pick. */
  readonly gpus?: readonly number[];
  /** The tier tuple, compared lexicographically (see score.ts). */
  readonly tuple?: readonly number[];
  /** The tiers in words. */
  readonly breakdown?: readonly string[];
  /** Where its topology came from. */
  readonly topology?: string;
  readonly dcgm?: DcgmFreshness;
}

export interface ExtenderExplanation {
  readonly gpus: number;
  readonly placement: Placement;
  readonly placementSource: "annotation" | "policy-default";
  readonly group?: string;
  /** The pod asks for no GPUs: every node passes untouched. */
  readonly passThrough: boolean;
  /** Passed nodes best first, then filtered ones in the order given. */
  readonly nodes: readonly NodeReport[];
  /** Problems with the inputs that did not stop the explanation. */
  readonly warnings: readonly string[];
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
    if (e.extender) lines.push("", ...renderExtender(e.extender));
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
  if (e.extender) lines.push("", ...renderExtender(e.extender));
  return `${lines.join("\n")}\n`;
}

function renderExtender(x: ExtenderExplanation): string[] {
  const lines: string[] = [];
  const from = x.placementSource === "annotation" ? "from the pod's topofit.io/placement annotation" : "the policy's defaultPlacement (the pod carries no placement annotation)";
  if (x.passThrough) {
    lines.push("Scheduler extender: the pod asks for no GPUs; every node passes untouched");
  } else {
    const passed = x.nodes.filter((n) => n.verdict === "passed").length;
    lines.push(
      `Scheduler extender: ${x.gpus} GPU${x.gpus === 1 ? "" : "s"}, placement ${JSON.stringify(x.placement)}, ${from}${x.group !== undefined ? `; group ${x.group}` : ""}`,
      `  ${x.nodes.length} node${x.nodes.length === 1 ? "" : "s"}: ${passed} passed, ${x.nodes.length - passed} filtered (kube-scheduler's own filters, e.g. nodeSelector, affinity, taints, are not applied here)`,
    );
    const width = Math.max(...x.nodes.map((n) => n.node.length), 4);
    for (const n of x.nodes) {
      const head = `  ${n.verdict === "passed" ? "✔" : "✘"} ${n.node.padEnd(width)}  score ${String(n.score).padStart(2)}`;
      if (n.verdict === "passed") {
        lines.push(`${head}  GPUs [${(n.gpus ?? []).join(",")}]`);
        if (n.tuple) lines.push(`      tuple (${n.tuple.join(", ")})`);
        for (const b of n.breakdown ?? []) lines.push(`      - ${b}`);
      } else {
        lines.push(`${head}  filtered (${n.resolvable ? "resolvable: preemption could help" : "unresolvable"}): ${n.reason ?? ""}`);
      }
      if (n.topology !== undefined) lines.push(`      topology: ${n.topology}${n.dcgm !== undefined && n.dcgm !== "unknown" ? `; DCGM ${n.dcgm}` : ""}`);
    }
  }
  if (x.warnings.length > 0) {
    lines.push("", "Input warnings:");
    for (const w of x.warnings) lines.push(`  - ${w}`);
  }
  return lines;
}

/**
 * Kubernetes objects in a YAML or JSON file: single objects, `List`/`*List`
 * items, or several YAML documents; of one kind, or of any of several kinds.
 */
function readObjects(text: string, file: string, kinds: string | readonly string[]): { objects: Record<string, unknown>[]; error?: string } {
  const wanted: readonly string[] = typeof kinds === "string" ? [kinds] : kinds;
  const kind = wanted.join(", ");
  const objects: Record<string, unknown>[] = [];
  const docs = parseAllDocuments(text);
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    if (doc.errors.length > 0) return { objects, error: `${file} is not valid YAML or JSON: ${doc.errors[0]!.message}` };
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    if (typeof value !== "object" || Array.isArray(value)) return { objects, error: `${file} holds something other than Kubernetes objects` };
    const obj = value as Record<string, unknown>;
    const k = String(obj.kind ?? "");
    const items = k === "List" || wanted.some((w) => k === `${w}List`) ? obj.items : wanted.includes(k) ? [obj] : undefined;
    if (!Array.isArray(items)) return { objects, error: `${file} holds a ${String(obj.kind ?? "document without kind")}; expected ${kind}, ${kind}List or List` };
    for (const item of items) {
      if (item === null || typeof item !== "object" || Array.isArray(item)) return { objects, error: `${file}: every item must be a ${kind} object` };
      const ik = (item as Record<string, unknown>).kind;
      const implied = k.endsWith("List") && k !== "List" ? k.slice(0, -4) : undefined;
      if (ik !== undefined ? !wanted.includes(String(ik)) : implied === undefined) return { objects, error: `${file}: an item is a ${String(ik ?? "object without kind")}, not a ${kind}` };
      if (ik === undefined && implied !== undefined) (item as Record<string, unknown>).kind = implied;
      objects.push(item as Record<string, unknown>);
    }
  }
  return { objects };
}

/** DCGM views from saved dcgm-exporter scrapes, each taken as fresh, with the policy's health rules. */
function dcgmViewsFromScrape(text: string, scrape: DcgmScrapeFile, policy: Policy, warnings: string[]): Map<string, DcgmNodeView> {
  const exposition = parseExposition(text);
  if (exposition.errorCount > 0) {
    const first = exposition.errors[0];
    warnings.push(`${scrape.file}: ${exposition.errorCount} line(s) could not be read${first ? ` (line ${first.line}: ${first.message})` : ""}`);
  }
  const read = readDcgmGpus(exposition.samples, scrape.node !== undefined ? { node: scrape.node } : {});
  if (read.gpus.length === 0) warnings.push(`${scrape.file}: no GPU series with a node (Hostname label), so no DCGM data from it; name the node with --dcgm NODE=${scrape.file}`);
  const out = new Map<string, DcgmNodeView>();
  for (const [node, readings] of groupReadingsByNode(read.gpus)) {
    const conditions = new Map<number, GpuCondition>();
    for (const r of readings) conditions.set(r.gpuIndex, evaluateGpuHealth(r, undefined, policy.gpuHealth));
    out.set(node, { freshness: "fresh", conditions });
  }
  return out;
}

export interface ExtenderInputs {
  readonly nodes: readonly NodeWire[];
  readonly pods: readonly PodWire[];
  readonly dcgm: ReadonlyMap<string, DcgmNodeView>;
  readonly slices?: readonly ResourceSliceWire[];
  readonly claims?: readonly ResourceClaimWire[];
  /** Warnings already found while reading the inputs. */
  readonly warnings: readonly string[];
}

/** Runs the extender's filter and prioritize for `pod` on a store filled from the inputs. */
export function explainExtender(pod: PodWire, policy: Policy, inputs: ExtenderInputs): ExtenderExplanation {
  const warnings = [...inputs.warnings];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (line === "") continue;
        try {
          const entry = JSON.parse(line) as { node?: string; warning?: string; msg?: string };
          warnings.push(`${entry.node !== undefined ? `node ${entry.node}: ` : ""}${entry.warning ?? entry.msg ?? line}`);
        } catch {
          warnings.push(line);
        }
      }
      done();
    },
  });
  const dra = new DraStore({ gpuDrivers: () => policy.dra.gpuDrivers, gpuDeviceClasses: () => policy.dra.gpuDeviceClasses });
  const store = new TopologyStore({
    log: createLogger({ level: "warn", destination: sink }),
    gpuResource: () => policy.gpuResources[0] ?? "nvidia.com/gpu",
    profiles: () => [...policy.topologyProfiles, ...BUILTIN_PROFILES],
    claimGpus: (p) => dra.claimGpus(p),
  });
  dra.onNodeChange((n) => store.setDra(n, dra.view(n)));
  for (const s of inputs.slices ?? []) dra.upsertSlice(s);
  for (const c of inputs.claims ?? []) dra.upsertClaim(c);
  const names: string[] = [];
  for (const n of inputs.nodes) {
    const node = store.upsertNode(n);
    if (node) names.push(node.name);
    else warnings.push("a Node without metadata.name was skipped");
  }
  const known = new Set(names);
  let unbound = 0;
  for (const p of inputs.pods) {
    const nodeName = (p.spec as { nodeName?: string } | undefined)?.nodeName;
    const gpus = countPodGpus(p, policy.gpuResourceSet);
    if (gpus === 0) continue;
    if (!nodeName) {
      unbound += 1;
      continue;
    }
    const key = `${p.metadata?.namespace ?? "default"}/${p.metadata?.name ?? "?"}`;
    const intent = podIntent(p, policy, policy.scoring.groupLabels, store.claimGpus);
    const uid = typeof p.metadata?.uid === "string" && p.metadata.uid !== "" ? p.metadata.uid : key;
    store.upsertPod({ uid, key, nodeName, gpus: intent.gpus, placement: intent.placement, ...(intent.group !== undefined ? { group: intent.group } : {}) });
    if (!known.has(nodeName)) warnings.push(`pod ${key} is bound to ${nodeName}, which is not among the nodes given`);
  }
  if (unbound > 0) warnings.push(`${unbound === 1 ? "1 GPU pod is" : `${unbound} GPU pods are`} not bound to a node, so ${unbound === 1 ? "it holds" : "they hold"} no GPUs`);
  for (const node of inputs.dcgm.keys()) if (!known.has(node)) warnings.push(`DCGM data for ${node}, which is not among the nodes given`);
  for (const node of dra.nodes()) if (!known.has(node)) warnings.push(`ResourceSlices for ${node}, which is not among the nodes given`);
  store.setDcgm(inputs.dcgm);

  const namespace = pod.metadata?.namespace ?? "default";
  const podKey = `${namespace}/${pod.metadata?.name ?? pod.metadata?.generateName ?? "?"}`;
  const podUid = typeof pod.metadata?.uid === "string" && pod.metadata.uid !== "" ? pod.metadata.uid : podKey;
  const call: ExtenderCall = { pod, podKey, podUid, nodes: { mode: "names", names } };
  const ctx: ExtenderContext = { policy, store };
  const intent = podIntent(pod, policy, policy.scoring.groupLabels, store.claimGpus);
  if ((intent.unresolvedClaims ?? 0) > 0) warnings.push(`the pod names ${intent.unresolvedClaims} ResourceClaim(s) not in --dra (give them, or the pod's status.resourceClaimStatuses)`);
  // Taken before the calls below reserve GPUs for this pod, as prioritize sees it.
  const scoreCtx = scoreContext(intent, ctx);
  const filtered = filterCall(call, ctx);
  const prioritized = prioritizeCall(call, ctx);
  const scores = new Map(prioritized.scores.map((s) => [s.node, s]));
  const reports: NodeReport[] = filtered.verdicts.map((v) => {
    const state = store.state(v.node);
    const about = state ? { topology: state.node.topology.sourceNote, dcgm: state.dcgm } : {};
    if (filtered.passThrough) return { node: v.node, verdict: "passed", score: 0, ...about };
    if (!v.ok) return { node: v.node, verdict: "filtered", reason: v.reason, resolvable: v.resolvable, score: 0, ...about };
    const scored = prioritized.scored.get(v.node);
    return {
      node: v.node,
      verdict: "passed",
      score: scores.get(v.node)?.score ?? 0,
      gpus: v.choice.gpus,
      ...(scored ? { tuple: scored.tuple } : {}),
      breakdown: explainScore(v.state, v.choice, scoreCtx),
      ...about,
    };
  });
  const order = (r: NodeReport) => (r.verdict === "passed" ? (scores.get(r.node)?.rank ?? 0) : Number.POSITIVE_INFINITY);
  const nodes = reports
    .map((r, i) => ({ r, i }))
    .sort((a, b) => order(a.r) - order(b.r) || a.i - b.i)
    .map((x) => x.r);
  return {
    gpus: intent.gpus,
    placement: intent.placement,
    placementSource: intent.placementSource,
    ...(intent.group !== undefined ? { group: intent.group } : {}),
    passThrough: filtered.passThrough,
    nodes,
    warnings,
  };
}

async function readExtenderInputs(settings: ExplainSettings & { nodesFile: string }, policy: Policy): Promise<ExtenderInputs | { error: string }> {
  const warnings: string[] = [];
  const nodes = readObjects(await readFile(settings.nodesFile, "utf8"), settings.nodesFile, "Node");
  if (nodes.error !== undefined) return { error: nodes.error };
  if (nodes.objects.length === 0) return { error: `${settings.nodesFile} holds no Node objects` };
  let pods: PodWire[] = [];
  if (settings.podsFile !== undefined) {
    const read = readObjects(await readFile(settings.podsFile, "utf8"), settings.podsFile, "Pod");
    if (read.error !== undefined) return { error: read.error };
    pods = read.objects as PodWire[];
  }
  const dcgm = new Map<string, DcgmNodeView>();
  for (const scrape of settings.dcgmFiles ?? []) {
    for (const [node, view] of dcgmViewsFromScrape(await readFile(scrape.file, "utf8"), scrape, policy, warnings)) dcgm.set(node, view);
  }
  let slices: ResourceSliceWire[] = [];
  let claims: ResourceClaimWire[] = [];
  if (settings.draFile !== undefined) {
    const read = readObjects(await readFile(settings.draFile, "utf8"), settings.draFile, ["ResourceSlice", "ResourceClaim"]);
    if (read.error !== undefined) return { error: read.error };
    slices = read.objects.filter((o) => o.kind === "ResourceSlice") as ResourceSliceWire[];
    claims = read.objects.filter((o) => o.kind === "ResourceClaim") as ResourceClaimWire[];
  }
  return { nodes: nodes.objects as NodeWire[], pods, dcgm, slices, claims, warnings };
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
  let explanation = explainDecision(pod, namespace, decision);
  if (settings.nodesFile !== undefined) {
    const inputs = await readExtenderInputs({ ...settings, nodesFile: settings.nodesFile }, loaded.policy);
    if ("error" in inputs) {
      out(`${inputs.error}\n`);
      return 1;
    }
    // The extender sees the pod as the webhook left it, in the namespace it was created in.
    const admitted = decision.kind === "skipped" ? pod : decision.mutated;
    const scheduled: PodWire = { ...admitted, metadata: { ...admitted.metadata, namespace } };
    explanation = { ...explanation, extender: explainExtender(scheduled, loaded.policy, inputs) };
  }
  out(settings.output === "json" ? `${JSON.stringify(explanation, null, 2)}\n` : renderExplanation(explanation));
  return 0;
}
