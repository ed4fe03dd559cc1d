// Process settings. The ONLY module that reads process.env or argv: everything
// else receives typed settings from here.
import { parseArgs } from "node:util";
import type { LevelWithSilent } from "pino";

export const DEFAULT_LISTEN = "0.0.0.0:8443";
export const DEFAULT_POLICY_CONFIGMAP = "topofit-system/topofit-policy";
export const DEFAULT_POLICY_KEY = "policy.yaml";
export const DEFAULT_NVIDIA_SMI = "nvidia-smi";
export const DEFAULT_SYSFS_ROOT = "/sys";
export const DEFAULT_AGENT_INTERVAL = "5m";
export const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;
const MIN_AGENT_INTERVAL_MS = 10_000;

export interface ServeSettings {
  readonly listenHost: string;
  readonly listenPort: number;
  readonly policyFile?: string;
  readonly policyConfigMap: { readonly namespace: string; readonly name: string; readonly key: string };
  readonly tlsCertFile?: string;
  readonly tlsKeyFile?: string;
  readonly kubeconfig?: string;
  /** Never talk to a cluster, even in one. */
  readonly standalone: boolean;
  /** KUBERNETES_SERVICE_HOST, present when running in a pod. */
  readonly inClusterHost?: string;
  readonly logLevel: LevelWithSilent;
  readonly bodyLimit: number;
  /** Static dcgm-exporter endpoints (URL, host[:port], or node=URL). */
  readonly dcgmEndpoints: readonly string[];
  /** Discover dcgm-exporter through a Service's EndpointSlices. */
  readonly dcgmService?: { readonly namespace: string; readonly name: string; readonly port?: number };
  readonly dcgmIntervalMs: number;
  readonly dcgmStaleAfterMs: number;
  /** What this process serves: the admission webhook, the scheduler extender, or both. */
  readonly components: { readonly webhook: boolean; readonly extender: boolean };
}

/** A dcgm-exporter scrape saved to a file, and the node it is from when its Hostname label does not say. */
export interface DcgmScrapeFile {
  readonly file: string;
  readonly node?: string;
}

export interface ExplainSettings {
  readonly policyFile?: string;
  readonly podFile: string;
  readonly namespace?: string;
  readonly namespaceLabels: Readonly<Record<string, string>>;
  readonly output: "text" | "json";
  /** Node objects (a NodeList, or Node documents) to run the extender's filter and prioritize against. */
  readonly nodesFile?: string;
  /** Pods bound to those nodes (a PodList, or Pod documents): their GPUs count as busy. */
  readonly podsFile?: string;
  /** dcgm-exporter scrapes giving GPU health, load and which pods use which GPUs. */
  readonly dcgmFiles?: readonly DcgmScrapeFile[];
  /** ResourceSlices and ResourceClaims (DRA): the nodes' GPU devices and which claims hold them. */
  readonly draFile?: string;
}

export interface AgentSettings {
  /** The Node to annotate: --node-name, else NODE_NAME (the DaemonSet sets it from spec.nodeName). */
  readonly nodeName?: string;
  /** nvidia-smi to run: a path, or a name looked up on PATH. */
  readonly nvidiaSmi: string;
  readonly sysfsRoot: string;
  readonly intervalMs: number;
  readonly commandTimeoutMs: number;
  readonly kubeconfig?: string;
  /** KUBERNETES_SERVICE_HOST, present when running in a pod. */
  readonly inClusterHost?: string;
  /** One round, then exit. */
  readonly once: boolean;
  /** Print the annotation instead of publishing it (implies once; no cluster needed). */
  readonly print: boolean;
  readonly logLevel: LevelWithSilent;
}

export type Command =
  | { readonly name: "serve"; readonly settings: ServeSettings }
  | { readonly name: "agent"; readonly settings: AgentSettings }
  | { readonly name: "validate-policy"; readonly files: readonly string[] }
  | { readonly name: "explain"; readonly settings: ExplainSettings }
  | { readonly name: "version" }
  | { readonly name: "help"; readonly topic?: string };

