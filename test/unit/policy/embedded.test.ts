import { describe, expect, it } from "vitest";
import { EMBEDDED_POLICY_YAML } from "../../../src/policy/embedded.js";
import { loadPolicyText } from "../../../src/policy/load.js";

describe("the embedded example policy", () => {
  const loaded = loadPolicyText(EMBEDDED_POLICY_YAML);

  it("validates as written, with no errors and no warnings", () => {
    expect(loaded.ok ? [] : loaded.errors).toEqual([]);
    expect(loaded.warnings).toEqual([]);
  });

  it("has the three documented rules in order", () => {
    expect(loaded.ok && loaded.policy.rules.map((r) => r.name)).toEqual(["training", "inference", "any-gpu"]);
  });

  it("gives training NVLink-required single-NUMA bin-packing", () => {
    const training = loaded.ok ? loaded.policy.rules[0] : undefined;
    expect(training?.placementAnnotation).toBe('{"gpuLinks":"NVLinkRequired","numa":"SingleNode","strategy":"BinPack"}');
    expect(training?.match.gpus).toEqual({ min: 2 });
    expect(training?.inject.priorityClassMode).toBe("IfAbsent");
    expect(training?.inject.nodeSelectorMode).toBe("IfAbsent");
  });
});
