// Fastify plugin: times every request and serves GET /metrics.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Metrics } from "./metrics.js";

declare module "fastify" {
  interface FastifyReply {
    /** Set by a handler to label its request in metrics; defaults to the status class. */
    outcome?: string;
  }
}

function defaultOutcome(status: number): string {
  if (status >= 500) return "error";
  if (status === 413) return "too_large";
  if (status >= 400) return "bad_request";
  return "ok";
}

export function registerTelemetry(app: FastifyInstance, metrics: Metrics): void {
  app.decorateReply("outcome", undefined);
  app.addHook("onResponse", async (request: FastifyRequest, reply: FastifyReply) => {
    const route = request.routeOptions.url ?? "unknown";
    if (route === "/metrics") return;
    const outcome = reply.outcome ?? defaultOutcome(reply.statusCode);
    const labels = { route, outcome };
    metrics.httpRequests.inc(labels);
    metrics.httpDuration.observe(labels, reply.elapsedTime / 1000);
  });
  app.get("/metrics", async (_request, reply) => {
    const body = await metrics.registry.metrics();
    return reply.header("content-type", metrics.registry.contentType).send(body);
  });
}
