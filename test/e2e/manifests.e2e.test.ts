// The install manifests against a real API server:
//
//   1. `kubectl kustomize` renders base, every overlay and observability, and the
//      API server accepts every object in a server-side dry run (client-side and
//      server-side apply), with no warnings (Pod Security "restricted" included).
//      cert-manager's and the Prometheus operator's kinds are validated against
//      minimal CRDs (test/fixtures/crds).
//   2. The base is applied for real, hack/gen-certs.sh writes the Secret and the
//      caBundle, and the workloads' pods pass the namespace's Pod Security
//      enforcement.
//   3. topofit runs under each service account's own token (TokenRequest API),
//      with nothing but the manifests' RBAC: the webhook identity becomes ready,
//      reads the policy ConfigMap, records an Event and mutates a pod through the
//      manifests' MutatingWebhookConfiguration; the scheduler identity runs the
//      real kube-scheduler with the manifests' configuration (leader election,
//      extender over TLS with the generated CA) next to a topofit sidecar that
//      discovers dcgm-exporter through EndpointSlices, and a pod gets placed;
//      the agent identity publishes its node's topology, and the admission
//      policy keeps it to that one annotation on its own node.
//   4. Each identity's permissions are no wider than listed: access reviews of
//      what it may and may not do, and real requests that are refused.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import os from "node:os";
import path from "node:path";
import {
  AdmissionregistrationV1Api,
  ApiException,
  AuthenticationV1Api,
  AuthorizationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  KubeConfig,
  NodeV1Api,
  PatchStrategy,
  setHeaderOptions,
  type CoreV1Event,
  type V1Pod,
  type V1ResourceAttributes,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parse, stringify } from "yaml";
import { repoRoot } from "../../hack/cluster/binaries.js";
import { getFreePort, startControlPlane, type ControlPlane } from "../../hack/cluster/control-plane.js";
import { createGpuNode } from "../../hack/cluster/nodes.js";
import { ManagedProcess } from "../../hack/cluster/processes.js";
import { httpsGet, launchTopofit, TOPOFIT_MAIN } from "../../hack/cluster/topofit.js";
import { waitFor } from "../../hack/cluster/wait.js";
import { GPU_TOPOLOGY_ANNOTATION } from "../../src/topology/annotation.js";
import { fakeNvidiaSmi } from "../builders/fake-nvidia-smi.js";
import { find, kustomizations, renderKustomization, type KubeObject } from "../builders/manifests.js";

const NS = "topofit-system";
const WORKLOAD_NS = "ml-train";

let cp: ControlPlane;
let kc: KubeConfig;
let core: CoreV1Api;
let work: string;
let certDir: string;
const rendered = new Map<string, { yaml: string; objects: KubeObject[] }>();
const processes: ManagedProcess[] = [];
/** What the run showed, printed at the end. */
const summary: string[] = [];

interface Identity {
  readonly name: string;
  readonly kubeconfigPath: string;
  readonly kc: KubeConfig;
}
const identities: Record<"topofit" | "scheduler" | "agent" | "agentUnbound", Identity> = {} as never;
let webhookTopofit: { url: string; proc: ManagedProcess };
let sidecarTopofit: { url: string; port: number; proc: ManagedProcess };
let kubeScheduler: ManagedProcess;

const kubectlPath = () => path.join(inject("kubeBinDir"), "kubectl");

function kubectl(args: readonly string[], input?: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(kubectlPath(), ["--kubeconfig", cp.kubeconfigPath, ...args], { env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input ?? "");
  });
}

function toYaml(objects: readonly KubeObject[]): string {
  return objects.map((o) => stringify(o)).join("---\n");
}

function render(name: string): KubeObject[] {
  const r = rendered.get(name);
  if (!r) throw new Error(`${name} was not rendered`);
  return r.objects;
}

/** A kubeconfig file that authenticates with a bearer token. */
function tokenKubeconfig(name: string, token: string): Identity {
  const file = path.join(work, `${name}.kubeconfig`);
  writeFileSync(
    file,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "e2e", cluster: { server: cp.server, "certificate-authority-data": Buffer.from(cp.caPem).toString("base64") } }],
      users: [{ name, user: { token } }],
      contexts: [{ name: "e2e", context: { cluster: "e2e", user: name } }],
      "current-context": "e2e",
    }),
    { mode: 0o600 },
  );
  const k = new KubeConfig();
  k.loadFromFile(file);
  return { name, kubeconfigPath: file, kc: k };
}

async function mintToken(serviceAccount: string, boundPod?: V1Pod): Promise<string> {
  const res = await core.createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace: NS,
    body: {
      spec: {
        audiences: [],
        expirationSeconds: 3600,
        ...(boundPod ? { boundObjectRef: { apiVersion: "v1", kind: "Pod", name: boundPod.metadata!.name!, uid: boundPod.metadata!.uid! } } : {}),
      },
    },
  });
  return res.status!.token;
}

async function can(identity: Identity, attrs: V1ResourceAttributes): Promise<boolean> {
  const res = await identity.kc.makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({ body: { spec: { resourceAttributes: attrs } } });
  return res.status?.allowed === true;
}

