// spec.dra and rules[].inject.dra: defaults, the resolved model, and every
// validation error with its path.
import { describe, expect, it } from "vitest";
import type { PolicyIssue } from "../../../src/policy/model.js";
import { validatePolicyDocument } from "../../../src/policy/validate.js";
import { loadPolicy, policyDocument } from "../../builders/policy.js";

type Doc = Record<string, any>;

const HOPPER = 'device.attributes["gpu.nvidia.com"].architecture == "Hopper"';

/** A valid document with one converting rule, which each case breaks in one place. */
function draDoc(): Doc {
  return policyDocument({
    rules: [
      {
        name: "dra-train",
        match: { namespaces: ["ml-dra"] },
        inject: {
          dra: { deviceClassName: "gpu.nvidia.com", selectors: [HOPPER], matchAttributes: ["gpu.nvidia.com/productName"], convertExtendedResources: true },
        },
      },
    ],
  }) as unknown as Doc;
}

const dra0 = (d: Doc) => d.spec.rules[0].inject.dra;

function issues(doc: unknown): { errors: readonly PolicyIssue[]; warnings: readonly PolicyIssue[] } {
  const r = validatePolicyDocument(doc);
  return { errors: r.ok ? [] : r.errors, warnings: r.warnings };
}

describe("spec.dra and inject.dra: the resolved policy", () => {
  it("defaults spec.dra to the NVIDIA DRA driver's class and driver, gpu.nvidia.com", () => {
    const policy = loadPolicy(policyDocument({}));
    expect([...policy.dra.gpuDeviceClasses]).toEqual(["gpu.nvidia.com"]);
    expect([...policy.dra.gpuDrivers]).toEqual(["gpu.nvidia.com"]);
  });

  it("keeps the classes and drivers given, as sets", () => {
    const policy = loadPolicy(policyDocument({ dra: { gpuDeviceClasses: ["gpu.nvidia.com", "gpu.example.com"], gpuDrivers: ["gpu.example.com"] } }));
    expect(policy.dra.gpuDeviceClasses.has("gpu.example.com")).toBe(true);
    expect(policy.dra.gpuDeviceClasses.size).toBe(2);
    expect([...policy.dra.gpuDrivers]).toEqual(["gpu.example.com"]);
  });

  it("leaves inject.dra undefined on a rule without it", () => {
    expect(loadPolicy(policyDocument({ rules: [{ name: "plain" }] })).rules[0]?.inject.dra).toBeUndefined();
  });

  it("resolves inject.dra with claimSharing PerContainer by default and the template's selectors and constraints precomputed", () => {
    const dra = loadPolicy(draDoc() as never).rules[0]?.inject.dra;
    expect(dra).toEqual({
      deviceClassName: "gpu.nvidia.com",
      selectors: [HOPPER],
      matchAttributes: ["gpu.nvidia.com/productName"],
      convertExtendedResources: true,
      claimSharing: "PerContainer",
      template: {
        selectors: [{ cel: { expression: HOPPER } }],
        constraints: [{ requests: ["gpus"], matchAttribute: "gpu.nvidia.com/productName" }],
      },
    });
  });

  it("keeps claimSharing PerPod, and empty template pieces when there are no selectors or attributes", () => {
    const doc = draDoc();
    dra0(doc).claimSharing = "PerPod";
    delete dra0(doc).selectors;
    delete dra0(doc).matchAttributes;
    const dra = loadPolicy(doc as never).rules[0]?.inject.dra;
    expect(dra?.claimSharing).toBe("PerPod");
    expect(dra?.template).toEqual({ selectors: [], constraints: [] });
  });
});