export type ParsedCommand = { readonly ok: true; readonly command: Command } | { readonly ok: false; readonly error: string };

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

export const USAGE = `topofit: topology-aware GPU placement for Kubernetes

Usage:
  topofit serve [flags]                     serve the admission webhook (HTTPS)
  topofit validate-policy FILE...           check PlacementPolicy files; exit 1 on any error
  topofit explain --pod POD.yaml [flags]    show which rule a pod gets and the patch; with --nodes,
                                            how the extender would filter and score each node
  topofit agent [flags]                     publish this GPU node's topology as a Node annotation
  topofit version

serve flags:
  --listen HOST:PORT            address to serve on (default ${DEFAULT_LISTEN})
  --policy-file FILE            read the policy from FILE and reload it when it changes
  --policy-configmap NS/NAME    ConfigMap holding the policy under key ${DEFAULT_POLICY_KEY}
                                (default ${DEFAULT_POLICY_CONFIGMAP}; used when a cluster is reachable
                                and no --policy-file is given)
  --tls-cert-file FILE          serving certificate (PEM); reloaded when it changes
  --tls-key-file FILE           its private key (PEM); without both, a self-signed pair is generated
  --kubeconfig FILE             cluster credentials (default: in-cluster service account, else standalone)
  --standalone                  do not talk to any cluster
  --log-level LEVEL             ${LOG_LEVELS.join(", ")} (default info; env TOPOFIT_LOG_LEVEL)
  --max-body-bytes N            largest admission request body accepted (default 3145728)
  --components LIST             what to serve: webhook, extender, or both (default webhook,extender);
                                the extender watches every node and pod, so a webhook-only
                                Deployment should say --components=webhook
  --dcgm-endpoints LIST         dcgm-exporter endpoints, comma-separated: URL, HOST[:PORT] or NODE=URL
  --dcgm-service NS/NAME[:PORT] discover dcgm-exporter through the Service's EndpointSlices (port 9400)
  --dcgm-interval DURATION      scrape interval (default 15s)
  --dcgm-stale-after DURATION   after this, a node's DCGM data counts as unknown (default 60s)

explain flags:
  --policy FILE                 policy to use (default: the embedded example policy)
  --pod FILE                    a Pod manifest (YAML or JSON)
  --namespace NS                namespace to assume when the manifest has none (default "default")
  --namespace-label K=V         a label of that namespace, for namespaceSelector (repeatable)
  --output text|json            output format (default text)
  --nodes FILE                  Node objects (a NodeList, or YAML documents of kind Node, e.g. from
                                kubectl get nodes -o yaml): show each node's verdict, score and GPU set
  --pods FILE                   pods bound to those nodes (a PodList or Pod documents); their GPUs count as busy
  --dcgm [NODE=]FILE            a saved dcgm-exporter /metrics scrape (repeatable): GPU health, load and
                                pods; NODE= names the node when the scrape's Hostname label does not
  --dra FILE                    ResourceSlices and ResourceClaims (e.g. kubectl get resourceslices,
                                resourceclaims -A -o yaml): DRA GPU devices, which are taken, claim sizes

agent flags:
  --node-name NAME              the Node to annotate (default: env NODE_NAME)
  --nvidia-smi PATH             nvidia-smi to run (default ${DEFAULT_NVIDIA_SMI} on PATH; with the GPU operator's
                                driver container, e.g. /run/nvidia/driver/usr/bin/nvidia-smi)
  --sysfs-root DIR              where sysfs is mounted, for PCI NUMA nodes (default ${DEFAULT_SYSFS_ROOT})
  --interval DURATION           how often to check for changes, e.g. 30s, 5m, 1h (default ${DEFAULT_AGENT_INTERVAL}, ±10% jitter)
  --kubeconfig FILE             cluster credentials (default: in-cluster service account)
  --once                        publish once and exit (status 1 when it could not)
  --print                       print the annotation instead of publishing it; implies --once, needs no cluster
  --log-level LEVEL             ${LOG_LEVELS.join(", ")} (default info; env TOPOFIT_LOG_LEVEL)
`;

