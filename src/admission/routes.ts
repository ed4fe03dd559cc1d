// POST /mutate: decode -> review -> respond, with one log event and the
// metrics for each call.
import type { FastifyInstance } from "fastify";
import type { Logger } from "../telemetry/logger.js";
import type { Metrics } from "../telemetry/metrics.js";
import type { PolicySnapshot } from "../policy/model.js";
import { decodeAdmissionReview } from "./decode.js";
import { admissionReviewText, respondToDecision } from "./respond.js";
import { reviewPod } from "./review.js";

export interface AdmissionRouteDeps {
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly currentPolicy: () => PolicySnapshot | undefined;
  readonly namespaceLabels: (namespace: string) => Readonly<Record<string, string>> | undefined;
}

export function registerAdmissionRoutes(app: FastifyInstance, deps: AdmissionRouteDeps): void {
  const { log, metrics } = deps;
  app.post("/mutate", async (request, reply) => {
    const decoded = decodeAdmissionReview(request.body);
    if (!decoded.ok) {
      log.warn({ reqId: request.id, code: decoded.error.code }, decoded.error.message);
      return reply.code(400).send(decoded.error);
    }
    const call = decoded.call;
    const snapshot = deps.currentPolicy();
    if (snapshot === undefined) {
      reply.outcome = "not_ready";
      return reply.code(503).send({ code: "PolicyNotLoaded", message: "no placement policy is in force yet" });
    }
    const decision = reviewPod(call, { policy: snapshot.policy, namespaceLabels: deps.namespaceLabels });
    const pod = { namespace: call.namespace, name: call.podName };
    switch (decision.kind) {
      case "skipped":
        reply.outcome = "skipped";
        metrics.admissionDecisions.inc({ decision: "skipped", rule: "" });
        log.debug({ reqId: request.id, uid: call.uid, pod, reason: decision.reason }, "skipped");
        break;
      case "matched":
        reply.outcome = decision.patch.length > 0 ? "mutated" : "unchanged";
        metrics.admissionDecisions.inc({ decision: "matched", rule: decision.rule.name });
        log.info(
          {
            reqId: request.id,
            uid: call.uid,
            pod,
            rule: decision.rule.name,
            gpus: decision.gpus,
            ops: decision.patch.length,
            dryRun: call.dryRun,
            policyGeneration: snapshot.generation,
            // undefined members are left out of the line
            notes: decision.notes.length > 0 ? decision.notes : undefined,
          },
          "mutated",
        );
        break;
      case "unmatched":
        reply.outcome = "unmatched";
        metrics.admissionDecisions.inc({ decision: "unmatched", rule: "" });
        log.info({ reqId: request.id, uid: call.uid, pod, gpus: decision.gpus, trials: decision.trials }, "no rule matched");
        break;
    }
    return reply.type("application/json; charset=utf-8").send(admissionReviewText(respondToDecision(call.uid, decision)));
  });
}
