// Records the AdmissionReview bodies that a real kube-apiserver sends for a few
// representative pods, and writes them to test/fixtures/admission/captured/.
// Run: node --import tsx hack/capture-admission.ts
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:https";
import path from "node:path";
import { AdmissionregistrationV1Api, AppsV1Api, BatchV1Api, CoreV1Api, type V1PodSpec } from "@kubernetes/client-node";
import { repoRoot } from "./cluster/binaries.js";
import { getFreePort, startControlPlane } from "./cluster/control-plane.js";
import { waitFor } from "./cluster/wait.js";
import { webhookConfiguration } from "./cluster/webhook-config.js";

const outDir = path.join(repoRoot, "test", "fixtures", "admission", "captured");
mkdirSync(outDir, { recursive: true });

const cp = await startControlPlane({ log: (m) => process.stderr.write(`${m}\n`) });
const kc = cp.kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const port = await getFreePort();
const cert = await cp.issueServingCert(["127.0.0.1"], "capture");
const received: unknown[] = [];
const server = createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
  let body = "";
  req.on("data", (c: Buffer) => (body += c.toString("utf8")));
  req.on("end", () => {
    const review = JSON.parse(body) as { request: { uid: string } };
    received.push(review);
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response: { uid: review.request.uid, allowed: true } }));
  });
});
await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));

const config = webhookConfiguration({ url: `https://127.0.0.1:${port}`, caPem: cp.caPem });
delete config.webhooks?.[0]?.matchConditions; // capture non-GPU pods too
await kc.makeApiClient(AdmissionregistrationV1Api).createMutatingWebhookConfiguration({ body: config });
for (const ns of ["ml-train", "ml-serve", "batch"]) await core.createNamespace({ body: { metadata: { name: ns } } });
await waitFor(async () => {
  await core.createNamespacedPod({ namespace: "batch", dryRun: "All", body: { metadata: { name: "probe" }, spec: { containers: [{ name: "c", image: "x" }] } } });
  return received.length > 0;
}, { what: "the webhook to be called", timeoutMs: 30_000 });
received.length = 0;

const image = "registry.k8s.io/pause:3.10";
const inferenceSpec: V1PodSpec = {
  containers: [
    { name: "server", image, resources: { requests: { cpu: "4", memory: "32Gi" }, limits: { "nvidia.com/gpu": "2", memory: "32Gi" } }, ports: [{ containerPort: 8000 }] },
    { name: "metrics", image, resources: { requests: { cpu: "100m", memory: "64Mi" } } },
  ],
};

async function capture(name: string, create: () => Promise<unknown>): Promise<void> {
  const before = received.length;
  await create();
  const review = await waitFor(() => received[before], { what: `the AdmissionReview for ${name}`, timeoutMs: 30_000 });
  writeFileSync(path.join(outDir, `${name}.json`), `${JSON.stringify(review, null, 2)}\n`);
  process.stderr.write(`captured ${name}\n`);
}

await capture("training-pod", () =>
  core.createNamespacedPod({
    namespace: "ml-train",
    body: {
      metadata: { name: "trainer-0", labels: { "topofit.io/workload": "training" } },
      spec: { containers: [{ name: "trainer", image, resources: { limits: { "nvidia.com/gpu": "4" } } }] },
    },
  }),
);
await capture("inference-deployment-pod", () =>
  kc.makeApiClient(AppsV1Api).createNamespacedDeployment({
    namespace: "ml-serve",
    body: {
      metadata: { name: "llm-serve" },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: "llm-serve" } },
        template: { metadata: { labels: { app: "llm-serve", "topofit.io/workload": "inference" } }, spec: inferenceSpec },
      },
    },
  }),
);
await capture("job-pod", () =>
  kc.makeApiClient(BatchV1Api).createNamespacedJob({
    namespace: "batch",
    body: {
      metadata: { name: "finetune" },
      spec: { backoffLimit: 0, template: { spec: { restartPolicy: "Never", containers: [{ name: "ft", image, resources: { limits: { "nvidia.com/gpu": "1" } } }] } } },
    },
  }),
);
await capture("cpu-pod", () =>
  core.createNamespacedPod({ namespace: "batch", body: { metadata: { name: "web" }, spec: { containers: [{ name: "web", image }] } } }),
);
await capture("dry-run-pod", () =>
  core.createNamespacedPod({
    namespace: "ml-serve",
    dryRun: "All",
    body: { metadata: { name: "preview", labels: { "topofit.io/workload": "serving" } }, spec: inferenceSpec },
  }),
);

server.close();
await cp.stop();
