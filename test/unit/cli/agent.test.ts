import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderAnnotation, runAgent } from "../../../src/cli/agent.js";
import { DEFAULT_COMMAND_TIMEOUT_MS, parseCommand, parseDuration, USAGE, type AgentSettings } from "../../../src/config.js";
import { decodeTopologyAnnotation } from "../../../src/topology/annotation.js";
import { silentLogger } from "../../../src/telemetry/logger.js";
import { FakeNodeAnnotations } from "../../builders/fake-node-annotations.js";
import { fakeNvidiaSmi, type FakeNvidiaSmi } from "../../builders/fake-nvidia-smi.js";

const REPO = fileURLToPath(new URL("../../../", import.meta.url));

function agent(argv: string[], env: NodeJS.ProcessEnv = {}): AgentSettings {
  const parsed = parseCommand(["agent", ...argv], env);
  if (!parsed.ok) throw new Error(`expected a valid command, got: ${parsed.error}`);
  if (parsed.command.name !== "agent") throw new Error(`expected agent, got ${parsed.command.name}`);
  return parsed.command.settings;
}

function error(argv: string[], env: NodeJS.ProcessEnv = {}): string {
  const parsed = parseCommand(["agent", ...argv], env);
  if (parsed.ok) throw new Error(`expected an error, got ${JSON.stringify(parsed.command)}`);
  return parsed.error;
}