function parseListen(value: string): { host: string; port: number } | string {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value);
  if (!m) return `--listen must be HOST:PORT (got ${JSON.stringify(value)})`;
  const port = Number(m[3]);
  if (port > 65535) return `--listen port must be at most 65535 (got ${port})`;
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port };
}

function parseServe(args: string[], env: NodeJS.ProcessEnv): ParsedCommand {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      listen: { type: "string", default: DEFAULT_LISTEN },
      "policy-file": { type: "string" },
      "policy-configmap": { type: "string", default: DEFAULT_POLICY_CONFIGMAP },
      "tls-cert-file": { type: "string" },
      "tls-key-file": { type: "string" },
      kubeconfig: { type: "string" },
      standalone: { type: "boolean", default: false },
      "log-level": { type: "string" },
      "max-body-bytes": { type: "string" },
      "dcgm-endpoints": { type: "string", multiple: true },
      "dcgm-service": { type: "string" },
      "dcgm-interval": { type: "string", default: "15s" },
      "dcgm-stale-after": { type: "string", default: "60s" },
      components: { type: "string", default: "webhook,extender" },
    },
  });
  if (positionals.length > 0) return { ok: false, error: `serve takes no arguments (got ${positionals.join(" ")})` };
  const listen = parseListen(values.listen);
  if (typeof listen === "string") return { ok: false, error: listen };
  const cm = /^([a-z0-9-]+)\/([a-z0-9.-]+)$/.exec(values["policy-configmap"]);
  if (!cm) return { ok: false, error: `--policy-configmap must be NAMESPACE/NAME (got ${JSON.stringify(values["policy-configmap"])})` };
  if ((values["tls-cert-file"] === undefined) !== (values["tls-key-file"] === undefined)) {
    return { ok: false, error: "--tls-cert-file and --tls-key-file must be given together" };
  }
  const level = values["log-level"] ?? env.TOPOFIT_LOG_LEVEL ?? "info";
  if (!(LOG_LEVELS as readonly string[]).includes(level)) return { ok: false, error: `log level must be one of ${LOG_LEVELS.join(", ")} (got ${level})` };
  const bodyLimit = values["max-body-bytes"] === undefined ? 3 * 1024 * 1024 : Number(values["max-body-bytes"]);
  if (!Number.isInteger(bodyLimit) || bodyLimit < 1024) return { ok: false, error: "--max-body-bytes must be an integer >= 1024" };
  let dcgmService: ServeSettings["dcgmService"];
  if (values["dcgm-service"] !== undefined) {
    const m = /^([a-z0-9-]+)\/([a-z0-9.-]+)(?::(\d{1,5}))?$/.exec(values["dcgm-service"]);
    if (!m) return { ok: false, error: `--dcgm-service must be NAMESPACE/NAME[:PORT] (got ${JSON.stringify(values["dcgm-service"])})` };
    dcgmService = { namespace: m[1]!, name: m[2]!, ...(m[3] !== undefined ? { port: Number(m[3]) } : {}) };
  }
  const dcgmIntervalMs = parseDuration(values["dcgm-interval"]);
  const dcgmStaleAfterMs = parseDuration(values["dcgm-stale-after"]);
  if (dcgmIntervalMs === undefined || dcgmIntervalMs < 1000) return { ok: false, error: `--dcgm-interval must be a duration of at least 1s (got ${values["dcgm-interval"]})` };
  if (dcgmStaleAfterMs === undefined || dcgmStaleAfterMs < dcgmIntervalMs) {
    return { ok: false, error: `--dcgm-stale-after must be a duration no shorter than --dcgm-interval (got ${values["dcgm-stale-after"]})` };
  }
  const parts = values.components.split(",").map((c) => c.trim()).filter((c) => c !== "");
  const unknown = parts.filter((c) => c !== "webhook" && c !== "extender");
  if (parts.length === 0 || unknown.length > 0) {
    return { ok: false, error: `--components must list webhook and/or extender (got ${JSON.stringify(values.components)})` };
  }
  const components = { webhook: parts.includes("webhook"), extender: parts.includes("extender") };
  const dcgmEndpoints = (values["dcgm-endpoints"] ?? []).flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) => v !== "");
  return {
    ok: true,
    command: {
      name: "serve",
      settings: {
        listenHost: listen.host,
        listenPort: listen.port,
        ...(values["policy-file"] !== undefined ? { policyFile: values["policy-file"] } : {}),
        policyConfigMap: { namespace: cm[1] ?? "", name: cm[2] ?? "", key: DEFAULT_POLICY_KEY },
        ...(values["tls-cert-file"] !== undefined ? { tlsCertFile: values["tls-cert-file"] } : {}),
        ...(values["tls-key-file"] !== undefined ? { tlsKeyFile: values["tls-key-file"] } : {}),
        ...(values.kubeconfig !== undefined ? { kubeconfig: values.kubeconfig } : {}),
        standalone: values.standalone,
        ...(env.KUBERNETES_SERVICE_HOST ? { inClusterHost: env.KUBERNETES_SERVICE_HOST } : {}),
        logLevel: level as LevelWithSilent,
        bodyLimit,
        dcgmEndpoints,
        ...(dcgmService ? { dcgmService } : {}),
        dcgmIntervalMs,
        dcgmStaleAfterMs,
        components,
      },
    },
  };
}

