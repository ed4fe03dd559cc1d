// Process settings. The ONLY module that reads process.env or argv: everything
// else receives typed settings from here.
import { parseArgs } from "node:util";
import type { LevelWithSilent } from "pino";

export const DEFAULT_LISTEN = "0.0.0.0:8443";
export const DEFAULT_POLICY_CONFIGMAP = "topofit-system/topofit-policy";
export const DEFAULT_POLICY_KEY = "policy.yaml";

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
}

export interface ExplainSettings {
  readonly policyFile?: string;
  readonly podFile: string;
  readonly namespace?: string;
  readonly namespaceLabels: Readonly<Record<string, string>>;
  readonly output: "text" | "json";
}

export type Command =
  | { readonly name: "serve"; readonly settings: ServeSettings }
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
  topofit explain --pod POD.yaml [flags]    show which rule a pod gets and the patch
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
  --max-body-bytes N            largest request body accepted (default 3145728)

explain flags:
  --policy FILE                 policy to use (default: the embedded example policy)
  --pod FILE                    a Pod manifest (YAML or JSON)
  --namespace NS                namespace to assume when the manifest has none (default "default")
  --namespace-label K=V         a label of that namespace, for namespaceSelector (repeatable)
  --output text|json            output format (default text)
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
    },
  });
  if (positionals.length > 0) return { ok: false, error: `explain takes no positional arguments (got ${positionals.join(" ")})` };
  if (values.pod === undefined) return { ok: false, error: "explain needs --pod FILE" };
  if (values.output !== "text" && values.output !== "json") return { ok: false, error: "--output must be text or json" };
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
