import type { FastifyInstance, InjectOptions } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { buildTestApp } from "../builders/app.js";
import { topologyStore } from "../builders/extender.js";
import { admissionFixture } from "../fixtures/load.js";

const BODY_LIMIT = 64 * 1024;
const json = { "content-type": "application/json" };

function good(): InjectOptions {
  return { method: "POST", url: "/mutate", headers: json, payload: JSON.stringify(admissionFixture("deployment-training-pod-create")) };
}

function reviewWith(edit: (r: Record<string, any>) => void): string {
  const r = admissionFixture("deployment-training-pod-create") as unknown as Record<string, any>;
  edit(r);
  return JSON.stringify(r);
}

describe("HTTP errors", () => {
  let app: FastifyInstance;
  afterEach(async () => app?.close());

  it.each<[string, InjectOptions, number, string]>([
    ["a body that is not JSON", { method: "POST", url: "/mutate", headers: json, payload: "{not json" }, 400, "InvalidJSON"],
    ["an empty JSON body", { method: "POST", url: "/mutate", headers: json, payload: "" }, 400, "EmptyBody"],
    ["a text/plain body", { method: "POST", url: "/mutate", headers: { "content-type": "text/plain" }, payload: good().payload as string }, 415, "UnsupportedMediaType"],
    ["an application/xml body", { method: "POST", url: "/mutate", headers: { "content-type": "application/xml" }, payload: "<AdmissionReview/>" }, 415, "UnsupportedMediaType"],
    [
      "a body over the limit",
      { method: "POST", url: "/mutate", headers: json, payload: JSON.stringify({ pad: "x".repeat(BODY_LIMIT) }) },
      413,
      "BodyTooLarge",
    ],
    ["a v1beta1 AdmissionReview", { ...good(), payload: reviewWith((r) => (r.apiVersion = "admission.k8s.io/v1beta1")) }, 400, "InvalidAdmissionReview"],
    ["a review of another kind", { ...good(), payload: reviewWith((r) => (r.kind = "TokenReview")) }, 400, "InvalidAdmissionReview"],
    ["a review without request", { ...good(), payload: reviewWith((r) => delete r.request) }, 400, "InvalidAdmissionReview"],
    ["a review without uid", { ...good(), payload: reviewWith((r) => delete r.request.uid) }, 400, "InvalidAdmissionReview"],
    ["a review with an empty uid", { ...good(), payload: reviewWith((r) => (r.request.uid = "")) }, 400, "InvalidAdmissionReview"],
    ["a review without operation", { ...good(), payload: reviewWith((r) => delete r.request.operation) }, 400, "InvalidAdmissionReview"],
    ["a Pod CREATE without object", { ...good(), payload: reviewWith((r) => (r.request.object = null)) }, 400, "InvalidAdmissionReview"],
    ["a JSON array", { ...good(), payload: "[]" }, 400, "InvalidAdmissionReview"],
    [
      "a pod carrying a __proto__ member",
      { ...good(), payload: (good().payload as string).replace('"spec":{', '"spec":{"__proto__":{"schedulerName":"mine"},') },
      400,
      "InvalidJSON",
    ],
    [
      "a pod carrying constructor.prototype",
      { ...good(), payload: (good().payload as string).replace('"metadata":{', '"metadata":{"constructor":{"prototype":{"x":1}},') },
      400,
      "InvalidJSON",
    ],
    ["an unknown route", { method: "GET", url: "/validate" }, 404, "NotFound"],
    ["GET on /mutate", { method: "GET", url: "/mutate" }, 404, "NotFound"],
  ])("answers %s with a stable code, and a good request still succeeds afterwards", async (_name, bad, status, code) => {
    app = buildTestApp({ bodyLimit: BODY_LIMIT }).app;
    const r = await app.inject(bad);
    expect(r.statusCode).toBe(status);
    expect(r.json()).toEqual({ code, message: expect.any(String) });
    expect(r.json().message.length).toBeGreaterThan(0);

    const ok = await app.inject(good());
    expect(ok.statusCode).toBe(200);
    expect(ok.json().response).toMatchObject({ uid: "3f1c9e52-8a7d-4b1e-9c2f-6d0a4b8e7f31", allowed: true, patchType: "JSONPatch" });
  });

  it("names the limit in the 413 message", async () => {
    app = buildTestApp({ bodyLimit: BODY_LIMIT }).app;
    const r = await app.inject({ method: "POST", url: "/mutate", headers: json, payload: JSON.stringify({ pad: "x".repeat(BODY_LIMIT) }) });
    expect(r.json().message).toContain(String(BODY_LIMIT));
  });

  it("explains what is wrong with an AdmissionReview", async () => {
    app = buildTestApp().app;
    const r = await app.inject({ ...good(), payload: reviewWith((r) => (r.apiVersion = "admission.k8s.io/v1beta1")) });
    expect(r.json().message).toMatch(/admission\.k8s\.io\/v1.*v1beta1/);
  });

  it("answers 503 PolicyNotLoaded to a valid review while no policy is loaded", async () => {
    app = buildTestApp({ policy: null }).app;
    const r = await app.inject(good());
    expect(r.statusCode).toBe(503);
    expect(r.json()).toEqual({ code: "PolicyNotLoaded", message: expect.any(String) });
  });

  it("accepts application/json with a charset", async () => {
    app = buildTestApp().app;
    const r = await app.inject({ ...good(), headers: { "content-type": "application/json; charset=utf-8" } });
    expect(r.statusCode).toBe(200);
  });
});

describe("HTTP errors on the extender routes", () => {
  let app: FastifyInstance;
  afterEach(async () => app?.close());
  const names = ["dgx-h100-01", "dgx-h100-02"];
  /** kube-scheduler's nodeCacheCapable body, which the extender reads in two parts (extender/body.ts). */
  const args = (pod: string) => `{"Pod":${pod},"Nodes":null,"NodeNames":${JSON.stringify(names)}}`;
  const POD = '{"metadata":{"name":"p","namespace":"ml","uid":"u-1"},"spec":{"containers":[{"name":"c"}]}}';

  it.each<[string, string, number, string]>([
    ["a body that is not JSON", "{not json", 400, "InvalidJSON"],
    ["an empty body", "", 400, "EmptyBody"],
    ["a pod that is not JSON, before a good NodeNames list", args('{"metadata":'), 400, "InvalidJSON"],
    ["a NodeNames list that is not JSON", `{"Pod":${POD},"Nodes":null,"NodeNames":["a",]}`, 400, "InvalidJSON"],
    ["a pod carrying a __proto__ member", args('{"__proto__":{"x":1},"metadata":{"name":"p"}}'), 400, "InvalidJSON"],
    ["a pod carrying constructor.prototype", args('{"metadata":{"constructor":{"prototype":{"x":1}}}}'), 400, "InvalidJSON"],
    ["NodeNames that are not all strings", `{"Pod":${POD},"Nodes":null,"NodeNames":["a",1]}`, 400, "InvalidExtenderArgs"],
  ])("answers /filter with %s with a stable code, and a good call still succeeds afterwards", async (_name, payload, status, code) => {
    app = buildTestApp({ topology: topologyStore() }).app;
    const r = await app.inject({ method: "POST", url: "/filter", headers: json, payload });
    expect(r.statusCode).toBe(status);
    expect(r.json()).toMatchObject({ code, message: expect.any(String) });
    const ok = await app.inject({ method: "POST", url: "/filter", headers: json, payload: args(POD) });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ NodeNames: names, Error: "" });
  });
});
