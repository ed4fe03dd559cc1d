// `topofit serve`: wires the stores, the cluster watches and the HTTPS server.
import { hostname } from "node:os";
import type { KubeConfig, V1ConfigMap, V1ObjectReference } from "@kubernetes/client-node";
import type { ServeSettings } from "../config.js";
import { createEventRecorder, type EventRecorder } from "../kube/events.js";
import { loadKubeConfig } from "../kube/client.js";
import { watchConfigMap, type ConfigMapWatch } from "../kube/configmap-watch.js";
import { watchNamespaceLabels, type NamespaceLabels } from "../kube/namespaces.js";
import { ClaimTemplateCache, ClaimTemplateManager, createClaimTemplateWriter, watchClaimTemplates } from "../kube/claim-templates.js";
import { watchSchedulingState } from "../kube/scheduling-watch.js";
import { watchDra } from "../kube/dra-watch.js";
import { DraStore } from "../topology/dra-store.js";
import { DEFAULT_DRA } from "../topology/dra.js";
import { PLACEMENT_ANNOTATION } from "../admission/keys.js";
import { GPU_TOPOLOGY_ANNOTATION } from "../topology/annotation.js";
import { podIntent } from "../extender/intent.js";
import { TopologyStore } from "../topology/store.js";
import { BUILTIN_PROFILES } from "../topology/profiles.js";
import { DcgmStore, parseDcgmEndpoints } from "../topology/dcgm-store.js";
import { DcgmViewBuilder, followDcgm } from "../topology/dcgm-view.js";
import { watchServiceEndpoints } from "../kube/endpoint-slices.js";
import { EMBEDDED_POLICY_YAML } from "../policy/embedded.js";
import { watchPolicyFile, type PolicyFileSource } from "../policy/file-source.js";
import { formatIssue } from "../policy/model.js";
import { PolicyStore, type ReloadOutcome } from "../policy/store.js";
import { buildApp } from "../server/app.js";
import type { ReadinessCheck } from "../server/health.js";
import { generateSelfSigned, readTlsFiles, watchTlsFiles, type TlsMaterial } from "../server/tls.js";
import { createLogger, type Logger } from "../telemetry/logger.js";
import { createMetrics, type Metrics } from "../telemetry/metrics.js";

const COMPONENT = "topofit";

function sourceKind(source: string): string {
  return source.split(":")[0] ?? "unknown";
}

/** Log, metric and (for a ConfigMap) Event for every policy load. */
function reportReloads(store: PolicyStore, log: Logger, metrics: Metrics, eventTarget: () => { record: EventRecorder; ref: V1ObjectReference } | undefined): void {
  store.onReload((o: ReloadOutcome) => {
    const source = o.result === "rejected" ? o.source : o.snapshot.source;
    metrics.policyReloads.inc({ source: sourceKind(source), result: o.result });
    if (o.result === "applied") {
      metrics.policyGeneration.set(o.snapshot.generation);
      metrics.policyRules.set(o.snapshot.policy.rules.length);
      log.info(
        { source, generation: o.snapshot.generation, digest: o.snapshot.digest, rules: o.snapshot.policy.rules.map((r) => r.name) },
        "policy applied",
      );
      for (const w of o.warnings) log.warn({ source, warning: formatIssue(w) }, "policy warning");
      const target = source.startsWith("configmap:") ? eventTarget() : undefined;
      if (target) {
        void target.record(target.ref, "Normal", "PolicyApplied", `policy generation ${o.snapshot.generation} in force (${o.snapshot.policy.rules.length} rules)`);
      }
    } else if (o.result === "rejected") {
      const errors = o.errors.map(formatIssue);
      const kept = o.kept ? `generation ${o.kept.generation} from ${o.kept.source} stays in force` : "no policy is in force yet";
      log.error({ source, errors }, `policy rejected; ${kept}`);
      const target = source.startsWith("configmap:") ? eventTarget() : undefined;
      if (target) void target.record(target.ref, "Warning", "PolicyRejected", `policy rejected (${kept}): ${errors.join("; ")}`);
    }
  });
}