function describeAttrs(a: V1ResourceAttributes): string {
  const res = `${a.resource}${a.subresource ? `/${a.subresource}` : ""}${a.group ? `.${a.group}` : ""}`;
  return `${a.verb} ${res}${a.name ? ` ${a.name}` : ""}${a.namespace ? ` in ${a.namespace}` : " (cluster-wide)"}`;
}

/** Starts `topofit serve` with the given kubeconfig and the certificate from hack/gen-certs.sh; waits for /readyz. */
async function startServe(name: string, kubeconfigPath: string, extraArgs: string[] = []): Promise<{ url: string; port: number; proc: ManagedProcess }> {
  const t = await launchTopofit({
    name,
    kubeconfigPath,
    certPath: path.join(certDir, "tls.crt"),
    keyPath: path.join(certDir, "tls.key"),
    caPem: readFileSync(path.join(certDir, "ca.crt"), "utf8"),
    logPath: path.join(work, `${name}.log`),
    args: extraArgs,
  });
  processes.push(t.process);
  return { url: t.url, port: t.port, proc: t.process };
}

function logLines(proc: ManagedProcess): string[] {
  return readFileSync(proc.logPath, "utf8").split("\n").filter((l) => l !== "");
}

/** Log lines that report a refused API call. */
function forbiddenLines(proc: ManagedProcess): string[] {
  return logLines(proc).filter((l) => /forbidden|cannot list|watch failed|could not record/i.test(l));
}

function httpsPostJson(url: string, ca: string, body: unknown): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = httpsRequest(url, { method: "POST", ca, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(data) }, timeout: 5000 }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown }));
    });
    req.on("error", reject);
    req.end(data);
  });
}

function insecureGet(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: "GET", rejectUnauthorized: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
}

async function metricValue(url: string, line: RegExp): Promise<number> {
  const body = (await httpsGet(`${url}/metrics`, readFileSync(path.join(certDir, "ca.crt"), "utf8"))).body;
  return body
    .split("\n")
    .filter((l) => line.test(l))
    .reduce((sum, l) => sum + Number(l.split(" ").at(-1)), 0);
}

function gpuPod(name: string, namespace: string, opts: { gpus?: number; labels?: Record<string, string> } = {}): V1Pod {
  return {
    metadata: { name, namespace, labels: opts.labels ?? {} },
    spec: {
      containers: [
        {
          name: "main",
          image: "registry.k8s.io/pause:3.10",
          resources: opts.gpus === 0 ? {} : { limits: { "nvidia.com/gpu": String(opts.gpus ?? 1) } },
          securityContext: { runAsNonRoot: true, runAsUser: 1000, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, seccompProfile: { type: "RuntimeDefault" } },
        },
      ],
    },
  };
}

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

/** A merge patch of a node as `who`; resolves to "allowed" or the refusal (HTTP status and message). */
async function patchNodeAs(who: Identity, node: string, body: object): Promise<string> {
  try {
    await who.kc.makeApiClient(CoreV1Api).patchNode({ name: node, body }, mergePatch);
    return "allowed";
  } catch (err) {
    if (err instanceof ApiException) {
      const message = (() => {
        try {
          return (JSON.parse(String(err.body)) as { message?: string }).message ?? String(err.body);
        } catch {
          return String(err.body);
        }
      })();
      return `${err.code}: ${message}`;
    }
    throw err;
  }
}

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), "topofit-manifests-e2e-"));
  certDir = path.join(work, "certs");
  for (const k of kustomizations()) rendered.set(k, await renderKustomization(kubectlPath(), k));

  cp = await startControlPlane({ binDir: inject("kubeBinDir"), schedulers: [] });
  kc = cp.kubeConfig();
  core = kc.makeApiClient(CoreV1Api);

  // What the cluster has before topofit: the CRDs of cert-manager and the
  // Prometheus operator (minimal stand-ins), the GPU operator's namespace and
  // RuntimeClass, GPU nodes, a namespace for GPU workloads.
  const crds = ["cert-manager.yaml", "monitoring.yaml"].map((f) => readFileSync(path.join(repoRoot, "test", "fixtures", "crds", f), "utf8")).join("---\n");
  const applied = await kubectl(["apply", "-f", "-"], crds);
  expect(applied.code, applied.stderr).toBe(0);
  const established = await kubectl(["wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"]);
  expect(established.code, established.stderr).toBe(0);
  for (const name of ["gpu-operator", WORKLOAD_NS]) await core.createNamespace({ body: { metadata: { name } } });
  await kc.makeApiClient(NodeV1Api).createRuntimeClass({ body: { metadata: { name: "nvidia" }, handler: "nvidia" } });
  const h100 = { "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "nvidia.com/gpu.count": "8", "nvidia.com/gpu.present": "true" };
  await createGpuNode(kc, { name: "gpu-a", gpus: 8, labels: h100 });
  await createGpuNode(kc, { name: "gpu-b", gpus: 8, labels: { "nvidia.com/gpu.product": "NVIDIA-L40S", "nvidia.com/gpu.count": "8" } });
  await createGpuNode(kc, { name: "cpu-a", gpus: 0 });

  // Namespaced objects can only be dry-run into a namespace that exists.
  const namespace = await kubectl(["apply", "-f", "-"], toYaml(render("base").filter((o) => o.kind === "Namespace")));
  expect(namespace.code, namespace.stderr).toBe(0);
}, 240_000);

