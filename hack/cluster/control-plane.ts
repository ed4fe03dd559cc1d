// A real, local Kubernetes control plane: etcd, kube-apiserver,
// kube-controller-manager and one kube-scheduler per configured scheduler
// name, all on 127.0.0.1 with random ports and a private temp directory.
// There are no kubelets: nodes are API objects (see nodes.ts), pods get bound
// but never run.

import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { stringify } from "yaml";
import { locateBinaries, type KubeBinaries } from "./binaries.js";
import { createClusterPki, issueServingCert, writeCertFiles, type ClusterPki, type IssuedCert, type IssuedCertFiles } from "./certs.js";
import { ManagedProcess, registerOwner, Watchdog } from "./processes.js";
import {
  buildSchedulerConfiguration,
  DEFAULT_SCHEDULER_NAME,
  schedulerConfigurationYaml,
  type ExtenderSpec,
  type SchedulerProfile,
} from "./scheduler-config.js";

export interface SchedulerSpec {
  /** The `schedulerName` pods use to pick this scheduler. */
  name: string;
  extenders?: ExtenderSpec[];
  percentageOfNodesToScore?: number;
  profile?: Omit<SchedulerProfile, "schedulerName">;
  /** clientConnection.qps and .burst (kube-scheduler's defaults: 50 and 100). */
  qps?: number;
  burst?: number;
  extraArgs?: string[];
}

export interface StartControlPlaneOptions {
  /** Directory with the five binaries; otherwise locateBinaries() decides (and may build). */
  binDir?: string;
  /** Already-located binaries (take precedence over binDir). */
  binaries?: KubeBinaries;
  /** Default: one scheduler named "default-scheduler" without extenders. */
  schedulers?: SchedulerSpec[];
  /** Start kube-controller-manager. Default true. */
  controllerManager?: boolean;
  /** Keep the data dir (certs, configs, logs, etcd) after stop() or a failed start. */
  keepDataDir?: boolean;
  /** Parent of the data dir. Default os.tmpdir(). */
  tmpDir?: string;
  /** klog verbosity (--v) for the Kubernetes components. Default 0 (scheduler: 2). */
  verbosity?: number;
  extraApiServerArgs?: string[];
  extraControllerManagerArgs?: string[];
  /** Per-component readiness timeout. Default 90 s. */
  readyTimeoutMs?: number;
  /** Progress messages (default: none). */
  log?: (message: string) => void;
}

export interface ControlPlane {
  /** https://127.0.0.1:<port> */
  readonly server: string;
  /** Admin kubeconfig (client certificate, system:masters). */
  readonly kubeconfigPath: string;
  readonly caPem: string;
  readonly caPath: string;
  readonly dataDir: string;
  readonly binaries: KubeBinaries;
  /** Milliseconds from the call to startControlPlane() until everything was healthy. */
  readonly startupMs: number;
  kubeConfig(): KubeConfig;
  /** A serving certificate for `sans`, signed by the cluster CA, written under <dataDir>/pki. */
  issueServingCert(sans: readonly string[], fileName?: string): Promise<IssuedCertFiles>;
  schedulerNames(): string[];
  startScheduler(spec: SchedulerSpec): Promise<void>;
  stopScheduler(name: string): Promise<void>;
  /** Restarts a scheduler, optionally with a changed spec (e.g. other extenders). */
  restartScheduler(name: string, spec?: Partial<Omit<SchedulerSpec, "name">>): Promise<void>;
  /** Log file of "etcd", "kube-apiserver", "kube-controller-manager" or "kube-scheduler-<name>". */
  logPath(component: string): string;
  stop(): Promise<void>;
}

interface TlsClient {
  ca: string;
  cert?: string;
  key?: string;
}

interface ProbeResult {
  status: number;
  body: string;
}

const STOP_GRACE_MS = 5_000;
const CLUSTER_NAME = "topofit-local";

export async function getFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("could not get a free port"))));
    });
  });
}

/** Kubeconfig YAML with embedded credentials. */
export function kubeconfigYaml(server: string, caPem: string, user: string, cert: IssuedCert): string {
  const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64");
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: CLUSTER_NAME, cluster: { server, "certificate-authority-data": b64(caPem) } }],
    users: [{ name: user, user: { "client-certificate-data": b64(cert.certPem), "client-key-data": b64(cert.keyPem) } }],
    contexts: [{ name: CLUSTER_NAME, context: { cluster: CLUSTER_NAME, user } }],
    "current-context": CLUSTER_NAME,
  });
}

