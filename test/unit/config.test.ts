import { describe, expect, it } from "vitest";
import { DEFAULT_LISTEN, parseCommand, type Command, type ServeSettings } from "../../src/config.js";

function serve(argv: string[], env: NodeJS.ProcessEnv = {}): ServeSettings {
  const parsed = parseCommand(argv, env);
  if (!parsed.ok) throw new Error(`expected a valid command, got: ${parsed.error}`);
  if (parsed.command.name !== "serve") throw new Error(`expected serve, got ${parsed.command.name}`);
  return parsed.command.settings;
}

function error(argv: string[], env: NodeJS.ProcessEnv = {}): string {
  const parsed = parseCommand(argv, env);
  if (parsed.ok) throw new Error(`expected an error, got ${JSON.stringify(parsed.command)}`);
  return parsed.error;
}

describe("parseCommand: serve", () => {
  it("serves on 0.0.0.0:8443 with the policy ConfigMap topofit-system/topofit-policy, key policy.yaml, when given nothing", () => {
    expect(DEFAULT_LISTEN).toBe("0.0.0.0:8443");
    expect(serve([])).toEqual({
      listenHost: "0.0.0.0",
      listenPort: 8443,
      policyConfigMap: { namespace: "topofit-system", name: "topofit-policy", key: "policy.yaml" },
      standalone: false,
      logLevel: "info",
      bodyLimit: 3 * 1024 * 1024,
      dcgmEndpoints: [],
      dcgmIntervalMs: 15_000,
      dcgmStaleAfterMs: 60_000,
      components: { webhook: true, extender: true },
    });
  });

  it.each<[string, { webhook: boolean; extender: boolean } | string]>([
    ["webhook", { webhook: true, extender: false }],
    ["extender", { webhook: false, extender: true }],
    ["extender,webhook", { webhook: true, extender: true }],
    ["scheduler", "--components must list webhook and/or extender"],
    [",", "--components must list webhook and/or extender"],
  ])("reads --components=%s", (value, want) => {
    const parsed = parseCommand(["serve", `--components=${value}`], {});
    if (typeof want === "string") expect(parsed.ok ? "" : parsed.error).toContain(want);
    else expect(parsed.ok && parsed.command.name === "serve" ? parsed.command.settings.components : undefined).toEqual(want);
  });

  it.each<[string[], string]>([
    [["--dcgm-service", "gpu-operator"], "--dcgm-service must be NAMESPACE/NAME[:PORT]"],
    [["--dcgm-interval", "0s"], "--dcgm-interval must be a duration of at least 1s"],
    [["--dcgm-interval", "30s", "--dcgm-stale-after", "10s"], "--dcgm-stale-after must be a duration no shorter than --dcgm-interval"],
  ])("rejects DCGM flags %j", (args, message) => {
    const parsed = parseCommand(["serve", ...args], {});
    expect(parsed.ok).toBe(false);
    expect(parsed.ok ? "" : parsed.error).toContain(message);
  });

  it("reads DCGM endpoints from repeated and comma-separated flags, and the Service with its port", () => {
    const s = serve(["--dcgm-endpoints", "a=http://10.0.0.1:9400/metrics,10.0.0.2", "--dcgm-endpoints", "10.0.0.3:9500", "--dcgm-service", "gpu-operator/nvidia-dcgm-exporter:9401"]);
    expect(s.dcgmEndpoints).toEqual(["a=http://10.0.0.1:9400/metrics", "10.0.0.2", "10.0.0.3:9500"]);
    expect(s.dcgmService).toEqual({ namespace: "gpu-operator", name: "nvidia-dcgm-exporter", port: 9401 });
  });

  it("treats a bare flag list as serve", () => {
    expect(serve(["--listen", "127.0.0.1:9443"]).listenPort).toBe(9443);
  });

  it.each<[string, string, number]>([
    ["127.0.0.1:9443", "127.0.0.1", 9443],
    ["[::1]:9443", "::1", 9443],
    ["[::]:8443", "::", 8443],
    ["localhost:0", "localhost", 0],
    [":9443", "0.0.0.0", 9443],
  ])("reads --listen %s as host %s port %d", (listen, host, port) => {
    const s = serve(["serve", "--listen", listen]);
    expect([s.listenHost, s.listenPort]).toEqual([host, port]);
  });

  it.each([["9443"], ["127.0.0.1"], ["127.0.0.1:"], ["127.0.0.1:http"], ["127.0.0.1:70000"], ["::1:9443"]])("rejects --listen %s", (listen) => {
    expect(error(["serve", "--listen", listen])).toMatch(/--listen/);
  });

  it.each([
    ["a certificate without its key", ["--tls-cert-file", "/tls/tls.crt"]],
    ["a key without its certificate", ["--tls-key-file", "/tls/tls.key"]],
  ])("rejects %s", (_name, args) => {
    expect(error(["serve", ...args])).toMatch(/--tls-cert-file and --tls-key-file must be given together/);
  });

  it("accepts a certificate with its key", () => {
    expect(serve(["serve", "--tls-cert-file", "/tls/tls.crt", "--tls-key-file", "/tls/tls.key"])).toMatchObject({ tlsCertFile: "/tls/tls.crt", tlsKeyFile: "/tls/tls.key" });
  });

  it("rejects an unknown flag", () => {
    expect(error(["serve", "--listne", "1.2.3.4:5"])).toMatch(/--listne/);
  });

  it("rejects a positional argument", () => {
    expect(error(["serve", "extra"])).toMatch(/no arguments.*extra/);
  });

  it("rejects an unknown command", () => {
    expect(error(["sever"])).toMatch(/unknown command "sever"/);
  });

  it.each<[string, string[], NodeJS.ProcessEnv, string]>([
    ["reads the log level from TOPOFIT_LOG_LEVEL", [], { TOPOFIT_LOG_LEVEL: "debug" }, "debug"],
    ["lets --log-level win over TOPOFIT_LOG_LEVEL", ["--log-level", "warn"], { TOPOFIT_LOG_LEVEL: "debug" }, "warn"],
    ["defaults the log level to info", [], {}, "info"],
  ])("%s", (_name, args, env, level) => {
    expect(serve(["serve", ...args], env).logLevel).toBe(level);
  });

  it("rejects an unknown log level from the environment", () => {
    expect(error(["serve"], { TOPOFIT_LOG_LEVEL: "verbose" })).toMatch(/log level.*verbose/);
  });

  it("reads the in-cluster host from KUBERNETES_SERVICE_HOST", () => {
    expect(serve([], { KUBERNETES_SERVICE_HOST: "10.96.0.1" }).inClusterHost).toBe("10.96.0.1");
  });

  it.each([
    ["--policy-configmap", "ml/my-policy", { policyConfigMap: { namespace: "ml", name: "my-policy", key: "policy.yaml" } }],
    ["--policy-file", "/etc/topofit/policy.yaml", { policyFile: "/etc/topofit/policy.yaml" }],
    ["--kubeconfig", "/root/.kube/config", { kubeconfig: "/root/.kube/config" }],
    ["--max-body-bytes", "65536", { bodyLimit: 65536 }],
  ])("reads %s %s", (flag, value, want) => {
    expect(serve(["serve", flag, value])).toMatchObject(want);
  });

  it("reads --standalone", () => {
    expect(serve(["serve", "--standalone"]).standalone).toBe(true);
  });

  it.each([["topofit-policy"], ["ns/"], ["NS/name"]])("rejects --policy-configmap %s", (value) => {
    expect(error(["serve", "--policy-configmap", value])).toMatch(/--policy-configmap must be NAMESPACE\/NAME/);
  });

  it.each([["100"], ["lots"], ["1024.5"]])("rejects --max-body-bytes %s", (value) => {
    expect(error(["serve", "--max-body-bytes", value])).toMatch(/--max-body-bytes/);
  });
});

