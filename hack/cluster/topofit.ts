// Runs topofit as a separate process, exactly as a user runs it
// (`node dist/main.js serve ...`), against a local control plane.
import { existsSync } from "node:fs";
import { request } from "node:https";
import path from "node:path";
import { repoRoot } from "./binaries.js";
import type { ControlPlane } from "./control-plane.js";
import { getFreePort } from "./control-plane.js";
import { ManagedProcess } from "./processes.js";
import { waitFor } from "./wait.js";

export const TOPOFIT_MAIN = path.join(repoRoot, "dist", "main.js");

export interface TopofitProcess {
  readonly url: string;
  readonly port: number;
  readonly caPem: string;
  readonly logPath: string;
  readonly process: ManagedProcess;
  /** GET a path over TLS (trusting the cluster CA). */
  get(pathname: string): Promise<{ status: number; body: string }>;
  stop(): Promise<void>;
}

export interface StartTopofitOptions {
  readonly args?: readonly string[];
  /** Reuse a port (to restart on the same URL). */
  readonly port?: number;
  readonly name?: string;
}

export function httpsGet(url: string, caPem: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: caPem, method: "GET", timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on("error", reject);
    req.end();
  });
}

/** POSTs JSON over TLS (trusting `caPem`) and parses the JSON answer; a non-200 answer is an error. */
export function httpsPostJson(url: string, caPem: string, body: unknown): Promise<unknown> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const headers = { "content-type": "application/json", "content-length": Buffer.byteLength(text) };
    const req = request(url, { method: "POST", ca: caPem, timeout: 5_000, headers }, (res) => {
      let data = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (data += c));
      res.on("end", () => {
        if (res.statusCode !== 200) return reject(new Error(`POST ${url}: HTTP ${res.statusCode}: ${data.slice(0, 300)}`));
        try {
          resolve(JSON.parse(data));
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error(`POST ${url} timed out`)));
    req.on("error", reject);
    req.end(text);
  });
}

export interface LaunchTopofitOptions {
  readonly name: string;
  readonly kubeconfigPath: string;
  readonly certPath: string;
  readonly keyPath: string;
  /** CA that signed the serving certificate, to check /readyz against. */
  readonly caPem: string;
  readonly logPath: string;
  readonly port?: number;
  readonly args?: readonly string[];
}

/** Runs `node dist/main.js serve` with these credentials and certificate; waits for /readyz (stops it and throws with its log otherwise). */
export async function launchTopofit(o: LaunchTopofitOptions): Promise<TopofitProcess> {
  if (!existsSync(TOPOFIT_MAIN)) {
    throw new Error(`${TOPOFIT_MAIN} does not exist: run \`npm run build\` first (npm test does it)`);
  }
  const port = o.port ?? (await getFreePort());
  const proc = ManagedProcess.start({
    name: o.name,
    command: process.execPath,
    args: [
      TOPOFIT_MAIN,
      "serve",
      "--listen",
      `127.0.0.1:${port}`,
      "--kubeconfig",
      o.kubeconfigPath,
      "--tls-cert-file",
      o.certPath,
      "--tls-key-file",
      o.keyPath,
      "--log-level",
      "debug",
      ...(o.args ?? []),
    ],
    logPath: o.logPath,
  });
  const url = `https://127.0.0.1:${port}`;
  const get = (pathname: string) => httpsGet(`${url}${pathname}`, o.caPem);
  try {
    await waitFor(
      async () => {
        if (!proc.running) throw new Error(`${o.name} ${proc.describeExit()}:\n${proc.tail(30)}`);
        return (await get("/readyz")).status === 200;
      },
      { what: `${o.name} at ${url} to be ready`, timeoutMs: 30_000, intervalMs: 200 },
    );
  } catch (err) {
    await proc.stop();
    throw new Error(`${(err as Error).message}\n--- ${o.logPath} ---\n${proc.tail(40)}`);
  }
  return { url, port, caPem: o.caPem, logPath: o.logPath, process: proc, get, stop: async () => void (await proc.stop()) };
}

/** Starts `topofit serve` with a serving certificate from the cluster CA and the admin kubeconfig; waits for /readyz. */
export async function startTopofit(cp: ControlPlane, options: StartTopofitOptions = {}): Promise<TopofitProcess> {
  const name = options.name ?? "topofit";
  const cert = await cp.issueServingCert(["127.0.0.1", "localhost"], `${name}-serving`);
  return launchTopofit({
    name,
    kubeconfigPath: cp.kubeconfigPath,
    certPath: cert.certPath,
    keyPath: cert.keyPath,
    caPem: cp.caPem,
    logPath: path.join(cp.dataDir, `${name}.log`),
    ...(options.port !== undefined ? { port: options.port } : {}),
    ...(options.args ? { args: options.args } : {}),
  });
}
