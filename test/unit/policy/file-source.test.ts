import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { watchPolicyFile, type PolicyFileSource } from "../../../src/policy/file-source.js";
import { PolicyStore, type ReloadOutcome } from "../../../src/policy/store.js";

const policy = (rule: string) => `apiVersion: topofit.io/v1alpha1\nkind: PlacementPolicy\nspec:\n  rules: [{name: ${rule}}]\n`;

/** Lets fs.watchFile take its (asynchronous) baseline stat before the file changes. */
const settle = () => new Promise((r) => setTimeout(r, 150));

/** Polls `cond` until it holds or the deadline passes. */
async function eventually(cond: () => boolean, what: string, deadlineMs = 5000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("watchPolicyFile", () => {
  let dir: string;
  let file: string;
  let source: PolicyFileSource | undefined;
  let store: PolicyStore;
  let seen: ReloadOutcome[];

  /** Replaces the file in one step, as a ConfigMap volume update does. */
  const replace = (text: string) => {
    const tmp = join(dir, `.next-${Math.random()}`);
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "topofit-policy-"));
    file = join(dir, "policy.yaml");
    store = new PolicyStore();
    seen = [];
    store.onReload((o) => seen.push(o));
  });

  afterEach(() => {
    source?.stop();
    source = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it("names its source after the file", () => {
    writeFileSync(file, policy("a"));
    source = watchPolicyFile(file, store, 20);
    expect(source.source).toBe(`file:${file}`);
  });

  it("loads the file on demand", async () => {
    writeFileSync(file, policy("a"));
    source = watchPolicyFile(file, store, 20);
    const o = await source.load();
    expect(o.result).toBe("applied");
    expect(store.current()?.source).toBe(`file:${file}`);
    expect(store.current()?.policy.rules.map((r) => r.name)).toEqual(["a"]);
  });

  it("rejects a missing file with a readable error", async () => {
    source = watchPolicyFile(join(dir, "absent.yaml"), store, 20);
    const o = await source.load();
    expect(o.result).toBe("rejected");
    expect(o.result === "rejected" && o.errors[0]?.message).toMatch(/cannot read .*absent\.yaml: ENOENT/);
  });

  it("applies the new policy when the file is edited", async () => {
    writeFileSync(file, policy("a"));
    source = watchPolicyFile(file, store, 20);
    await source.load();
    await settle();
    replace(policy("edited-rule"));
    await eventually(() => store.current()?.generation === 2, "the edited policy to be applied");
    expect(store.current()?.policy.rules.map((r) => r.name)).toEqual(["edited-rule"]);
  });

  it("keeps the old policy when the file is overwritten with garbage", async () => {
    writeFileSync(file, policy("a"));
    source = watchPolicyFile(file, store, 20);
    await source.load();
    await settle();
    const before = store.current();
    replace("{{{ this is not yaml: [\n");
    await eventually(() => seen.some((o) => o.result === "rejected"), "the garbage to be rejected");
    expect(store.current()).toBe(before);
    expect(store.current()?.policy.rules.map((r) => r.name)).toEqual(["a"]);
    const rejected = seen.find((o) => o.result === "rejected");
    expect(rejected?.result === "rejected" && rejected.kept).toBe(before);
  });

  it("recovers when a good policy follows the garbage", async () => {
    writeFileSync(file, policy("a"));
    source = watchPolicyFile(file, store, 20);
    await source.load();
    await settle();
    replace("kind: [\n");
    await eventually(() => seen.some((o) => o.result === "rejected"), "the garbage to be rejected");
    replace(policy("fixed"));
    await eventually(() => store.current()?.policy.rules[0]?.name === "fixed", "the fixed policy to be applied");
    expect(store.current()?.generation).toBe(2);
  });

  it("stops reacting to changes after stop()", async () => {
    writeFileSync(file, policy("a"));
    source = watchPolicyFile(file, store, 20);
    await source.load();
    source.stop();
    replace(policy("ignored"));
    await new Promise((r) => setTimeout(r, 200));
    expect(store.current()?.policy.rules[0]?.name).toBe("a");
  });
});