describe("parseCommand: agent", () => {
  it("takes the node name from NODE_NAME and defaults everything else", () => {
    expect(agent([], { NODE_NAME: "gpu-node-1" })).toEqual({
      nodeName: "gpu-node-1",
      nvidiaSmi: "nvidia-smi",
      sysfsRoot: "/sys",
      intervalMs: 300_000,
      commandTimeoutMs: DEFAULT_COMMAND_TIMEOUT_MS,
      once: false,
      print: false,
      logLevel: "info",
    });
  });

  it("reads every flag, and lets --node-name win over NODE_NAME", () => {
    expect(
      agent(
        ["--node-name", "dgx-07", "--nvidia-smi", "/run/nvidia/driver/usr/bin/nvidia-smi", "--sysfs-root", "/host/sys", "--interval", "90s", "--kubeconfig", "/k", "--once", "--log-level", "debug"],
        { NODE_NAME: "ignored", KUBERNETES_SERVICE_HOST: "10.96.0.1" },
      ),
    ).toEqual({
      nodeName: "dgx-07",
      nvidiaSmi: "/run/nvidia/driver/usr/bin/nvidia-smi",
      sysfsRoot: "/host/sys",
      intervalMs: 90_000,
      commandTimeoutMs: DEFAULT_COMMAND_TIMEOUT_MS,
      kubeconfig: "/k",
      inClusterHost: "10.96.0.1",
      once: true,
      print: false,
      logLevel: "debug",
    });
  });

  it("needs no node name with --print, which implies --once", () => {
    expect(agent(["--print"])).toMatchObject({ print: true, once: true });
    expect(agent(["--print"]).nodeName).toBeUndefined();
  });

  it.each<[string, string[], NodeJS.ProcessEnv, RegExp]>([
    ["no node name", [], {}, /needs --node-name or the NODE_NAME environment variable/],
    ["an empty NODE_NAME", [], { NODE_NAME: "" }, /needs --node-name/],
    ["a node name that is not one", ["--node-name", "GPU_Node"], {}, /"GPU_Node" is not a valid Node name/],
    ["an interval without a unit", ["--interval", "300"], { NODE_NAME: "n" }, /--interval must be a duration/],
    ["an interval under 10s", ["--interval", "5s"], { NODE_NAME: "n" }, /at least 10s/],
    ["an empty --nvidia-smi", ["--nvidia-smi", ""], { NODE_NAME: "n" }, /--nvidia-smi must not be empty/],
    ["an unknown flag", ["--node", "n"], {}, /--node/],
    ["a positional argument", ["extra"], { NODE_NAME: "n" }, /no arguments.*extra/],
    ["an unknown log level", ["--log-level", "loud"], { NODE_NAME: "n" }, /log level/],
  ])("rejects %s", (_name, argv, env, message) => {
    expect(error(argv, env)).toMatch(message);
  });

  it("answers agent --help with the usage", () => {
    expect(parseCommand(["agent", "--help"], {})).toEqual({ ok: true, command: { name: "help", topic: "agent" } });
    expect(USAGE).toMatch(/topofit agent \[flags\]/);
    expect(USAGE).toMatch(/--nvidia-smi PATH/);
  });

  it.each([
    ["5m", 300_000],
    ["30s", 30_000],
    ["1h30m", 5_400_000],
    ["1.5m", 90_000],
    ["250ms", 250],
    ["5", undefined],
    ["m", undefined],
    ["5 m", undefined],
  ])("reads the duration %s as %s ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });
});

describe("runAgent", () => {
  let fake: FakeNvidiaSmi;
  let sysfs: string;
  const settings = (over: Partial<AgentSettings> = {}): AgentSettings => ({
    nodeName: "gpu-node-1",
    nvidiaSmi: fake.path,
    sysfsRoot: sysfs,
    intervalMs: 300_000,
    commandTimeoutMs: 10_000,
    once: true,
    print: false,
    logLevel: "silent",
    ...over,
  });
  beforeAll(() => {
    fake = fakeNvidiaSmi("dgx-h100");
    sysfs = mkdtempSync(join(tmpdir(), "topofit-agent-sysfs-"));
  });
  afterAll(() => {
    fake.remove();
    rmSync(sysfs, { recursive: true, force: true });
  });

  it("--print writes the annotation, pretty and compact, and talks to no cluster", async () => {
    let out = "";
    const port = new FakeNodeAnnotations();
    const code = await runAgent(settings({ print: true }), { out: (t) => (out += t), log: silentLogger(), port });
    expect(code).toBe(0);
    expect(port.gets).toBe(0);
    const lines = out.trimEnd().split("\n");
    expect(lines[0]).toBe("# topofit.io/gpu-topology for node gpu-node-1: 8 GPUs");
    expect(out).toContain('  "v": 1,');
    expect(out).toContain("GPU0  X     NV18  NV18  NV18  NV18  NV18  NV18  NV18  NUMA 0");
    const compact = lines.at(-1) ?? "";
    expect(decodeTopologyAnnotation(compact).ok).toBe(true);
    expect(JSON.parse(compact)).toEqual(JSON.parse(out.slice(out.indexOf("{"), out.indexOf("\n}\n") + 2)));
  });

  it("--print exits 1 and prints nothing when nvidia-smi fails", async () => {
    fake.fail(true);
    let out = "";
    try {
      expect(await runAgent(settings({ print: true }), { out: (t) => (out += t), log: silentLogger() })).toBe(0 + 1);
    } finally {
      fake.fail(false);
    }
    expect(out).toBe("");
  });

  it("--once patches the node, then finds it up to date", async () => {
    const port = new FakeNodeAnnotations();
    const deps = { out: () => undefined, log: silentLogger(), port };
    expect(await runAgent(settings(), deps)).toBe(0);
    expect(await runAgent(settings(), deps)).toBe(0);
    expect(port.patches.map((p) => p.node)).toEqual(["gpu-node-1"]);
  });

  it("--once exits 1 and keeps the node's annotation when nvidia-smi fails", async () => {
    const port = new FakeNodeAnnotations({ "gpu-node-1": "GOOD" });
    fake.fail(true);
    try {
      expect(await runAgent(settings(), { out: () => undefined, log: silentLogger(), port })).toBe(1);
    } finally {
      fake.fail(false);
    }
    expect(port.values.get("gpu-node-1")).toBe("GOOD");
    expect(port.patches).toEqual([]);
  });

  it("keeps publishing until its signal aborts", async () => {
    const controller = new AbortController();
    const port = new FakeNodeAnnotations();
    const patch = port.patch.bind(port);
    port.patch = async (node, value) => {
      await patch(node, value);
      controller.abort();
    };
    expect(await runAgent(settings({ once: false }), { out: () => undefined, log: silentLogger(), port, signal: controller.signal })).toBe(0);
    expect(port.patches).toHaveLength(1);
  });

  it("refuses to publish without cluster credentials", async () => {
    await expect(runAgent(settings(), { out: () => undefined, log: silentLogger() })).rejects.toThrow(/needs a cluster/);
  });

  it("renders a one-GPU node without a links table row for pairs", () => {
    const text = renderAnnotation(undefined, {
      ok: true,
      value: '{"v":1,"gpus":[{"index":0,"numa":0}],"links":[]}',
      annotation: { v: 1, gpus: [{ index: 0, numa: 0 }], links: [] },
      warnings: [],
    });
    expect(text.split("\n")[0]).toBe("# topofit.io/gpu-topology: 1 GPU");
    expect(text).toContain("GPU0  X     NUMA 0");
  });
});

/** True when dist/ is missing or older than any source file. */
function distIsStale(): boolean {
  const built = join(REPO, "dist", "cli", "agent.js");
  if (!existsSync(built) || !existsSync(join(REPO, "dist", "main.js"))) return true;
  const builtAt = statSync(built).mtimeMs;
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((m, e) => {
      const p = join(dir, e.name);
      return Math.max(m, e.isDirectory() ? newest(p) : e.name.endsWith(".ts") ? statSync(p).mtimeMs : 0);
    }, 0);
  return newest(join(REPO, "src")) > builtAt;
}

describe("topofit agent --once --print through dist/main.js", () => {
  let fake: FakeNvidiaSmi;
  let sysfs: string;

  beforeAll(() => {
    // `npm run build` normally precedes this (npm test does it); build here when dist/ is behind the sources.
    if (distIsStale()) spawnSync("npm", ["run", "build"], { cwd: REPO, stdio: "ignore" });
    fake = fakeNvidiaSmi("a100-pcie-nvlink-bridge");
    sysfs = mkdtempSync(join(tmpdir(), "topofit-agent-cli-sysfs-"));
  }, 180_000);
  afterAll(() => {
    fake.remove();
    rmSync(sysfs, { recursive: true, force: true });
  });

  const topofit = (args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [join(REPO, "dist", "main.js"), ...args], {
        cwd: REPO,
        env: { PATH: `${fake.dir}:${process.env.PATH ?? ""}`, NODE_NAME: "a100-node-3", HOME: tmpdir() },
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      child.on("close", (code) => resolve({ code, stdout, stderr }));
    });

  it("finds nvidia-smi on PATH and prints the annotation it would publish", async () => {
    const { code, stdout, stderr } = await topofit(["agent", "--once", "--print", "--sysfs-root", sysfs]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout.split("\n")[0]).toBe("# topofit.io/gpu-topology for node a100-node-3: 4 GPUs");
    const decoded = decodeTopologyAnnotation(stdout.trimEnd().split("\n").at(-1) ?? "");
    if (!decoded.ok) throw new Error(decoded.reason);
    expect(decoded.annotation.links).toEqual(["NV12", "SYS", "SYS", "SYS", "SYS", "NV12"]);
    expect(decoded.annotation.gpus.map((g) => [g.product, g.numa])).toEqual([
      ["NVIDIA A100 80GB PCIe", 0],
      ["NVIDIA A100 80GB PCIe", 0],
      ["NVIDIA A100 80GB PCIe", 1],
      ["NVIDIA A100 80GB PCIe", 1],
    ]);
  });

  it("exits 1 with the reason on stderr and nothing on stdout when nvidia-smi fails", async () => {
    fake.fail(true);
    try {
      const { code, stdout, stderr } = await topofit(["agent", "--once", "--print", "--sysfs-root", sysfs]);
      expect(code).toBe(1);
      expect(stdout).toBe("");
      expect(stderr).toMatch(/cannot build the topology annotation/);
      expect(stderr).toMatch(/couldn't communicate with the NVIDIA driver/);
    } finally {
      fake.fail(false);
    }
  });

  it("exits 2 with the usage when no node name is known and --print is not given", async () => {
    const child = spawnSync(process.execPath, [join(REPO, "dist", "main.js"), "agent", "--once"], { cwd: REPO, env: { PATH: process.env.PATH ?? "" }, encoding: "utf8" });
    expect(child.status).toBe(2);
    expect(child.stderr).toMatch(/agent needs --node-name or the NODE_NAME environment variable/);
  });
});
