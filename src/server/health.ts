// Liveness and readiness. /readyz turns 200 once a policy is in force and
// every extra readiness check (e.g. the ConfigMap watch has synced) passes.
import type { FastifyInstance } from "fastify";

export interface ReadinessCheck {
  readonly name: string;
  /** undefined when ready, otherwise why not. */
  readonly check: () => string | undefined;
}

export function registerHealth(app: FastifyInstance, checks: readonly ReadinessCheck[]): void {
  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_request, reply) => {
    const failing = checks.flatMap((c) => {
      const why = c.check();
      return why === undefined ? [] : [`${c.name}: ${why}`];
    });
    if (failing.length > 0) return reply.code(503).send({ status: "not ready", reasons: failing });
    return { status: "ready" };
  });
}
