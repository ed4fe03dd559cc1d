import { describe, expect, it } from "vitest";
import { parseExposition, parseSampleValue } from "../../../src/topology/exposition.js";
import { DCGM_FIXTURES, dcgmFixture } from "../../fixtures/load.js";

const one = (line: string) => {
  const out = parseExposition(`${line}\n`);
  return { sample: out.samples[0], errors: out.errors };
};

describe("parseExposition", () => {
  it("reads a sample with labels, HELP and TYPE", () => {
    const out = parseExposition(
      [
        "# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).",
        "# TYPE DCGM_FI_DEV_GPU_UTIL gauge",
        'DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-1",Hostname="n1"} 98',
        "",
      ].join("\n"),
    );
    expect(out.errors).toEqual([]);
    expect(out.complete).toBe(true);
    expect(out.samples).toHaveLength(1);
    expect(out.samples[0]?.name).toBe("DCGM_FI_DEV_GPU_UTIL");
    expect({ ...out.samples[0]?.labels }).toEqual({ gpu: "0", UUID: "GPU-1", Hostname: "n1" });
    expect(out.samples[0]?.value).toBe(98);
    expect(out.samples[0]?.timestampMs).toBeUndefined();
    expect(out.types.get("DCGM_FI_DEV_GPU_UTIL")).toBe("gauge");
    expect(out.help.get("DCGM_FI_DEV_GPU_UTIL")).toBe("GPU utilization (in %).");
  });

  it.each([
    ["a backslash", 'm{a="x\\\\y"} 1', "x\\y"],
    ["a double quote", 'm{a="say \\"hi\\""} 1', 'say "hi"'],
    ["a newline", 'm{a="two\\nlines"} 1', "two\nlines"],
    ["a comma and braces inside the quotes", 'm{a="x,}{=y"} 1', "x,}{=y"],
    ["UTF-8 text", 'm{a="GPU temperature (in °C)"} 1', "GPU temperature (in °C)"],
    ["an empty string", 'm{a=""} 1', ""],
  ])("unescapes a label value holding %s", (_what, line, value) => {
    const { sample, errors } = one(line);
    expect(errors).toEqual([]);
    expect(sample?.labels.a).toBe(value);
  });

  it.each([
    ["an integer", "42", 42],
    ["a Go %f double", "612.451000", 612.451],
    ["a negative number", "-3.5", -3.5],
    ["an exponent", "1.5e3", 1500],
    ["a leading dot", ".5", 0.5],
    ["+Inf", "+Inf", Number.POSITIVE_INFINITY],
    ["-Inf", "-Inf", Number.NEGATIVE_INFINITY],
    ["Inf", "Inf", Number.POSITIVE_INFINITY],
    ["a large counter", "48213377701", 48213377701],
  ])("reads %s as a value", (_what, token, value) => {
    const { sample, errors } = one(`m ${token}`);
    expect(errors).toEqual([]);
    expect(sample?.value).toBe(value);
  });

  it("reads NaN as a value", () => {
    expect(Number.isNaN(one("m NaN").sample?.value)).toBe(true);
  });

  it.each([
    ["a timestamp", "m 1 1715500000000", 1715500000000],
    ["a negative timestamp", "m 1 -5", -5],
    ["a timestamp after labels and tabs", 'm{a="b"}\t7\t1715500000000', 1715500000000],
  ])("reads %s", (_what, line, ts) => {
    const { sample, errors } = one(line);
    expect(errors).toEqual([]);
    expect(sample?.timestampMs).toBe(ts);
  });

  it.each([
    ["no labels", "up 1", {}],
    ["empty braces", "up{} 1", {}],
    ["a trailing comma", 'up{a="1",} 1', { a: "1" }],
    ["blanks around the label tokens", 'up{ a = "1" , b="2" } 1', { a: "1", b: "2" }],
    ["a blank between name and braces", 'up {a="1"} 1', { a: "1" }],
    ["leading blanks", '   up{a="1"} 1', { a: "1" }],
    ["trailing blanks", 'up{a="1"} 1   ', { a: "1" }],
    ["a colon in the metric name", "job:rate:sum 1", {}],
  ])("accepts a sample with %s", (_what, line, labels) => {
    const { sample, errors } = one(line);
    expect(errors).toEqual([]);
    expect({ ...sample?.labels }).toEqual(labels);
  });

  it("keeps a label named __proto__ as an ordinary label", () => {
    const { sample, errors } = one('m{__proto__="x"} 1');
    expect(errors).toEqual([]);
    expect(sample?.labels.__proto__).toBe("x");
    expect(Object.keys(sample!.labels)).toEqual(["__proto__"]);
  });

  it.each([["toString"], ["constructor"], ["hasOwnProperty"]])("reads a label named %s, which Object.prototype would otherwise supply, only when the line has it", (name) => {
    expect(one(`m{${name}="v"} 1`).sample?.labels[name]).toBe("v");
    expect(one("m{a=\"v\"} 1").sample?.labels[name]).toBeUndefined();
    expect(one(`m{${name}="v",${name}="w"} 1`).errors[0]?.message).toBe(`label ${name} appears twice`);
  });

  it("ignores blank lines, CRLF line ends and plain comments", () => {
    const out = parseExposition("\n\n# just a comment\r\n  \t \r\nm 1\r\n\n# another\n");
    expect(out.errors).toEqual([]);
    expect(out.samples.map((s) => s.value)).toEqual([1]);
  });

  it("reads a body without a final newline", () => {
    expect(parseExposition("a 1\nb 2").samples.map((s) => s.name)).toEqual(["a", "b"]);
  });

  it("unescapes HELP text", () => {
    const out = parseExposition("# HELP m first\\nsecond \\\\ done\n");
    expect(out.help.get("m")).toBe("first\nsecond \\ done");
  });

  it.each([
    ["a missing value", 'm{a="1"}', "metric m has no value"],
    ["a value that is not a number", "m abc", 'value "abc" is not a number'],
    ["a Go hex float", "m 0x10", 'value "0x10" is not a number'],
    ["a fractional timestamp", "m 1 1.5", 'timestamp "1.5" is not an integer number of milliseconds'],
    ["text after the timestamp", "m 1 2 3", 'unexpected text after the timestamp: "3"'],
    ["an unterminated label value", 'm{a="1} 1', "unterminated value of label a"],
    ["an invalid escape", 'm{a="\\t"} 1', "invalid escape \\t in the value of label a"],
    ["a duplicate label", 'm{a="1",a="2"} 1', "label a appears twice"],
    ["an unquoted label value", "m{a=1} 1", `expected '"' to open the value of label a, found "1"`],
    ["a missing equals sign", 'm{a "1"} 1', 'expected "=" after label a, found "\\""'],
    ["a label name starting with a digit", 'm{1a="x"} 1', 'expected a label name or "}", found "1"'],
    ["a missing separator between labels", 'm{a="1" b="2"} 1', 'expected "," or "}" after the value of label a, found "b"'],
    ["a metric name starting with a digit", "1m 1", 'expected a metric name, found "1"'],
    ["HTML", "<html>", 'expected a metric name, found "<"'],
    ["a value glued to the braces", 'm{a="1"}1', 'expected a blank before the value, found "1"'],
  ])("reports %s as an error with its line number", (_what, line, message) => {
    const out = parseExposition(`good 1\n${line}\nalso_good 2\n`);
    expect(out.errors).toEqual([{ line: 2, message }]);
    expect(out.errorCount).toBe(1);
    expect(out.samples.map((s) => s.name)).toEqual(["good", "also_good"]);
    expect(out.complete).toBe(true);
  });

  it.each([
    ["an unknown type", "# TYPE m histogramm", 'unknown type "histogramm"'],
    ["a second TYPE line", "# TYPE m gauge\n# TYPE m counter", "second # TYPE line for m"],
    ["a second HELP line", "# HELP m a\n# HELP m b", "second # HELP line for m"],
    ["a TYPE line after the samples", "m 1\n# TYPE m gauge", "# TYPE line for m after its samples"],
    ["a bad metric name", "# TYPE 9m gauge", '"9m" is not a metric name'],
    ["a bad HELP escape", "# HELP m a\\tb", "invalid escape sequence"],
  ])("reports %s in the metadata", (_what, text, message) => {
    const out = parseExposition(`${text}\n`);
    expect(out.errors).toHaveLength(1);
    expect(out.errors[0]?.message).toContain(message);
  });

  it("rejects input over the byte limit without parsing it", () => {
    const out = parseExposition("m 1\n".repeat(100), { maxBytes: 100 });
    expect(out.samples).toEqual([]);
    expect(out.complete).toBe(false);
    expect(out.errors).toEqual([{ line: 0, message: "input is 400 bytes, over the limit of 100" }]);
  });

  it("counts the byte limit in UTF-8 bytes, not characters", () => {
    const text = 'm{a="°°°°°"} 1\n';
    expect(parseExposition(text, { maxBytes: text.length }).complete).toBe(false);
    expect(parseExposition(text, { maxBytes: Buffer.byteLength(text) }).complete).toBe(true);
  });

  it("stops at the line limit and marks the result incomplete", () => {
    const out = parseExposition("m 1\n".repeat(10), { maxLines: 4 });
    expect(out.samples).toHaveLength(4);
    expect(out.complete).toBe(false);
    expect(out.errors).toEqual([{ line: 5, message: "more than 4 lines; the rest is ignored" }]);
  });

  it("keeps at most maxErrors errors but counts them all", () => {
    const out = parseExposition("bad line\n".repeat(30), { maxErrors: 5 });
    expect(out.errors).toHaveLength(5);
    expect(out.errorCount).toBe(30);
    expect(out.errors.map((e) => e.line)).toEqual([1, 2, 3, 4, 5]);
  });

  it("rejects a sample with more labels than allowed", () => {
    const out = parseExposition('m{a="1",b="2",c="3"} 1\n', { maxLabels: 2 });
    expect(out.errors[0]?.message).toBe("more than 2 labels");
  });

  it.each(DCGM_FIXTURES.filter((f) => f !== "garbage"))("parses the %s fixture without errors", (name) => {
    const out = parseExposition(dcgmFixture(name));
    expect(out.errors).toEqual([]);
    expect(out.complete).toBe(true);
  });

  it("finds every line of the garbage fixture malformed and yields no samples", () => {
    const out = parseExposition(dcgmFixture("garbage"));
    expect(out.samples).toEqual([]);
    expect(out.errorCount).toBe(7);
  });

  it("never throws on arbitrary input", () => {
    const inputs = ["{", "}", '"', "\\", "m{", 'm{a="', "m{a=\"\\", "#", "# TYPE", "# HELP", "\u0000\u0001", "m{a=\"b\"} \u00a0"];
    for (const s of inputs) expect(() => parseExposition(s)).not.toThrow();
  });
});

describe("parseSampleValue", () => {
  it.each([
    ["nan", true],
    ["+inf", true],
    ["-Infinity", true],
    ["1_000", false],
    ["", false],
    ["1e", false],
    ["--1", false],
  ])("treats %j as a value: %s", (token, ok) => {
    expect(parseSampleValue(token) !== undefined).toBe(ok);
  });
});
