// The real listener: HTTPS on 127.0.0.1 with a generated certificate, called
// with node's https client, and a certificate rotated on disk while serving.
import { X509Certificate } from "node:crypto";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import type { FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { generateSelfSigned, watchTlsFiles } from "../../src/server/tls.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { buildTestApp } from "../builders/app.js";
import { admissionFixture } from "../fixtures/load.js";

function post(port: number, ca: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path: "/mutate", method: "POST", ca, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
      (res) => {
        let data = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (data += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: data }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** The SHA-256 fingerprint of the certificate the server presents now. */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
      const fp = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve(fp);
    });
    socket.on("error", reject);
  });
}

describe("HTTPS listener", () => {
  let app: FastifyInstance | undefined;
  let cleanup: (() => void)[] = [];
  afterEach(async () => {
    for (const c of cleanup) c();
    cleanup = [];
    await app?.close();
    app = undefined;
  });

  it("serves /mutate over TLS with a generated certificate the client trusts as its CA", async () => {
    const tls = await generateSelfSigned(["localhost", "127.0.0.1"]);
    app = buildTestApp({ https: tls }).app;
    await app.listen({ host: "127.0.0.1", port: 0 });
    const { port } = app.server.address() as AddressInfo;

    const review = admissionFixture("deployment-training-pod-create");
    const r = await post(port, tls.cert, JSON.stringify(review));
    expect(r.status).toBe(200);
    const body = JSON.parse(r.body) as { apiVersion: string; kind: string; response: { uid: string; allowed: boolean; patchType?: string } };
    expect(body.apiVersion).toBe("admission.k8s.io/v1");
    expect(body.kind).toBe("AdmissionReview");
    expect(body.response).toMatchObject({ uid: review.request.uid, allowed: true, patchType: "JSONPatch" });
  });

  it("is refused by a client that trusts another CA", async () => {
    const [served, other] = await Promise.all([generateSelfSigned(["127.0.0.1"]), generateSelfSigned(["127.0.0.1"])]);
    app = buildTestApp({ https: served }).app;
    await app.listen({ host: "127.0.0.1", port: 0 });
    const { port } = app.server.address() as AddressInfo;
    await expect(post(port, other.cert, "{}")).rejects.toThrow();
  });

  it("serves a rotated certificate once watchTlsFiles sees the new files", async () => {
    const [first, second] = await Promise.all([generateSelfSigned(["127.0.0.1"]), generateSelfSigned(["127.0.0.1"])]);
    const dir = mkdtempSync(join(tmpdir(), "topofit-https-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const certFile = join(dir, "tls.crt");
    const keyFile = join(dir, "tls.key");
    const write = (file: string, text: string) => {
      writeFileSync(`${file}.tmp`, text);
      renameSync(`${file}.tmp`, file);
    };
    write(certFile, first.cert);
    write(keyFile, first.key);

    app = buildTestApp({ https: first }).app;
    await app.listen({ host: "127.0.0.1", port: 0 });
    const { port } = app.server.address() as AddressInfo;
    const server = app.server as unknown as { setSecureContext(o: { cert: string; key: string }): void };
    cleanup.push(watchTlsFiles(certFile, keyFile, silentLogger(), (m) => server.setSecureContext(m), 20));

    const firstFp = new X509Certificate(first.cert).fingerprint256;
    const secondFp = new X509Certificate(second.cert).fingerprint256;
    expect(await servedFingerprint(port)).toBe(firstFp);

    // fs.watchFile takes its baseline stat asynchronously (libuv thread pool); files
    // replaced before that stat lands become the baseline and are never seen as a
    // change. A rotation in production comes long after start-up, so let it settle.
    await new Promise((r) => setTimeout(r, 200));
    write(keyFile, second.key);
    write(certFile, second.cert);
    const deadline = Date.now() + 5000;
    let served = firstFp;
    while (served !== secondFp && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
      served = await servedFingerprint(port);
    }
    expect(served).toBe(secondFp);

    const r = await post(port, second.cert, JSON.stringify(admissionFixture("cpu-deployment-pod-create")));
    expect(r.status).toBe(200);
  }, 15_000);
});
