// Throw-away PKI for a local control plane: one CA, serving and client
// certificates, and the service-account signing key. ECDSA P-256 throughout;
// private keys are written as PKCS#8 ("PRIVATE KEY"), which Go's crypto/tls
// and Kubernetes' keyutil both read.

import { webcrypto } from "node:crypto";

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
import { mkdir, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import path from "node:path";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto);

const KEY_ALGORITHM: webcrypto.EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
const SIGNING_ALGORITHM: webcrypto.EcdsaParams = { name: "ECDSA", hash: "SHA-256" };
const DAY_MS = 24 * 60 * 60 * 1000;

export interface CertificateAuthority {
  certPem: string;
  keyPem: string;
  /** Internal: the parsed certificate and key pair used to sign leaf certificates. */
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
}

export interface IssuedCert {
  certPem: string;
  keyPem: string;
}

export interface IssuedCertFiles extends IssuedCert {
  certPath: string;
  keyPath: string;
}

export interface ClientCertSubject {
  commonName: string;
  /** Become the user's groups, e.g. "system:masters". */
  organizations?: string[];
}

export interface ServiceAccountKeyPair {
  privateKeyPem: string;
  publicKeyPem: string;
}

/** The files a control plane needs, all under one directory. */
export interface ClusterPki {
  dir: string;
  ca: CertificateAuthority;
  caCertPath: string;
  caKeyPath: string;
  /** Serving certificate for 127.0.0.1 / localhost, used by every component. */
  serving: IssuedCertFiles;
  admin: IssuedCertFiles;
  scheduler: IssuedCertFiles;
  controllerManager: IssuedCertFiles;
  serviceAccount: ServiceAccountKeyPair & { privateKeyPath: string; publicKeyPath: string };
}

export const LOCAL_SANS: readonly string[] = ["127.0.0.1", "localhost", "::1"];
export const ADMIN_SUBJECT: ClientCertSubject = { commonName: "topofit-admin", organizations: ["system:masters"] };
export const SCHEDULER_SUBJECT: ClientCertSubject = { commonName: "system:kube-scheduler" };
export const CONTROLLER_MANAGER_SUBJECT: ClientCertSubject = { commonName: "system:kube-controller-manager" };

export async function createCertificateAuthority(commonName = "topofit-local-ca"): Promise<CertificateAuthority> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${escapeRdn(commonName)}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 365 * DAY_MS),
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: await privateKeyPem(keys.privateKey), cert, keys };
}

/**
 * Issues a serving certificate for `sans` (IP addresses and DNS names, told
 * apart by their syntax), signed by `ca`. The first SAN becomes the subject CN.
 */
export async function issueServingCert(ca: CertificateAuthority, sans: readonly string[]): Promise<IssuedCert> {
  if (sans.length === 0) throw new Error("issueServingCert: at least one SAN is required");
  const names: x509.JsonGeneralName[] = sans.map((san) => ({ type: isIP(san) ? "ip" : "dns", value: san }));
  return issue(ca, `CN=${escapeRdn(sans[0] ?? "")}`, x509.ExtendedKeyUsage.serverAuth, [
    new x509.SubjectAlternativeNameExtension(names),
  ]);
}

/** Issues a client certificate; Kubernetes reads CN as the user and each O as a group. */
export async function issueClientCert(ca: CertificateAuthority, subject: ClientCertSubject): Promise<IssuedCert> {
  const rdns = [`CN=${escapeRdn(subject.commonName)}`, ...(subject.organizations ?? []).map((o) => `O=${escapeRdn(o)}`)];
  return issue(ca, rdns.join(", "), x509.ExtendedKeyUsage.clientAuth, []);
}

export async function createServiceAccountKeyPair(): Promise<ServiceAccountKeyPair> {
  const keys = await generateKeys();
  const spki = await webcrypto.subtle.exportKey("spki", keys.publicKey);
  return {
    privateKeyPem: await privateKeyPem(keys.privateKey),
    publicKeyPem: x509.PemConverter.encode(spki, "PUBLIC KEY"),
  };
}

/** Writes a PEM pair as `<dir>/<name>.crt` and `<dir>/<name>.key` (mode 0600 for the key). */
export async function writeCertFiles(dir: string, name: string, cert: IssuedCert): Promise<IssuedCertFiles> {
  await mkdir(dir, { recursive: true });
  const certPath = path.join(dir, `${name}.crt`);
  const keyPath = path.join(dir, `${name}.key`);
  await writeFile(certPath, cert.certPem);
  await writeFile(keyPath, cert.keyPem, { mode: 0o600 });
  return { ...cert, certPath, keyPath };
}

/** Creates the whole PKI of a control plane and writes it under `dir`. */
export async function createClusterPki(dir: string): Promise<ClusterPki> {
  await mkdir(dir, { recursive: true });
  const ca = await createCertificateAuthority();
  const caCertPath = path.join(dir, "ca.crt");
  const caKeyPath = path.join(dir, "ca.key");
  await writeFile(caCertPath, ca.certPem);
  await writeFile(caKeyPath, ca.keyPem, { mode: 0o600 });

  const [serving, admin, scheduler, controllerManager, serviceAccount] = await Promise.all([
    issueServingCert(ca, LOCAL_SANS).then((c) => writeCertFiles(dir, "serving", c)),
    issueClientCert(ca, ADMIN_SUBJECT).then((c) => writeCertFiles(dir, "admin", c)),
    issueClientCert(ca, SCHEDULER_SUBJECT).then((c) => writeCertFiles(dir, "kube-scheduler", c)),
    issueClientCert(ca, CONTROLLER_MANAGER_SUBJECT).then((c) => writeCertFiles(dir, "kube-controller-manager", c)),
    createServiceAccountKeyPair(),
  ]);
  const privateKeyPath = path.join(dir, "service-account.key");
  const publicKeyPath = path.join(dir, "service-account.pub");
  await writeFile(privateKeyPath, serviceAccount.privateKeyPem, { mode: 0o600 });
  await writeFile(publicKeyPath, serviceAccount.publicKeyPem);

  return {
    dir,
    ca,
    caCertPath,
    caKeyPath,
    serving,
    admin,
    scheduler,
    controllerManager,
    serviceAccount: { ...serviceAccount, privateKeyPath, publicKeyPath },
  };
}

async function issue(
  ca: CertificateAuthority,
  subject: string,
  usage: x509.ExtendedKeyUsage,
  extra: x509.Extension[],
): Promise<IssuedCert> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject,
    issuer: ca.cert.subjectName,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 365 * DAY_MS),
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([usage]),
      await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
      ...extra,
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: await privateKeyPem(keys.privateKey) };
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"])) as CryptoKeyPair;
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY");
}

function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f; // keep it positive
  return Buffer.from(bytes).toString("hex");
}

/** Escapes the RFC 4514 special characters of an attribute value. */
function escapeRdn(value: string): string {
  return value.replace(/[,+"\\<>;=#]/g, (c) => `\\${c}`);
}