function parseExplain(args: string[]): ParsedCommand {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      policy: { type: "string" },
      pod: { type: "string" },
      namespace: { type: "string" },
      "namespace-label": { type: "string", multiple: true },
      output: { type: "string", default: "text" },
      nodes: { type: "string" },
      pods: { type: "string" },
      dcgm: { type: "string", multiple: true },
      dra: { type: "string" },
    },
  });
  if (positionals.length > 0) return { ok: false, error: `explain takes no positional arguments (got ${positionals.join(" ")})` };
  if (values.pod === undefined) return { ok: false, error: "explain needs --pod FILE" };
  if (values.output !== "text" && values.output !== "json") return { ok: false, error: "--output must be text or json" };
  if (values.nodes === undefined && (values.pods !== undefined || values.dcgm !== undefined || values.dra !== undefined)) {
    return { ok: false, error: "--pods, --dcgm and --dra describe the nodes of --nodes FILE; give --nodes too" };
  }
  const dcgmFiles: DcgmScrapeFile[] = [];
  for (const v of values.dcgm ?? []) {
    const m = /^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)=(.+)$/.exec(v);
    if (m) dcgmFiles.push({ node: m[1]!, file: m[3]! });
    else if (v === "" || v.endsWith("=")) return { ok: false, error: `--dcgm must be FILE or NODE=FILE (got ${JSON.stringify(v)})` };
    else dcgmFiles.push({ file: v });
  }
  const namespaceLabels: Record<string, string> = {};
  for (const kv of values["namespace-label"] ?? []) {
    const i = kv.indexOf("=");
    if (i <= 0) return { ok: false, error: `--namespace-label must be KEY=VALUE (got ${JSON.stringify(kv)})` };
    namespaceLabels[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return {
    ok: true,
    command: {
      name: "explain",
      settings: {
        ...(values.policy !== undefined ? { policyFile: values.policy } : {}),
        podFile: values.pod,
        ...(values.namespace !== undefined ? { namespace: values.namespace } : {}),
        namespaceLabels,
        output: values.output,
        ...(values.nodes !== undefined ? { nodesFile: values.nodes } : {}),
        ...(values.dra !== undefined ? { draFile: values.dra } : {}),
        ...(values.pods !== undefined ? { podsFile: values.pods } : {}),
        ...(dcgmFiles.length > 0 ? { dcgmFiles } : {}),
      },
    },
  };
}

/** Reads a Go-style duration: 90s, 5m, 1h30m, 500ms. */
export function parseDuration(value: string): number | undefined {
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(value)) return undefined;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const m of value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) total += Number(m[1]) * (unit[m[2] ?? ""] ?? 0);
  return Math.round(total);
}

