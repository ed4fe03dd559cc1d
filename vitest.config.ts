import { defineConfig } from "vitest/config";

// Two projects: fast in-process tests, and the end-to-end suite that runs
// against a real control plane (etcd, kube-apiserver, kube-scheduler,
// kube-controller-manager) started from hack/. `npm test` runs both.
export default defineConfig({
  test: {
    // CI also writes a JSON report, from which .ci/run prints a one-line summary.
    reporters: process.env.CI ? ["default", ["json", { outputFile: ".tmp/vitest-report.json" }]] : ["default"],
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts", "test/integration/**/*.test.ts"],
          environment: "node",
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.e2e.test.ts"],
          environment: "node",
          globalSetup: ["test/e2e/global-setup.ts"],
          // One control plane per file; files run one after another on this 2-core machine.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
