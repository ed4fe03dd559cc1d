// POST /mutate: decode -> review -> (ensure the claim templates a conversion
// relies on; when that fails, review again without conversion) -> respond,
// with one log event and the metrics for each call.
import type { FastifyInstance } from "fastify";
import { writeInfoRecord, type Logger } from "../telemetry/logger.js";
import type { Metrics } from "../telemetry/metrics.js";
import type { PolicySnapshot } from "../policy/model.js";
import type { ClaimTemplates } from "./claim-template.js";
import { decodeAdmissionReview, type AdmissionCall } from "./decode.js";
import { jsonString } from "./json-text.js";
import { admissionReviewText, respondToDecision } from "./respond.js";
import { reviewPod, type Decision, type ReviewContext } from "./review.js";

export interface AdmissionRouteDeps {
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly currentPolicy: () => PolicySnapshot | undefined;
  readonly namespaceLabels: (namespace: string) => Readonly<Record<string, string>> | undefined;
  /** The cluster's ResourceClaimTemplates; without it (no cluster) GPU requests are never converted into claims. */
  readonly claimTemplates?: ClaimTemplates;
}

const NO_CLUSTER = "no cluster access to create ResourceClaimTemplates";

interface TemplateStep {
  readonly decision: Decision;
  /** For the log: the templates the admitted pod refers to, and what became of them. */
  readonly templates?: { readonly names: readonly string[]; readonly created?: readonly string[]; readonly skipped?: "dry-run"; readonly failed?: string };
}

/** Makes sure the templates a conversion needs exist (never on a dry run); otherwise decides again without conversion. */
async function ensureTemplates(call: AdmissionCall, ctx: ReviewContext, decision: Decision, deps: AdmissionRouteDeps): Promise<TemplateStep> {
  if (decision.kind !== "matched" || decision.templates.length === 0) return { decision };
  const names = decision.templates.map((t) => t.metadata.name);
  if (deps.claimTemplates === undefined) return { decision: reviewPod(call, { ...ctx, conversionBlocked: NO_CLUSTER }), templates: { names, failed: NO_CLUSTER } };
  if (call.dryRun) return { decision, templates: { names, skipped: "dry-run" } };
  const outcome = await deps.claimTemplates.ensure(decision.templates);
  if (!outcome.ok) return { decision: reviewPod(call, { ...ctx, conversionBlocked: outcome.reason }), templates: { names, failed: outcome.reason } };
  return { decision, templates: { names, created: outcome.created } };
}

const json = JSON.stringify;

/**
 * The members of the "mutated" line, as JSON: reqId, uid, pod {namespace, name},
 * rule, gpus, ops, dryRun, policyGeneration, then claimTemplates and notes
 * where there are any (the same line log.info would write for that object).
 */
function mutatedMembers(reqId: string, call: AdmissionCall, generation: number, decision: Extract<Decision, { kind: "matched" }>, templates: TemplateStep["templates"]): string {
  let m =
    `,"reqId":${jsonString(reqId)},"uid":${jsonString(call.uid)},"pod":{"namespace":${jsonString(call.namespace)},"name":${jsonString(call.podName)}}` +
    `,"rule":${jsonString(decision.rule.name)},"gpus":${decision.gpus},"ops":${decision.patch.length},"dryRun":${call.dryRun},"policyGeneration":${generation}`;
  if (templates !== undefined) m += `,"claimTemplates":${json(templates)}`;
  if (decision.notes.length > 0) m += `,"notes":${json(decision.notes)}`;
  return m;
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
    const templates = deps.claimTemplates;
    const ctx: { -readonly [K in keyof ReviewContext]: ReviewContext[K] } = { policy: snapshot.policy, namespaceLabels: deps.namespaceLabels };
    if (templates !== undefined) ctx.claimTemplate = (ns: string, name: string) => templates.lookup(ns, name);
    const first = reviewPod(call, ctx);
    // Most pods need no template: no await (and no extra turn of the microtask queue) for them.
    const step = first.kind === "matched" && first.templates.length > 0 ? await ensureTemplates(call, ctx, first, deps) : { decision: first };
    const decision = step.decision;
    const pod = () => ({ namespace: call.namespace, name: call.podName });
    switch (decision.kind) {
      case "skipped":
        reply.outcome = "skipped";
        metrics.admissionDecisions.inc({ decision: "skipped", rule: "" });
        // A pod whose claims could not be counted may be a GPU pod going without its rule: worth an info line.
        (decision.reason === "uncounted-claims" ? log.info : log.debug).call(log, { reqId: request.id, uid: call.uid, pod: pod(), reason: decision.reason, detail: decision.detail }, "skipped");
        break;
      case "matched":
        reply.outcome = decision.patch.length > 0 ? "mutated" : "unchanged";
        metrics.admissionDecisions.inc({ decision: "matched", rule: decision.rule.name });
        writeInfoRecord(log, mutatedMembers(request.id, call, snapshot.generation, decision, step.templates), "mutated");
        break;
      case "unmatched":
        reply.outcome = "unmatched";
        metrics.admissionDecisions.inc({ decision: "unmatched", rule: "" });
        log.info({ reqId: request.id, uid: call.uid, pod: pod(), gpus: decision.gpus, trials: decision.trials }, "no rule matched");
        break;
    }
    return reply.type("application/json; charset=utf-8").send(admissionReviewText(respondToDecision(call.uid, decision)));
  });
}