describe("spec.dra and inject.dra: validation", () => {
  it("accepts the base document, with no warnings", () => {
    expect(issues(draDoc())).toEqual({ errors: [], warnings: [] });
  });

  it.each<[string, string]>([
    ["optional field selection and orValue", 'device.attributes["gpu.nvidia.com"].?productName.orValue("") == "NVIDIA H100 80GB HBM3"'],
    ["optional indexing", 'device.attributes[?"gpu.nvidia.com"].hasValue()'],
    ["quantity comparison on a capacity", 'device.capacity["gpu.nvidia.com"].memory.compareTo(quantity("80Gi")) >= 0'],
    ["semver on a version attribute", 'device.attributes["gpu.nvidia.com"].cudaComputeCapability.isGreaterThan(semver("8.0.0"))'],
    ["has() and cel.bind", 'has(device.attributes["gpu.nvidia.com"].productName) && cel.bind(a, device.attributes["gpu.nvidia.com"], a.type == "gpu")'],
    ["single quotes and raw strings", "device.attributes['gpu.nvidia.com'].productName.matches(r'H100.*')"],
  ])("accepts Kubernetes DRA CEL with %s", (_name, expression) => {
    const doc = draDoc();
    dra0(doc).selectors = [expression];
    expect(issues(doc).errors).toEqual([]);
  });

  // Each case: what is broken, how, and the path + message fragments of the error.
  it.each<[string, (d: Doc) => void, string, RegExp]>([
    [
      "a selector that is not valid CEL names the parser's complaint and where",
      (d) => (dra0(d).selectors = [HOPPER, 'device.driver == "gpu.nvidia.com" &&']),
      "spec.rules[0].inject.dra.selectors[1]",
      /not valid CEL: Unexpected token: EOF at character 37/,
    ],
    ["an unterminated string in a selector", (d) => (dra0(d).selectors = ['device.driver == "gpu']), "spec.rules[0].inject.dra.selectors[0]", /not valid CEL: Unterminated string/],
    [
      "a selector over 10 KiB, which Kubernetes refuses",
      (d) => (dra0(d).selectors = [`device.driver == "${"x".repeat(10 * 1024)}"`]),
      "spec.rules[0].inject.dra.selectors[0]",
      /10259 bytes long.*at most 10240 bytes/,
    ],
    ["more than 32 selectors", (d) => (dra0(d).selectors = Array.from({ length: 33 }, () => HOPPER)), "spec.rules[0].inject.dra.selectors", /33 entries.*at most 32/],
    [
      "a device class name that is not a DNS subdomain",
      (d) => (dra0(d).deviceClassName = "GPU_nvidia"),
      "spec.rules[0].inject.dra.deviceClassName",
      /"GPU_nvidia" is not a valid device class name/,
    ],
    [
      "a device class that spec.dra does not count as GPUs: converted pods would look GPU-less",
      (d) => (dra0(d).deviceClassName = "mig.nvidia.com"),
      "spec.rules[0].inject.dra.deviceClassName",
      /mig\.nvidia\.com is not in spec\.dra\.gpuDeviceClasses \(gpu\.nvidia\.com\).*placed as pods without GPUs/,
    ],
    [
      "an attribute name without a domain",
      (d) => (dra0(d).matchAttributes = ["productName"]),
      "spec.rules[0].inject.dra.matchAttributes[0]",
      /"productName" is not a fully qualified attribute name/,
    ],
    [
      "an attribute name whose name part is not a C identifier",
      (d) => (dra0(d).matchAttributes = ["gpu.nvidia.com/product-name"]),
      "spec.rules[0].inject.dra.matchAttributes[0]",
      /not a fully qualified attribute name.*C identifier/,
    ],
    [
      "an attribute name whose domain is not a DNS subdomain",
      (d) => (dra0(d).matchAttributes = ["GPU.nvidia.com/productName"]),
      "spec.rules[0].inject.dra.matchAttributes[0]",
      /"GPU\.nvidia\.com\/productName"/,
    ],
    [
      "an attribute name longer than 32 characters",
      (d) => (dra0(d).matchAttributes = [`gpu.nvidia.com/${"a".repeat(33)}`]),
      "spec.rules[0].inject.dra.matchAttributes[0]",
      /at most 32/,
    ],
    [
      "inject.dra without convertExtendedResources, which would do nothing",
      (d) => delete dra0(d).convertExtendedResources,
      "spec.rules[0].inject.dra.convertExtendedResources",
      /must be true.*would do nothing/,
    ],
    ["convertExtendedResources: false", (d) => (dra0(d).convertExtendedResources = false), "spec.rules[0].inject.dra.convertExtendedResources", /must be true/],
    ["an unknown claimSharing", (d) => (dra0(d).claimSharing = "Shared"), "spec.rules[0].inject.dra.claimSharing", /PerContainer, PerPod.*"Shared"/],
    ["a typo in an inject.dra field", (d) => (dra0(d).selector = [HOPPER]), "spec.rules[0].inject.dra.selector", /unknown field.*deviceClassName, selectors, matchAttributes/],
    ["inject.dra without a device class", (d) => delete dra0(d).deviceClassName, "spec.rules[0].inject.dra.deviceClassName", /is required/],
    ["an empty spec.dra.gpuDeviceClasses", (d) => (d.spec.dra = { gpuDeviceClasses: [] }), "spec.dra.gpuDeviceClasses", /at least one device class/],
    ["a bad name in spec.dra.gpuDeviceClasses", (d) => (d.spec.dra = { gpuDeviceClasses: ["gpu.nvidia.com", "Bad Class"] }), "spec.dra.gpuDeviceClasses[1]", /"Bad Class" is not a valid device class name/],
    ["a driver name over 63 characters", (d) => (d.spec.dra = { gpuDrivers: [`${"a".repeat(60)}.example.com`] }), "spec.dra.gpuDrivers[0]", /not a valid driver name.*at most 63/],
    ["a typo in spec.dra", (d) => (d.spec.dra = { gpuDeviceClass: ["x"] }), "spec.dra.gpuDeviceClass", /unknown field.*gpuDeviceClasses, gpuDrivers/],
  ])("rejects %s", (_name, breakIt, path, message) => {
    const doc = draDoc();
    breakIt(doc);
    const { errors } = issues(doc);
    expect(errors.map((e) => e.path)).toContain(path);
    expect(errors.find((e) => e.path === path)?.message).toMatch(message);
  });

  it("reports every DRA error of a document at once", () => {
    const doc = draDoc();
    dra0(doc).deviceClassName = "Bad";
    dra0(doc).selectors = ["(("];
    dra0(doc).matchAttributes = ["productName"];
    dra0(doc).convertExtendedResources = false;
    expect(issues(doc).errors.map((e) => e.path)).toEqual([
      "spec.rules[0].inject.dra.deviceClassName",
      "spec.rules[0].inject.dra.selectors[0]",
      "spec.rules[0].inject.dra.matchAttributes[0]",
      "spec.rules[0].inject.dra.convertExtendedResources",
    ]);
  });

  it("accepts a class added to spec.dra.gpuDeviceClasses", () => {
    const doc = draDoc();
    doc.spec.dra = { gpuDeviceClasses: ["gpu.nvidia.com", "h100.example.com"] };
    dra0(doc).deviceClassName = "h100.example.com";
    expect(issues(doc).errors).toEqual([]);
  });

  it("accepts a converting rule whose match lets 0-GPU pods through: such pods are never reviewed", () => {
    const doc = draDoc();
    doc.spec.rules[0].match.gpus = { min: 0, max: 0 };
    expect(issues(doc).errors).toEqual([]);
  });

  it("warns that several gpuResources all become devices of the one class", () => {
    const doc = draDoc();
    doc.spec.gpuResources = ["nvidia.com/gpu", "nvidia.com/gpu.shared"];
    const { errors, warnings } = issues(doc);
    expect(errors).toEqual([]);
    expect(warnings).toEqual([
      {
        path: "spec.rules[0].inject.dra.convertExtendedResources",
        message: "every resource in spec.gpuResources (nvidia.com/gpu, nvidia.com/gpu.shared) is converted into devices of class gpu.nvidia.com; a container's amounts are added up",
      },
    ]);
  });
});
