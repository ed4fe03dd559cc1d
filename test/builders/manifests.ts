// Reading the install manifests (manifests/) in tests: the YAML files as
// written, kustomize's rendering of a kustomization, and the metric names a
// PromQL expression uses.
import { execFile } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import { repoRoot } from "../../hack/cluster/binaries.js";

const execFileAsync = promisify(execFile);

export const MANIFESTS = path.join(repoRoot, "manifests");

/** A Kubernetes object as plain JSON. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [k: string]: unknown };
  [field: string]: unknown;
}

export function parseObjects(text: string): KubeObject[] {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(d.errors.map((e) => e.message).join("; "));
      return d.toJS() as KubeObject | null;
    })
    .filter((o): o is KubeObject => o !== null);
}

/** The objects of one file under manifests/. */
export function manifestFile(rel: string): KubeObject[] {
  return parseObjects(readFileSync(path.join(MANIFESTS, rel), "utf8"));
}

export function find(objects: readonly KubeObject[], kind: string, name: string, namespace?: string): KubeObject {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name && (namespace === undefined || x.metadata.namespace === namespace));
  if (!o) throw new Error(`no ${kind} ${namespace ? `${namespace}/` : ""}${name} (have: ${objects.map((x) => `${x.kind}/${x.metadata.name}`).join(", ")})`);
  return o;
}

/** Every kustomization a user can apply: base, each overlay, observability. */
export function kustomizations(): string[] {
  const overlays = readdirSync(path.join(MANIFESTS, "overlays"), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => `overlays/${d.name}`)
    .sort();
  return ["base", ...overlays, "observability"];
}

/** `kubectl kustomize manifests/<rel>`: the objects kubectl apply -k would send. */
export async function renderKustomization(kubectl: string, rel: string): Promise<{ yaml: string; objects: KubeObject[] }> {
  const { stdout } = await execFileAsync(kubectl, ["kustomize", path.join(MANIFESTS, rel)], { maxBuffer: 32 * 1024 * 1024 });
  return { yaml: stdout, objects: parseObjects(stdout) };
}

const PROMQL_KEYWORDS = new Set([
  "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset", "le", "inf", "nan", "atan2",
]);

/**
 * The metric names a PromQL expression reads. Strings, label matchers ({...}),
 * range selectors ([5m]), grouping clauses (by (...)), Grafana variables and
 * numbers are removed; what remains and is not called like a function is a
 * metric name.
 */
export function promqlMetricNames(expr: string): string[] {
  let s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, " ")
    .replace(/\{[^{}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\$\{?\w+\}?/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  s = s.replace(/\b\d+(\.\d+)?(e[+-]?\d+)?\b/gi, " ");
  const names: string[] = [];
  for (const m of s.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = m[0];
    const after = s.slice((m.index ?? 0) + word.length).trimStart();
    if (after.startsWith("(")) continue; // a function
    if (PROMQL_KEYWORDS.has(word.toLowerCase())) continue;
    names.push(word);
  }
  return [...new Set(names)];
}

/** Metric names as Prometheus sees them: histograms add _bucket, _sum and _count. */
export function exposedNames(metrics: readonly { name: string; type: string }[]): Set<string> {
  const names = new Set<string>();
  for (const m of metrics) {
    names.add(m.name);
    if (m.type === "histogram") for (const s of ["_bucket", "_sum", "_count"]) names.add(`${m.name}${s}`);
    if (m.type === "summary") for (const s of ["_sum", "_count"]) names.add(`${m.name}${s}`);
  }
  return names;
}

/** Containers of a workload's pod template. */
export function containersOf(workload: KubeObject): Record<string, unknown>[] {
  const spec = (workload.spec as { template: { spec: { containers: Record<string, unknown>[] } } }).template.spec;
  return spec.containers;
}

export function podSpecOf(workload: KubeObject): Record<string, unknown> {
  return (workload.spec as { template: { spec: Record<string, unknown> } }).template.spec;
}
