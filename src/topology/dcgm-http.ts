// One HTTP GET of a dcgm-exporter, as a scrape needs it: the status, the
// declared length, and the body read up to a limit. The store scrapes every
// node's exporter on every interval (ten thousand requests per round in a
// large fleet), so the default is node:http on keep-alive connections: the
// WHATWG fetch machinery costs several times more CPU and garbage per
// request. A `fetch` function can still be given instead (tests do).
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";

/** The answer to a scrape request, its body not read yet. */
export interface ScrapeAnswer {
  readonly status: number;
  /** content-length, when the exporter sent one. */
  readonly declaredBytes: number | undefined;
  /** The whole body, or undefined as soon as it is longer than `maxBytes` (the rest is not read). */
  read(maxBytes: number): Promise<Uint8Array | undefined>;
  /** Drops the body unread. */
  discard(): Promise<void>;
}

/** Sends a GET and waits for the status line and headers. Rejects on connection errors and when `signal` aborts. */
export type ScrapeGet = (url: string, signal: AbortSignal) => Promise<ScrapeAnswer>;

/** The part of `fetch` the store can use instead of its own client; tests pass their own. */
export type FetchLike = (
  url: string,
  init: { readonly signal: AbortSignal; readonly headers: Readonly<Record<string, string>>; readonly redirect: "error" },
) => Promise<Response>;

export const SCRAPE_ACCEPT = "text/plain;version=0.0.4;q=1,*/*;q=0.1";

function answerOf(res: IncomingMessage): ScrapeAnswer {
  const length = Number(res.headers["content-length"] ?? Number.NaN);
  return {
    status: res.statusCode ?? 0,
    declaredBytes: Number.isFinite(length) ? length : undefined,
    read: (maxBytes) =>
      new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        let total = 0;
        res.on("data", (chunk: Buffer) => {
          total += chunk.length;
          if (total > maxBytes) {
            res.destroy();
            resolve(undefined);
            return;
          }
          chunks.push(chunk);
        });
        res.once("end", () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total)));
        res.once("error", reject);
        // A connection dropped mid-body closes the message without an end (once settled, this changes nothing).
        res.once("close", () => {
          if (!res.complete) reject(new Error("the exporter closed the connection before the body ended"));
        });
      }),
    discard: async () => {
      res.resume();
    },
  };
}

/**
 * A ScrapeGet over node:http and node:https, on keep-alive connections (at
 * most `sockets` per exporter). close() drops the idle connections.
 */
export function httpScrapeGet(sockets: number): { readonly get: ScrapeGet; close(): void } {
  const http = new HttpAgent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
  const https = new HttpsAgent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
  const get: ScrapeGet = (url, signal) =>
    new Promise((resolve, reject) => {
      const secure = url.startsWith("https:");
      const req = (secure ? httpsRequest : httpRequest)(url, { method: "GET", agent: secure ? https : http, headers: { accept: SCRAPE_ACCEPT }, signal }, (res) => resolve(answerOf(res)));
      req.once("error", reject);
      req.end();
    });
  return {
    get,
    close: () => {
      http.destroy();
      https.destroy();
    },
  };
}

/** A ScrapeGet over a fetch function (redirects are errors, as with the default client, which never follows them). */
export function fetchScrapeGet(fetchLike: FetchLike): ScrapeGet {
  return async (url, signal) => {
    const res = await fetchLike(url, { signal, headers: { accept: SCRAPE_ACCEPT }, redirect: "error" });
    const length = Number(res.headers.get("content-length") ?? Number.NaN);
    return {
      status: res.status,
      declaredBytes: Number.isFinite(length) ? length : undefined,
      read: async (maxBytes) => {
        if (res.body === null) return new Uint8Array(0);
        const reader = res.body.getReader();
        const chunks: Uint8Array[] = [];
        let total = 0;
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          total += value.byteLength;
          if (total > maxBytes) {
            await reader.cancel().catch(() => undefined);
            return undefined;
          }
          chunks.push(value);
        }
        return Buffer.concat(chunks, total);
      },
      discard: async () => {
        await res.body?.cancel().catch(() => undefined);
      },
    };
  };
}