afterAll(async () => {
  for (const p of processes.reverse()) await p.stop().catch(() => undefined);
  await cp?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
  if (summary.length > 0) process.stderr.write(`\n[manifests e2e]\n  ${summary.join("\n  ")}\n`);
});

describe("every kustomization is accepted by the API server (server-side dry run)", () => {
  it.each(kustomizations())("%s", async (name) => {
    const { yaml, objects } = rendered.get(name)!;
    expect(objects.length).toBeGreaterThan(0);
    const clientSide = await kubectl(["apply", "--dry-run=server", "-f", "-"], yaml);
    expect(clientSide.code, clientSide.stderr).toBe(0);
    expect(clientSide.stderr, "warnings (Pod Security, deprecations)").toBe("");
    const accepted = clientSide.stdout.split("\n").filter((l) => /\((server dry run)\)$/.test(l));
    expect(accepted).toHaveLength(objects.length);
    const serverSide = await kubectl(["apply", "--server-side", "--field-manager=topofit-e2e", "--dry-run=server", "-f", "-"], yaml);
    expect(serverSide.code, serverSide.stderr).toBe(0);
    expect(serverSide.stderr).toBe("");
    const kinds = new Map<string, number>();
    for (const o of objects) kinds.set(o.kind, (kinds.get(o.kind) ?? 0) + 1);
    summary.push(`dry run ${name}: ${objects.length} objects accepted (${[...kinds].map(([k, n]) => `${n} ${k}`).join(", ")})`);
  });

  it("the overlays change what they say and nothing else breaks", () => {
    const hook = (o: KubeObject[]) => (find(o, "MutatingWebhookConfiguration", "topofit") as unknown as { metadata: KubeObject["metadata"]; webhooks: { failurePolicy: string }[] });
    expect(hook(render("base")).webhooks[0]!.failurePolicy).toBe("Ignore");
    expect(hook(render("overlays/fail-closed")).webhooks[0]!.failurePolicy).toBe("Fail");
    expect(hook(render("overlays/cert-manager")).metadata.annotations?.["cert-manager.io/inject-ca-from"]).toBe("topofit-system/topofit-serving");
    const schedulerConfig = (o: KubeObject[]) => {
      const cm = o.find((x) => x.kind === "ConfigMap" && x.metadata.name.startsWith("topofit-scheduler-config-"))!;
      const deploy = find(o, "Deployment", "topofit-scheduler");
      // the Deployment mounts the generated (hashed) name
      expect(JSON.stringify(deploy)).toContain(cm.metadata.name);
      return parse((cm as unknown as { data: Record<string, string> }).data["config.yaml"]!) as { extenders: { ignorable: boolean }[] };
    };
    expect(schedulerConfig(render("base")).extenders[0]!.ignorable).toBe(false);
    expect(schedulerConfig(render("overlays/ignorable-extender")).extenders[0]!.ignorable).toBe(true);
    const production = render("overlays/production");
    expect(JSON.stringify(find(production, "Deployment", "topofit-scheduler"))).toContain("--dcgm-service=gpu-operator/nvidia-dcgm-exporter");
    for (const kind of ["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "NetworkPolicy", "Certificate", "Issuer"]) {
      expect(production.some((o) => o.kind === kind), kind).toBe(true);
    }
    for (const o of render("base")) expect(o.metadata.labels?.["app.kubernetes.io/part-of"], `${o.kind}/${o.metadata.name}`).toBe("topofit");
  });
});

describe("installing the base", () => {
  it("applies for real, and the workloads' pods pass Pod Security 'restricted' enforcement", async () => {
    const res = await kubectl(["apply", "-f", "-"], rendered.get("base")!.yaml);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toBe("");
    // The controllers create the pods (they never run: there are no kubelets).
    // A pod that broke the namespace's enforce=restricted label would be refused.
    for (const component of ["webhook", "scheduler"]) {
      await waitFor(
        async () => (await core.listNamespacedPod({ namespace: NS, labelSelector: `app.kubernetes.io/component=${component}` })).items.length >= 2,
        { what: `2 ${component} pods`, timeoutMs: 30_000 },
      );
    }
    const agentPod = await waitFor(
      async () => (await core.listNamespacedPod({ namespace: NS, labelSelector: "app.kubernetes.io/component=agent" })).items[0],
      { what: "the agent DaemonSet's pod on the GPU node", timeoutMs: 30_000 },
    );
    expect(agentPod.spec?.runtimeClassName).toBe("nvidia");
    const refused = (await core.listNamespacedEvent({ namespace: NS })).items.filter((e: CoreV1Event) => e.reason === "FailedCreate");
    expect(refused.map((e) => e.message)).toEqual([]);
    summary.push("base applied for real: webhook, scheduler and agent pods admitted under Pod Security enforce=restricted");
  });

  it("hack/gen-certs.sh writes the Secret and the webhook's caBundle, and restarts the scheduler for a new CA", async () => {
    const result = await new Promise<{ code: number; out: string }>((resolve, reject) => {
      const child = spawn("bash", [path.join(repoRoot, "hack", "gen-certs.sh"), "--dir", certDir], {
        env: { ...process.env, KUBECTL: kubectlPath(), KUBECONFIG: cp.kubeconfigPath },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      child.stdout.on("data", (c: Buffer) => (out += c.toString()));
      child.stderr.on("data", (c: Buffer) => (out += c.toString()));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code: code ?? -1, out }));
    });
    expect(result.code, result.out).toBe(0);
    const secret = await core.readNamespacedSecret({ name: "topofit-tls", namespace: NS });
    expect(secret.type).toBe("kubernetes.io/tls");
    expect(Object.keys(secret.data ?? {}).sort()).toEqual(["ca.crt", "tls.crt", "tls.key"]);
    const ca = readFileSync(path.join(certDir, "ca.crt"));
    expect(Buffer.from(secret.data!["ca.crt"]!, "base64").equals(ca)).toBe(true);
    const mwc = await kc.makeApiClient(AdmissionregistrationV1Api).readMutatingWebhookConfiguration({ name: "topofit" });
    expect(mwc.webhooks?.[0]?.clientConfig.caBundle).toBe(ca.toString("base64"));
    const deploy = await kubectl(["get", "deployment", "-n", NS, "topofit-scheduler", "-o", "jsonpath={.spec.template.metadata.annotations}"]);
    expect(deploy.stdout).toContain("kubectl.kubernetes.io/restartedAt");
  });

  it("the extra objects of the production overlay (DCGM discovery role, agent admission policy) apply for real", async () => {
    const extra = render("overlays/production").filter(
      (o) => (o.kind === "Role" || o.kind === "RoleBinding") && o.metadata.namespace === "gpu-operator" || o.kind.startsWith("ValidatingAdmissionPolicy"),
    );
    expect(extra.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      "Role/topofit-dcgm-discovery",
      "RoleBinding/topofit-dcgm-discovery",
      "ValidatingAdmissionPolicy/topofit-agent-node-annotation",
      "ValidatingAdmissionPolicyBinding/topofit-agent-node-annotation",
    ]);
    const res = await kubectl(["apply", "-f", "-"], toYaml(extra));
    expect(res.code, res.stderr).toBe(0);
    // The policy's CEL compiled without type errors.
    const vap = await kubectl(["get", "validatingadmissionpolicy", "topofit-agent-node-annotation", "-o", "jsonpath={.status.typeChecking}"]);
    expect(vap.stdout).not.toMatch(/warning/i);
  });

  it("tokens for the service accounts come from the TokenRequest API (the agent's bound to a pod on gpu-a)", async () => {
    identities.topofit = tokenKubeconfig("topofit", await mintToken("topofit"));
    identities.scheduler = tokenKubeconfig("topofit-scheduler", await mintToken("topofit-scheduler"));
    const agentPod = await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: "agent-identity-on-gpu-a" },
        spec: {
          nodeName: "gpu-a",
          serviceAccountName: "topofit-agent",
          securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
          containers: [{ name: "agent", image: "topofit:0.1.0", securityContext: { runAsUser: 1000, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } } }],
        },
      },
    });
    identities.agent = tokenKubeconfig("topofit-agent", await mintToken("topofit-agent", agentPod));
    identities.agentUnbound = tokenKubeconfig("topofit-agent-unbound", await mintToken("topofit-agent"));
    const review = await identities.agent.kc.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    expect(review.status?.userInfo?.username).toBe("system:serviceaccount:topofit-system:topofit-agent");
    expect(review.status?.userInfo?.extra?.["authentication.kubernetes.io/node-name"]).toEqual(["gpu-a"]);
  });
});

