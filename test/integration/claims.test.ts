// POST /mutate for a rule that converts nvidia.com/gpu into resource claims:
// the templates are created through the manager (against a fake writer), never
// on a dry run, and a pod whose templates cannot be created is admitted
// unconverted with a warning.
import fastJsonPatch from "fast-json-patch";
import { describe, expect, it } from "vitest";
import type { AdmissionReviewResponseWire, PodWire, ResourceClaimTemplateWire } from "../../src/admission/schema.js";
import { ClaimTemplateCache, ClaimTemplateManager, summarizeTemplate, type ClaimTemplateWriter } from "../../src/kube/claim-templates.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { createMetrics } from "../../src/telemetry/metrics.js";
import { admissionReview } from "../builders/admission-review.js";
import { buildTestApp, type TestApp } from "../builders/app.js";
import { metricSample } from "../builders/metrics.js";
import { claimContainer, gpuContainer, pod } from "../builders/pod.js";

const POLICY = `apiVersion: topofit.io/v1alpha1
kind: PlacementPolicy
spec:
  rules:
    - name: dra-train
      match: {namespaces: [ml-dra]}
      inject:
        tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
        dra:
          deviceClassName: gpu.nvidia.com
          selectors: ['device.attributes["gpu.nvidia.com"].architecture == "Hopper"']
          matchAttributes: [gpu.nvidia.com/productName]
          convertExtendedResources: true
          claimSharing: PerPod
`;

class RecordingWriter implements ClaimTemplateWriter {
  readonly created: ResourceClaimTemplateWire[] = [];
  fail: Error | undefined;

  async create(t: ResourceClaimTemplateWire): Promise<void> {
    if (this.fail) throw this.fail;
    this.created.push(t);
  }
}

interface Harness extends TestApp {
  readonly writer: RecordingWriter;
  readonly cache: ClaimTemplateCache;
}

function harness(withCluster = true): Harness {
  const writer = new RecordingWriter();
  const cache = new ClaimTemplateCache();
  const metrics = createMetrics({ processMetrics: false });
  const claimTemplates = new ClaimTemplateManager({ writer, cache, metrics, log: silentLogger() });
  const t = buildTestApp({ policy: POLICY, ...(withCluster ? { claimTemplates } : {}) });
  // The manager counts creations on its own registry; expose it as the app's for the assertions below.
  return { ...t, metrics, writer, cache };
}

async function mutate(t: TestApp, p: PodWire, dryRun = false): Promise<{ review: AdmissionReviewResponseWire; pod: PodWire }> {
  const r = await t.app.inject({ method: "POST", url: "/mutate", payload: admissionReview(p, { dryRun }) as object });
  expect(r.statusCode).toBe(200);
  const review = r.json() as AdmissionReviewResponseWire;
  const ops = review.response.patch ? (JSON.parse(Buffer.from(review.response.patch, "base64").toString("utf8")) as fastJsonPatch.Operation[]) : [];
  return { review, pod: fastJsonPatch.applyPatch(structuredClone(p), ops, true, false).newDocument };
}

const gpuPod = (n = 2) => pod().namespace("ml-dra").container(gpuContainer("trainer", n)).defaulted().build();
const creates = async (t: TestApp, result: string) => metricSample(await t.metrics.registry.metrics(), "topofit_claim_template_creates_total", { result }) ?? 0;

describe("POST /mutate: converting GPU requests into claims", () => {
  it("creates the template on the first pod and answers with the converted pod", async () => {
    const t = harness();
    const { review, pod: out } = await mutate(t, gpuPod());
    expect(review.response.warnings).toBeUndefined();
    expect(t.writer.created.map((x) => [x.metadata.namespace, x.spec.spec.devices.requests[0]?.exactly.count])).toEqual([["ml-dra", 2]]);
    expect(out.spec?.resourceClaims).toEqual([{ name: "gpus", resourceClaimTemplateName: t.writer.created[0]!.metadata.name }]);
    expect(out.spec?.containers?.[0]?.resources).toEqual({ claims: [{ name: "gpus" }] });
    expect(out.metadata?.annotations?.["topofit.io/gpus"]).toBe("2");
    expect(await creates(t, "created")).toBe(1);
    await t.app.close();
  });

  it("makes no API write for later pods that need the same template", async () => {
    const t = harness();
    for (let i = 0; i < 5; i++) expect((await mutate(t, gpuPod())).pod.spec?.resourceClaims).toHaveLength(1);
    expect(t.writer.created).toHaveLength(1);
    expect(await creates(t, "created")).toBe(1);
    await t.app.close();
  });

  it("on a dry run, returns the converted pod and creates nothing", async () => {
    const t = harness();
    const { pod: out } = await mutate(t, gpuPod(4), true);
    expect(out.spec?.resourceClaims?.[0]?.resourceClaimTemplateName).toMatch(/^topofit-dra-train-4gpu-[0-9a-f]{8}$/);
    expect(t.writer.created).toEqual([]);
    expect(t.cache.size).toBe(0);
    expect(await creates(t, "created")).toBe(0);
    await t.app.close();
  });

  it("admits the pod unconverted, with the rest of the rule and a warning, when the template cannot be created", async () => {
    const t = harness();
    t.writer.fail = Object.assign(new Error("forbidden"), { code: 403, body: JSON.stringify({ message: "resourceclaimtemplates.resource.k8s.io is forbidden" }) });
    const p = gpuPod();
    const { review, pod: out } = await mutate(t, p);
    expect(out.spec?.containers).toEqual(p.spec?.containers);
    expect(out.spec?.resourceClaims).toBeUndefined();
    expect(out.spec?.tolerations?.map((x) => x.key)).toContain("nvidia.com/gpu");
    expect(out.metadata?.annotations?.["topofit.io/rule"]).toBe("dra-train");
    expect(review.response.warnings).toEqual(["topofit: not converted to DRA claims: HTTP 403: resourceclaimtemplates.resource.k8s.io is forbidden"]);
    expect(await creates(t, "failed")).toBe(1);
    await t.app.close();
  });

  it("without cluster access (standalone) admits the pod unconverted and says why", async () => {
    const t = harness(false);
    const { review, pod: out } = await mutate(t, gpuPod());
    expect(out.spec?.resourceClaims).toBeUndefined();
    expect(review.response.warnings).toEqual(["topofit: not converted to DRA claims: no cluster access to create ResourceClaimTemplates"]);
    await t.app.close();
  });

  it("applies the rule to a pod that asks for GPUs through its own claim, from the cached template", async () => {
    const t = harness();
    t.cache.set("ml-dra", "eight-h100", summarizeTemplate({ spec: { spec: { devices: { requests: [{ name: "g", exactly: { deviceClassName: "gpu.nvidia.com", count: 8 } }] } } } }));
    const p = pod().namespace("ml-dra").container(claimContainer("trainer", "g")).resourceClaims([{ name: "g", resourceClaimTemplateName: "eight-h100" }]).defaulted().build();
    const { pod: out } = await mutate(t, p);
    expect(out.metadata?.annotations).toMatchObject({ "topofit.io/rule": "dra-train", "topofit.io/gpus": "8" });
    expect(out.spec?.resourceClaims).toEqual(p.spec?.resourceClaims);
    expect(t.writer.created).toEqual([]);
    await t.app.close();
  });
});
