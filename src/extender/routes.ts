// POST /filter and POST /prioritize for kube-scheduler.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Policy } from "../policy/model.js";
import type { PolicySnapshot } from "../policy/model.js";
import type { Logger } from "../telemetry/logger.js";
import type { Metrics } from "../telemetry/metrics.js";
import type { TopologyStore } from "../topology/store.js";
import { NodeNameLists, parseNodeNamesBody, type JsonParse } from "./body.js";
import { decodeExtenderArgs, type ExtenderCall } from "./decode.js";
import { ReplyBuffers, type JsonWriter } from "./json-writer.js";
import { respondToFilter, respondToPrioritize } from "./respond.js";
import { filterCall, prioritizeCall } from "./review.js";

export interface ExtenderRouteDeps {
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly store: TopologyStore;
  readonly currentPolicy: () => PolicySnapshot | undefined;
  /** Largest body accepted: full-Nodes requests carry every candidate Node object. */
  readonly bodyLimit?: number;
  /** Where replies are written (json-writer.ts); a pool of its own by default. */
  readonly replyBuffers?: ReplyBuffers;
}

/** Full-Nodes bodies from large clusters run to megabytes; names-only bodies stay small. */
export const DEFAULT_EXTENDER_BODY_LIMIT = 64 * 1024 * 1024;

export function registerExtenderRoutes(app: FastifyInstance, deps: ExtenderRouteDeps): void {
  const { log, metrics } = deps;
  const opts = { bodyLimit: deps.bodyLimit ?? DEFAULT_EXTENDER_BODY_LIMIT };
  // Replies are written into pooled buffers and sent without a copy (json-writer.ts).
  const buffers = deps.replyBuffers ?? new ReplyBuffers();
  /** A writer for this request's reply, whose buffer returns to the pool once the response is closed. */
  const writerFor = (reply: FastifyReply): JsonWriter => {
    const out = buffers.writer();
    reply.raw.once("close", () => buffers.release(out));
    return out;
  };

  /** Decodes the body and finds the policy, or answers the error itself and returns undefined. */
  const begin = (request: FastifyRequest, reply: FastifyReply): { call: ExtenderCall; policy: Policy } | undefined => {
    const decoded = decodeExtenderArgs(request.body);
    if (!decoded.ok) {
      log.warn({ reqId: request.id, code: decoded.error.code }, decoded.error.message);
      void reply.code(400).send(decoded.error);
      return undefined;
    }
    const snapshot = deps.currentPolicy();
    if (snapshot === undefined) {
      reply.outcome = "not_ready";
      void reply.code(503).send({ code: "PolicyNotLoaded", message: "no placement policy is in force yet" });
      return undefined;
    }
    return { call: decoded.call, policy: snapshot.policy };
  };

  // The routes live in a scope of their own, for their body parser.
  void app.register(async (scope) => {
    useExtenderBodyParser(scope, (reused) => metrics.extenderNodeLists.inc({ result: reused ? "reused" : "parsed" }));

    scope.post("/filter", opts, async (request, reply) => {
      const started = begin(request, reply);
      if (!started) return reply;
      const { call, policy } = started;
      const outcome = filterCall(call, { policy, store: deps.store, reuseArrays: true });
      const body = respondToFilter(call, outcome, writerFor(reply));
      let passed = 0;
      let failed = 0;
      const causes = new Map<string, number>();
      const failedSample: Record<string, string> = {};
      for (let i = 0; i < outcome.cores.length; i++) {
        const v = outcome.cores[i]!;
        if (outcome.passThrough || v.ok) {
          passed += 1;
          continue;
        }
        failed += 1;
        const cause = causeOf(v.reason);
        causes.set(cause, (causes.get(cause) ?? 0) + 1);
        if (failed <= 5) failedSample[outcome.names[i]!] = v.reason;
      }
      reply.outcome = outcome.passThrough ? "no_gpus" : passed > 0 ? "feasible" : "unschedulable";
      if (!outcome.passThrough) {
        for (const [cause, n] of causes) metrics.extenderFilteredNodes.inc({ cause }, n);
        log.info(
          { reqId: request.id, pod: call.podKey, gpus: outcome.intent.gpus, placement: outcome.intent.placement, passed, failed, ...(failed > 0 ? { failedSample } : {}) },
          "filter",
        );
      } else if ((outcome.intent.unresolvedClaims ?? 0) > 0) {
        // Its claims are not in topofit's cache yet (informer lag): let it through rather than guess its size.
        log.info({ reqId: request.id, pod: call.podKey, unresolvedClaims: outcome.intent.unresolvedClaims }, "filter: claims not known yet; passed through");
      }
      return reply.type(JSON_TYPE).send(body);
    });

    scope.post("/prioritize", opts, async (request, reply) => {
      const started = begin(request, reply);
      if (!started) return reply;
      const { call, policy } = started;
      const outcome = prioritizeCall(call, { policy, store: deps.store, reuseArrays: true });
      reply.outcome = outcome.intent.gpus === 0 ? "no_gpus" : "scored";
      const top = outcome.top;
      if (top) {
        log.info(
          { reqId: request.id, pod: call.podKey, node: top.node, score: top.score, gpus: top.choice.gpus, why: outcome.topReasons, candidates: outcome.names.length },
          "prioritize",
        );
      }
      return reply.type(JSON_TYPE).send(respondToPrioritize(outcome, writerFor(reply)));
    });
  });
}

/**
 * Makes `scope` (a plugin scope: the change stays inside it) read JSON bodies
 * as the extender routes do: ExtenderArgs with a NodeNames list kube-scheduler
 * sent before are read without parsing the list again (body.ts); every other
 * body goes to the default JSON parser, as it does elsewhere. `onList` hears
 * of every NodeNames list read, reused or parsed.
 */
export function useExtenderBodyParser(scope: FastifyInstance, onList?: (reused: boolean) => void): void {
  const parseJson = scope.getDefaultJsonParser("error", "error");
  const lists = new NodeNameLists(4, onList);
  const parseText: JsonParse = (text) => {
    let value: unknown;
    let failure: unknown;
    parseJson(undefined as never, text, (err, parsed) => {
      failure = err;
      value = parsed;
    });
    if (failure) throw failure;
    return value;
  };
  scope.removeContentTypeParser("application/json");
  scope.addContentTypeParser("application/json", { parseAs: "buffer" }, (request, body, done) => {
    const fast = parseNodeNamesBody(body as Buffer, parseText, lists);
    if (fast !== undefined) done(null, fast);
    else parseJson(request, (body as Buffer).toString("utf8"), done);
  });
}

/** Replies are JSON bytes already (respond.ts): sent as they are, not serialised again. */
const JSON_TYPE = "application/json; charset=utf-8";

const causeCache = new Map<string, string>();

/** A bounded label for metrics from a reason text (reason strings repeat, so the answer is cached). */
export function causeOf(reason: string): string {
  let cause = causeCache.get(reason);
  if (cause !== undefined) return cause;
  if (reason.includes("NVLink")) cause = "nvlink";
  else if (reason.includes("NUMA")) cause = "numa";
  else if (reason.includes("unhealthy")) cause = "unhealthy";
  else if (reason.includes("in total") || reason.includes("no GPUs")) cause = "capacity";
  else if (reason.includes("cache")) cause = "unknown_node";
  else cause = "busy";
  if (causeCache.size < 10_000) causeCache.set(reason, cause);
  return cause;
}
