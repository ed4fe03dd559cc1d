// /filter and /prioritize over the real TLS listener, with calls in flight at
// the same time on several kept-alive connections, as several scheduler
// profiles would make them. Replies are sent straight from pooled buffers
// (json-writer.ts): every reply must still be whole and its own.
import { Agent, request } from "node:https";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { ExtenderFilterResultWire, HostPriorityWire } from "../../src/extender/schema.js";
import { ReplyBuffers } from "../../src/extender/json-writer.js";
import type { Placement } from "../../src/policy/model.js";
import { generateSelfSigned } from "../../src/server/tls.js";
import { buildTestApp, type TestApp } from "../builders/app.js";
import { extenderArgs, gpuNodeWire, placementAnnotations, topologyStore } from "../builders/extender.js";
import { pod } from "../builders/pod.js";

const PLACEMENTS: Placement[] = [
  { gpuLinks: "NVLinkRequired", numa: "SingleNode", strategy: "BinPack" },
  { gpuLinks: "NVLinkPreferred", numa: "Preferred", strategy: "Spread" },
  { gpuLinks: "Any", numa: "Any", strategy: "BinPack" },
];

function post(port: number, ca: string, agent: Agent, path: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path, method: "POST", ca, agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

describe("extender over HTTPS", () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.app.close();
    t = undefined;
  });

  it("answers 96 overlapping calls on 6 connections, each reply whole and about its own nodes, from a handful of reused buffers", async () => {
    const nodes = Array.from({ length: 240 }, (_, i) => {
      const name = `gpu-node-${String(i).padStart(3, "0")}`;
      const b = gpuNodeWire(name);
      return (i % 3 === 0 ? b.h100() : i % 3 === 1 ? b.a100Bridged() : b.l40s()).build();
    });
    const tls = await generateSelfSigned(["127.0.0.1"]);
    const pool = new ReplyBuffers({ firstBytes: 256 });
    t = buildTestApp({ https: tls, topology: topologyStore(nodes), replyBuffers: pool });
    await t.app.listen({ host: "127.0.0.1", port: 0 });
    const { port } = t.app.server.address() as AddressInfo;
    const agent = new Agent({ keepAlive: true, maxSockets: 6 });

    // Call i asks about its own window of nodes, so that a reply carrying another call's bytes cannot pass.
    const calls = Array.from({ length: 48 }, (_, i) => {
      const window = nodes.slice(i * 3, i * 3 + 40 + (i % 7) * 10);
      const p = pod()
        .name(`job-${i}`)
        .namespace("ml")
        .gpus([1, 2, 4, 8][i % 4]!)
        .annotations(placementAnnotations(PLACEMENTS[i % 3]!))
        .build();
      return { names: window.map((n) => n.metadata!.name!), body: JSON.stringify(extenderArgs(p, window, "names")) };
    });
    const replies = await Promise.all(
      calls.flatMap((c) => [post(port, tls.cert, agent, "/filter", c.body), post(port, tls.cert, agent, "/prioritize", c.body)]),
    );
    agent.destroy();

    calls.forEach((c, i) => {
      const filter = replies[2 * i]!;
      const prioritize = replies[2 * i + 1]!;
      expect(filter.status).toBe(200);
      expect(prioritize.status).toBe(200);
      const f = JSON.parse(filter.text) as ExtenderFilterResultWire;
      const answered = [...(f.NodeNames ?? []), ...Object.keys(f.FailedNodes ?? {}), ...Object.keys(f.FailedAndUnresolvableNodes ?? {})];
      expect(answered.sort()).toEqual([...c.names].sort());
      expect(f.Error).toBe("");
      const p = JSON.parse(prioritize.text) as HostPriorityWire[];
      expect(p.map((h) => h.Host).sort()).toEqual([...c.names].sort());
      for (const h of p) expect(h.Score).toBeGreaterThanOrEqual(0);
    });
    // At most 6 replies are being written at once, so only a few buffers were ever needed; the rest were lent again.
    expect(pool.stats.reused).toBeGreaterThan(0);
    expect(pool.stats.allocated).toBeLessThanOrEqual(12);
    expect(pool.stats.reused + pool.stats.allocated).toBe(96);
  });
});
