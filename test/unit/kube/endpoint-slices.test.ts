import type { V1Endpoint, V1EndpointSlice } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { SERVICE_NAME_LABEL, readServiceEndpoints } from "../../../src/kube/endpoint-slices.js";

const REF = { namespace: "gpu-operator", name: "nvidia-dcgm-exporter" };

function endpoint(address: string, nodeName: string, over: Partial<V1Endpoint> = {}): V1Endpoint {
  const pod = `nvidia-dcgm-exporter-${nodeName}`;
  return { addresses: [address], conditions: { ready: true, serving: true, terminating: false }, nodeName, targetRef: { kind: "Pod", name: pod, namespace: REF.namespace, uid: `uid-${nodeName}` }, ...over };
}

function slice(endpoints: V1Endpoint[], over: Partial<V1EndpointSlice> = {}): V1EndpointSlice {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: "nvidia-dcgm-exporter-abcde", namespace: REF.namespace, labels: { [SERVICE_NAME_LABEL]: REF.name } },
    addressType: "IPv4",
    ports: [{ name: "gpu-metrics", port: 9400, protocol: "TCP" }],
    endpoints,
    ...over,
  };
}

describe("readServiceEndpoints", () => {
  it("turns each ready endpoint into a /metrics URL with its node", () => {
    const out = readServiceEndpoints([slice([endpoint("10.0.1.7", "gpu-b"), endpoint("10.0.0.5", "gpu-a")])], REF);
    expect(out.issues).toEqual([]);
    expect(out.endpoints).toEqual([
      { url: "http://10.0.0.5:9400/metrics", address: "10.0.0.5", nodeName: "gpu-a", podName: "nvidia-dcgm-exporter-gpu-a" },
      { url: "http://10.0.1.7:9400/metrics", address: "10.0.1.7", nodeName: "gpu-b", podName: "nvidia-dcgm-exporter-gpu-b" },
    ]);
  });

  it.each<[string, Partial<V1Endpoint>, boolean]>([
    ["a ready endpoint", {}, true],
    ["an endpoint whose readiness is not given", { conditions: {} }, true],
    ["an endpoint without conditions", { conditions: undefined }, true],
    ["an endpoint that is not ready", { conditions: { ready: false, serving: false } }, false],
    ["a terminating endpoint that still serves", { conditions: { ready: false, serving: true, terminating: true } }, false],
    ["an endpoint without addresses", { addresses: [] }, false],
  ])("includes %s: %s", (_what, over, included) => {
    const out = readServiceEndpoints([slice([endpoint("10.0.0.5", "gpu-a", over)])], REF);
    expect(out.endpoints.length === 1).toBe(included);
  });

  it("joins the endpoints of several slices", () => {
    const out = readServiceEndpoints(
      [slice([endpoint("10.0.0.5", "gpu-a")]), slice([endpoint("10.0.0.6", "gpu-b")], { metadata: { name: "second", labels: { [SERVICE_NAME_LABEL]: REF.name } } })],
      REF,
    );
    expect(out.endpoints.map((e) => e.nodeName)).toEqual(["gpu-a", "gpu-b"]);
  });

  it("ignores slices of another Service", () => {
    const out = readServiceEndpoints([slice([endpoint("10.0.0.5", "gpu-a")], { metadata: { name: "x", labels: { [SERVICE_NAME_LABEL]: "other" } } })], REF);
    expect(out.endpoints).toEqual([]);
  });

  it("brackets IPv6 addresses and prefers IPv4 for a dual-stack pod", () => {
    const v6 = slice([endpoint("fd00::5", "gpu-a")], { addressType: "IPv6" });
    const v4 = slice([endpoint("10.0.0.5", "gpu-a")]);
    expect(readServiceEndpoints([v6], REF).endpoints[0]?.url).toBe("http://[fd00::5]:9400/metrics");
    expect(readServiceEndpoints([v6, v4], REF).endpoints.map((e) => e.url)).toEqual(["http://10.0.0.5:9400/metrics"]);
  });

  it("reports a slice of FQDN addresses and skips it", () => {
    const out = readServiceEndpoints([slice([endpoint("dcgm.example.com", "gpu-a")], { addressType: "FQDN" })], REF);
    expect(out.endpoints).toEqual([]);
    expect(out.issues).toEqual(["EndpointSlice nvidia-dcgm-exporter-abcde: address type FQDN is not used"]);
  });

  it.each<[string, number | string | undefined, V1EndpointSlice["ports"], string | undefined]>([
    ["the default port 9400", undefined, [{ name: "gpu-metrics", port: 9400 }], "http://10.0.0.5:9400/metrics"],
    ["a port given by number", 9500, [{ name: "m", port: 9500 }], "http://10.0.0.5:9500/metrics"],
    ["a port given by name", "gpu-metrics", [{ name: "gpu-metrics", port: 9401 }], "http://10.0.0.5:9401/metrics"],
    ["a slice without ports", 9400, [], "http://10.0.0.5:9400/metrics"],
    ["a number the slice does not have", 9400, [{ name: "other", port: 8080 }], undefined],
    ["a name the slice does not have", "metrics", [{ name: "gpu-metrics", port: 9400 }], undefined],
  ])("resolves %s", (_what, port, ports, url) => {
    const out = readServiceEndpoints([slice([endpoint("10.0.0.5", "gpu-a")], { ports })], { ...REF, ...(port !== undefined ? { port } : {}) });
    expect(out.endpoints[0]?.url).toBe(url);
    if (url === undefined) expect(out.issues[0]).toMatch(/^EndpointSlice nvidia-dcgm-exporter-abcde: no port/);
  });

  it("uses the given scheme and path", () => {
    const out = readServiceEndpoints([slice([endpoint("10.0.0.5", "gpu-a")])], { ...REF, scheme: "https", path: "dcgm" });
    expect(out.endpoints[0]?.url).toBe("https://10.0.0.5:9400/dcgm");
  });

  it("keeps an endpoint without a node name, for the Hostname label to tell", () => {
    const out = readServiceEndpoints([slice([{ addresses: ["10.0.0.5"], conditions: { ready: true } }])], REF);
    expect(out.endpoints).toEqual([{ url: "http://10.0.0.5:9400/metrics", address: "10.0.0.5" }]);
  });
});