export async function startControlPlane(options: StartControlPlaneOptions = {}): Promise<ControlPlane> {
  const started = Date.now();
  const log = options.log ?? (() => undefined);
  const binaries = options.binaries ?? (await locateBinaries(options.binDir ? { binDir: options.binDir } : {}));
  const dataDir = await mkdtemp(path.join(options.tmpDir ?? os.tmpdir(), "topofit-cp-"));
  const cp = new LocalControlPlane(binaries, dataDir, options, log);
  try {
    await cp.boot(options.schedulers ?? [{ name: DEFAULT_SCHEDULER_NAME }]);
  } catch (err) {
    await cp.stop().catch(() => undefined);
    throw err;
  }
  cp.startupMs = Date.now() - started;
  log(`control plane ready in ${cp.startupMs} ms: ${cp.server}`);
  return cp;
}

class LocalControlPlane implements ControlPlane {
  server = "";
  kubeconfigPath = "";
  caPem = "";
  caPath = "";
  startupMs = 0;
  private pki: ClusterPki | undefined;
  private readonly dirs: { pki: string; logs: string; etcd: string; config: string };
  private readonly watchdog: Watchdog;
  private readonly unregister: () => void;
  private etcd: ManagedProcess | undefined;
  private apiserver: ManagedProcess | undefined;
  private controllerManager: ManagedProcess | undefined;
  private readonly schedulers = new Map<string, { spec: SchedulerSpec; proc: ManagedProcess }>();
  private schedulerKubeconfig = "";
  private stopping: Promise<void> | undefined;

  constructor(
    readonly binaries: KubeBinaries,
    readonly dataDir: string,
    private readonly options: StartControlPlaneOptions,
    private readonly log: (message: string) => void,
  ) {
    this.dirs = {
      pki: path.join(dataDir, "pki"),
      logs: path.join(dataDir, "logs"),
      etcd: path.join(dataDir, "etcd"),
      config: path.join(dataDir, "config"),
    };
    this.watchdog = new Watchdog(path.join(dataDir, "pids"), dataDir, !options.keepDataDir);
    this.unregister = registerOwner(this);
  }

  private get timeoutMs(): number {
    return this.options.readyTimeoutMs ?? 90_000;
  }