describe("topofit serve as the webhook's service account", () => {
  it("becomes ready: the policy ConfigMap and the node and pod caches are read with its RBAC alone", async () => {
    webhookTopofit = await startServe("topofit-webhook", identities.topofit.kubeconfigPath);
    const lines = logLines(webhookTopofit.proc);
    expect(lines.some((l) => l.includes('"msg":"policy applied"') && l.includes("configmap:topofit-system/topofit-policy"))).toBe(true);
    expect(forbiddenLines(webhookTopofit.proc)).toEqual([]);
  });

  it("records the PolicyApplied Event on the ConfigMap", async () => {
    const event = await waitFor(
      async () => (await core.listNamespacedEvent({ namespace: NS, fieldSelector: "involvedObject.name=topofit-policy" })).items.find((e) => e.reason === "PolicyApplied"),
      { what: "a PolicyApplied event", timeoutMs: 15_000 },
    );
    expect(event.source?.component).toBe("topofit");
  });

  it("mutates a GPU pod through the manifests' MutatingWebhookConfiguration (pointed at this process)", async () => {
    const admission = kc.makeApiClient(AdmissionregistrationV1Api);
    const mwc = await admission.readMutatingWebhookConfiguration({ name: "topofit" });
    const hook = mwc.webhooks![0]!;
    // No kube-proxy here to reach the Service: point the shipped configuration
    // at the process instead; everything else (rules, matchConditions,
    // namespaceSelector, and the caBundle hack/gen-certs.sh set) stays.
    hook.clientConfig = { url: `${webhookTopofit.url}/mutate`, caBundle: hook.clientConfig.caBundle! };
    await admission.replaceMutatingWebhookConfiguration({ name: "topofit", body: mwc });
    const training = gpuPod("train-0", WORKLOAD_NS, { gpus: 4, labels: { "topofit.io/workload": "training" } });
    const pod = await waitFor(
      async () => {
        const p = await core.createNamespacedPod({ namespace: WORKLOAD_NS, body: training, dryRun: "All" });
        return p.metadata?.annotations?.["topofit.io/rule"] !== undefined ? p : undefined;
      },
      { what: "the API server to call topofit", timeoutMs: 30_000, intervalMs: 300 },
    );
    expect(pod.metadata?.annotations?.["topofit.io/rule"]).toBe("training");
    expect(pod.spec).toMatchObject({ schedulerName: "topofit-scheduler", priorityClassName: "gpu-training", priority: 100_000, runtimeClassName: "nvidia" });

    // Not sent at all: a pod without GPUs (matchConditions), a GPU pod in topofit-system (namespaceSelector).
    const before = await metricValue(webhookTopofit.url, /^topofit_http_requests_total\{route="\/mutate"/);
    await core.createNamespacedPod({ namespace: WORKLOAD_NS, body: gpuPod("no-gpu", WORKLOAD_NS, { gpus: 0 }), dryRun: "All" });
    const own = gpuPod("own", NS);
    own.spec!.securityContext = { seccompProfile: { type: "RuntimeDefault" } };
    const untouched = await core.createNamespacedPod({ namespace: NS, body: own, dryRun: "All" });
    expect(untouched.metadata?.annotations?.["topofit.io/rule"]).toBeUndefined();
    expect(await metricValue(webhookTopofit.url, /^topofit_http_requests_total\{route="\/mutate"/)).toBe(before);
    summary.push("webhook identity: ready, policy from the ConfigMap, PolicyApplied event, training pod mutated (priority 100000 from the shipped PriorityClass)");
  });

  it("answers /filter from its node informer: the CPU node and the too-small request are filtered with topofit's reasons", async () => {
    const ca = readFileSync(path.join(certDir, "ca.crt"), "utf8");
    const pod = gpuPod("probe", WORKLOAD_NS, { gpus: 8 });
    pod.metadata!.uid = "probe-uid";
    const res = await httpsPostJson(`${webhookTopofit.url}/filter`, ca, { Pod: pod, NodeNames: ["gpu-a", "gpu-b", "cpu-a"] });
    expect(res.status).toBe(200);
    const result = res.body as { NodeNames: string[]; FailedNodes: Record<string, string>; FailedAndUnresolvableNodes?: Record<string, string> };
    expect(result.NodeNames.sort()).toEqual(["gpu-a", "gpu-b"]);
    expect({ ...result.FailedNodes, ...result.FailedAndUnresolvableNodes }).toHaveProperty("cpu-a");
  });
});

describe("topofit-scheduler as its service account: kube-scheduler with the shipped configuration and the topofit sidecar", () => {
  it("the sidecar becomes ready and discovers dcgm-exporter through EndpointSlices in gpu-operator", async () => {
    // A dcgm-exporter endpoint as the GPU operator's Service would publish it.
    await kc.makeApiClient(DiscoveryV1Api).createNamespacedEndpointSlice({
      namespace: "gpu-operator",
      body: {
        metadata: { name: "nvidia-dcgm-exporter-e2e", labels: { "kubernetes.io/service-name": "nvidia-dcgm-exporter", "endpointslice.kubernetes.io/managed-by": "e2e.topofit.io" } },
        addressType: "IPv4",
        ports: [{ name: "gpu-metrics", port: 9400, protocol: "TCP" }],
        endpoints: [{ addresses: ["192.0.2.10"], nodeName: "gpu-a", conditions: { ready: true } }],
      },
    });
    const args = find(render("overlays/production"), "Deployment", "topofit-scheduler");
    const flag = JSON.stringify(args).match(/--dcgm-service=[^"]+/)![0];
    // As shipped, the sidecar serves only the extender (the webhook's informers and RBAC are not its own).
    const components = JSON.stringify(args).match(/--components=[^"]+/)![0];
    expect(components).toBe("--components=extender");
    sidecarTopofit = await startServe("topofit-scheduler-sidecar", identities.scheduler.kubeconfigPath, [flag, components]);
    await waitFor(async () => (await metricValue(sidecarTopofit.url, /^topofit_dcgm_endpoints\{/)) === 1, {
      what: "the sidecar to find the dcgm-exporter endpoint",
      timeoutMs: 15_000,
    });
    expect(forbiddenLines(sidecarTopofit.proc)).toEqual([]);
  });

  it("kube-scheduler starts with the shipped configuration, takes its lease and places a webhook-routed pod through the extender", async () => {
    const cm = render("base").find((o) => o.kind === "ConfigMap" && o.metadata.name.startsWith("topofit-scheduler-config-"))!;
    const config = parse((cm as unknown as { data: Record<string, string> }).data["config.yaml"]!) as {
      clientConnection?: { kubeconfig: string };
      extenders: { urlPrefix: string; tlsConfig: { caFile: string } }[];
    };
    // What the pod provides by mounting: its service account (here a kubeconfig
    // with the same token), the sidecar's port, the CA file of the Secret.
    config.clientConnection = { kubeconfig: identities.scheduler.kubeconfigPath };
    expect(config.extenders[0]!.urlPrefix).toBe("https://127.0.0.1:8443");
    config.extenders[0]!.urlPrefix = `https://127.0.0.1:${sidecarTopofit.port}`;
    expect(config.extenders[0]!.tlsConfig.caFile).toBe("/etc/topofit/tls/ca.crt");
    config.extenders[0]!.tlsConfig = { caFile: path.join(certDir, "ca.crt") };
    const configPath = path.join(work, "kube-scheduler.yaml");
    writeFileSync(configPath, stringify(config));
    const port = await getFreePort();
    kubeScheduler = ManagedProcess.start({
      name: "topofit-scheduler",
      command: cp.binaries.kubeScheduler,
      args: [
        `--config=${configPath}`,
        `--authentication-kubeconfig=${identities.scheduler.kubeconfigPath}`,
        `--authorization-kubeconfig=${identities.scheduler.kubeconfigPath}`,
        `--secure-port=${port}`,
        "--bind-address=127.0.0.1",
        "--v=2",
      ],
      logPath: path.join(work, "kube-scheduler.log"),
    });
    processes.push(kubeScheduler);
    await waitFor(
      async () => {
        if (!kubeScheduler.running) throw new Error(`kube-scheduler ${kubeScheduler.describeExit()}:\n${kubeScheduler.tail(30)}`);
        return (await insecureGet(`https://127.0.0.1:${port}/healthz`)) === 200;
      },
      { what: "kube-scheduler /healthz", timeoutMs: 60_000, intervalMs: 300 },
    );
    const lease = await waitFor(
      async () => {
        const l = await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: "topofit-scheduler", namespace: NS });
        return l.spec?.holderIdentity ? l : undefined;
      },
      { what: "the leader lease topofit-system/topofit-scheduler", timeoutMs: 60_000 },
    );
    expect(lease.spec?.holderIdentity).toBeTruthy();

    const created = await core.createNamespacedPod({ namespace: WORKLOAD_NS, body: gpuPod("train-1", WORKLOAD_NS, { gpus: 4, labels: { "topofit.io/workload": "training" } }) });
    expect(created.spec?.schedulerName).toBe("topofit-scheduler");
    const node = await waitFor(async () => (await core.readNamespacedPod({ name: "train-1", namespace: WORKLOAD_NS })).spec?.nodeName, {
      what: "train-1 to be bound by topofit-scheduler",
      timeoutMs: 60_000,
    });
    expect(node).toBe("gpu-a");
    // kube-scheduler asked the sidecar: the filter saw the placement the webhook wrote (one feasible node, so no prioritize call).
    const filtered = logLines(sidecarTopofit.proc)
      .filter((l) => l.includes('"msg":"filter"') && l.includes(`"pod":"${WORKLOAD_NS}/train-1"`))
      .map((l) => JSON.parse(l) as { gpus: number; placement: { gpuLinks: string }; passed: number });
    expect(filtered.at(-1)).toMatchObject({ gpus: 4, placement: { gpuLinks: "NVLinkRequired" }, passed: 1 });
    const scheduled = await waitFor(
      async () => (await core.listNamespacedEvent({ namespace: WORKLOAD_NS, fieldSelector: "involvedObject.name=train-1" })).items.find((e) => e.reason === "Scheduled"),
      { what: "the Scheduled event", timeoutMs: 15_000 },
    );
    expect(scheduled.reportingComponent || scheduled.source?.component).toBe("topofit-scheduler");
    const refused = readFileSync(kubeScheduler.logPath, "utf8").split("\n").filter((l) => /forbidden/i.test(l));
    expect(refused).toEqual([]);
    expect(forbiddenLines(sidecarTopofit.proc)).toEqual([]);
    summary.push(`scheduler identity: kube-scheduler ${cp.binaries.version} with the shipped config held lease topofit-system/topofit-scheduler, called the sidecar over TLS, bound train-1 to ${node}; sidecar found dcgm-exporter via EndpointSlices`);
  });
});

describe("topofit agent as its service account, under the agent admission policy", () => {
  it("the policy is active: another node, a label, another annotation and an unbound token are refused", async () => {
    // The API server picks up a new policy within a second or two.
    const otherNode = await waitFor(
      async () => {
        const r = await patchNodeAs(identities.agent, "gpu-b", { metadata: { annotations: { [GPU_TOPOLOGY_ANNOTATION]: "{}" } } });
        return r === "allowed" ? false : r;
      },
      { what: "the admission policy to refuse a patch of another node", timeoutMs: 30_000, intervalMs: 500 },
    );
    expect(otherNode).toMatch(/^422: .*may not change node gpu-b/);
    expect(await patchNodeAs(identities.agent, "gpu-a", { metadata: { labels: { "nvidia.com/gpu.product": "fake" } } })).toMatch(/^422: .*may not change node labels/);
    expect(await patchNodeAs(identities.agent, "gpu-a", { metadata: { annotations: { "other.example.com/x": "1" } } })).toMatch(/^422: .*only the topofit.io\/gpu-topology annotation/);
    expect(await patchNodeAs(identities.agent, "gpu-a", { spec: { unschedulable: true } })).toMatch(/^422: .*spec/);
    expect(await patchNodeAs(identities.agentUnbound, "gpu-a", { metadata: { annotations: { [GPU_TOPOLOGY_ANNOTATION]: "{}" } } })).toMatch(/^422: .*pod's service account token/);
    // Status cannot be changed through the main resource (the API server keeps the stored status).
    expect(await patchNodeAs(identities.agent, "gpu-a", { status: { capacity: { "nvidia.com/gpu": "64" } } })).toBe("allowed");
    expect((await core.readNode({ name: "gpu-a" })).status?.capacity?.["nvidia.com/gpu"]).toBe("8");
    // Anyone else is untouched by the policy.
    expect(await patchNodeAs({ name: "admin", kubeconfigPath: cp.kubeconfigPath, kc }, "gpu-b", { metadata: { labels: { "e2e.topofit.io/touched": "yes" } } })).toBe("allowed");
  });

  it("the real agent publishes its node's topology with that token", async () => {
    const smi = fakeNvidiaSmi("dgx-h100");
    try {
      const agent = ManagedProcess.start({
        name: "agent",
        command: process.execPath,
        args: [TOPOFIT_MAIN, "agent", "--once", "--kubeconfig", identities.agent.kubeconfigPath],
        logPath: path.join(work, "agent.log"),
        env: { ...process.env, NODE_NAME: "gpu-a", PATH: `${smi.dir}:${process.env.PATH ?? ""}` },
      });
      processes.push(agent);
      const exit = await agent.exited;
      expect(exit.code, agent.tail(20)).toBe(0);
    } finally {
      smi.remove();
    }
    const node = await core.readNode({ name: "gpu-a" });
    expect(node.metadata?.annotations?.[GPU_TOPOLOGY_ANNOTATION]).toContain('"NV18"');
    summary.push("agent identity (token bound to a pod on gpu-a): published gpu-a's annotation; other node, labels, other annotations, spec and unbound tokens refused by the ValidatingAdmissionPolicy");
  });
});

describe("each identity's permissions are no wider than listed", () => {
  type Check = [V1ResourceAttributes, boolean];
  const ns = (namespace: string) => ({ namespace });
  const table: Record<"topofit" | "scheduler" | "agent", Check[]> = {
    topofit: [
      [{ verb: "list", resource: "nodes" }, true],
      [{ verb: "watch", resource: "pods" }, true],
      [{ verb: "list", resource: "namespaces" }, true],
      [{ verb: "watch", resource: "configmaps", ...ns(NS) }, true],
      [{ verb: "create", resource: "events", ...ns(NS) }, true],
      [{ verb: "watch", resource: "resourceclaimtemplates", group: "resource.k8s.io" }, true],
      [{ verb: "create", resource: "resourceclaimtemplates", group: "resource.k8s.io", ...ns(WORKLOAD_NS) }, true],
      [{ verb: "update", resource: "resourceclaimtemplates", group: "resource.k8s.io", ...ns(WORKLOAD_NS) }, false],
      [{ verb: "delete", resource: "resourceclaimtemplates", group: "resource.k8s.io", ...ns(WORKLOAD_NS) }, false],
      [{ verb: "create", resource: "resourceclaims", group: "resource.k8s.io", ...ns(WORKLOAD_NS) }, false],
      [{ verb: "create", resource: "pods", ...ns("default") }, false],
      [{ verb: "delete", resource: "pods", ...ns(WORKLOAD_NS) }, false],
      [{ verb: "patch", resource: "nodes" }, false],
      [{ verb: "delete", resource: "nodes" }, false],
      [{ verb: "get", resource: "secrets", ...ns(NS) }, false],
      [{ verb: "list", resource: "secrets" }, false],
      [{ verb: "list", resource: "configmaps", ...ns("kube-system") }, false],
      [{ verb: "list", resource: "configmaps", ...ns("default") }, false],
      [{ verb: "update", resource: "configmaps", name: "topofit-policy", ...ns(NS) }, false],
      [{ verb: "create", resource: "events", ...ns("default") }, false],
      [{ verb: "list", resource: "endpointslices", group: "discovery.k8s.io", ...ns("gpu-operator") }, false],
      [{ verb: "create", resource: "pods", subresource: "binding", ...ns(WORKLOAD_NS) }, false],
      [{ verb: "create", resource: "serviceaccounts", subresource: "token", name: "topofit-agent", ...ns(NS) }, false],
      [{ verb: "impersonate", resource: "serviceaccounts", ...ns(NS) }, false],
      [{ verb: "create", resource: "leases", group: "coordination.k8s.io", ...ns(NS) }, false],
    ],
    scheduler: [
      [{ verb: "create", resource: "pods", subresource: "binding", ...ns(WORKLOAD_NS) }, true],
      [{ verb: "update", resource: "leases", group: "coordination.k8s.io", name: "topofit-scheduler", ...ns(NS) }, true],
      [{ verb: "watch", resource: "configmaps", ...ns(NS) }, true],
      [{ verb: "get", resource: "configmaps", name: "extension-apiserver-authentication", ...ns("kube-system") }, true],
      [{ verb: "list", resource: "endpointslices", group: "discovery.k8s.io", ...ns("gpu-operator") }, true],
      [{ verb: "list", resource: "endpointslices", group: "discovery.k8s.io", ...ns("default") }, false],
      [{ verb: "update", resource: "leases", group: "coordination.k8s.io", name: "someone-else", ...ns(NS) }, false],
      [{ verb: "get", resource: "secrets", ...ns(NS) }, false],
      [{ verb: "get", resource: "configmaps", name: "kube-proxy", ...ns("kube-system") }, false],
      [{ verb: "create", resource: "pods", ...ns(WORKLOAD_NS) }, false],
      [{ verb: "patch", resource: "nodes" }, false],
      [{ verb: "update", resource: "configmaps", name: "topofit-policy", ...ns(NS) }, false],
      [{ verb: "create", resource: "resourceclaimtemplates", group: "resource.k8s.io", ...ns(WORKLOAD_NS) }, false],
    ],
    agent: [
      [{ verb: "get", resource: "nodes", name: "gpu-a" }, true],
      [{ verb: "patch", resource: "nodes", name: "gpu-a" }, true],
      [{ verb: "list", resource: "nodes" }, false],
      [{ verb: "watch", resource: "nodes" }, false],
      [{ verb: "delete", resource: "nodes", name: "gpu-a" }, false],
      [{ verb: "patch", resource: "nodes", subresource: "status", name: "gpu-a" }, false],
      [{ verb: "list", resource: "pods" }, false],
      [{ verb: "get", resource: "pods", ...ns(NS) }, false],
      [{ verb: "create", resource: "pods", ...ns(NS) }, false],
      [{ verb: "get", resource: "secrets", ...ns(NS) }, false],
      [{ verb: "get", resource: "configmaps", ...ns(NS) }, false],
    ],
  };

  it.each(Object.keys(table) as (keyof typeof table)[])("%s: access reviews", async (who) => {
    const wrong: string[] = [];
    for (const [attrs, expected] of table[who]) {
      const allowed = await can(identities[who], attrs);
      if (allowed !== expected) wrong.push(`${describeAttrs(attrs)}: ${allowed ? "allowed" : "denied"}, expected ${expected ? "allowed" : "denied"}`);
    }
    expect(wrong).toEqual([]);
    const allowed = table[who].filter(([, e]) => e).map(([a]) => describeAttrs(a));
    const denied = table[who].filter(([, e]) => !e).map(([a]) => describeAttrs(a));
    summary.push(`${identities[who].name}: allowed ${allowed.join("; ")} | denied ${denied.join("; ")}`);
  });

  it("real requests beyond the grants are refused with 403", async () => {
    const refused = async (what: Promise<unknown>) => {
      try {
        await what;
        return "allowed";
      } catch (err) {
        return err instanceof ApiException ? err.code : err;
      }
    };
    const topofitCore = identities.topofit.kc.makeApiClient(CoreV1Api);
    expect(await refused(topofitCore.listNamespacedSecret({ namespace: NS }))).toBe(403);
    expect(await refused(topofitCore.listNamespacedConfigMap({ namespace: "kube-system" }))).toBe(403);
    expect(await refused(topofitCore.createNamespacedPod({ namespace: WORKLOAD_NS, body: gpuPod("nope", WORKLOAD_NS), dryRun: "All" }))).toBe(403);
    expect(await refused(topofitCore.deleteNode({ name: "cpu-a", dryRun: "All" }))).toBe(403);
    const agentCore = identities.agent.kc.makeApiClient(CoreV1Api);
    expect(await refused(agentCore.listPodForAllNamespaces())).toBe(403);
    expect(await refused(agentCore.listNode())).toBe(403);
    expect(await refused(agentCore.readNamespacedSecret({ name: "topofit-tls", namespace: NS }))).toBe(403);
    const schedulerCore = identities.scheduler.kc.makeApiClient(CoreV1Api);
    expect(await refused(schedulerCore.readNamespacedSecret({ name: "topofit-tls", namespace: NS }))).toBe(403);
  });
});