/** The scheduler extender's state: node and pod informers, DCGM scraping, the topology store. */
function startExtender(
  settings: ServeSettings,
  kc: KubeConfig | undefined,
  store: PolicyStore,
  log: Logger,
  metrics: Metrics,
  readiness: ReadinessCheck[],
  stops: (() => unknown)[],
): TopologyStore {
  const dcgmViews = new DcgmViewBuilder();
  let dcgm: DcgmStore | undefined;
  // Before the first policy is in force, the defaults of spec.dra (NVIDIA's driver and class).
  const dra = new DraStore({
    gpuDrivers: () => store.current()?.policy.dra.gpuDrivers ?? DEFAULT_DRA.gpuDrivers,
    gpuDeviceClasses: () => store.current()?.policy.dra.gpuDeviceClasses ?? DEFAULT_DRA.gpuDeviceClasses,
  });
  const topology = new TopologyStore({
    claimGpus: (pod) => dra.claimGpus(pod),
    log,
    gpuResource: () => store.current()?.policy.gpuResources[0] ?? "nvidia.com/gpu",
    profiles: () => [...(store.current()?.policy.topologyProfiles ?? []), ...BUILTIN_PROFILES],
    loadOf: (node) => dcgmViews.loadSlot(node),
    onPredictionChecked: (c) => {
      metrics.gpuPredictions.inc({ result: c.agreed ? "agreed" : c.equivalent ? "equivalent" : "differed" });
      log.info({ pod: c.pod, node: c.node, predicted: c.predicted, observed: c.observed, agreed: c.agreed, equivalent: c.equivalent }, "GPU prediction checked");
    },
  });
  // A new policy can bring new profiles, a new GPU resource name or new health rules.
  store.onReload((o) => {
    if (o.result !== "applied") return;
    topology.rebuildTopologies();
    dcgm?.setRules(o.snapshot.policy.gpuHealth);
  });
  if (settings.dcgmEndpoints.length > 0 || settings.dcgmService !== undefined) {
    dcgm = new DcgmStore({
      log,
      metrics,
      intervalMs: settings.dcgmIntervalMs,
      staleAfterMs: settings.dcgmStaleAfterMs,
      ...(store.current() ? { rules: store.current()!.policy.gpuHealth } : {}),
    });
    const scraper = dcgm;
    stops.push(followDcgm(scraper, topology, dcgmViews));
    if (settings.dcgmEndpoints.length > 0) {
      const parsed = parseDcgmEndpoints(settings.dcgmEndpoints);
      if (parsed.errors.length > 0) throw new Error(`--dcgm-endpoints: ${parsed.errors.join("; ")}`);
      scraper.setEndpoints(parsed.endpoints);
    }
    if (settings.dcgmService !== undefined) {
      if (!kc) throw new Error("--dcgm-service needs a cluster (--kubeconfig or in-cluster credentials)");
      const ref = settings.dcgmService;
      const watch = watchServiceEndpoints(kc, { namespace: ref.namespace, name: ref.name, ...(ref.port !== undefined ? { port: ref.port } : {}) }, (eps) => scraper.setEndpoints(eps), log);
      stops.push(() => watch.stop());
    }
    scraper.start();
    stops.push(() => scraper.stop());
  }
  if (kc) {
    const watch = watchSchedulingState(
      kc,
      {
        upsertNode: (n) => topology.upsertNode(n),
        deleteNode: (name) => topology.deleteNode(name),
        upsertPod: (pod, uid) => {
          const policy = store.current()?.policy;
          if (!policy) return;
          const intent = podIntent(pod, policy, policy.scoring.groupLabels, topology.claimGpus);
          if (intent.gpus === 0) return;
          const spec = pod.spec as { nodeName?: string } | undefined;
          topology.upsertPod({
            uid,
            key: `${pod.metadata?.namespace ?? "default"}/${pod.metadata?.name ?? uid}`,
            ...(spec?.nodeName ? { nodeName: spec.nodeName } : {}),
            gpus: intent.gpus,
            placement: intent.placement,
            ...(intent.group !== undefined ? { group: intent.group } : {}),
          });
        },
        deletePod: (uid) => topology.deletePod(uid),
      },
      log,
      { node: [GPU_TOPOLOGY_ANNOTATION], pod: [PLACEMENT_ANNOTATION] },
    );
    readiness.push({ name: "node-and-pod-cache", check: () => (watch.isSynced() ? undefined : "nodes and pods have not been listed yet") });
    stops.push(() => watch.stop());
    // DRA: the devices ResourceSlices publish and the claims holding them. Not part of readiness: a
    // cluster without resource.k8s.io/v1 still places device-plugin GPUs.
    dra.onNodeChange((node) => topology.setDra(node, dra.view(node)));
    dra.onAllocation((a) => {
      for (const uid of a.podUids) topology.settleDraAllocation(uid, a.node, a.devices);
    });
    const draWatch = watchDra(
      kc,
      {
        upsertSlice: (s) => dra.upsertSlice(s),
        deleteSlice: (name) => dra.deleteSlice(name),
        upsertClaim: (c) => dra.upsertClaim(c),
        deleteClaim: (key) => dra.deleteClaim(key),
      },
      log,
    );
    stops.push(() => draWatch.stop());
  }

  return topology;
}

