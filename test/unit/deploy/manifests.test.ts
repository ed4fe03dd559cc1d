// The install manifests as written (manifests/): they carry the same settings
// as the code they deploy (webhook configuration, scheduler configuration,
// example policy, command-line flags), the least-privilege RBAC they promise,
// and hardened pod templates. Rendering with kustomize and validation by a real
// API server are in test/e2e/manifests.e2e.test.ts.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { repoRoot } from "../../../hack/cluster/binaries.js";
import { buildSchedulerConfiguration } from "../../../hack/cluster/scheduler-config.js";
import { webhookConfiguration } from "../../../hack/cluster/webhook-config.js";
import { parseCommand } from "../../../src/config.js";
import { loadPolicyText } from "../../../src/policy/load.js";
import { EMBEDDED_POLICY_YAML } from "../../../src/policy/embedded.js";
import { GPU_TOPOLOGY_ANNOTATION } from "../../../src/topology/annotation.js";
import { createMetrics } from "../../../src/telemetry/metrics.js";
import { containersOf, exposedNames, find, manifestFile, MANIFESTS, podSpecOf, promqlMetricNames, type KubeObject } from "../../builders/manifests.js";

const read = (rel: string) => readFileSync(path.join(MANIFESTS, rel), "utf8");
const pkg = JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { version: string };
const kubeVersion = readFileSync(path.join(repoRoot, "hack", "kube", "VERSION"), "utf8").trim();

const webhookDeploy = find(manifestFile("base/webhook.yaml"), "Deployment", "topofit-webhook");
const schedulerDeploy = find(manifestFile("base/scheduler.yaml"), "Deployment", "topofit-scheduler");
const agentDs = find(manifestFile("base/agent.yaml"), "DaemonSet", "topofit-agent");
const workloads = [webhookDeploy, schedulerDeploy, agentDs];

type Container = {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports?: { name: string; containerPort: number }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, unknown>;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  readinessProbe?: { httpGet?: { path: string; port: string | number; scheme: string } };
  livenessProbe?: { httpGet?: { path: string; port: string | number; scheme: string } };
};
const containers = (w: KubeObject) => containersOf(w) as unknown as Container[];
const container = (w: KubeObject, name: string) => containers(w).find((c) => c.name === name)!;
const envOf = (c: Container): NodeJS.ProcessEnv => Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? "from-downward-api"]));

describe("the example policy ConfigMap", () => {
  it("is the embedded policy, word for word, and it is valid", () => {
    expect(read("base/policy.yaml")).toBe(EMBEDDED_POLICY_YAML);
    const loaded = loadPolicyText(read("base/policy.yaml"));
    expect(loaded.ok).toBe(true);
  });

  it("is generated under the name and key that `topofit serve` watches by default", () => {
    const k = parse(read("base/kustomization.yaml")) as { configMapGenerator: { name: string; namespace: string; files: string[]; options?: { disableNameSuffixHash?: boolean } }[] };
    const gen = k.configMapGenerator.find((g) => g.name === "topofit-policy")!;
    const parsed = parseCommand(["serve"], {});
    expect(parsed.ok).toBe(true);
    if (!parsed.ok || parsed.command.name !== "serve") return;
    const ref = parsed.command.settings.policyConfigMap;
    expect([gen.namespace, gen.name, gen.files, gen.options?.disableNameSuffixHash]).toEqual([ref.namespace, ref.name, [ref.key], true]);
  });

  it("ships the priority classes the example policy assigns", () => {
    const classes = manifestFile("base/priority-classes.yaml").map((o) => o.metadata.name).sort();
    const loaded = loadPolicyText(EMBEDDED_POLICY_YAML);
    if (!loaded.ok) throw new Error("embedded policy invalid");
    const named = [...new Set(loaded.policy.rules.map((r) => r.inject.priorityClassName).filter((n): n is string => n !== undefined))].sort();
    expect(classes).toEqual(named);
  });
});

