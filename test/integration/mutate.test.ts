import { Writable } from "node:stream";
import fastJsonPatch from "fast-json-patch";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AdmissionReviewRequestWire, AdmissionReviewResponseWire, PodWire } from "../../src/admission/schema.js";
import { EMBEDDED_POLICY_YAML } from "../../src/policy/embedded.js";
import { PolicyStore } from "../../src/policy/store.js";
import { buildApp } from "../../src/server/app.js";
import { createLogger } from "../../src/telemetry/logger.js";
import { createMetrics } from "../../src/telemetry/metrics.js";
import { buildTestApp } from "../builders/app.js";
import { admissionReview } from "../builders/admission-review.js";
import { pod } from "../builders/pod.js";
import { admissionFixture, capturedAdmissionFixtures, type AdmissionFixture } from "../fixtures/load.js";

let app: FastifyInstance;
beforeAll(() => {
  app = buildTestApp().app;
});
afterAll(async () => app.close());

async function mutate(body: unknown): Promise<{ status: number; review: AdmissionReviewResponseWire; contentType: unknown }> {
  const r = await app.inject({ method: "POST", url: "/mutate", payload: body as object, headers: { "content-type": "application/json" } });
  return { status: r.statusCode, review: r.json() as AdmissionReviewResponseWire, contentType: r.headers["content-type"] };
}

function decodePatch(review: AdmissionReviewResponseWire): fastJsonPatch.Operation[] {
  expect(review.response.patchType).toBe("JSONPatch");
  return JSON.parse(Buffer.from(review.response.patch ?? "", "base64").toString("utf8")) as fastJsonPatch.Operation[];
}

function patched(original: PodWire, review: AdmissionReviewResponseWire): PodWire {
  return fastJsonPatch.applyPatch(structuredClone(original), decodePatch(review), true, false).newDocument;
}

/** The same review with another pod as object (what a reinvocation would send). */
function withObject(review: AdmissionReviewRequestWire, object: PodWire): AdmissionReviewRequestWire {
  return { ...review, request: { ...review.request, uid: `${review.request.uid}-again`, object } };
}

describe("POST /mutate", () => {
  it("answers a Deployment GPU pod with a v1 AdmissionReview that echoes the uid and carries a JSONPatch", async () => {
    const req = admissionFixture("deployment-training-pod-create");
    const { status, review, contentType } = await mutate(req);
    expect(status).toBe(200);
    expect(contentType).toBe("application/json; charset=utf-8");
    expect(review.apiVersion).toBe("admission.k8s.io/v1");
    expect(review.kind).toBe("AdmissionReview");
    expect(review.response.uid).toBe(req.request.uid);
    expect(review.response.allowed).toBe(true);
    expect(review.response.patchType).toBe("JSONPatch");
    expect(review.response.auditAnnotations).toEqual({ rule: "training" });

    const result = patched(req.request.object as PodWire, review);
    expect(result.metadata?.annotations).toEqual({
      "topofit.io/rule": "training",
      "topofit.io/placement": '{"gpuLinks":"NVLinkRequired","numa":"SingleNode","strategy":"BinPack"}',
    });
    expect(result.spec?.schedulerName).toBe("topofit-scheduler");
    expect(result.spec?.runtimeClassName).toBe("nvidia");
    expect(result.spec?.priorityClassName).toBe("gpu-training");
    expect(result.spec).not.toHaveProperty("priority");
    expect(result.spec?.nodeSelector).toEqual({ "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3" });
    expect(result.spec?.tolerations?.map((t) => t.key)).toEqual([
      "node.kubernetes.io/not-ready",
      "node.kubernetes.io/unreachable",
      "nvidia.com/gpu",
      "karpenter.sh/capacity-type",
    ]);
    // everything the apiserver put there is still there
    expect(result.spec?.volumes).toEqual((req.request.object as PodWire).spec?.volumes);
    expect(result.metadata?.ownerReferences).toEqual((req.request.object as PodWire).metadata?.ownerReferences);
  });

  it.each<[AdmissionFixture]>([["deployment-training-pod-create"], ["inference-pod-create"]])(
    "%s: sending the mutated pod again yields no patch and no patchType",
    async (fixture) => {
      const req = admissionFixture(fixture);
      const first = await mutate(req);
      const again = await mutate(withObject(req, patched(req.request.object as PodWire, first.review)));
      expect(again.status).toBe(200);
      expect(again.review.response.allowed).toBe(true);
      expect(again.review.response).not.toHaveProperty("patch");
      expect(again.review.response).not.toHaveProperty("patchType");
    },
  );

  it("gives a dryRun request the same answer as the same request without dryRun", async () => {
    const wet = await mutate(admissionFixture("inference-pod-create"));
    const dry = await mutate(admissionFixture("inference-pod-create-dry-run"));
    const { uid: _w, ...wetRest } = wet.review.response;
    const { uid: dryUid, ...dryRest } = dry.review.response;
    expect(dryUid).toBe("c81f2a09-7e4d-4b6a-b3c1-5d8e0f9a2b67");
    expect(dryRest).toEqual(wetRest);
  });

  it("warns about what it kept or removed", async () => {
    const req = admissionReview(
      pod().namespace("ml-train").labels({ "topofit.io/workload": "training" }).gpus(2).priorityClassName("batch-low").annotations({ "topofit.io/gpus": "0,1" }).build(),
    );
    const { review } = await mutate(req);
    expect(review.response.warnings).toEqual(
      expect.arrayContaining([expect.stringMatching(/^topofit: .*priorityClassName.*batch-low/), expect.stringMatching(/^topofit: .*topofit\.io\/gpus/)]),
    );
  });

  it.each<[string, AdmissionFixture]>([
    ["a CPU-only pod", "cpu-deployment-pod-create"],
    ["a GPU pod in kube-system", "kube-system-gpu-pod-create"],
    ["an UPDATE", "pod-update"],
    ["a pods/binding CREATE", "pod-binding-create"],
  ])("allows %s with no patch and no patchType", async (_name, fixture) => {
    const req = admissionFixture(fixture);
    const { status, review } = await mutate(req);
    expect(status).toBe(200);
    expect(review).toEqual({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response: { uid: req.request.uid, allowed: true } });
  });

  it("allows a DELETE (object null) with no patch", async () => {
    const { status, review } = await mutate(admissionReview(pod().gpus(1).build(), { operation: "DELETE", uid: "del-1" }));
    expect(status).toBe(200);
    expect(review.response).toEqual({ uid: "del-1", allowed: true });
  });
});

