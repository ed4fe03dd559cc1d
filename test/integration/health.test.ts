import { afterEach, describe, expect, it } from "vitest";
import { EMBEDDED_POLICY_YAML } from "../../src/policy/embedded.js";
import { buildTestApp, type TestApp } from "../builders/app.js";

describe("health endpoints", () => {
  let t: TestApp;
  afterEach(async () => t.app.close());

  it("GET /healthz answers 200 even before a policy is loaded", async () => {
    t = buildTestApp({ policy: null });
    const r = await t.app.inject({ method: "GET", url: "/healthz" });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ status: "ok" });
  });

  it("GET /readyz answers 503 with the reason before a policy is loaded, and 200 after", async () => {
    t = buildTestApp({ policy: null });
    const before = await t.app.inject({ method: "GET", url: "/readyz" });
    expect(before.statusCode).toBe(503);
    expect(before.json()).toEqual({ status: "not ready", reasons: [expect.stringMatching(/^policy: .*no placement policy/)] });

    t.store.apply(EMBEDDED_POLICY_YAML, "embedded");
    const after = await t.app.inject({ method: "GET", url: "/readyz" });
    expect(after.statusCode).toBe(200);
    expect(after.json()).toEqual({ status: "ready" });
  });

  it("GET /readyz lists every failing extra readiness check by name", async () => {
    let synced = false;
    t = buildTestApp({
      readiness: [
        { name: "policy-configmap", check: () => (synced ? undefined : "the policy ConfigMap has not been read yet") },
        { name: "always-fine", check: () => undefined },
      ],
    });
    const before = await t.app.inject({ method: "GET", url: "/readyz" });
    expect(before.statusCode).toBe(503);
    expect(before.json().reasons).toEqual(["policy-configmap: the policy ConfigMap has not been read yet"]);
    synced = true;
    expect((await t.app.inject({ method: "GET", url: "/readyz" })).statusCode).toBe(200);
  });
});
