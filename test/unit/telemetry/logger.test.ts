import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger, isoTimestamp, writeInfoRecord } from "../../../src/telemetry/logger.js";

const iso = (t: number) => `,"time":"${new Date(t).toISOString()}"`;

describe("isoTimestamp", () => {
  it.each<[string, number]>([
    ["a whole second", Date.UTC(2026, 10, 23, 14, 13, 32, 0)],
    ["single-digit milliseconds", Date.UTC(2026, 10, 23, 14, 13, 32, 7)],
    ["two-digit milliseconds", Date.UTC(2026, 10, 23, 14, 13, 32, 42)],
    ["three-digit milliseconds", Date.UTC(2026, 10, 23, 14, 13, 32, 999)],
    ["the last millisecond of a year", Date.UTC(2026, 11, 31, 23, 59, 59, 999)],
    ["the epoch", 0],
  ])("writes %s as toISOString does", (_name, t) => {
    expect(isoTimestamp(t)).toBe(iso(t));
  });

  it("stays exact across second boundaries, forwards and backwards (a clock step)", () => {
    const start = Date.UTC(2026, 10, 23, 14, 13, 58, 990);
    const times = [...Array.from({ length: 2500 }, (_, i) => start + i * 7), start - 86_400_000, start];
    for (const t of times) expect(isoTimestamp(t)).toBe(iso(t));
  });
});

describe("createLogger", () => {
  it("writes one JSON line per event with the level name, the ISO time, the service and the fields", () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const before = Date.now();
    createLogger({ level: "info", destination }).info({ rule: "inference", gpus: 2 }, "mutated");
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({ level: "info", service: "topofit", rule: "inference", gpus: 2, msg: "mutated" });
    expect(new Date(line.time as string).toISOString()).toBe(line.time);
    expect(Date.parse(line.time as string)).toBeGreaterThanOrEqual(before);
  });
});

describe("writeInfoRecord", () => {
  const capture = () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    return { lines, destination };
  };
  const withoutTime = (line: string) => {
    const { time, ...rest } = JSON.parse(line) as Record<string, unknown>;
    expect(typeof time).toBe("string");
    return rest;
  };

  it("writes the line log.info writes for the same members, bindings of a child logger included", () => {
    const { lines, destination } = capture();
    const log = createLogger({ level: "info", destination }).child({ component: "admission" });
    const fields = { reqId: "req-7", pod: { namespace: "ml", name: 'we"ird' }, gpus: 2, dryRun: false, notes: ["a", "b"] };
    log.info(fields, "mutated");
    writeInfoRecord(log, ',"reqId":"req-7","pod":{"namespace":"ml","name":"we\\"ird"},"gpus":2,"dryRun":false,"notes":["a","b"]', "mutated");
    expect(lines).toHaveLength(2);
    expect(lines[1]!.endsWith("\n")).toBe(true);
    expect(withoutTime(lines[1]!)).toEqual(withoutTime(lines[0]!));
    expect(Object.keys(JSON.parse(lines[1]!) as object)).toEqual(Object.keys(JSON.parse(lines[0]!) as object));
  });

  it("writes nothing when the logger's level is above info", () => {
    const { lines, destination } = capture();
    writeInfoRecord(createLogger({ level: "warn", destination }), ',"gpus":2', "mutated");
    expect(lines).toEqual([]);
  });
});