describe("the MutatingWebhookConfiguration", () => {
  const [mwc] = manifestFile("base/mutating-webhook.yaml");

  it("has exactly the settings of hack/cluster/webhook-config.ts, with the Service as its client", () => {
    const expected = webhookConfiguration({ url: "https://unused", caPem: "" });
    const hook = expected.webhooks![0]!;
    hook.clientConfig = { service: { name: "topofit-webhook", namespace: "topofit-system", path: "/mutate", port: 443 } };
    expect(mwc).toEqual(JSON.parse(JSON.stringify(expected)));
  });

  it("sends the GPU resources and skips the namespaces that the example policy names", () => {
    const loaded = loadPolicyText(EMBEDDED_POLICY_YAML);
    if (!loaded.ok) throw new Error("embedded policy invalid");
    const hook = (mwc as unknown as { webhooks: { matchConditions: { expression: string }[]; namespaceSelector: { matchExpressions: { values: string[] }[] } }[] }).webhooks[0]!;
    for (const r of loaded.policy.gpuResources) expect(hook.matchConditions[0]!.expression).toContain(`'${r}'`);
    expect(hook.namespaceSelector.matchExpressions[0]!.values.sort()).toEqual([...loaded.policy.excludedNamespaces].sort());
  });

  it("points at the webhook Service, which forwards to the container's https port", () => {
    const svc = find(manifestFile("base/webhook.yaml"), "Service", "topofit-webhook");
    expect((svc.spec as { ports: unknown[] }).ports).toEqual([{ name: "https", port: 443, targetPort: "https", protocol: "TCP" }]);
    expect(container(webhookDeploy, "topofit").ports).toEqual([{ name: "https", containerPort: 8443, protocol: "TCP" }]);
  });

  it("overlays/fail-closed only flips the failure policy; overlays/cert-manager only injects the CA", () => {
    expect(read("overlays/fail-closed/kustomization.yaml")).toMatch(/path: \/webhooks\/0\/failurePolicy\s+value: Fail/);
    expect(read("overlays/cert-manager/kustomization.yaml")).toContain("cert-manager.io/inject-ca-from: topofit-system/topofit-serving");
  });
});

describe("the scheduler", () => {
  const config = parse(read("base/kube-scheduler-config.yaml")) as Record<string, unknown>;

  it("is configured as hack/cluster/scheduler-config.ts builds it, plus leader election on its own lease", () => {
    const expected = buildSchedulerConfiguration({
      schedulerName: "topofit-scheduler",
      leaderElect: true,
      extenders: [{ urlPrefix: "https://127.0.0.1:8443", weight: 20, httpTimeout: "3s", tlsConfig: { caFile: "/etc/topofit/tls/ca.crt" } }],
    });
    expected.leaderElection = { leaderElect: true, resourceName: "topofit-scheduler", resourceNamespace: "topofit-system" };
    expect(config).toEqual(expected);
  });

  it("overlays/ignorable-extender changes nothing but `ignorable`", () => {
    const ignorable = parse(read("overlays/ignorable-extender/kube-scheduler-config.yaml")) as { extenders: { ignorable: boolean }[] };
    expect(ignorable.extenders[0]!.ignorable).toBe(true);
    ignorable.extenders[0]!.ignorable = false;
    expect(ignorable).toEqual(config);
  });

  it("runs the pinned kube-scheduler release with that configuration, and topofit beside it on the extender's port", () => {
    const ks = container(schedulerDeploy, "kube-scheduler");
    expect(ks.image).toBe(`registry.k8s.io/kube-scheduler:${kubeVersion}`);
    expect(ks.command).toContain("--config=/etc/topofit-scheduler/config.yaml");
    const mounts = Object.fromEntries((ks.volumeMounts ?? []).map((m) => [m.name, m.mountPath]));
    expect(mounts.config).toBe("/etc/topofit-scheduler");
    // caFile lies in the mounted Secret
    expect("/etc/topofit/tls/ca.crt".startsWith(`${mounts.tls}/`)).toBe(true);
    const sidecar = container(schedulerDeploy, "topofit");
    expect(sidecar.args).toContain("--listen=0.0.0.0:8443");
    const volumes = podSpecOf(schedulerDeploy).volumes as { name: string; configMap?: { name: string }; secret?: { secretName: string } }[];
    expect(volumes.find((v) => v.name === "config")?.configMap?.name).toBe("topofit-scheduler-config");
    expect(volumes.find((v) => v.name === "tls")?.secret?.secretName).toBe("topofit-tls");
    expect(podSpecOf(schedulerDeploy).serviceAccountName).toBe("topofit-scheduler");
    expect(schedulerDeploy.spec).toMatchObject({ replicas: 2 });
  });
});

