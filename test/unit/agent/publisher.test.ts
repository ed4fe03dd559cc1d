import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { collectTopology, type CollectResult } from "../../../src/agent/collect.js";
import { backoffDelayMs, DEFAULT_BACKOFF, jitterMs, publishOnce, runPublisher, type PublishOutcome } from "../../../src/agent/publisher.js";
import { decodeTopologyAnnotation } from "../../../src/topology/annotation.js";
import { silentLogger } from "../../../src/telemetry/logger.js";
import { FakeNodeAnnotations } from "../../builders/fake-node-annotations.js";
import { fakeNvidiaSmi, type FakeNvidiaSmi } from "../../builders/fake-nvidia-smi.js";

const NODE = "gpu-node-1";
const INTERVAL = 300_000;

describe("backoff and jitter", () => {
  it.each([
    [1, 5_000],
    [2, 10_000],
    [3, 20_000],
    [4, 40_000],
    [6, 160_000],
    [7, 300_000],
    [20, 300_000],
  ])("waits, after %d failures in a row, %d ms", (failures, ms) => {
    expect(backoffDelayMs(failures, DEFAULT_BACKOFF)).toBe(ms);
  });

  it("never waits longer than the publish interval", () => {
    expect(backoffDelayMs(5, DEFAULT_BACKOFF, 60_000)).toBe(60_000);
  });

  it.each([
    [0, 270_000],
    [0.5, 300_000],
    [0.9999999, 330_000],
  ])("spreads a 5-minute wait over ±10%%: random %d gives %d ms", (r, ms) => {
    expect(jitterMs(300_000, 0.1, () => r)).toBe(ms);
  });
});

describe("publishOnce", () => {
  const good = (value: string): (() => Promise<CollectResult>) => async () => ({ ok: true, value, annotation: { v: 1, gpus: [{ index: 0 }], links: [] }, warnings: [] });
  const bad: () => Promise<CollectResult> = async () => ({ ok: false, reason: "nvidia-smi topo -m exited with status 9", warnings: [] });

  it.each<[string, Record<string, string>, () => Promise<CollectResult>, PublishOutcome["result"], number]>([
    ["patches a node without the annotation", {}, good("A"), "patched", 1],
    ["patches a node whose annotation differs", { [NODE]: "OLD" }, good("A"), "patched", 1],
    ["does not patch when the value is unchanged", { [NODE]: "A" }, good("A"), "unchanged", 0],
    ["does not touch the node when collection fails", { [NODE]: "OLD" }, bad, "collect-failed", 0],
  ])("%s", async (_name, initial, collect, result, patches) => {
    const port = new FakeNodeAnnotations(initial);
    const outcome = await publishOnce(NODE, { collect, port });
    expect(outcome.result).toBe(result);
    expect(port.patches).toHaveLength(patches);
    expect(port.values.get(NODE)).toBe(result === "patched" ? "A" : initial[NODE]);
  });

  it("does not read the node when collection fails", async () => {
    const port = new FakeNodeAnnotations();
    await publishOnce(NODE, { collect: bad, port });
    expect(port.gets).toBe(0);
  });

  it("reports a collector that throws as a failure instead of rejecting", async () => {
    const outcome = await publishOnce(NODE, { collect: () => Promise.reject(new Error("boom")), port: new FakeNodeAnnotations() });
    expect(outcome).toEqual({ result: "collect-failed", reason: "boom", warnings: [] });
  });

  it("does not patch when the node cannot be read", async () => {
    const port = new FakeNodeAnnotations({ [NODE]: "OLD" });
    port.failGet = Object.assign(new Error("HTTP-Code: 403"), { code: 403, body: '{"message":"nodes \\"gpu-node-1\\" is forbidden"}' });
    const outcome = await publishOnce(NODE, { collect: good("A"), port });
    expect(outcome).toMatchObject({ result: "read-failed", reason: 'cannot read node gpu-node-1: HTTP 403: nodes "gpu-node-1" is forbidden' });
    expect(port.patches).toEqual([]);
  });

  it("reports a failed patch and leaves the old value", async () => {
    const port = new FakeNodeAnnotations({ [NODE]: "OLD" });
    port.failPatch = new Error("socket hang up");
    const outcome = await publishOnce(NODE, { collect: good("A"), port });
    expect(outcome).toMatchObject({ result: "patch-failed", reason: "cannot patch node gpu-node-1: socket hang up" });
    expect(port.values.get(NODE)).toBe("OLD");
  });
});

