import { X509Certificate } from "node:crypto";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { generateSelfSigned, readTlsFiles, watchTlsFiles, type TlsMaterial } from "../../../src/server/tls.js";
import { silentLogger } from "../../../src/telemetry/logger.js";

async function eventually(cond: () => boolean, what: string, deadlineMs = 5000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Lets fs.watchFile take its (asynchronous) baseline stat before the files change. */
const settle = () => new Promise((r) => setTimeout(r, 150));

let first: TlsMaterial;
let second: TlsMaterial;
beforeAll(async () => {
  [first, second] = await Promise.all([generateSelfSigned(["localhost", "127.0.0.1", "::1"]), generateSelfSigned(["topofit.topofit-system.svc"])]);
});

describe("generateSelfSigned", () => {
  it("makes a PEM certificate valid now for the DNS names and IPs given, and a PKCS#8 key", () => {
    const cert = new X509Certificate(first.cert);
    expect(cert.subject).toBe("CN=localhost");
    expect(cert.subjectAltName).toContain("DNS:localhost");
    expect(cert.subjectAltName).toContain("IP Address:127.0.0.1");
    expect(cert.subjectAltName).toMatch(/IP Address:(::1|0:0:0:0:0:0:0:1)/);
    expect(cert.checkHost("localhost")).toBe("localhost");
    expect(cert.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(Date.parse(cert.validFrom)).toBeLessThanOrEqual(Date.now());
    expect(Date.parse(cert.validTo)).toBeGreaterThan(Date.now() + 300 * 24 * 3600_000);
    expect(cert.ca).toBe(false);
    expect(first.key).toMatch(/^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----\n$/);
  });

  it("makes a new key pair every time", () => {
    expect(second.key).not.toBe(first.key);
    expect(new X509Certificate(second.cert).serialNumber).not.toBe(new X509Certificate(first.cert).serialNumber);
  });
});

describe("readTlsFiles and watchTlsFiles", () => {
  let dir: string;
  let certFile: string;
  let keyFile: string;
  let stop: (() => void) | undefined;

  const write = (file: string, text: string) => {
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "topofit-tls-"));
    certFile = join(dir, "tls.crt");
    keyFile = join(dir, "tls.key");
  });
  afterEach(() => {
    stop?.();
    stop = undefined;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reads a matching pair", () => {
    write(certFile, first.cert);
    write(keyFile, first.key);
    expect(readTlsFiles(certFile, keyFile)).toEqual(first);
  });

  it("refuses a certificate with another pair's key, naming both files", () => {
    write(certFile, first.cert);
    write(keyFile, second.key);
    expect(() => readTlsFiles(certFile, keyFile)).toThrow(new RegExp(`${certFile}.*${keyFile}.*usable pair`));
  });

  it("calls apply with the new pair when both files are rotated", async () => {
    write(certFile, first.cert);
    write(keyFile, first.key);
    const applied: TlsMaterial[] = [];
    stop = watchTlsFiles(certFile, keyFile, silentLogger(), (m) => applied.push(m), 20);
    await settle();
    write(keyFile, second.key);
    write(certFile, second.cert);
    await eventually(() => applied.length > 0, "the rotated pair to be applied");
    expect(applied.at(-1)).toEqual(second);
    expect(applied.every((m) => m.cert === second.cert && m.key === second.key)).toBe(true);
  });

  it("keeps the current pair when the rotated files do not match, and applies once they do", async () => {
    write(certFile, first.cert);
    write(keyFile, first.key);
    const applied: TlsMaterial[] = [];
    stop = watchTlsFiles(certFile, keyFile, silentLogger(), (m) => applied.push(m), 20);
    await settle();
    write(certFile, second.cert); // key still the old one: not a usable pair
    await new Promise((r) => setTimeout(r, 150));
    expect(applied).toEqual([]);
    write(keyFile, second.key);
    await eventually(() => applied.length > 0, "the completed rotation to be applied");
    expect(applied).toEqual([second]);
  });

  it("stops watching when told to", async () => {
    write(certFile, first.cert);
    write(keyFile, first.key);
    const applied: TlsMaterial[] = [];
    watchTlsFiles(certFile, keyFile, silentLogger(), (m) => applied.push(m), 20)();
    write(certFile, second.cert);
    write(keyFile, second.key);
    await new Promise((r) => setTimeout(r, 150));
    expect(applied).toEqual([]);
  });
});