export async function runServe(settings: ServeSettings, version: string): Promise<void> {
  const log = createLogger({ level: settings.logLevel });
  const metrics = createMetrics();
  const store = new PolicyStore();
  const cluster = loadKubeConfig({
    ...(settings.kubeconfig !== undefined ? { kubeconfig: settings.kubeconfig } : {}),
    ...(settings.inClusterHost !== undefined ? { inClusterHost: settings.inClusterHost } : {}),
    standalone: settings.standalone,
  });
  const kc = cluster.kc;
  const record = kc ? createEventRecorder(kc, COMPONENT, log) : undefined;
  let configMapRef: V1ObjectReference | undefined;
  reportReloads(store, log, metrics, () => (record && configMapRef ? { record, ref: configMapRef } : undefined));

  const readiness: ReadinessCheck[] = [];
  const stops: (() => unknown)[] = [];
  let fileSource: PolicyFileSource | undefined;
  let cmWatch: ConfigMapWatch | undefined;

  if (settings.policyFile !== undefined) {
    fileSource = watchPolicyFile(settings.policyFile, store);
    stops.push(() => fileSource?.stop());
    const first = await fileSource.load();
    if (first.result === "rejected") {
      fileSource.stop();
      throw new Error(`policy file ${settings.policyFile} is not valid:\n  ${first.errors.map(formatIssue).join("\n  ")}`);
    }
  } else if (kc) {
    const ref = settings.policyConfigMap;
    const source = `configmap:${ref.namespace}/${ref.name}`;
    cmWatch = watchConfigMap(
      kc,
      ref,
      {
        onData: (cm: V1ConfigMap) => {
          configMapRef = {
            apiVersion: "v1",
            kind: "ConfigMap",
            namespace: ref.namespace,
            name: ref.name,
            ...(cm.metadata?.uid ? { uid: cm.metadata.uid } : {}),
            ...(cm.metadata?.resourceVersion ? { resourceVersion: cm.metadata.resourceVersion } : {}),
          };
          const text = cm.data?.[ref.key];
          if (text === undefined) {
            store.reject(source, [{ path: `data[${JSON.stringify(ref.key)}]`, message: `the ConfigMap has no key ${ref.key}` }]);
          } else {
            store.apply(text, source);
          }
        },
        onMissing: (why) => {
          if (why === "not-found" && store.current() === undefined) {
            log.warn({ configMap: ref }, "policy ConfigMap not found; the embedded default policy is in force until it is created");
            store.apply(EMBEDDED_POLICY_YAML, "embedded");
          } else if (why === "deleted") {
            log.warn({ configMap: ref }, "policy ConfigMap deleted; the policy in force stays until a new one is created");
          }
        },
      },
      log,
    );
    const watch = cmWatch;
    readiness.push({ name: "policy-configmap", check: () => (watch.isSynced() ? undefined : "the policy ConfigMap has not been read yet") });
    stops.push(() => watch.stop());
  } else {
    store.apply(EMBEDDED_POLICY_YAML, "embedded");
  }

  let namespaces: NamespaceLabels | undefined;
  let claimTemplates: ClaimTemplateManager | undefined;
  if (kc && settings.components.webhook) {
    namespaces = watchNamespaceLabels(kc, log);
    const ns = namespaces;
    readiness.push({ name: "namespace-cache", check: () => (ns.isSynced() ? undefined : "namespaces have not been listed yet") });
    stops.push(() => ns.stop());
    const cache = new ClaimTemplateCache();
    const watch = watchClaimTemplates(kc, cache, log);
    // Not ready until the first list has been tried; a cluster without resource.k8s.io/v1
    // (or without the permission) still gets a ready webhook, which then converts nothing.
    readiness.push({ name: "claim-template-cache", check: () => (watch.isSettled() ? undefined : "ResourceClaimTemplates have not been listed yet") });
    stops.push(() => watch.stop());
    claimTemplates = new ClaimTemplateManager({ writer: createClaimTemplateWriter(kc), cache, metrics, log });
  }

  const topology = settings.components.extender ? startExtender(settings, kc, store, log, metrics, readiness, stops) : undefined;

  let tls: TlsMaterial;
  if (settings.tlsCertFile !== undefined && settings.tlsKeyFile !== undefined) {
    tls = readTlsFiles(settings.tlsCertFile, settings.tlsKeyFile);
  } else {
    tls = await generateSelfSigned(["localhost", "127.0.0.1", "::1", hostname()]);
    log.warn("no --tls-cert-file/--tls-key-file given: serving a self-signed certificate generated at start-up");
  }

  const app = buildApp({
    log,
    metrics,
    currentPolicy: () => store.current(),
    ...(namespaces ? { namespaceLabels: (ns: string) => namespaces?.labels(ns) } : {}),
    ...(claimTemplates ? { claimTemplates } : {}),
    readiness,
    admission: settings.components.webhook,
    ...(topology ? { topology } : {}),
    bodyLimit: settings.bodyLimit,
    https: tls,
  });
  await app.listen({ host: settings.listenHost, port: settings.listenPort });
  if (settings.tlsCertFile !== undefined && settings.tlsKeyFile !== undefined) {
    const server = app.server as unknown as { setSecureContext(o: { cert: string; key: string }): void };
    stops.push(watchTlsFiles(settings.tlsCertFile, settings.tlsKeyFile, log, (m) => server.setSecureContext({ cert: m.cert, key: m.key }), 2000, tls));
  }
  const address = app.server.address();
  log.info(
    {
      version,
      address: typeof address === "object" && address ? `${address.address}:${address.port}` : String(address),
      cluster: cluster.mode,
      components: Object.entries(settings.components).flatMap(([k, on]) => (on ? [k] : [])),
      policySource: fileSource?.source ?? (cmWatch ? `configmap:${settings.policyConfigMap.namespace}/${settings.policyConfigMap.name}` : "embedded"),
    },
    "topofit serving",
  );

  await new Promise<void>((resolve) => {
    let closing = false;
    const shutdown = (signal: string) => {
      if (closing) return;
      closing = true;
      log.info({ signal }, "shutting down");
      const force = setTimeout(() => {
        log.warn("graceful shutdown timed out; exiting");
        resolve();
      }, 10_000);
      force.unref();
      void (async () => {
        for (const stop of stops) {
          try {
            await stop();
          } catch {
            // best effort during shutdown
          }
        }
        await app.close();
        clearTimeout(force);
        resolve();
      })();
    };
    process.once("SIGTERM", () => shutdown("SIGTERM"));
    process.once("SIGINT", () => shutdown("SIGINT"));
  });
}