describe("parseCommand: other commands", () => {
  it.each<[string, string[], Command]>([
    ["validate-policy with files", ["validate-policy", "a.yaml", "b.yaml"], { name: "validate-policy", files: ["a.yaml", "b.yaml"] }],
    ["version", ["version"], { name: "version" }],
    ["--version", ["--version"], { name: "version" }],
    ["help", ["help"], { name: "help" }],
    ["--help", ["--help"], { name: "help" }],
    ["serve --help", ["serve", "--help"], { name: "help", topic: "serve" }],
    [
      "explain with every flag",
      ["explain", "--pod", "pod.yaml", "--policy", "p.yaml", "--namespace", "ml", "--namespace-label", "team=vision", "--namespace-label", "tier=a=b", "--output", "json"],
      { name: "explain", settings: { podFile: "pod.yaml", policyFile: "p.yaml", namespace: "ml", namespaceLabels: { team: "vision", tier: "a=b" }, output: "json" } },
    ],
    ["explain with only --pod", ["explain", "--pod", "pod.yaml"], { name: "explain", settings: { podFile: "pod.yaml", namespaceLabels: {}, output: "text" } }],
    [
      "explain with nodes, pods, DCGM scrapes and DRA objects",
      ["explain", "--pod", "pod.yaml", "--nodes", "nodes.yaml", "--pods", "pods.yaml", "--dcgm", "scrape.txt", "--dcgm", "dgx-h100-02=other.txt", "--dra", "dra.yaml"],
      {
        name: "explain",
        settings: {
          podFile: "pod.yaml",
          namespaceLabels: {},
          output: "text",
          nodesFile: "nodes.yaml",
          podsFile: "pods.yaml",
          dcgmFiles: [{ file: "scrape.txt" }, { node: "dgx-h100-02", file: "other.txt" }],
          draFile: "dra.yaml",
        },
      },
    ],
  ])("parses %s", (_name, argv, command) => {
    expect(parseCommand(argv, {})).toEqual({ ok: true, command });
  });

  it.each<[string, string[], RegExp]>([
    ["validate-policy without files", ["validate-policy"], /at least one FILE/],
    ["explain without --pod", ["explain"], /--pod/],
    ["explain with a bad --output", ["explain", "--pod", "p", "--output", "yaml"], /--output must be text or json/],
    ["explain with a bad --namespace-label", ["explain", "--pod", "p", "--namespace-label", "team"], /KEY=VALUE/],
    ["explain with an unknown flag", ["explain", "--pod", "p", "--verbose"], /--verbose/],
    ["explain with --pods but no --nodes", ["explain", "--pod", "p", "--pods", "pods.yaml"], /give --nodes too/],
    ["explain with --dcgm but no --nodes", ["explain", "--pod", "p", "--dcgm", "s.txt"], /give --nodes too/],
    ["explain with --dra but no --nodes", ["explain", "--pod", "p", "--dra", "d.yaml"], /give --nodes too/],
    ["explain with an empty --dcgm file after NODE=", ["explain", "--pod", "p", "--nodes", "n", "--dcgm", "dgx-01="], /FILE or NODE=FILE/],
  ])("rejects %s", (_name, argv, message) => {
    expect(error(argv)).toMatch(message);
  });
});