  async boot(schedulers: SchedulerSpec[]): Promise<void> {
    const names = schedulers.map((s) => s.name);
    const duplicate = names.find((n, i) => names.indexOf(n) !== i);
    if (duplicate !== undefined) throw new Error(`scheduler name "${duplicate}" is used twice`);
    await Promise.all(Object.values(this.dirs).map((d) => mkdir(d, { recursive: true, mode: 0o700 })));

    const [pki, etcdClientPort, etcdPeerPort, apiserverPort] = await Promise.all([
      createClusterPki(this.dirs.pki),
      getFreePort(),
      getFreePort(),
      getFreePort(),
    ]);
    this.pki = pki;
    this.caPem = pki.ca.certPem;
    this.caPath = pki.caCertPath;
    this.server = `https://127.0.0.1:${apiserverPort}`;
    this.kubeconfigPath = path.join(this.dirs.config, "admin.kubeconfig");
    this.schedulerKubeconfig = path.join(this.dirs.config, "kube-scheduler.kubeconfig");
    const kcmKubeconfig = path.join(this.dirs.config, "kube-controller-manager.kubeconfig");
    await Promise.all([
      writeFile(this.kubeconfigPath, kubeconfigYaml(this.server, this.caPem, "topofit-admin", pki.admin), { mode: 0o600 }),
      writeFile(this.schedulerKubeconfig, kubeconfigYaml(this.server, this.caPem, "kube-scheduler", pki.scheduler), { mode: 0o600 }),
      writeFile(kcmKubeconfig, kubeconfigYaml(this.server, this.caPem, "kube-controller-manager", pki.controllerManager), { mode: 0o600 }),
    ]);

    // etcd
    const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
    const peerUrl = `http://127.0.0.1:${etcdPeerPort}`;
    this.etcd = this.spawn("etcd", this.binaries.etcd, [
      "--name=topofit",
      `--data-dir=${this.dirs.etcd}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=topofit=${peerUrl}`,
      "--initial-cluster-state=new",
      `--quota-backend-bytes=${1024 * 1024 * 1024}`,
      "--unsafe-no-fsync=true",
      "--log-level=warn",
    ]);
    await this.waitHealthy(this.etcd, () => probe(`${etcdUrl}/health`), (r) => r.status === 200 && r.body.includes('"true"'));
    this.log(`etcd ready at ${etcdUrl}`);

    // kube-apiserver
    const v = `--v=${this.options.verbosity ?? 0}`;
    this.apiserver = this.spawn("kube-apiserver", this.binaries.kubeApiserver, [
      `--etcd-servers=${etcdUrl}`,
      `--secure-port=${apiserverPort}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      // Since 1.37 a loopback advertise address is refused by the endpoint
      // reconciler; nothing runs in-cluster, so the kubernetes Service
      // needs no endpoints.
      "--endpoint-reconciler-type=none",
      `--cert-dir=${this.dirs.pki}`,
      `--client-ca-file=${pki.caCertPath}`,
      `--tls-cert-file=${pki.serving.certPath}`,
      `--tls-private-key-file=${pki.serving.keyPath}`,
      `--service-account-key-file=${pki.serviceAccount.publicKeyPath}`,
      `--service-account-signing-key-file=${pki.serviceAccount.privateKeyPath}`,
      "--service-account-issuer=https://kubernetes.default.svc",
      "--service-cluster-ip-range=10.96.0.0/16",
      "--authorization-mode=Node,RBAC",
      "--allow-privileged=true",
      "--profiling=false",
      v,
      ...(this.options.extraApiServerArgs ?? []),
    ]);
    const admin: TlsClient = { ca: this.caPem, cert: pki.admin.certPem, key: pki.admin.keyPem };
    await this.waitHealthy(this.apiserver, () => probe(`${this.server}/readyz`, admin), (r) => r.status === 200);
    this.log(`kube-apiserver ready at ${this.server}`);

    // kube-controller-manager and the schedulers, side by side
    const work: Promise<void>[] = schedulers.map((s) => this.startScheduler(s));
    if (this.options.controllerManager !== false) work.push(this.startControllerManager(kcmKubeconfig));
    const results = await Promise.allSettled(work);
    const failure = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failure) throw failure.reason;
  }

  private async startControllerManager(kubeconfig: string): Promise<void> {
    const pki = this.requirePki();
    const port = await getFreePort();
    this.controllerManager = this.spawn("kube-controller-manager", this.binaries.kubeControllerManager, [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      // No kubelets report heartbeats, so the node lifecycle controller would
      // mark every node NotReady/unreachable and taint it. Everything else
      // (garbage collector, resourceclaim, service accounts, ...) stays on.
      "--controllers=*,-node-lifecycle-controller",
      `--service-account-private-key-file=${pki.serviceAccount.privateKeyPath}`,
      `--root-ca-file=${pki.caCertPath}`,
      `--cluster-signing-cert-file=${pki.caCertPath}`,
      `--cluster-signing-key-file=${pki.caKeyPath}`,
      "--use-service-account-credentials=true",
      // With one service account per controller, start-up makes a few hundred
      // requests (service accounts, tokens, discovery) through the root
      // client; at the default 20 QPS that alone takes ~5 s.
      "--kube-api-qps=200",
      "--kube-api-burst=400",
      "--leader-elect=false",
      `--secure-port=${port}`,
      "--bind-address=127.0.0.1",
      `--tls-cert-file=${pki.serving.certPath}`,
      `--tls-private-key-file=${pki.serving.keyPath}`,
      "--profiling=false",
      `--v=${this.options.verbosity ?? 0}`,
      ...(this.options.extraControllerManagerArgs ?? []),
    ]);
    const proc = this.controllerManager;
    await this.waitHealthy(proc, () => probe(`https://127.0.0.1:${port}/healthz`, { ca: this.caPem }), (r) => r.status === 200);
    // /healthz answers before the controllers run. The default ServiceAccount
    // of "default" shows the serviceaccount controller at work; without it
    // pods cannot be created there.
    const admin: TlsClient = { ca: this.caPem, cert: pki.admin.certPem, key: pki.admin.keyPem };
    await this.waitHealthy(
      proc,
      () => probe(`${this.server}/api/v1/namespaces/default/serviceaccounts/default`, admin),
      (r) => r.status === 200,
    );
    this.log(`kube-controller-manager ready on :${port}`);
  }

  async startScheduler(spec: SchedulerSpec): Promise<void> {
    if (this.schedulers.get(spec.name)?.proc.running) throw new Error(`scheduler "${spec.name}" is already running`);
    const pki = this.requirePki();
    const file = fileSafe(spec.name);
    const configPath = path.join(this.dirs.config, `kube-scheduler-${file}.yaml`);
    const config = buildSchedulerConfiguration({
      schedulerName: spec.name,
      kubeconfigPath: this.schedulerKubeconfig,
      caPem: this.caPem,
      extenders: spec.extenders ?? [],
      ...(spec.percentageOfNodesToScore !== undefined ? { percentageOfNodesToScore: spec.percentageOfNodesToScore } : {}),
      ...(spec.profile ? { profile: spec.profile } : {}),
      ...(spec.qps !== undefined ? { qps: spec.qps } : {}),
      ...(spec.burst !== undefined ? { burst: spec.burst } : {}),
    });
    await writeFile(configPath, schedulerConfigurationYaml(config));
    const port = await getFreePort();
    const proc = this.spawn(`kube-scheduler-${file}`, this.binaries.kubeScheduler, [
      `--config=${configPath}`,
      `--authentication-kubeconfig=${this.schedulerKubeconfig}`,
      `--authorization-kubeconfig=${this.schedulerKubeconfig}`,
      `--secure-port=${port}`,
      "--bind-address=127.0.0.1",
      `--tls-cert-file=${pki.serving.certPath}`,
      `--tls-private-key-file=${pki.serving.keyPath}`,
      `--v=${this.options.verbosity ?? 2}`,
      ...(spec.extraArgs ?? []),
    ]);
    this.schedulers.set(spec.name, { spec, proc });
    await this.waitHealthy(proc, () => probe(`https://127.0.0.1:${port}/healthz`, { ca: this.caPem }), (r) => r.status === 200);
    this.log(`kube-scheduler "${spec.name}" ready on :${port}`);
  }

  async stopScheduler(name: string): Promise<void> {
    const entry = this.schedulers.get(name);
    if (!entry) throw new Error(`no scheduler named "${name}" (have: ${this.schedulerNames().join(", ") || "none"})`);
    await entry.proc.stop(STOP_GRACE_MS);
    this.watchdog.release(entry.proc.pid);
  }

  async restartScheduler(name: string, spec: Partial<Omit<SchedulerSpec, "name">> = {}): Promise<void> {
    const entry = this.schedulers.get(name);
    if (!entry) throw new Error(`no scheduler named "${name}" (have: ${this.schedulerNames().join(", ") || "none"})`);
    await this.stopScheduler(name);
    await this.startScheduler({ ...entry.spec, ...spec, name });
  }

  schedulerNames(): string[] {
    return [...this.schedulers.keys()];
  }

  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromFile(this.kubeconfigPath);
    return kc;
  }

  async issueServingCert(sans: readonly string[], fileName = "webhook-serving"): Promise<IssuedCertFiles> {
    const cert = await issueServingCert(this.requirePki().ca, sans);
    return writeCertFiles(this.dirs.pki, fileSafe(fileName), cert);
  }

  logPath(component: string): string {
    return path.join(this.dirs.logs, `${component}.log`);
  }

  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    // Reverse order of dependencies: clients first, etcd last.
    const clients = [...[...this.schedulers.values()].map((s) => s.proc), this.controllerManager];
    await Promise.all(clients.map((p) => p?.stop(STOP_GRACE_MS)));
    await this.apiserver?.stop(STOP_GRACE_MS);
    await this.etcd?.stop(STOP_GRACE_MS);
    await this.watchdog.close();
    this.unregister();
    if (!this.options.keepDataDir) await rm(this.dataDir, { recursive: true, force: true });
    else this.log(`kept ${this.dataDir}`);
  }

