// Runs once before the end-to-end files: makes sure the control-plane
// binaries exist (a cold build happens here, with its progress on stderr) and
// hands their directory to the test files through `inject("kubeBinDir")`.
// Missing binaries fail the run; they never skip it.

// The augmentation below merges only into a module this file loads.
import type {} from "vitest";
import type { TestProject } from "vitest/node";
import { locateBinaries } from "../../hack/cluster/binaries.js";

declare module "vitest" {
  export interface ProvidedContext {
    kubeBinDir: string;
  }
}

export default async function setup({ provide }: Pick<TestProject, "provide">): Promise<void> {
  const binaries = await locateBinaries();
  process.stderr.write(`[e2e] Kubernetes ${binaries.version} binaries: ${binaries.binDir}\n`);
  provide("kubeBinDir", binaries.binDir);
}
