// `topofit agent`: the node topology agent (a DaemonSet on GPU nodes). Reads
// nvidia-smi and sysfs and keeps the node's topofit.io/gpu-topology annotation
// current. `--once --print` shows the value it would write and needs no cluster.
import type { AgentSettings } from "../config.js";
import { collectTopology, type CollectResult } from "../agent/collect.js";
import { isFailure, publishOnce, runPublisher } from "../agent/publisher.js";
import { loadKubeConfig } from "../kube/client.js";
import { createNodeAnnotationPort, type NodeAnnotationPort } from "../kube/node-annotation.js";
import { GPU_TOPOLOGY_ANNOTATION, pairIndex, type TopologyAnnotation } from "../topology/annotation.js";
import { createLogger, type Logger } from "../telemetry/logger.js";

export interface AgentDeps {
  /** Standard output (the --print text). */
  readonly out: (text: string) => void;
  readonly log?: Logger;
  /** The node API; by default built from --kubeconfig or the in-cluster service account. */
  readonly port?: NodeAnnotationPort;
  /** Ends the publishing loop; by default SIGTERM or SIGINT. */
  readonly signal?: AbortSignal;
}

/** The link matrix as nvidia-smi prints it, for people to read. */
export function renderLinkMatrix(a: TopologyAnnotation): string[] {
  const n = a.gpus.length;
  const names = a.gpus.map((g) => `GPU${g.index}`);
  const width = Math.max(6, ...names.map((s) => s.length + 2), ...a.links.map((l) => l.length + 2));
  const pad = (s: string) => s.padEnd(width);
  const rows = [pad("") + names.map(pad).join("").trimEnd()];
  for (let i = 0; i < n; i++) {
    const cells = a.gpus.map((_, j) => (i === j ? "X" : (a.links[pairIndex(n, Math.min(i, j), Math.max(i, j))] ?? "?")));
    const numa = a.gpus[i]?.numa;
    rows.push(`${pad(names[i] ?? "")}${cells.map(pad).join("")}NUMA ${numa ?? "?"}`);
  }
  return rows;
}

/** The value as indented JSON with one line per GPU and the link list on one line. */
export function prettyAnnotation(value: string): string {
  const entries = Object.entries(JSON.parse(value) as Record<string, unknown>);
  const lines = ["{"];
  entries.forEach(([key, v], i) => {
    const comma = i < entries.length - 1 ? "," : "";
    if (Array.isArray(v) && key === "gpus") {
      lines.push(`  ${JSON.stringify(key)}: [`);
      v.forEach((g, j) => lines.push(`    ${JSON.stringify(g)}${j < v.length - 1 ? "," : ""}`));
      lines.push(`  ]${comma}`);
    } else {
      lines.push(`  ${JSON.stringify(key)}: ${JSON.stringify(v)}${comma}`);
    }
  });
  lines.push("}");
  return lines.join("\n");
}

export function renderAnnotation(nodeName: string | undefined, result: Extract<CollectResult, { ok: true }>): string {
  const n = result.annotation.gpus.length;
  const lines = [
    `# ${GPU_TOPOLOGY_ANNOTATION}${nodeName !== undefined ? ` for node ${nodeName}` : ""}: ${n} GPU${n === 1 ? "" : "s"}`,
    prettyAnnotation(result.value),
    "",
    "# links",
    ...renderLinkMatrix(result.annotation),
    "",
    "# value written to the node (compact):",
    result.value,
  ];
  return `${lines.join("\n")}\n`;
}

function stopSignal(): AbortSignal {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  return controller.signal;
}

export async function runAgent(settings: AgentSettings, deps: AgentDeps): Promise<number> {
  // With --print, stdout carries the annotation; logs go to stderr.
  const log = deps.log ?? createLogger({ level: settings.logLevel, name: "topofit-agent", ...(settings.print ? { destination: process.stderr } : {}) });
  const collect = () => collectTopology({ nvidiaSmi: settings.nvidiaSmi, sysfsRoot: settings.sysfsRoot, timeoutMs: settings.commandTimeoutMs });

  if (settings.print) {
    const result = await collect();
    for (const w of result.warnings) log.warn({ detail: w }, "topology collection warning");
    if (!result.ok) {
      log.error({ detail: result.reason }, "cannot build the topology annotation");
      return 1;
    }
    deps.out(renderAnnotation(settings.nodeName, result));
    return 0;
  }

  const nodeName = settings.nodeName;
  if (nodeName === undefined) throw new Error("agent needs --node-name or the NODE_NAME environment variable");
  let port = deps.port;
  if (!port) {
    const cluster = loadKubeConfig({
      ...(settings.kubeconfig !== undefined ? { kubeconfig: settings.kubeconfig } : {}),
      ...(settings.inClusterHost !== undefined ? { inClusterHost: settings.inClusterHost } : {}),
    });
    if (!cluster.kc) throw new Error("agent needs a cluster: give --kubeconfig, run it in a pod with a service account, or use --print");
    port = createNodeAnnotationPort(cluster.kc, GPU_TOPOLOGY_ANNOTATION);
  }

  if (settings.once) {
    const outcome = await publishOnce(nodeName, { collect, port });
    for (const w of outcome.warnings) log.warn({ node: nodeName, detail: w }, "topology collection warning");
    if (isFailure(outcome)) {
      log.error({ node: nodeName, result: outcome.result, detail: outcome.reason }, "topology annotation not published");
      return 1;
    }
    log.info({ node: nodeName, result: outcome.result }, outcome.result === "patched" ? "topology annotation published" : "topology annotation up to date");
    return 0;
  }

  log.info({ node: nodeName, nvidiaSmi: settings.nvidiaSmi, intervalMs: settings.intervalMs }, "topology agent started");
  await runPublisher({ nodeName, intervalMs: settings.intervalMs }, { collect, port, log }, deps.signal ?? stopSignal());
  log.info({ node: nodeName }, "topology agent stopped");
  return 0;
}