  private requirePki(): ClusterPki {
    if (!this.pki) throw new Error("control plane PKI not created yet");
    return this.pki;
  }

  private spawn(name: string, command: string, args: string[]): ManagedProcess {
    const proc = ManagedProcess.start({ name, command, args, logPath: this.logPath(name), cwd: this.dataDir });
    this.watchdog.guard(proc.pid);
    void proc.exited.then(() => {
      if (!proc.stopRequested && !this.stopping) {
        this.log(`${name} ${proc.describeExit()} unexpectedly; log: ${proc.logPath}`);
      }
    });
    return proc;
  }

  /** Polls until `ok`, failing fast (with the log tail) if the process exits. */
  private async waitHealthy(
    proc: ManagedProcess,
    check: () => Promise<ProbeResult>,
    ok: (r: ProbeResult) => boolean,
  ): Promise<void> {
    const deadline = Date.now() + this.timeoutMs;
    let last = "no answer yet";
    for (;;) {
      if (!proc.running) throw startError(proc, proc.describeExit());
      try {
        const result = await check();
        if (ok(result)) return;
        last = `HTTP ${result.status}: ${result.body.slice(0, 300)}`;
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
      if (!proc.running) throw startError(proc, proc.describeExit());
      if (Date.now() > deadline) throw startError(proc, `not healthy after ${this.timeoutMs} ms (last probe: ${last})`);
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
  }
}

function startError(proc: ManagedProcess, what: string): Error {
  return new Error(
    `${proc.name} failed to start: ${what}\n` +
      `command: ${proc.command} ${proc.args.join(" ")}\n` +
      `last lines of ${proc.logPath}:\n${proc.tail(40)}`,
  );
}

function probe(url: string, tls?: TlsClient): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const common = { method: "GET", timeout: 2_000, headers: { accept: "*/*" } };
    const onResponse = (res: import("node:http").IncomingMessage): void => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    };
    const req =
      target.protocol === "https:"
        ? httpsRequest(target, { ...common, ...(tls ?? {}), agent: false }, onResponse)
        : httpRequest(target, { ...common, agent: false }, onResponse);
    req.on("timeout", () => req.destroy(new Error(`timeout probing ${url}`)));
    req.on("error", reject);
    req.end();
  });
}

function fileSafe(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, "_");
}
