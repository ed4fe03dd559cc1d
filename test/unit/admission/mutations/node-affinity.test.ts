import { describe, expect, it } from "vitest";
import { injectNodeAffinity } from "../../../../src/admission/mutations/node-affinity.js";
import type { NodeSelectorRequirementWire, NodeSelectorTermWire, PodWire, PreferredSchedulingTermWire } from "../../../../src/admission/schema.js";
import type { Rule } from "../../../../src/policy/model.js";
import { pod } from "../../../builders/pod.js";
import { ruleFrom } from "../../../builders/policy.js";

const HOPPER: NodeSelectorRequirementWire = { key: "nvidia.com/gpu.family", operator: "In", values: ["hopper"] };
const EIGHT: NodeSelectorRequirementWire = { key: "nvidia.com/gpu.count", operator: "Gt", values: ["7"] };
const ZONE_A: NodeSelectorRequirementWire = { key: "topology.kubernetes.io/zone", operator: "In", values: ["a"] };
const ZONE_B: NodeSelectorRequirementWire = { key: "topology.kubernetes.io/zone", operator: "In", values: ["b"] };
const NODE_1: NodeSelectorRequirementWire = { key: "metadata.name", operator: "In", values: ["gpu-node-1"] };

function requiredRule(...terms: NodeSelectorTermWire[]): Rule {
  return ruleFrom({ inject: { nodeAffinity: { required: terms as never } } });
}

function required(p: PodWire): NodeSelectorTermWire[] | undefined {
  return p.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
}

function preferred(p: PodWire): PreferredSchedulingTermWire[] | undefined {
  return p.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution;
}

describe("injectNodeAffinity: required terms", () => {
  it("sets the rule's terms on a pod with no affinity", () => {
    const p = pod().build();
    expect(injectNodeAffinity(p, requiredRule({ matchExpressions: [HOPPER] }))).toEqual([]);
    expect(required(p)).toEqual([{ matchExpressions: [HOPPER] }]);
  });

  it("sets the rule's terms when the pod has an empty term list", () => {
    const p = pod().requiredTerms([]).build();
    injectNodeAffinity(p, requiredRule({ matchExpressions: [HOPPER] }));
    expect(required(p)).toEqual([{ matchExpressions: [HOPPER] }]);
  });

  it("ANDs the rule's requirement into the pod's single term", () => {
    const p = pod().requiredTerms([{ matchExpressions: [ZONE_A] }]).build();
    injectNodeAffinity(p, requiredRule({ matchExpressions: [HOPPER] }));
    expect(required(p)).toEqual([{ matchExpressions: [ZONE_A, HOPPER] }]);
  });

  it("keeps a pod with 2 terms at 2 terms, each gaining the rule's expressions", () => {
    const p = pod().requiredTerms([{ matchExpressions: [ZONE_A] }, { matchExpressions: [ZONE_B] }]).build();
    injectNodeAffinity(p, requiredRule({ matchExpressions: [HOPPER, EIGHT] }));
    expect(required(p)).toEqual([{ matchExpressions: [ZONE_A, HOPPER, EIGHT] }, { matchExpressions: [ZONE_B, HOPPER, EIGHT] }]);
  });

  it("ANDs matchFields into matchFields and leaves the pod's expressions as they were", () => {
    const p = pod().requiredTerms([{ matchExpressions: [ZONE_A] }]).build();
    injectNodeAffinity(p, requiredRule({ matchFields: [NODE_1] }));
    expect(required(p)).toEqual([{ matchExpressions: [ZONE_A], matchFields: [NODE_1] }]);
  });

  it("does not repeat a requirement the pod's term already has", () => {
    const p = pod().requiredTerms([{ matchExpressions: [HOPPER, ZONE_A] }]).build();
    injectNodeAffinity(p, requiredRule({ matchExpressions: [HOPPER, EIGHT] }));
    expect(required(p)).toEqual([{ matchExpressions: [HOPPER, ZONE_A, EIGHT] }]);
  });

  it("distributes two rule terms (OR) over two pod terms (OR) into the four combinations", () => {
    const p = pod().requiredTerms([{ matchExpressions: [ZONE_A] }, { matchExpressions: [ZONE_B] }]).build();
    injectNodeAffinity(p, requiredRule({ matchExpressions: [HOPPER] }, { matchExpressions: [EIGHT] }));
    expect(required(p)).toEqual([
      { matchExpressions: [ZONE_A, HOPPER] },
      { matchExpressions: [ZONE_A, EIGHT] },
      { matchExpressions: [ZONE_B, HOPPER] },
      { matchExpressions: [ZONE_B, EIGHT] },
    ]);
  });

  it.each<[string, NodeSelectorTermWire[], NodeSelectorTermWire[]]>([
    ["a pod with no terms", [], [{ matchExpressions: [HOPPER] }]],
    ["a pod with one term", [{ matchExpressions: [ZONE_A] }], [{ matchExpressions: [HOPPER] }]],
    ["a pod with two terms", [{ matchExpressions: [ZONE_A] }, { matchExpressions: [ZONE_B] }], [{ matchExpressions: [HOPPER] }]],
    ["two rule terms over two pod terms", [{ matchExpressions: [ZONE_A] }, { matchExpressions: [ZONE_B] }], [{ matchExpressions: [HOPPER] }, { matchFields: [NODE_1] }]],
  ])("is idempotent for %s", (_name, podTerms, ruleTerms) => {
    const p = pod().requiredTerms(podTerms).build();
    const rule = requiredRule(...ruleTerms);
    injectNodeAffinity(p, rule);
    const once = structuredClone(p);
    injectNodeAffinity(p, rule);
    expect(p).toEqual(once);
  });

  it("keeps the pod's preferred terms and other affinity kinds when adding required terms", () => {
    const podAffinity = { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: "kubernetes.io/hostname" }] };
    const p = pod().preferredTerms([{ weight: 5, preference: { matchExpressions: [ZONE_A] } }]).build();
    p.spec!.affinity!.podAffinity = podAffinity;
    injectNodeAffinity(p, requiredRule({ matchExpressions: [HOPPER] }));
    expect(p.spec?.affinity?.podAffinity).toEqual(podAffinity);
    expect(preferred(p)).toEqual([{ weight: 5, preference: { matchExpressions: [ZONE_A] } }]);
  });
});

