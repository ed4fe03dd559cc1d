import { describe, expect, it } from "vitest";
import { EMBEDDED_POLICY_YAML } from "../../src/policy/embedded.js";
import { buildTestApp } from "../builders/app.js";
import { admissionFixture, type AdmissionFixture } from "../fixtures/load.js";
import { metricSample as sample } from "../builders/metrics.js";


describe("GET /metrics", () => {
  it("counts requests by route and outcome, decisions by rule, and exposes the policy generation", async () => {
    const fixture = (name: AdmissionFixture) => JSON.stringify(admissionFixture(name));
    const t = buildTestApp({ bodyLimit: 1 << 20 });
    const send = (payload: string, type = "application/json") => t.app.inject({ method: "POST", url: "/mutate", headers: { "content-type": type }, payload });
    await send(fixture("deployment-training-pod-create"));
    await send(fixture("deployment-training-pod-create"));
    await send(fixture("inference-pod-create"));
    await send(fixture("cpu-deployment-pod-create"));
    await send("{oops");
    await send("x".repeat(2 << 20));
    await t.app.inject({ method: "GET", url: "/healthz" });

    const r = await t.app.inject({ method: "GET", url: "/metrics" });
    expect(r.statusCode).toBe(200);
    expect(r.headers["content-type"]).toMatch(/^text\/plain/);
    const text = r.body;

    expect(text).toContain("# TYPE topofit_http_requests_total counter");
    expect(sample(text, "topofit_http_requests_total", { route: "/mutate", outcome: "mutated" })).toBe(3);
    expect(sample(text, "topofit_http_requests_total", { route: "/mutate", outcome: "skipped" })).toBe(1);
    expect(sample(text, "topofit_http_requests_total", { route: "/mutate", outcome: "bad_request" })).toBe(1);
    expect(sample(text, "topofit_http_requests_total", { route: "/mutate", outcome: "too_large" })).toBe(1);
    expect(sample(text, "topofit_http_requests_total", { route: "/healthz", outcome: "ok" })).toBe(1);
    expect(sample(text, "topofit_http_request_duration_seconds_count", { route: "/mutate", outcome: "mutated" })).toBe(3);

    expect(text).toContain("# TYPE topofit_admission_decisions_total counter");
    expect(sample(text, "topofit_admission_decisions_total", { decision: "matched", rule: "training" })).toBe(2);
    expect(sample(text, "topofit_admission_decisions_total", { decision: "matched", rule: "inference" })).toBe(1);
    expect(sample(text, "topofit_admission_decisions_total", { decision: "skipped", rule: "" })).toBe(1);

    expect(text).toContain("# TYPE topofit_policy_generation gauge");
    expect(sample(text, "topofit_policy_generation")).toBeDefined();
    await t.app.close();
  });

  it("does not count its own scrapes", async () => {
    const { app } = buildTestApp();
    await app.inject({ method: "GET", url: "/metrics" });
    const text = (await app.inject({ method: "GET", url: "/metrics" })).body;
    expect(sample(text, "topofit_http_requests_total", { route: "/metrics" })).toBeUndefined();
    await app.close();
  });

  it("counts a request refused for want of a policy", async () => {
    const { app, store } = buildTestApp({ policy: null });
    await app.inject({ method: "POST", url: "/mutate", headers: { "content-type": "application/json" }, payload: JSON.stringify(admissionFixture("deployment-training-pod-create")) });
    store.apply(EMBEDDED_POLICY_YAML, "embedded");
    const text = (await app.inject({ method: "GET", url: "/metrics" })).body;
    expect(sample(text, "topofit_http_requests_total", { route: "/mutate" })).toBe(1);
    expect(sample(text, "topofit_admission_decisions_total")).toBeUndefined();
    await app.close();
  });
});
