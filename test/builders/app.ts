// buildTestApp(): the production buildApp wired to a real PolicyStore, a fresh
// metrics registry and a silent logger, for inject()-driven tests.
import type { FastifyInstance } from "fastify";
import { EMBEDDED_POLICY_YAML } from "../../src/policy/embedded.js";
import { PolicyStore } from "../../src/policy/store.js";
import { buildApp, type AppDeps } from "../../src/server/app.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { createMetrics, type Metrics } from "../../src/telemetry/metrics.js";

export interface TestApp {
  readonly app: FastifyInstance;
  readonly store: PolicyStore;
  readonly metrics: Metrics;
}

export interface TestAppOptions extends Partial<Pick<AppDeps, "bodyLimit" | "namespaceLabels" | "readiness" | "https" | "topology" | "claimTemplates" | "replyBuffers">> {
  /** Policy text to apply before the app starts; null for none (default: the embedded example). */
  readonly policy?: string | null;
}

export function buildTestApp(options: TestAppOptions = {}): TestApp {
  const store = new PolicyStore();
  if (options.policy !== null) {
    const outcome = store.apply(options.policy ?? EMBEDDED_POLICY_YAML, "embedded");
    if (outcome.result !== "applied") throw new Error(`test policy was not applied: ${JSON.stringify(outcome)}`);
  }
  const metrics = createMetrics({ processMetrics: false });
  const { policy: _policy, ...deps } = options;
  const app = buildApp({ log: silentLogger(), metrics, currentPolicy: () => store.current(), ...deps });
  return { app, store, metrics };
}