describe("the topofit containers", () => {
  const topofitContainers = workloads.flatMap((w) => containers(w).filter((c) => c.image === "topofit").map((c) => [`${w.metadata.name}/${c.name}`, c] as const));

  it("are the three expected ones, all on the image that base/kustomization.yaml tags with the package version", () => {
    expect(topofitContainers.map(([n]) => n)).toEqual(["topofit-webhook/topofit", "topofit-scheduler/topofit", "topofit-agent/agent"]);
    const k = parse(read("base/kustomization.yaml")) as { images: { name: string; newTag: string }[] };
    expect(k.images).toEqual([{ name: "topofit", newTag: pkg.version }]);
  });

  it.each(topofitContainers)("%s: its arguments are accepted by topofit's own command-line parser", (_n, c) => {
    const parsed = parseCommand(c.args ?? [], { ...envOf(c), KUBERNETES_SERVICE_HOST: "10.96.0.1" });
    expect(parsed).toMatchObject({ ok: true });
  });

  it("only the extender sidecar sets a command: the image's entrypoint with Node flags that Node accepts", () => {
    const withCommand = topofitContainers.filter(([, c]) => c.command !== undefined);
    expect(withCommand.map(([n]) => n)).toEqual(["topofit-scheduler/topofit"]);
    const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(readFileSync(path.join(repoRoot, "Dockerfile"), "utf8"))?.[1] ?? "[]") as string[];
    expect(entrypoint).toEqual(["node", "/app/dist/main.js"]);
    for (const [, c] of withCommand) {
      const command = c.command!;
      expect([command[0], command.at(-1)]).toEqual(entrypoint);
      const flags = command.slice(1, -1);
      expect(flags.length).toBeGreaterThan(0);
      for (const flag of flags) expect(flag).toMatch(/^--[a-z-]+(=\S+)?$/);
      // Node exits non-zero on a flag it does not know, and on NODE_OPTIONS it does not take there.
      const run = spawnSync(process.execPath, [...flags, "-e", "0"], { encoding: "utf8", env: { PATH: process.env.PATH, NODE_OPTIONS: envOf(c).NODE_OPTIONS } });
      expect(run.stderr).toBe("");
      expect(run.status).toBe(0);
    }
  });

  it.each(topofitContainers)("%s: its NODE_OPTIONS, if any, are accepted there by Node", (_n, c) => {
    const value = envOf(c).NODE_OPTIONS ?? "";
    const run = spawnSync(process.execPath, ["-e", "0"], { encoding: "utf8", env: { PATH: process.env.PATH, NODE_OPTIONS: value } });
    expect([run.status, run.stderr]).toEqual([0, ""]);
  });

  it("the DCGM component adds a --dcgm-service flag that the parser accepts", () => {
    const flag = /value: (--dcgm-service=\S+)/.exec(read("components/dcgm-gpu-operator/kustomization.yaml"))?.[1];
    expect(flag).toBe("--dcgm-service=gpu-operator/nvidia-dcgm-exporter");
    const parsed = parseCommand([...(container(schedulerDeploy, "topofit").args ?? []), flag!], { KUBERNETES_SERVICE_HOST: "10.96.0.1" });
    expect(parsed).toMatchObject({ ok: true, command: { settings: { dcgmService: { namespace: "gpu-operator", name: "nvidia-dcgm-exporter" } } } });
  });

  it("the servers probe /healthz and /readyz over HTTPS and read their certificate from the Secret", () => {
    for (const w of [webhookDeploy, schedulerDeploy]) {
      const c = container(w, "topofit");
      expect(c.livenessProbe?.httpGet).toEqual({ path: "/healthz", port: "https", scheme: "HTTPS" });
      expect(c.readinessProbe?.httpGet).toEqual({ path: "/readyz", port: "https", scheme: "HTTPS" });
      expect(c.args).toEqual(expect.arrayContaining(["--tls-cert-file=/etc/topofit/tls/tls.crt", "--tls-key-file=/etc/topofit/tls/tls.key"]));
      expect(c.volumeMounts).toContainEqual({ name: "tls", mountPath: "/etc/topofit/tls", readOnly: true });
    }
  });

  it("the agent runs on GPU nodes with its node's name and nvidia-smi from the NVIDIA runtime", () => {
    const spec = podSpecOf(agentDs);
    expect(spec).toMatchObject({ serviceAccountName: "topofit-agent", runtimeClassName: "nvidia", nodeSelector: { "nvidia.com/gpu.present": "true" } });
    expect(spec.tolerations).toContainEqual({ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" });
    const c = container(agentDs, "agent");
    expect(c.env).toEqual(
      expect.arrayContaining([
        { name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
        { name: "NVIDIA_VISIBLE_DEVICES", value: "all" },
        { name: "NVIDIA_DRIVER_CAPABILITIES", value: "utility" },
      ]),
    );
    // It asks for no GPU: it must not take one away from the workloads.
    expect(JSON.stringify(c.resources)).not.toContain("nvidia.com/gpu");
  });
});

describe("every pod template", () => {
  it.each(workloads.map((w) => [w.metadata.name, w] as const))("%s is hardened: non-root, read-only root, no privilege escalation, no capabilities, RuntimeDefault seccomp, /tmp on an emptyDir, requests and limits", (_n, w) => {
    const spec = podSpecOf(w);
    expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
    const volumes = spec.volumes as { name: string; emptyDir?: unknown }[];
    expect(volumes.find((v) => v.name === "tmp")?.emptyDir).toBeDefined();
    for (const c of containers(w)) {
      expect(c.securityContext, c.name).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
      expect(Number(c.securityContext?.runAsUser), c.name).toBeGreaterThan(0);
      expect(c.volumeMounts, c.name).toContainEqual({ name: "tmp", mountPath: "/tmp" });
      expect(Object.keys(c.resources?.requests ?? {}).sort(), c.name).toEqual(["cpu", "memory"]);
      expect(c.resources?.limits?.memory, c.name).toBeDefined();
    }
  });

  it("the two Deployments run 2 replicas, spread over nodes, behind a PodDisruptionBudget of minAvailable 1", () => {
    for (const [file, d] of [["base/webhook.yaml", webhookDeploy], ["base/scheduler.yaml", schedulerDeploy]] as const) {
      expect((d.spec as { replicas: number }).replicas).toBe(2);
      expect(JSON.stringify(podSpecOf(d).affinity)).toContain("kubernetes.io/hostname");
      const pdb = find(manifestFile(file), "PodDisruptionBudget", d.metadata.name);
      expect(pdb.spec).toEqual({ minAvailable: 1, selector: (d.spec as { selector: unknown }).selector });
    }
  });
});

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };
const rulesOf = (o: KubeObject) => (o as unknown as { rules: Rule[] }).rules;

describe("RBAC: least privilege", () => {
  const topofit = manifestFile("base/rbac-topofit.yaml");
  const agent = manifestFile("base/rbac-agent.yaml");
  const scheduler = manifestFile("base/rbac-scheduler.yaml");
  const dcgm = manifestFile("components/dcgm-gpu-operator/rbac.yaml");

  it("topofit serve: read nodes, pods, namespaces, ResourceSlices and ResourceClaims; read ConfigMaps and create Events in topofit-system only", () => {
    expect(rulesOf(find(topofit, "ClusterRole", "topofit"))).toEqual([
      { apiGroups: [""], resources: ["nodes", "pods", "namespaces"], verbs: ["get", "list", "watch"] },
      { apiGroups: ["resource.k8s.io"], resources: ["resourceslices", "resourceclaims"], verbs: ["get", "list", "watch"] },
    ]);
    const role = find(topofit, "Role", "topofit");
    expect(role.metadata.namespace).toBe("topofit-system");
    expect(rulesOf(role)).toEqual([
      { apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list", "watch"] },
      { apiGroups: [""], resources: ["events"], verbs: ["create"] },
    ]);
  });

  it("the webhook alone: read and create ResourceClaimTemplates (no update, no delete), cluster-wide since pods come from any namespace", () => {
    expect(rulesOf(find(topofit, "ClusterRole", "topofit-claim-templates"))).toEqual([
      { apiGroups: ["resource.k8s.io"], resources: ["resourceclaimtemplates"], verbs: ["get", "list", "watch", "create"] },
    ]);
    const binding = find(topofit, "ClusterRoleBinding", "topofit-claim-templates");
    expect(binding.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "topofit-claim-templates" });
    expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name: podSpecOf(webhookDeploy).serviceAccountName, namespace: "topofit-system" }]);
  });

  it("the agent: get and patch nodes, nothing else", () => {
    expect(rulesOf(find(agent, "ClusterRole", "topofit-agent"))).toEqual([{ apiGroups: [""], resources: ["nodes"], verbs: ["get", "patch"] }]);
  });

  it("the scheduler: the upstream scheduler roles, its authentication reader, and renewing only its own lease", () => {
    const crbs = scheduler.filter((o) => o.kind === "ClusterRoleBinding").map((o) => (o.roleRef as { name: string }).name);
    expect(crbs.sort()).toEqual(["system:kube-scheduler", "system:volume-scheduler"]);
    expect(find(scheduler, "RoleBinding", "topofit-scheduler-extension-apiserver-authentication-reader", "kube-system").roleRef).toMatchObject({ kind: "Role", name: "extension-apiserver-authentication-reader" });
    expect(rulesOf(find(scheduler, "Role", "topofit-scheduler-leader-election"))).toEqual([
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], resourceNames: ["topofit-scheduler"], verbs: ["get", "update"] },
    ]);
  });

  it("DCGM discovery: EndpointSlices in the GPU operator's namespace only, for the scheduler's account only", () => {
    const role = find(dcgm, "Role", "topofit-dcgm-discovery");
    expect(role.metadata.namespace).toBe("gpu-operator");
    expect(rulesOf(role)).toEqual([{ apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["get", "list", "watch"] }]);
    expect(find(dcgm, "RoleBinding", "topofit-dcgm-discovery").subjects).toEqual([{ kind: "ServiceAccount", name: "topofit-scheduler", namespace: "topofit-system" }]);
  });

  it("no role of ours uses a wildcard or touches Secrets", () => {
    for (const o of [...topofit, ...agent, ...scheduler, ...dcgm].filter((x) => x.kind === "Role" || x.kind === "ClusterRole")) {
      for (const r of rulesOf(o)) {
        expect([...r.apiGroups, ...r.resources, ...r.verbs], o.metadata.name).not.toContain("*");
        expect(r.resources, o.metadata.name).not.toContain("secrets");
      }
    }
  });

  it("every workload runs as the service account its RBAC is bound to", () => {
    expect(podSpecOf(webhookDeploy).serviceAccountName).toBe("topofit");
    const subjects = (find(topofit, "ClusterRoleBinding", "topofit").subjects as { name: string }[]).map((s) => s.name);
    expect(subjects).toEqual(["topofit", "topofit-scheduler"]);
    expect((find(agent, "ClusterRoleBinding", "topofit-agent").subjects as { name: string }[]).map((s) => s.name)).toEqual([podSpecOf(agentDs).serviceAccountName]);
  });
});

