import { ApiException } from "@kubernetes/client-node";
import { beforeEach, describe, expect, it } from "vitest";
import { claimTemplateFor } from "../../../src/admission/claim-template.js";
import type { ResourceClaimTemplateWire } from "../../../src/admission/schema.js";
import { ClaimTemplateCache, ClaimTemplateManager, summarizeTemplate, type ClaimTemplateWriter } from "../../../src/kube/claim-templates.js";
import { silentLogger } from "../../../src/telemetry/logger.js";
import { createMetrics, type Metrics } from "../../../src/telemetry/metrics.js";
import { metricSample } from "../../builders/metrics.js";
import { loadPolicy, policyDocument } from "../../builders/policy.js";

const RULE = loadPolicy(policyDocument({ rules: [{ name: "dra", inject: { dra: { deviceClassName: "gpu.nvidia.com", convertExtendedResources: true } } }] })).rules[0]!;
const template = (namespace: string, count: number) => claimTemplateFor(RULE, RULE.inject.dra!, namespace, count);

/** A stand-in for the API server's create call: records each call and answers as `answer` says. */
class FakeWriter implements ClaimTemplateWriter {
  readonly calls: string[] = [];
  answer: (t: ResourceClaimTemplateWire) => Promise<void> = async () => undefined;

  create(t: ResourceClaimTemplateWire): Promise<void> {
    this.calls.push(`${t.metadata.namespace}/${t.metadata.name}`);
    return this.answer(t);
  }
}

const apiError = (code: number, message: string) => new ApiException(code, `HTTP-Code: ${code}`, JSON.stringify({ kind: "Status", code, message }), {});

describe("summarizeTemplate", () => {
  it.each<[string, unknown, unknown]>([
    [
      "an `exactly` request, count and mode as given",
      { spec: { spec: { devices: { requests: [{ name: "g", exactly: { deviceClassName: "gpu.nvidia.com", allocationMode: "ExactCount", count: 4 } }] } } } },
      [{ deviceClassName: "gpu.nvidia.com", allocationMode: "ExactCount", count: 4, firstAvailable: false }],
    ],
    [
      "ExactCount and count 1 when left out (the API defaults)",
      { spec: { spec: { devices: { requests: [{ name: "g", exactly: { deviceClassName: "gpu.nvidia.com" } }] } } } },
      [{ deviceClassName: "gpu.nvidia.com", allocationMode: "ExactCount", count: 1, firstAvailable: false }],
    ],
    [
      "allocationMode All",
      { spec: { spec: { devices: { requests: [{ name: "g", exactly: { deviceClassName: "gpu.nvidia.com", allocationMode: "All" } }] } } } },
      [{ deviceClassName: "gpu.nvidia.com", allocationMode: "All", count: 1, firstAvailable: false }],
    ],
    [
      "a firstAvailable request: its first alternative",
      {
        spec: {
          spec: {
            devices: {
              requests: [{ name: "g", firstAvailable: [{ name: "h100", deviceClassName: "gpu.nvidia.com", count: 2 }, { name: "a100", deviceClassName: "gpu.nvidia.com", count: 4 }] }],
            },
          },
        },
      },
      [{ deviceClassName: "gpu.nvidia.com", allocationMode: "ExactCount", count: 2, firstAvailable: true }],
    ],
    ["nothing from a template without devices", { spec: { spec: {} } }, []],
    ["nothing from garbage", { spec: "x" }, []],
  ])("keeps %s", (_name, t, requests) => {
    expect(summarizeTemplate(t)).toEqual({ requests });
  });
});