describe("runPublisher with a stand-in nvidia-smi", () => {
  let fake: FakeNvidiaSmi;
  let sysfs: string;
  beforeAll(() => {
    fake = fakeNvidiaSmi("dgx-h100");
    sysfs = mkdtempSync(join(tmpdir(), "topofit-publisher-sysfs-"));
  });
  afterEach(() => {
    fake.fail(false);
    fake.use("dgx-h100");
  });
  afterAll(() => {
    fake.remove();
    rmSync(sysfs, { recursive: true, force: true });
  });

  /**
   * Runs the loop for `rounds` rounds. Between rounds, `between(k)` may change
   * the world (k = 1 after the first round). Returns the waits requested.
   */
  async function run(port: FakeNodeAnnotations, rounds: number, between: (k: number) => void = () => undefined): Promise<number[]> {
    const waits: number[] = [];
    const controller = new AbortController();
    await runPublisher(
      { nodeName: NODE, intervalMs: INTERVAL },
      {
        collect: () => collectTopology({ nvidiaSmi: fake.path, sysfsRoot: sysfs, timeoutMs: 10_000 }),
        port,
        log: silentLogger(),
        random: () => 0.5,
        sleep: async (ms) => {
          waits.push(ms);
          if (waits.length >= rounds) controller.abort();
          else between(waits.length);
        },
      },
      controller.signal,
    );
    return waits;
  }

  it("publishes at start, then leaves an unchanged node alone", async () => {
    const port = new FakeNodeAnnotations();
    const waits = await run(port, 3);
    expect(port.patches).toHaveLength(1);
    expect(port.gets).toBe(3);
    expect(waits).toEqual([INTERVAL, INTERVAL, INTERVAL]);
    const decoded = decodeTopologyAnnotation(port.values.get(NODE) ?? "");
    expect(decoded.ok && decoded.annotation.gpus).toHaveLength(8);
  });

  it("patches once more when the topology changes", async () => {
    const port = new FakeNodeAnnotations();
    await run(port, 3, (k) => {
      if (k === 1) fake.use("a100-sxm4-mig");
    });
    expect(port.patches).toHaveLength(2);
    const decoded = decodeTopologyAnnotation(port.patches[1]?.value ?? "");
    expect(decoded.ok && decoded.annotation.gpus.map((g) => g.mig ?? false)).toEqual([true, true, false, false]);
  });

  it("keeps a good annotation through failures, backing off further each time, and resumes the interval after recovery", async () => {
    const port = new FakeNodeAnnotations();
    const waits = await run(port, 7, (k) => {
      if (k === 1) fake.fail(true);
      if (k === 5) fake.fail(false);
    });
    const good = port.values.get(NODE);
    expect(good).toBeDefined();
    expect(port.patches).toHaveLength(1);
    expect(port.values.get(NODE)).toBe(good);
    expect(waits).toEqual([INTERVAL, 5_000, 10_000, 20_000, 40_000, INTERVAL, INTERVAL]);
  });

  it("retries failed API calls with backoff too", async () => {
    const port = new FakeNodeAnnotations();
    port.failPatch = new Error("connection refused");
    const waits = await run(port, 4, (k) => {
      if (k === 3) port.failPatch = undefined;
    });
    expect(waits).toEqual([5_000, 10_000, 20_000, INTERVAL]);
    expect(port.patches).toHaveLength(1);
  });

  it("stops promptly when aborted during a wait", async () => {
    const controller = new AbortController();
    const port = new FakeNodeAnnotations();
    const done = runPublisher(
      { nodeName: NODE, intervalMs: INTERVAL },
      { collect: () => collectTopology({ nvidiaSmi: fake.path, sysfsRoot: sysfs, timeoutMs: 10_000 }), port, log: silentLogger() },
      controller.signal,
    );
    await new Promise((r) => setTimeout(r, 200));
    controller.abort();
    await done;
    expect(port.patches).toHaveLength(1);
  });
});
