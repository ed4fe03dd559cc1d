import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { annotationMergePatch, createNodeAnnotationPort, describeApiError } from "../../../src/kube/node-annotation.js";

const KEY = "topofit.io/gpu-topology";

interface Seen {
  method: string;
  url: string;
  contentType: string | undefined;
  body: string;
}

/** A minimal stand-in for the API server's /api/v1/nodes/{name}. */
function apiServer(nodes: Map<string, Record<string, string>>, seen: Seen[]): Server {
  const readBody = (req: IncomingMessage) =>
    new Promise<string>((resolve) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString("utf8")));
      req.on("end", () => resolve(body));
    });
  return createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      seen.push({ method: req.method ?? "", url: req.url ?? "", contentType: req.headers["content-type"], body });
      const name = /^\/api\/v1\/nodes\/([^/?]+)/.exec(req.url ?? "")?.[1];
      const annotations = name === undefined ? undefined : nodes.get(name);
      res.setHeader("content-type", "application/json");
      if (annotations === undefined) {
        res.statusCode = 404;
        res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", message: `nodes "${name}" not found`, reason: "NotFound", code: 404 }));
        return;
      }
      if (req.method === "PATCH") Object.assign(annotations, (JSON.parse(body) as { metadata: { annotations: Record<string, string> } }).metadata.annotations);
      res.end(JSON.stringify({ apiVersion: "v1", kind: "Node", metadata: { name, annotations } }));
    })();
  });
}

describe("createNodeAnnotationPort", () => {
  const nodes = new Map<string, Record<string, string>>();
  const seen: Seen[] = [];
  let server: Server;
  let kc: KubeConfig;

  beforeAll(async () => {
    server = apiServer(nodes, seen);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as AddressInfo;
    kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "test", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: "agent", token: "t" }],
      contexts: [{ name: "test", cluster: "test", user: "agent" }],
      currentContext: "test",
    });
  });
  beforeEach(() => {
    seen.length = 0;
    nodes.clear();
    nodes.set("gpu-1", { "other.io/keep": "yes" });
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("reads the annotation from a GET of the node, and undefined when it is absent", async () => {
    const port = createNodeAnnotationPort(kc, KEY);
    expect(await port.get("gpu-1")).toBeUndefined();
    nodes.set("gpu-1", { [KEY]: '{"v":1}' });
    expect(await port.get("gpu-1")).toBe('{"v":1}');
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual(["GET /api/v1/nodes/gpu-1", "GET /api/v1/nodes/gpu-1"]);
  });

  it("writes with a JSON merge patch that names only its annotation", async () => {
    const port = createNodeAnnotationPort(kc, KEY);
    await port.patch("gpu-1", '{"v":1,"gpus":[]}');
    expect(seen).toHaveLength(1);
    expect(seen[0]?.method).toBe("PATCH");
    expect(seen[0]?.url).toBe("/api/v1/nodes/gpu-1?fieldManager=topofit-agent");
    expect(seen[0]?.contentType).toBe("application/merge-patch+json");
    expect(JSON.parse(seen[0]?.body ?? "")).toEqual({ metadata: { annotations: { [KEY]: '{"v":1,"gpus":[]}' } } });
    expect(nodes.get("gpu-1")).toEqual({ "other.io/keep": "yes", [KEY]: '{"v":1,"gpus":[]}' });
  });

  it("rejects when the node does not exist, with the server's message", async () => {
    const port = createNodeAnnotationPort(kc, KEY);
    const err: unknown = await port.get("gone").catch((e: unknown) => e);
    expect(describeApiError(err)).toBe('HTTP 404: nodes "gone" not found');
  });

  it("builds the patch body from the key and value alone", () => {
    expect(annotationMergePatch("a/b", "v")).toEqual({ metadata: { annotations: { "a/b": "v" } } });
  });
});