describe("the agent admission policy", () => {
  const [policy, binding] = manifestFile("components/agent-admission-policy/policy.yaml");
  it("applies to the agent's service account and protects everything but the topology annotation", () => {
    const text = read("components/agent-admission-policy/policy.yaml");
    expect(text).toContain(`'${GPU_TOPOLOGY_ANNOTATION}'`);
    const spec = policy!.spec as { matchConditions: { expression: string }[]; failurePolicy: string };
    expect(spec.matchConditions[0]!.expression).toBe(`request.userInfo.username == 'system:serviceaccount:topofit-system:${podSpecOf(agentDs).serviceAccountName as string}'`);
    expect(spec.failurePolicy).toBe("Fail");
    expect(binding!.spec).toEqual({ policyName: policy!.metadata.name, validationActions: ["Deny"] });
  });
});

describe("certificates", () => {
  const certs = manifestFile("overlays/cert-manager/certificates.yaml");
  it("cert-manager's serving certificate covers the webhook Service and 127.0.0.1, into the Secret the pods mount", () => {
    const serving = find(certs, "Certificate", "topofit-serving").spec as { secretName: string; dnsNames: string[]; ipAddresses: string[] };
    expect(serving.secretName).toBe("topofit-tls");
    expect(serving.dnsNames).toContain("topofit-webhook.topofit-system.svc");
    expect(serving.ipAddresses).toEqual(["127.0.0.1"]);
  });
  it("hack/gen-certs.sh issues for the same names and writes the same Secret", () => {
    const script = readFileSync(path.join(repoRoot, "hack", "gen-certs.sh"), "utf8");
    expect(script).toMatch(/subjectAltName=DNS:\$svc,DNS:\$svc\.cluster\.local,DNS:localhost,IP:127\.0\.0\.1/);
    expect(script).toContain("secret=topofit-tls");
    expect(script).toContain("service=topofit-webhook");
  });
});

