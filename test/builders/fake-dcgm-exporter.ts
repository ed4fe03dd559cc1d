// A real HTTP server on 127.0.0.1 standing in for dcgm-exporter pods: each
// path (/<name>/metrics) can serve a body, an error status, an oversized
// body, hang without answering, or drop the connection.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type ExporterMode =
  | { readonly kind: "body"; readonly body: string; readonly status?: number; readonly chunked?: boolean }
  | { readonly kind: "hang" }
  | { readonly kind: "reset" }
  | { readonly kind: "flood"; readonly bytes: number };

export interface FakeDcgmExporter {
  /** The URL of /<name>/metrics. */
  url(name: string): string;
  set(name: string, mode: ExporterMode | string): void;
  /** Requests received per name. */
  hits(name: string): number;
  close(): Promise<void>;
}

export async function startFakeDcgmExporter(): Promise<FakeDcgmExporter> {
  const modes = new Map<string, ExporterMode>();
  const hits = new Map<string, number>();
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const name = /^\/([^/]+)\/metrics$/.exec(req.url ?? "")?.[1] ?? "";
    hits.set(name, (hits.get(name) ?? 0) + 1);
    const mode = modes.get(name) ?? { kind: "body", body: "not found\n", status: 404 };
    switch (mode.kind) {
      case "hang":
        return;
      case "reset":
        req.socket.destroy();
        return;
      case "flood": {
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
        const chunk = `${"x".repeat(1023)}\n`;
        let sent = 0;
        const pump = () => {
          while (sent < mode.bytes) {
            sent += chunk.length;
            if (!res.write(chunk)) return void res.once("drain", pump);
          }
          res.end();
        };
        pump();
        return;
      }
      case "body": {
        const headers: Record<string, string> = { "content-type": "text/plain; version=0.0.4; charset=utf-8" };
        if (!mode.chunked) headers["content-length"] = String(Buffer.byteLength(mode.body));
        res.writeHead(mode.status ?? 200, headers);
        res.end(mode.body);
        return;
      }
    }
  };
  const server: Server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (name) => `http://127.0.0.1:${port}/${name}/metrics`,
    set: (name, mode) => modes.set(name, typeof mode === "string" ? { kind: "body", body: mode } : mode),
    hits: (name) => hits.get(name) ?? 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A URL on 127.0.0.1 where nothing listens (connections are refused). */
export async function refusedUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/metrics`;
}
