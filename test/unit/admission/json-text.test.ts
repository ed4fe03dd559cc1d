import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { jsonString } from "../../../src/admission/json-text.js";

describe("jsonString", () => {
  it.each<[string]>([["inference"], ["req-12"], ["3f1c9e52-8a7d-4b1e-9c2f-6d0a4b8e7f31"], ["a\"b"], ["back\\slash"], ["tab\t"], ["ünï"], ["\u2028"], ["🚀"], [""], ["\u007f"]])("writes %j as JSON.stringify does", (s) => {
    expect(jsonString(s)).toBe(JSON.stringify(s));
  });

  it("agrees with JSON.stringify on any string", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (s) => {
        expect(jsonString(s)).toBe(JSON.stringify(s));
      }),
      { numRuns: 2000 },
    );
  });
});