describe("observability", () => {
  let known = new Set<string>();
  beforeAll(async () => {
    // Instantiated the way `topofit serve` does it, process metrics included.
    known = exposedNames((await createMetrics().registry.getMetricsAsJSON()) as unknown as { name: string; type: string }[]);
  });
  // Metrics from other components that the dashboard and the alerts read.
  const external = new Set(["apiserver_admission_webhook_fail_open_count"]);

  it("PromQL parsing finds metric names and ignores functions, labels, ranges and grouping", () => {
    expect(promqlMetricNames('histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{route=~"/x|/y"}[5m]))) > 0.5')).toEqual(["a_bucket"]);
    expect(promqlMetricNames('sum(rate(a_total{outcome!="ok"}[$__rate_interval])) / sum(rate(b_total[10m])) > 0.2 and on() c')).toEqual(["a_total", "b_total", "c"]);
  });

  it("every panel of the Grafana dashboard queries metrics that topofit exports", () => {
    const dashboard = JSON.parse(read("observability/grafana-dashboard.json")) as { uid: string; panels: { type: string; title: string; targets?: { expr: string }[] }[] };
    expect(dashboard.uid).toBe("topofit");
    const panels = dashboard.panels.filter((p) => p.type !== "row");
    expect(panels.length).toBeGreaterThan(10);
    const used = new Set<string>();
    for (const p of panels) {
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets ?? []) {
        const names = promqlMetricNames(t.expr);
        expect(names.length, `${p.title}: ${t.expr}`).toBeGreaterThan(0);
        for (const n of names) {
          expect(known.has(n) || external.has(n), `${p.title}: unknown metric ${n}`).toBe(true);
          used.add(n.replace(/_(bucket|sum|count)$/, ""));
        }
      }
    }
    // The metrics the dashboard is for are all on it.
    for (const m of [
      "topofit_http_request_duration_seconds", "topofit_http_requests_total", "topofit_admission_decisions_total", "topofit_extender_filtered_nodes_total",
      "topofit_policy_reloads_total", "topofit_policy_generation", "topofit_dcgm_scrapes_total", "topofit_dcgm_nodes", "topofit_dcgm_unhealthy_gpus", "topofit_gpu_predictions_total",
    ]) {
      expect(used.has(m), m).toBe(true);
    }
  });

  it("every alert reads metrics that topofit exports, and names a severity", () => {
    const [rule] = manifestFile("observability/prometheus-rules.yaml");
    const groups = (rule!.spec as { groups: { name: string; rules: { alert: string; expr: string; labels: { severity: string } }[] }[] }).groups;
    const alerts = groups.flatMap((g) => g.rules);
    expect(alerts.map((a) => a.alert)).toEqual(
      expect.arrayContaining(["TopofitWebhookErrors", "TopofitExtenderSlow", "TopofitPolicyRejected", "TopofitDcgmStaleNodes"]),
    );
    for (const a of alerts) {
      expect(["critical", "warning", "info"], a.alert).toContain(a.labels.severity);
      const names = promqlMetricNames(a.expr);
      expect(names.length, a.alert).toBeGreaterThan(0);
      for (const n of names) expect(known.has(n) || external.has(n), `${a.alert}: unknown metric ${n}`).toBe(true);
    }
  });

  it("label values in the alerts are ones topofit uses", () => {
    const text = read("observability/prometheus-rules.yaml") + read("observability/grafana-dashboard.json");
    for (const m of text.matchAll(/route=~?\\?"([^"\\]+)\\?"/g)) {
      for (const route of m[1]!.split("|")) expect(["/mutate", "/filter", "/prioritize"]).toContain(route);
    }
    for (const m of text.matchAll(/state=\\?"([^"\\]+)\\?"/g)) expect(["fresh", "stale", "unknown"]).toContain(m[1]);
    for (const m of text.matchAll(/result=\\?"([^"\\]+)\\?"/g)) expect(["applied", "unchanged", "rejected"]).toContain(m[1]);
  });
});