describe("POST /mutate with captures from a real apiserver", () => {
  const captures = capturedAdmissionFixtures();

  it("has the captures (test/fixtures/admission/captured, written by hack/capture-admission.ts)", () => {
    expect(captures.map((c) => c.name)).toEqual(["cpu-pod.json", "dry-run-pod.json", "inference-deployment-pod.json", "job-pod.json", "training-pod.json"]);
  });

  it.each(captures.map((c) => [c.name, c.review] as const))(
    "%s: is answered with the uid echoed, and a patch that applies and settles",
    async (_name, req) => {
      const first = await mutate(req);
      expect(first.status).toBe(200);
      expect(first.review.apiVersion).toBe("admission.k8s.io/v1");
      expect(first.review.kind).toBe("AdmissionReview");
      expect(first.review.response.uid).toBe(req.request.uid);
      expect(first.review.response.allowed).toBe(true);
      expect(first.review.response.patch === undefined).toBe(first.review.response.patchType === undefined);
      if (first.review.response.patch === undefined) return;
      const again = await mutate(withObject(req, patched(req.request.object as PodWire, first.review)));
      expect(again.review.response).not.toHaveProperty("patch");
    },
  );
});

describe("the decision log line", () => {
  it("is one JSON line per mutated pod with what an operator greps for: uid, pod, rule, GPUs, patch size, dry run, policy generation", async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const store = new PolicyStore();
    store.apply(EMBEDDED_POLICY_YAML, "embedded");
    const logged = buildApp({ log: createLogger({ level: "info", destination }), metrics: createMetrics({ processMetrics: false }), currentPolicy: () => store.current() });
    const req = admissionFixture("deployment-training-pod-create");
    const r = await logged.inject({ method: "POST", url: "/mutate", payload: { ...req, request: { ...req.request, dryRun: true } }, headers: { "content-type": "application/json" } });
    await logged.close();
    const patch = decodePatch(r.json() as AdmissionReviewResponseWire);
    const mutated = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === "mutated");
    expect(mutated).toHaveLength(1);
    expect(mutated[0]).toEqual({
      level: "info",
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) as unknown,
      service: "topofit",
      reqId: expect.any(String) as unknown,
      uid: req.request.uid,
      pod: { namespace: req.request.namespace, name: `${(req.request.object as PodWire).metadata?.generateName ?? ""}*` },
      rule: "training",
      gpus: 8,
      ops: patch.length,
      dryRun: true,
      policyGeneration: 1,
      msg: "mutated",
    });
  });
});