describe("ClaimTemplateManager", () => {
  let writer: FakeWriter;
  let cache: ClaimTemplateCache;
  let metrics: Metrics;
  let now: number;
  let manager: ClaimTemplateManager;
  const creates = async (result: string) => metricSample(await metrics.registry.metrics(), "topofit_claim_template_creates_total", { result }) ?? 0;

  beforeEach(() => {
    writer = new FakeWriter();
    cache = new ClaimTemplateCache();
    metrics = createMetrics({ processMetrics: false });
    now = 1_000_000;
    manager = new ClaimTemplateManager({ writer, cache, metrics, log: silentLogger(), timeoutMs: 50, retryAfterMs: 5000, now: () => now });
  });

  it("creates a template missing from the cache, once, and remembers it", async () => {
    const t = template("ml", 2);
    expect(await manager.ensure([t])).toEqual({ ok: true, created: [t.metadata.name] });
    expect(writer.calls).toEqual([`ml/${t.metadata.name}`]);
    expect(manager.lookup("ml", t.metadata.name)).toEqual(summarizeTemplate(t));
    expect(await creates("created")).toBe(1);
  });

  it("makes no API call for a template the cache holds (steady state: no write per pod)", async () => {
    const t = template("ml", 2);
    cache.set("ml", t.metadata.name, summarizeTemplate(t));
    for (let i = 0; i < 5; i++) expect(await manager.ensure([t])).toEqual({ ok: true, created: [] });
    expect(writer.calls).toEqual([]);
    expect(await creates("created")).toBe(0);
  });

  it("creates the same name again in another namespace: templates are namespaced", async () => {
    await manager.ensure([template("ml", 2)]);
    await manager.ensure([template("team-b", 2)]);
    expect(writer.calls.map((c) => c.split("/")[0])).toEqual(["ml", "team-b"]);
  });

  it("counts 409 AlreadyExists as success and caches the template", async () => {
    writer.answer = () => Promise.reject(apiError(409, 'resourceclaimtemplates.resource.k8s.io "x" already exists'));
    const t = template("ml", 4);
    expect(await manager.ensure([t])).toEqual({ ok: true, created: [] });
    expect(await manager.ensure([t])).toEqual({ ok: true, created: [] });
    expect(writer.calls).toHaveLength(1);
    expect(await creates("exists")).toBe(1);
  });

  it("reports a failed create with the API's message, counts it, and does not call again for a while", async () => {
    writer.answer = () => Promise.reject(apiError(403, 'resourceclaimtemplates.resource.k8s.io is forbidden: User "system:serviceaccount:topofit-system:topofit" cannot create resource'));
    const t = template("ml", 1);
    const first = await manager.ensure([t]);
    expect(first).toEqual({
      ok: false,
      reason: 'HTTP 403: resourceclaimtemplates.resource.k8s.io is forbidden: User "system:serviceaccount:topofit-system:topofit" cannot create resource',
    });
    expect(manager.lookup("ml", t.metadata.name)).toBeUndefined();
    now += 4999;
    expect(await manager.ensure([t])).toEqual(first);
    expect(writer.calls).toHaveLength(1);
    now += 1;
    writer.answer = async () => undefined;
    expect(await manager.ensure([t])).toEqual({ ok: true, created: [t.metadata.name] });
    expect(writer.calls).toHaveLength(2);
    expect(await creates("failed")).toBe(1);
    expect(await creates("created")).toBe(1);
  });

  it("gives up on a create that does not answer in time", async () => {
    writer.answer = () => new Promise<void>(() => undefined);
    const t = template("ml", 8);
    expect(await manager.ensure([t])).toEqual({ ok: false, reason: "no answer from the API server within 50 ms" });
    expect(await creates("failed")).toBe(1);
  });

  it("shares one create between concurrent pods that need the same template", async () => {
    let release: () => void = () => undefined;
    writer.answer = () => new Promise<void>((r) => (release = r));
    const t = template("ml", 2);
    const pending = [manager.ensure([t]), manager.ensure([t]), manager.ensure([t])];
    await Promise.resolve();
    release();
    const results = await Promise.all(pending);
    expect(writer.calls).toHaveLength(1);
    expect(results.every((r) => r.ok)).toBe(true);
  });

  it("fails the whole set when one of a pod's templates cannot be created", async () => {
    const good = template("ml", 1);
    const bad = template("ml", 2);
    writer.answer = (t) => (t.metadata.name === bad.metadata.name ? Promise.reject(apiError(500, "etcd is unhappy")) : Promise.resolve());
    const r = await manager.ensure([good, bad]);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toBe("HTTP 500: etcd is unhappy");
    expect(manager.lookup("ml", good.metadata.name)).toBeDefined();
  });
});