describe("injectNodeAffinity: preferred terms", () => {
  const rule = ruleFrom({ inject: { nodeAffinity: { preferred: [{ weight: 50, matchExpressions: [HOPPER] as never }] } } });

  it("adds the rule's preferred term to a pod with none", () => {
    const p = pod().build();
    injectNodeAffinity(p, rule);
    expect(preferred(p)).toEqual([{ weight: 50, preference: { matchExpressions: [HOPPER] } }]);
    expect(required(p)).toBeUndefined();
  });

  it("appends after the pod's own preferred terms", () => {
    const p = pod().preferredTerms([{ weight: 10, preference: { matchExpressions: [ZONE_A] } }]).build();
    injectNodeAffinity(p, rule);
    expect(preferred(p)).toEqual([
      { weight: 10, preference: { matchExpressions: [ZONE_A] } },
      { weight: 50, preference: { matchExpressions: [HOPPER] } },
    ]);
  });

  it("appends once: a second pass adds nothing", () => {
    const p = pod().build();
    injectNodeAffinity(p, rule);
    injectNodeAffinity(p, rule);
    expect(preferred(p)).toHaveLength(1);
  });

  it("appends a term that differs only by weight", () => {
    const p = pod().preferredTerms([{ weight: 10, preference: { matchExpressions: [HOPPER] } }]).build();
    injectNodeAffinity(p, rule);
    expect(preferred(p)).toHaveLength(2);
  });
});

describe("injectNodeAffinity: no affinity in the rule", () => {
  it("leaves a pod without affinity untouched", () => {
    const p = pod().build();
    injectNodeAffinity(p, ruleFrom({}));
    expect(p.spec?.affinity).toBeUndefined();
  });
});
