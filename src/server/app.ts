// buildApp(deps) assembles the HTTP server without listening, so tests drive it
// with inject() and main.ts decides where and how it listens.
import { fastify, LogController, type FastifyInstance } from "fastify";
import type { ClaimTemplates } from "../admission/claim-template.js";
import { registerAdmissionRoutes } from "../admission/routes.js";
import type { ReplyBuffers } from "../extender/json-writer.js";
import { registerExtenderRoutes } from "../extender/routes.js";
import type { TopologyStore } from "../topology/store.js";
import type { PolicySnapshot } from "../policy/model.js";
import type { Logger } from "../telemetry/logger.js";
import type { Metrics } from "../telemetry/metrics.js";
import { registerTelemetry } from "../telemetry/plugin.js";
import { registerErrorHandling } from "./errors.js";
import { registerHealth, type ReadinessCheck } from "./health.js";

export const DEFAULT_BODY_LIMIT = 3 * 1024 * 1024;

export interface AppDeps {
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly currentPolicy: () => PolicySnapshot | undefined;
  readonly namespaceLabels?: (namespace: string) => Readonly<Record<string, string>> | undefined;
  /** The cluster's ResourceClaimTemplates (read and create); without it GPU requests are not converted into claims. */
  readonly claimTemplates?: ClaimTemplates;
  readonly readiness?: readonly ReadinessCheck[];
  readonly bodyLimit?: number;
  /** Serve POST /mutate (default true). */
  readonly admission?: boolean;
  /** The extender's node/pod view; without it /filter and /prioritize are not served. */
  readonly topology?: TopologyStore;
  /** Buffers the extender writes its replies into; a pool of the app's own by default (tests pass one to read its stats). */
  readonly replyBuffers?: ReplyBuffers;
  /** TLS material; omitted for in-process tests. */
  readonly https?: { readonly key: string | Buffer; readonly cert: string | Buffer };
}

export function buildApp(deps: AppDeps): FastifyInstance {
  const bodyLimit = deps.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const app = fastify({
    loggerInstance: deps.log,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit,
    connectionTimeout: 30_000,
    requestTimeout: 15_000,
    keepAliveTimeout: 75_000,
    return503OnClosing: true,
    ...(deps.https ? { https: { key: deps.https.key, cert: deps.https.cert, minVersion: "TLSv1.2" as const } } : {}),
  }) as unknown as FastifyInstance;
  // fastify parses text/plain by default; every route here takes JSON only, so any
  // other Content-Type is a 415 rather than a string handed to the decoder.
  app.removeContentTypeParser("text/plain");
  registerErrorHandling(app, bodyLimit);
  registerTelemetry(app, deps.metrics);
  registerHealth(app, [
    { name: "policy", check: () => (deps.currentPolicy() === undefined ? "no placement policy loaded yet" : undefined) },
    ...(deps.readiness ?? []),
  ]);
  if (deps.admission ?? true) registerAdmissionRoutes(app, {
    log: deps.log,
    metrics: deps.metrics,
    currentPolicy: deps.currentPolicy,
    namespaceLabels: deps.namespaceLabels ?? (() => undefined),
    ...(deps.claimTemplates ? { claimTemplates: deps.claimTemplates } : {}),
  });
  if (deps.topology) {
    registerExtenderRoutes(app, {
      log: deps.log,
      metrics: deps.metrics,
      store: deps.topology,
      currentPolicy: deps.currentPolicy,
      ...(deps.replyBuffers ? { replyBuffers: deps.replyBuffers } : {}),
    });
  }
  return app;
}
