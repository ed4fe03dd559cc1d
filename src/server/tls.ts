// Serving certificates: loaded from files (and reloaded when they change, for
// rotation by cert-manager or a Secret update), or generated self-signed at
// start-up when none is given.
import "reflect-metadata";
import { readFileSync, unwatchFile, watchFile } from "node:fs";
import { createSecureContext } from "node:tls";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import type { Logger } from "../telemetry/logger.js";

export interface TlsMaterial {
  readonly cert: string;
  readonly key: string;
}

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

function toPem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString("base64").replace(/(.{64})/g, "$1\n").replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** A self-signed ECDSA P-256 serving certificate for `hosts` (DNS names or IPs), valid one year. */
export async function generateSelfSigned(hosts: readonly string[]): Promise<TlsMaterial> {
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const isIp = (h: string) => /^[\d.]+$/.test(h) || h.includes(":");
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString("hex").replace(/^[89a-f]/, "1"),
    name: `CN=${hosts[0] ?? "topofit"}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 365 * 24 * 3600_000),
    signingAlgorithm: alg,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(hosts.map((h) => (isIp(h) ? { type: "ip" as const, value: h } : { type: "dns" as const, value: h }))),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  return { cert: cert.toString("pem"), key: toPem("PRIVATE KEY", pkcs8) };
}

/** Reads and checks a certificate/key pair; throws with the file names on failure. */
export function readTlsFiles(certFile: string, keyFile: string): TlsMaterial {
  const cert = readFileSync(certFile, "utf8");
  const key = readFileSync(keyFile, "utf8");
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new Error(`TLS files ${certFile} and ${keyFile} do not form a usable pair: ${(err as Error).message}`);
  }
  return { cert, key };
}

/**
 * Polls the files (robust against the symlink swaps of mounted Secrets) and calls
 * `apply` with the new pair when both read and match; a broken update is logged
 * and the serving certificate stays as it was.
 */
export function watchTlsFiles(
  certFile: string,
  keyFile: string,
  log: Logger,
  apply: (m: TlsMaterial) => void,
  intervalMs = 2000,
  /** The pair being served now; a rotation that landed since it was read is applied at once. */
  serving?: TlsMaterial,
): () => void {
  let last = serving ? serving.cert + serving.key : "";
  if (!serving) {
    try {
      const m = readTlsFiles(certFile, keyFile);
      last = m.cert + m.key;
    } catch {
      // the initial load already reported it
    }
  }
  const onChange = () => {
    try {
      const m = readTlsFiles(certFile, keyFile);
      if (m.cert + m.key === last) return;
      last = m.cert + m.key;
      apply(m);
      log.info({ certFile }, "serving certificate reloaded");
    } catch (err) {
      log.error({ certFile, keyFile, err: (err as Error).message }, "serving certificate not reloaded; keeping the current one");
    }
  };
  watchFile(certFile, { interval: intervalMs }, onChange);
  watchFile(keyFile, { interval: intervalMs }, onChange);
  // watchFile reports only changes after its first stat; catch one that came earlier.
  if (serving) onChange();
  return () => {
    unwatchFile(certFile, onChange);
    unwatchFile(keyFile, onChange);
  };
}
