// Maps framework and decode errors to 4xx answers with stable codes. Only a bug
// becomes a 500, and it is logged with its stack.
import type { FastifyError, FastifyInstance } from "fastify";

export interface ErrorBody {
  readonly code: string;
  readonly message: string;
}

const CODES: Record<string, { status: number; code: string; message?: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: "BodyTooLarge" },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: "UnsupportedMediaType", message: "Content-Type must be application/json" },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: "EmptyBody", message: "the request body is empty; expected a JSON AdmissionReview" },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: "InvalidJSON" },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: "InvalidContentLength" },
};

export function registerErrorHandling(app: FastifyInstance, bodyLimit: number): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const known = error.code ? CODES[error.code] : undefined;
    if (known) {
      const message =
        known.code === "BodyTooLarge" ? `request body exceeds the limit of ${bodyLimit} bytes` : (known.message ?? `invalid request body: ${error.message}`);
      request.log.warn({ code: known.code, route: request.routeOptions.url }, message);
      return reply.code(known.status).send({ code: known.code, message } satisfies ErrorBody);
    }
    if (error instanceof SyntaxError || (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500)) {
      const code = error instanceof SyntaxError ? "InvalidJSON" : "BadRequest";
      request.log.warn({ code, route: request.routeOptions.url }, error.message);
      return reply.code(error.statusCode && error.statusCode < 500 ? error.statusCode : 400).send({ code, message: `invalid request: ${error.message}` } satisfies ErrorBody);
    }
    request.log.error({ err: error, route: request.routeOptions.url }, "unhandled error");
    return reply.code(500).send({ code: "InternalError", message: "internal error; see the topofit log" } satisfies ErrorBody);
  });
  app.setNotFoundHandler((request, reply) => {
    return reply.code(404).send({ code: "NotFound", message: `no route for ${request.method} ${request.url}` } satisfies ErrorBody);
  });
}
