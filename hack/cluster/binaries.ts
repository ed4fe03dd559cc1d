// Finds the control-plane binaries, building them with hack/kube/build.sh when
// they are not there yet.
//
// Lookup order, per binary:
//   1. an explicit directory passed by the caller (`binDir`)
//   2. $TOPOFIT_KUBE_BIN_DIR
//   3. $KUBEBUILDER_ASSETS (envtest layout; only etcd, kube-apiserver, kubectl)
//   4. the build cache (`bash hack/kube/build.sh --print`)

import { spawn, execFile } from "node:child_process";
import { accessSync, constants, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export const repoRoot: string = path.resolve(fileURLToPath(new URL("../..", import.meta.url)));
export const buildScript: string = path.join(repoRoot, "hack", "kube", "build.sh");
export const buildCommand = "bash hack/kube/build.sh";

export const KUBE_BINARY_NAMES = [
  "etcd",
  "kube-apiserver",
  "kube-scheduler",
  "kube-controller-manager",
  "kubectl",
] as const;
export type KubeBinaryName = (typeof KUBE_BINARY_NAMES)[number];

/** Binaries that the envtest asset layout ($KUBEBUILDER_ASSETS) provides. */
const ENVTEST_BINARIES: ReadonlySet<KubeBinaryName> = new Set(["etcd", "kube-apiserver", "kubectl"]);

export interface KubeBinaries {
  etcd: string;
  kubeApiserver: string;
  kubeScheduler: string;
  kubeControllerManager: string;
  kubectl: string;
  /** Directory of kube-scheduler (the one binary only a full build provides). */
  binDir: string;
  /** `gitVersion` reported by `kube-apiserver --version`, e.g. "v1.37.2". */
  version: string;
  /** Version pinned in hack/kube/VERSION. */
  pinnedVersion: string;
}

export interface LocateBinariesOptions {
  /** Directory to look in before the environment and the cache. */
  binDir?: string;
  /** Run hack/kube/build.sh when something is missing. Default true. */
  build?: boolean;
}

interface SearchDir {
  dir: string;
  origin: string;
  names: ReadonlySet<KubeBinaryName>;
}

const ALL_BINARIES: ReadonlySet<KubeBinaryName> = new Set(KUBE_BINARY_NAMES);

export function pinnedKubeVersion(): string {
  return readFileSync(path.join(repoRoot, "hack", "kube", "VERSION"), "utf8").trim();
}

/** The directory hack/kube/build.sh builds into (whether or not it exists yet). */
export async function cacheBinDir(): Promise<string> {
  const { stdout } = await execFileAsync("bash", [buildScript, "--print"], { cwd: repoRoot });
  return lastLine(stdout);
}

export async function locateBinaries(options: LocateBinariesOptions = {}): Promise<KubeBinaries> {
  const dirs = await searchDirs(options.binDir);
  let found = resolveAll(dirs);
  let missing = KUBE_BINARY_NAMES.filter((name) => found[name] === undefined);

  let buildFailure = "";
  if (missing.length > 0 && options.build !== false) {
    try {
      await runBuild();
    } catch (err) {
      buildFailure = err instanceof Error ? err.message : String(err);
    }
    found = resolveAll(dirs);
    missing = KUBE_BINARY_NAMES.filter((name) => found[name] === undefined);
  }
  if (missing.length > 0) {
    const looked = dirs
      .map((d) => `  ${d.origin}: ${d.dir}${d.names.size < ALL_BINARIES.size ? ` (only ${[...d.names].join(", ")})` : ""}`)
      .join("\n");
    throw new Error(
      `Kubernetes control-plane binaries not found: ${missing.join(", ")}.\n` +
        `Looked in:\n${looked}\n` +
        (buildFailure ? `Building them failed: ${buildFailure}.\n` : "") +
        `Build them with \`${buildCommand}\` (from ${repoRoot}; needs Go >= 1.26 and the Go module proxy), ` +
        `or point TOPOFIT_KUBE_BIN_DIR at a directory holding ${KUBE_BINARY_NAMES.join(", ")}.`,
    );
  }

  const pick = (name: KubeBinaryName): string => {
    const p = found[name];
    if (p === undefined) throw new Error(`unreachable: ${name} missing`);
    return p;
  };
  const kubeApiserver = pick("kube-apiserver");
  const kubeScheduler = pick("kube-scheduler");
  return {
    etcd: pick("etcd"),
    kubeApiserver,
    kubeScheduler,
    kubeControllerManager: pick("kube-controller-manager"),
    kubectl: pick("kubectl"),
    binDir: path.dirname(kubeScheduler),
    version: await binaryVersion(kubeApiserver),
    pinnedVersion: pinnedKubeVersion(),
  };
}

async function searchDirs(explicit: string | undefined): Promise<SearchDir[]> {
  const dirs: SearchDir[] = [];
  if (explicit) dirs.push({ dir: path.resolve(explicit), origin: "binDir option", names: ALL_BINARIES });
  const envDir = process.env.TOPOFIT_KUBE_BIN_DIR;
  if (envDir) dirs.push({ dir: path.resolve(envDir), origin: "$TOPOFIT_KUBE_BIN_DIR", names: ALL_BINARIES });
  const assets = process.env.KUBEBUILDER_ASSETS;
  if (assets) dirs.push({ dir: path.resolve(assets), origin: "$KUBEBUILDER_ASSETS", names: ENVTEST_BINARIES });
  dirs.push({ dir: await cacheBinDir(), origin: "build cache", names: ALL_BINARIES });
  return dirs;
}

function resolveAll(dirs: SearchDir[]): Partial<Record<KubeBinaryName, string>> {
  const found: Partial<Record<KubeBinaryName, string>> = {};
  for (const name of KUBE_BINARY_NAMES) {
    for (const d of dirs) {
      if (!d.names.has(name)) continue;
      const candidate = path.join(d.dir, name);
      if (isExecutable(candidate)) {
        found[name] = candidate;
        break;
      }
    }
  }
  return found;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Runs hack/kube/build.sh with its progress (stderr) shown to the person waiting. */
async function runBuild(): Promise<string> {
  process.stderr.write(`[topofit] control-plane binaries missing; running ${buildCommand} (a cold build takes many minutes)\n`);
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [buildScript], { cwd: repoRoot, stdio: ["ignore", "pipe", "inherit"] });
    let stdout = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => (stdout += chunk));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (code === 0) resolve(lastLine(stdout));
      else reject(new Error(`${buildCommand} failed (${signal ?? `exit ${code}`}); its output is above`));
    });
  });
}

async function binaryVersion(binary: string): Promise<string> {
  const { stdout } = await execFileAsync(binary, ["--version"]);
  // "Kubernetes v1.37.2"
  const match = /v\d+\.\d+\.\d+\S*/.exec(stdout);
  if (!match) throw new Error(`could not read a version from \`${binary} --version\`: ${stdout.trim()}`);
  return match[0];
}

function lastLine(text: string): string {
  const lines = text.trim().split("\n");
  return (lines[lines.length - 1] ?? "").trim();
}