const NODE_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

function parseAgent(args: string[], env: NodeJS.ProcessEnv): ParsedCommand {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      "node-name": { type: "string" },
      "nvidia-smi": { type: "string", default: DEFAULT_NVIDIA_SMI },
      "sysfs-root": { type: "string", default: DEFAULT_SYSFS_ROOT },
      interval: { type: "string", default: DEFAULT_AGENT_INTERVAL },
      kubeconfig: { type: "string" },
      once: { type: "boolean", default: false },
      print: { type: "boolean", default: false },
      "log-level": { type: "string" },
    },
  });
  if (positionals.length > 0) return { ok: false, error: `agent takes no arguments (got ${positionals.join(" ")})` };
  const nodeName = values["node-name"] ?? (env.NODE_NAME || undefined);
  if (nodeName !== undefined && !NODE_NAME.test(nodeName)) return { ok: false, error: `node name ${JSON.stringify(nodeName)} is not a valid Node name` };
  if (nodeName === undefined && !values.print) {
    return { ok: false, error: "agent needs --node-name or the NODE_NAME environment variable (set it from spec.nodeName with the downward API)" };
  }
  if (values["nvidia-smi"] === "") return { ok: false, error: "--nvidia-smi must not be empty" };
  const intervalMs = parseDuration(values.interval);
  if (intervalMs === undefined) return { ok: false, error: `--interval must be a duration such as 30s, 5m or 1h (got ${JSON.stringify(values.interval)})` };
  if (intervalMs < MIN_AGENT_INTERVAL_MS) return { ok: false, error: `--interval must be at least 10s (got ${values.interval})` };
  const level = values["log-level"] ?? env.TOPOFIT_LOG_LEVEL ?? "info";
  if (!(LOG_LEVELS as readonly string[]).includes(level)) return { ok: false, error: `log level must be one of ${LOG_LEVELS.join(", ")} (got ${level})` };
  return {
    ok: true,
    command: {
      name: "agent",
      settings: {
        ...(nodeName !== undefined ? { nodeName } : {}),
        nvidiaSmi: values["nvidia-smi"],
        sysfsRoot: values["sysfs-root"],
        intervalMs,
        commandTimeoutMs: DEFAULT_COMMAND_TIMEOUT_MS,
        ...(values.kubeconfig !== undefined ? { kubeconfig: values.kubeconfig } : {}),
        ...(env.KUBERNETES_SERVICE_HOST ? { inClusterHost: env.KUBERNETES_SERVICE_HOST } : {}),
        once: values.once || values.print,
        print: values.print,
        logLevel: level as LevelWithSilent,
      },
    },
  };
}

/** Parses `topofit <command> [flags]`. With no command, `serve` is assumed. */
export function parseCommand(argv: readonly string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): ParsedCommand {
  const [first, ...rest] = argv;
  try {
    if (first === undefined || first.startsWith("--")) {
      if (first === "--help" || first === "-h") return { ok: true, command: { name: "help" } };
      if (first === "--version") return { ok: true, command: { name: "version" } };
      return parseServe([...argv], env);
    }
    switch (first) {
      case "serve":
        if (rest.includes("--help") || rest.includes("-h")) return { ok: true, command: { name: "help", topic: "serve" } };
        return parseServe(rest, env);
      case "validate-policy":
        if (rest.length === 0) return { ok: false, error: "validate-policy needs at least one FILE" };
        return { ok: true, command: { name: "validate-policy", files: rest } };
      case "explain":
        return parseExplain(rest);
      case "agent":
        if (rest.includes("--help") || rest.includes("-h")) return { ok: true, command: { name: "help", topic: "agent" } };
        return parseAgent(rest, env);
      case "version":
      case "--version":
        return { ok: true, command: { name: "version" } };
      case "help":
      case "-h":
        return { ok: true, command: { name: "help" } };
      default:
        return { ok: false, error: `unknown command ${JSON.stringify(first)}` };
    }
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}
