// Long-lived DCGM state: scrapes every dcgm-exporter endpoint on an interval,
// evaluates GPU health, and hands out immutable snapshots saying, per node,
// whether its data is fresh, stale or unknown, and the condition of each GPU.
//
// Nothing here throws into callers. An endpoint that is down, slow, too large
// or serves something that is not a clean exposition is backed off
// exponentially (with jitter), logged once per change of its state and
// counted; the nodes it served keep their last data until it is older than
// the staleness limit, after which their GPU health counts as unknown (never
// as unhealthy).
//
// A scrape is all or nothing: one malformed line rejects the whole body, as
// Prometheus does, so a half-read exposition never passes for a full one.
import type { Logger } from "../telemetry/logger.js";
import type { Metrics } from "../telemetry/metrics.js";
import {
  DEFAULT_DCGM_HEALTH_RULES,
  evaluateGpuHealth,
  groupReadingsByNode,
  readDcgmGpus,
  type DcgmGpuReading,
  type DcgmHealthRules,
} from "./dcgm.js";
import { parseExposition } from "./exposition.js";
import type { GpuCondition } from "./model.js";

/** One dcgm-exporter /metrics URL, and the node it runs on when known (always, for discovered endpoints). */
export interface DcgmEndpoint {
  readonly url: string;
  readonly nodeName?: string;
}

export type ScrapeOutcome = "ok" | "timeout" | "unreachable" | "http_error" | "too_large" | "malformed" | "empty" | "no_gpus";
export type ScrapeFailure = Exclude<ScrapeOutcome, "ok">;

export const SCRAPE_OUTCOMES: readonly ScrapeOutcome[] = ["ok", "timeout", "unreachable", "http_error", "too_large", "malformed", "empty", "no_gpus"];

/** The part of `fetch` the store uses; tests may pass their own. */
export type FetchLike = (
  url: string,
  init: { readonly signal: AbortSignal; readonly headers: Readonly<Record<string, string>>; readonly redirect: "error" },
) => Promise<Response>;

export type DcgmMetrics = Pick<Metrics, "dcgmScrapes" | "dcgmScrapeDuration" | "dcgmNodes" | "dcgmEndpoints" | "dcgmUnhealthyGpus">;

export interface DcgmStoreOptions {
  readonly log: Logger;
  readonly metrics: DcgmMetrics;
  /** Time between scrapes of a healthy endpoint. Default 15 s. */
  readonly intervalMs?: number;
  /** Whole-request limit (connect, headers and body). Default 3 s. */
  readonly timeoutMs?: number;
  /** Data older than this makes the node stale: its GPU health counts as unknown. Default 60 s. */
  readonly staleAfterMs?: number;
  /** Longest wait between attempts at a failing endpoint. Default 2 min. */
  readonly backoffMaxMs?: number;
  /** Largest response body accepted. Default 4 MiB. */
  readonly maxBodyBytes?: number;
  /** Most lines accepted in one body. Default 100 000. */
  readonly maxLines?: number;
  /** A node no endpoint serves any more is dropped once its data is this old. Default 10 min. */
  readonly forgetAfterMs?: number;
  /**
   * How long a rise in uncorrectable remapped rows keeps the GPU unhealthy:
   * the count it is compared with stays the one from before the rise for
   * this long. 0 compares with the previous scrape only. Default 10 min.
   */
  readonly remappedRowsHoldMs?: number;
  /** Scrapes in flight at most. Default 32. */
  readonly concurrency?: number;
  readonly rules?: DcgmHealthRules;
  /** Default: the global fetch. */
  readonly fetch?: FetchLike;
  /** Default: Date.now. */
  readonly now?: () => number;
  /** Default: Math.random (backoff jitter). */
  readonly random?: () => number;
}

export const DCGM_STORE_DEFAULTS = {
  intervalMs: 15_000,
  timeoutMs: 3_000,
  staleAfterMs: 60_000,
  backoffMaxMs: 120_000,
  maxBodyBytes: 4 * 1024 * 1024,
  maxLines: 100_000,
  forgetAfterMs: 600_000,
  remappedRowsHoldMs: 600_000,
  concurrency: 32,
} as const;

export type DcgmNodeState = "fresh" | "stale" | "unknown";

export interface DcgmGpuStatus {
  readonly index: number;
  readonly uuid?: string;
  /** Normalised: 0000:1b:00.0. */
  readonly pciBusId?: string;
  readonly modelName?: string;
  readonly condition: GpuCondition;
  readonly reading: DcgmGpuReading;
}

/** The GPUs of one node as DCGM reports them, looked up three ways. */
export interface DcgmNodeGpus {
  /** By index. */
  readonly list: readonly DcgmGpuStatus[];
  readonly byIndex: ReadonlyMap<number, GpuCondition>;
  /** By normalised PCI bus id (0000:1b:00.0). */
  readonly byPciBusId: ReadonlyMap<string, GpuCondition>;
  readonly byUuid: ReadonlyMap<string, GpuCondition>;
}

interface DcgmNodeStatusBase {
  readonly node: string;
  /** The store version at which this node's status last changed. */
  readonly version: number;
  /** The endpoint whose data is in force. */
  readonly endpoint?: string;
  /** Why the latest attempt at this node's endpoint failed, if it did. */
  readonly lastError?: string;
}

/** Data within the staleness limit: GPU conditions apply. */
export interface FreshDcgmNode extends DcgmNodeStatusBase {
  readonly state: "fresh";
  readonly scrapedAt: Date;
  readonly gpus: DcgmNodeGpus;
}

/** Data past the staleness limit: kept for display only; GPU health counts as unknown. */
export interface StaleDcgmNode extends DcgmNodeStatusBase {
  readonly state: "stale";
  readonly scrapedAt: Date;
  readonly lastKnownGpus: DcgmNodeGpus;
}

/** No data: GPU health is unknown. */
export interface UnknownDcgmNode extends DcgmNodeStatusBase {
  readonly state: "unknown";
  readonly reason: string;
}

export type DcgmNodeStatus = FreshDcgmNode | StaleDcgmNode | UnknownDcgmNode;

export interface DcgmEndpointStatus {
  readonly url: string;
  readonly nodeName?: string;
  readonly state: "pending" | "ok" | "failing";
  readonly lastOutcome?: ScrapeOutcome;
  readonly consecutiveFailures: number;
  readonly lastError?: string;
  readonly lastAttemptAt?: Date;
  readonly lastSuccessAt?: Date;
  readonly nextAttemptAt: Date;
  /** Nodes its last successful scrape reported. */
  readonly nodes: readonly string[];
}

export interface DcgmSnapshot {
  /** Increases whenever any node's status changes (see DcgmChange). */
  readonly version: number;
  readonly nodes: ReadonlyMap<string, DcgmNodeStatus>;
  readonly endpoints: readonly DcgmEndpointStatus[];
  /** The node's status; "unknown" for a node no endpoint has reported. */
  node(name: string): DcgmNodeStatus;
  /** The node's GPUs when its data is fresh; undefined when stale or unknown. */
  freshGpus(name: string): DcgmNodeGpus | undefined;
}

/**
 * What changed for a node: its state (fresh/stale/unknown, or it was dropped),
 * the set of GPUs, any GPU's health, the pods on its GPUs, or only load
 * (utilisation, memory used). A consumer whose per-node results ignore load can
 * skip load-only changes.
 */
export type DcgmChangeAspect = "state" | "gpus" | "health" | "pods" | "load";

const ASPECT_ORDER: readonly DcgmChangeAspect[] = ["state", "gpus", "health", "pods", "load"];

export interface DcgmNodeChange {
  readonly node: string;
  readonly aspects: readonly DcgmChangeAspect[];
}

export interface DcgmChange {
  /** The new store version; every node listed has it as its status version. */
  readonly version: number;
  readonly nodes: readonly DcgmNodeChange[];
}

export type DcgmChangeListener = (change: DcgmChange) => void;

/** Delay before the next attempt after `failures` consecutive failures: interval × 2^(failures-1), capped, with jitter down to half. */
export function backoffDelayMs(failures: number, opts: { readonly intervalMs: number; readonly backoffMaxMs: number }, random: () => number): number {
  const exp = Math.min(Math.max(failures - 1, 0), 30);
  const full = Math.min(opts.backoffMaxMs, opts.intervalMs * 2 ** exp);
  return Math.round(full / 2 + (full / 2) * Math.min(Math.max(random(), 0), 1));
}

const DNS_SUBDOMAIN = /^[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?$/;

/**
 * Reads `--dcgm-endpoints` items: a URL (`http://10.0.0.5:9400/metrics`; path
 * "/" becomes /metrics), or a bare `host[:port]` (http, port 9400, /metrics),
 * each optionally prefixed with the node it serves: `gpu-node-1=10.0.0.5`.
 */
export function parseDcgmEndpoints(items: readonly string[]): { readonly endpoints: readonly DcgmEndpoint[]; readonly errors: readonly string[] } {
  const endpoints: DcgmEndpoint[] = [];
  const errors: string[] = [];
  const seen = new Set<string>();
  for (const raw of items) {
    const item = raw.trim();
    if (item === "") continue;
    let nodeName: string | undefined;
    let target = item;
    const eq = item.indexOf("=");
    if (eq > 0 && DNS_SUBDOMAIN.test(item.slice(0, eq))) {
      nodeName = item.slice(0, eq);
      target = item.slice(eq + 1);
    }
    const hasScheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(target);
    let url: URL;
    try {
      url = new URL(hasScheme ? target : `http://${target}`);
    } catch {
      errors.push(`${JSON.stringify(item)}: not a URL or host[:port]`);
      continue;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      errors.push(`${JSON.stringify(item)}: scheme must be http or https, not ${url.protocol.slice(0, -1)}`);
      continue;
    }
    if (url.username || url.password) {
      errors.push(`${JSON.stringify(item)}: credentials in the URL are not supported`);
      continue;
    }
    if (!hasScheme) {
      if (url.pathname !== "/" || url.search) {
        errors.push(`${JSON.stringify(item)}: a path needs a scheme (http://...)`);
        continue;
      }
      if (url.port === "") url.port = "9400";
    }
    if (url.pathname === "/") url.pathname = "/metrics";
    const href = url.toString();
    if (seen.has(href)) continue;
    seen.add(href);
    endpoints.push(nodeName === undefined ? { url: href } : { url: href, nodeName });
  }
  return { endpoints, errors };
}

interface EndpointState {
  readonly endpoint: DcgmEndpoint;
  failures: number;
  nextAt: number;
  inFlight: boolean;
  lastOutcome?: ScrapeOutcome;
  lastError?: string;
  lastAttemptAt?: number;
  lastSuccessAt?: number;
  nodes: readonly string[];
  warnedHostnames: boolean;
  issuesKey: string;
}

interface Baseline {
  reading: DcgmGpuReading;
  riseSince?: number;
  seenAt: number;
}

interface NodeRecord {
  readonly node: string;
  version: number;
  state: DcgmNodeState;
  lastSuccessAt?: number;
  endpointUrl?: string;
  lastError?: string;
  readings: readonly DcgmGpuReading[];
  gpus: DcgmNodeGpus;
  readonly baselines: Map<string, Baseline>;
}

type FetchResult =
  | { readonly kind: "body"; readonly text: string }
  | { readonly kind: "failed"; readonly outcome: ScrapeFailure; readonly error: string }
  | { readonly kind: "aborted" };

const EMPTY_GPUS: DcgmNodeGpus = Object.freeze({ list: [], byIndex: new Map(), byPciBusId: new Map(), byUuid: new Map() });

const ACCEPT = "text/plain;version=0.0.4;q=1,*/*;q=0.1";

function gpuKey(r: DcgmGpuReading): string {
  return r.uuid ?? (r.pciBusId !== undefined ? `pci:${r.pciBusId}` : `index:${r.gpuIndex}`);
}

function indexGpus(list: readonly DcgmGpuStatus[]): DcgmNodeGpus {
  const byIndex = new Map<number, GpuCondition>();
  const byPciBusId = new Map<string, GpuCondition>();
  const byUuid = new Map<string, GpuCondition>();
  for (const g of list) {
    byIndex.set(g.index, g.condition);
    if (g.pciBusId !== undefined) byPciBusId.set(g.pciBusId, g.condition);
    if (g.uuid !== undefined) byUuid.set(g.uuid, g.condition);
  }
  return Object.freeze({ list: Object.freeze([...list]), byIndex, byPciBusId, byUuid });
}

function diffGpus(a: DcgmNodeGpus, b: DcgmNodeGpus): Set<DcgmChangeAspect> {
  const aspects = new Set<DcgmChangeAspect>();
  const bByIndex = new Map(b.list.map((g) => [g.index, g]));
  if (a.list.length !== b.list.length) aspects.add("gpus");
  for (const ga of a.list) {
    const gb = bByIndex.get(ga.index);
    if (!gb) {
      aspects.add("gpus");
      continue;
    }
    if (ga.uuid !== gb.uuid || ga.pciBusId !== gb.pciBusId) aspects.add("gpus");
    const ca = ga.condition;
    const cb = gb.condition;
    if (ca.healthy !== cb.healthy || ca.reasons.join("\n") !== cb.reasons.join("\n")) aspects.add("health");
    if (ca.pods.join("\n") !== cb.pods.join("\n")) aspects.add("pods");
    if (ca.utilization !== cb.utilization || ca.memoryUsedMiB !== cb.memoryUsedMiB) aspects.add("load");
  }
  return aspects;
}

function describeFetchError(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    const detail = cause instanceof Error ? cause.message : cause !== undefined ? String(cause) : "";
    return detail && !err.message.includes(detail) ? `${err.message}: ${detail}` : err.message;
  }
  return String(err);
}

async function readLimited(res: Response, maxBytes: number): Promise<Uint8Array | undefined> {
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
}

export class DcgmStore {
  readonly #log: Logger;
  readonly #metrics: DcgmMetrics;
  readonly #o: { readonly [K in keyof typeof DCGM_STORE_DEFAULTS]: number };
  readonly #fetch: FetchLike;
  readonly #now: () => number;
  readonly #random: () => number;
  #rules: DcgmHealthRules;

  readonly #endpoints = new Map<string, EndpointState>();
  readonly #records = new Map<string, NodeRecord>();
  readonly #listeners = new Set<DcgmChangeListener>();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #abort = new AbortController();
  #waiting: (() => void)[] = [];
  #active = 0;
  #version = 0;
  #rev = 0;
  #cached: { readonly rev: number; readonly snapshot: DcgmSnapshot } | undefined;
  #nextTransition = Number.POSITIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #stopped = false;

  constructor(options: DcgmStoreOptions) {
    this.#log = options.log;
    this.#metrics = options.metrics;
    this.#o = {
      intervalMs: options.intervalMs ?? DCGM_STORE_DEFAULTS.intervalMs,
      timeoutMs: options.timeoutMs ?? DCGM_STORE_DEFAULTS.timeoutMs,
      staleAfterMs: options.staleAfterMs ?? DCGM_STORE_DEFAULTS.staleAfterMs,
      backoffMaxMs: options.backoffMaxMs ?? DCGM_STORE_DEFAULTS.backoffMaxMs,
      maxBodyBytes: options.maxBodyBytes ?? DCGM_STORE_DEFAULTS.maxBodyBytes,
      maxLines: options.maxLines ?? DCGM_STORE_DEFAULTS.maxLines,
      forgetAfterMs: options.forgetAfterMs ?? DCGM_STORE_DEFAULTS.forgetAfterMs,
      remappedRowsHoldMs: options.remappedRowsHoldMs ?? DCGM_STORE_DEFAULTS.remappedRowsHoldMs,
      concurrency: Math.max(1, options.concurrency ?? DCGM_STORE_DEFAULTS.concurrency),
    };
    this.#fetch = options.fetch ?? ((url, init) => fetch(url, init));
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#rules = options.rules ?? DEFAULT_DCGM_HEALTH_RULES;
    this.#updateGauges();
  }

  /** The current store version (see DcgmChange). */
  version(): number {
    return this.#version;
  }

  /** Subscribes to changes; returns the unsubscribe function. A listener that throws is logged and kept. */
  onChange(listener: DcgmChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Replaces the endpoint list (static, or from discovery). New endpoints are scraped at once. */
  setEndpoints(endpoints: readonly DcgmEndpoint[]): void {
    if (this.#stopped) return;
    const now = this.#now();
    const wanted = new Map<string, DcgmEndpoint>();
    for (const e of endpoints) if (!wanted.has(e.url)) wanted.set(e.url, e);
    let added = 0;
    let removed = 0;
    for (const [url, s] of this.#endpoints) {
      const w = wanted.get(url);
      if (!w || w.nodeName !== s.endpoint.nodeName) {
        this.#endpoints.delete(url);
        removed++;
      }
    }
    for (const [url, e] of wanted) {
      if (this.#endpoints.has(url)) continue;
      this.#endpoints.set(url, { endpoint: e, failures: 0, nextAt: now, inFlight: false, nodes: [], warnedHostnames: false, issuesKey: "" });
      added++;
      if (e.nodeName !== undefined && !this.#records.has(e.nodeName)) this.#records.set(e.nodeName, this.#newRecord(e.nodeName));
    }
    if (added > 0 || removed > 0) {
      this.#log.info({ endpoints: this.#endpoints.size, added, removed }, "DCGM endpoints updated");
    }
    this.#rev++;
    this.#advance(now, true);
    this.#updateGauges();
    this.#schedule();
  }

  /** Puts new health rules in force and re-evaluates every node's last readings with them. */
  setRules(rules: DcgmHealthRules): void {
    this.#rules = rules;
    const changes: DcgmNodeChange[] = [];
    for (const rec of this.#records.values()) {
      if (rec.readings.length === 0) continue;
      const gpus = indexGpus(
        rec.readings.map((r) => this.#status(r, evaluateGpuHealth(r, rec.baselines.get(gpuKey(r))?.reading, rules))),
      );
      const aspects = diffGpus(rec.gpus, gpus);
      this.#logHealthChanges(rec.node, rec.gpus, gpus);
      rec.gpus = gpus;
      if (aspects.size > 0) changes.push({ node: rec.node, aspects: ASPECT_ORDER.filter((a) => aspects.has(a)) });
    }
    this.#rev++;
    this.#emit(changes);
  }

  /** Starts scraping on the interval. Idempotent; does nothing after stop(). */
  start(): void {
    if (this.#running || this.#stopped) return;
    this.#running = true;
    this.#wake();
  }

  /** Stops the timer, aborts scrapes in flight and waits for them to settle. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#abort.abort();
    await Promise.allSettled([...this.#inFlight]);
  }

  /** Scrapes every endpoint that is due now and not already in flight, and waits for those scrapes. */
  async scrapeDue(): Promise<void> {
    if (this.#stopped) return;
    const now = this.#now();
    const due = [...this.#endpoints.values()].filter((s) => !s.inFlight && s.nextAt <= now);
    for (const s of due) s.inFlight = true;
    const runs = due.map((s) => {
      const p = this.#scrape(s);
      this.#inFlight.add(p);
      void p.finally(() => this.#inFlight.delete(p));
      return p;
    });
    await Promise.all(runs);
  }

  /** The current state; the same object until something changes. */
  snapshot(): DcgmSnapshot {
    this.#advance(this.#now(), false);
    if (this.#cached && this.#cached.rev === this.#rev) return this.#cached.snapshot;
    const snapshot = this.#build();
    this.#cached = { rev: this.#rev, snapshot };
    return snapshot;
  }

  // ---- scheduling ----

  #wake(): void {
    this.#timer = undefined;
    if (!this.#running) return;
    this.#advance(this.#now(), false);
    void this.scrapeDue();
    this.#schedule();
  }

  #schedule(): void {
    if (!this.#running) return;
    let next = this.#nextTransition;
    for (const s of this.#endpoints.values()) if (!s.inFlight) next = Math.min(next, s.nextAt);
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!Number.isFinite(next)) return;
    const delay = Math.min(Math.max(0, next - this.#now()), 2 ** 31 - 1);
    this.#timer = setTimeout(() => this.#wake(), delay);
    this.#timer.unref();
  }

  async #acquire(): Promise<void> {
    if (this.#active < this.#o.concurrency) {
      this.#active++;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#active--;
  }

  // ---- one scrape ----

  async #scrape(s: EndpointState): Promise<void> {
    try {
      await this.#acquire();
      const started = performance.now();
      let result: FetchResult;
      try {
        result = this.#stopped ? { kind: "aborted" } : await this.#fetchBody(s.endpoint.url);
      } finally {
        this.#release();
      }
      if (result.kind === "aborted") return;
      const now = this.#now();
      const outcome = this.#apply(s, result, now);
      const seconds = (performance.now() - started) / 1000;
      this.#metrics.dcgmScrapes.inc({ outcome });
      this.#metrics.dcgmScrapeDuration.observe({ outcome }, seconds);
    } catch (err) {
      this.#log.error({ err, endpoint: s.endpoint.url }, "DCGM scrape failed unexpectedly");
      s.nextAt = this.#now() + this.#o.intervalMs;
    } finally {
      s.inFlight = false;
      this.#schedule();
    }
  }

  async #fetchBody(url: string): Promise<FetchResult> {
    // One controller per request, aborted by its own timer or by stop(). (Not
    // AbortSignal.any over the store-wide signal: dependants of a long-lived
    // signal pile up in some Node releases.)
    const request = new AbortController();
    const signal = request.signal;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      request.abort(new DOMException(`no answer within ${this.#o.timeoutMs} ms`, "TimeoutError"));
    }, this.#o.timeoutMs);
    const onStop = () => request.abort();
    this.#abort.signal.addEventListener("abort", onStop, { once: true });
    const max = this.#o.maxBodyBytes;
    try {
      const res = await this.#fetch(url, { signal, headers: { accept: ACCEPT }, redirect: "error" });
      if (!res.ok) {
        await res.body?.cancel().catch(() => undefined);
        return { kind: "failed", outcome: "http_error", error: `HTTP ${res.status}` };
      }
      const declared = Number(res.headers.get("content-length") ?? Number.NaN);
      if (declared > max) {
        await res.body?.cancel().catch(() => undefined);
        return { kind: "failed", outcome: "too_large", error: `body of ${declared} bytes is over the limit of ${max}` };
      }
      const bytes = await readLimited(res, max);
      if (bytes === undefined) return { kind: "failed", outcome: "too_large", error: `body is over the limit of ${max} bytes` };
      let text: string;
      try {
        text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
      } catch {
        return { kind: "failed", outcome: "malformed", error: "body is not UTF-8 text" };
      }
      return { kind: "body", text };
    } catch (err) {
      if (this.#abort.signal.aborted) return { kind: "aborted" };
      if (timedOut) return { kind: "failed", outcome: "timeout", error: `no complete answer within ${this.#o.timeoutMs} ms` };
      return { kind: "failed", outcome: "unreachable", error: describeFetchError(err) };
    } finally {
      clearTimeout(timer);
      this.#abort.signal.removeEventListener("abort", onStop);
    }
  }

  /** Records the result of one scrape; returns its outcome. */
  #apply(s: EndpointState, result: Exclude<FetchResult, { kind: "aborted" }>, now: number): ScrapeOutcome {
    if (this.#endpoints.get(s.endpoint.url) !== s || this.#stopped) {
      // Removed while in flight: its result no longer speaks for any node.
      return result.kind === "body" ? "ok" : result.outcome;
    }
    s.lastAttemptAt = now;
    this.#rev++;
    if (result.kind === "failed") return this.#fail(s, result.outcome, result.error, now);

    const parsed = parseExposition(result.text, { maxBytes: this.#o.maxBodyBytes, maxLines: this.#o.maxLines });
    if (!parsed.complete || parsed.errorCount > 0) {
      const first = parsed.errors[0];
      const where = first ? `; first at line ${first.line}: ${first.message}` : "";
      return this.#fail(s, "malformed", `${parsed.errorCount} malformed line(s)${where}`, now);
    }
    if (parsed.samples.length === 0) return this.#fail(s, "empty", "the body has no samples", now);
    const nodeName = s.endpoint.nodeName;
    const read = readDcgmGpus(parsed.samples, nodeName !== undefined ? { node: nodeName } : {});
    if (read.gpus.length === 0) {
      const why =
        read.unattributedSeries > 0
          ? `${read.unattributedSeries} GPU series carry no Hostname label and the endpoint has no node name`
          : "no GPU series in the body";
      return this.#fail(s, "no_gpus", why, now);
    }

    if (nodeName !== undefined && !s.warnedHostnames && read.hostnames.some((h) => h !== nodeName)) {
      s.warnedHostnames = true;
      this.#log.warn(
        { endpoint: s.endpoint.url, node: nodeName, dcgm: { hostnames: read.hostnames } },
        "dcgm-exporter's Hostname label differs from the node its pod runs on; using the node name",
      );
    }
    const issuesKey = read.issues.join("\n");
    if (issuesKey !== s.issuesKey) {
      s.issuesKey = issuesKey;
      if (issuesKey !== "") this.#log.warn({ endpoint: s.endpoint.url, dcgm: { issues: read.issues } }, "DCGM data is inconsistent");
    }
    if (s.lastOutcome !== undefined && s.lastOutcome !== "ok") {
      this.#log.info({ endpoint: s.endpoint.url, node: nodeName, after: s.lastOutcome, failures: s.failures }, "DCGM endpoint recovered");
    }
    s.failures = 0;
    s.lastOutcome = "ok";
    s.lastError = undefined;
    s.lastSuccessAt = now;
    s.nextAt = now + this.#o.intervalMs;

    const groups = groupReadingsByNode(read.gpus);
    s.nodes = [...groups.keys()];
    const changes: DcgmNodeChange[] = [];
    for (const [node, readings] of groups) {
      const change = this.#applyNode(node, readings, s.endpoint.url, now);
      if (change) changes.push(change);
    }
    this.#emit(changes);
    return "ok";
  }

  #fail(s: EndpointState, outcome: ScrapeFailure, error: string, now: number): ScrapeFailure {
    s.failures++;
    const delay = backoffDelayMs(s.failures, this.#o, this.#random);
    s.nextAt = now + delay;
    if (s.lastOutcome !== outcome || s.lastError === undefined) {
      this.#log.warn(
        { endpoint: s.endpoint.url, node: s.endpoint.nodeName, outcome, failures: s.failures, retryInMs: delay, dcgm: { error } },
        "DCGM scrape failed",
      );
    }
    s.lastOutcome = outcome;
    s.lastError = error;
    const nodes = new Set(s.nodes);
    if (s.endpoint.nodeName !== undefined) nodes.add(s.endpoint.nodeName);
    for (const node of nodes) {
      let rec = this.#records.get(node);
      if (!rec) {
        rec = this.#newRecord(node);
        this.#records.set(node, rec);
      }
      // Say why, unless another live endpoint is the one serving this node.
      if (rec.endpointUrl === undefined || rec.endpointUrl === s.endpoint.url || !this.#endpoints.has(rec.endpointUrl)) {
        rec.lastError = `${outcome}: ${error}`;
      }
    }
    this.#updateGauges();
    return outcome;
  }

  #newRecord(node: string): NodeRecord {
    return { node, version: this.#version, state: "unknown", readings: [], gpus: EMPTY_GPUS, baselines: new Map() };
  }

  #status(r: DcgmGpuReading, condition: GpuCondition): DcgmGpuStatus {
    return Object.freeze({
      index: r.gpuIndex,
      ...(r.uuid !== undefined ? { uuid: r.uuid } : {}),
      ...(r.pciBusId !== undefined ? { pciBusId: r.pciBusId } : {}),
      ...(r.modelName !== undefined ? { modelName: r.modelName } : {}),
      condition: Object.freeze(condition),
      reading: r,
    });
  }

  #applyNode(node: string, readings: readonly DcgmGpuReading[], endpointUrl: string, now: number): DcgmNodeChange | undefined {
    let rec = this.#records.get(node);
    if (!rec) {
      rec = this.#newRecord(node);
      this.#records.set(node, rec);
    }
    const hold = this.#o.remappedRowsHoldMs;
    const statuses: DcgmGpuStatus[] = [];
    for (const r of readings) {
      const key = gpuKey(r);
      const base = rec.baselines.get(key);
      const condition = evaluateGpuHealth(r, base?.reading, this.#rules);
      statuses.push(this.#status(r, condition));
      const before = base?.reading.uncorrectableRemappedRows;
      const rose = base !== undefined && before !== undefined && r.uncorrectableRemappedRows !== undefined && r.uncorrectableRemappedRows > before;
      if (rose) {
        base.riseSince ??= now;
        base.seenAt = now;
        if (now - base.riseSince >= hold) rec.baselines.set(key, { reading: r, seenAt: now });
      } else {
        rec.baselines.set(key, { reading: r, seenAt: now });
      }
    }
    for (const [key, b] of rec.baselines) if (now - b.seenAt > this.#o.forgetAfterMs) rec.baselines.delete(key);

    const gpus = indexGpus(statuses);
    const aspects = diffGpus(rec.gpus, gpus);
    const wasState = rec.state;
    if (wasState !== "fresh") {
      aspects.add("state");
      if (wasState === "stale") this.#log.info({ node }, "DCGM data is fresh again");
    }
    this.#logHealthChanges(node, rec.gpus, gpus);
    rec.state = "fresh";
    rec.lastSuccessAt = now;
    rec.endpointUrl = endpointUrl;
    rec.lastError = undefined;
    rec.readings = readings;
    rec.gpus = gpus;
    this.#nextTransition = Math.min(this.#nextTransition, now + this.#o.staleAfterMs + 1);
    return aspects.size > 0 ? { node, aspects: ASPECT_ORDER.filter((a) => aspects.has(a)) } : undefined;
  }

  #logHealthChanges(node: string, before: DcgmNodeGpus, after: DcgmNodeGpus): void {
    const old = new Map(before.list.map((g) => [g.index, g.condition]));
    for (const g of after.list) {
      const was = old.get(g.index);
      const c = g.condition;
      if (!c.healthy && (was === undefined || was.healthy || was.reasons.join("\n") !== c.reasons.join("\n"))) {
        this.#log.warn({ node, gpu: g.index, uuid: g.uuid, reasons: c.reasons }, "GPU unhealthy per DCGM");
      } else if (c.healthy && was !== undefined && !was.healthy) {
        this.#log.info({ node, gpu: g.index, uuid: g.uuid }, "GPU healthy again per DCGM");
      }
    }
  }

  // ---- time-driven state ----

  #servedNodes(): Set<string> {
    const served = new Set<string>();
    for (const s of this.#endpoints.values()) {
      if (s.endpoint.nodeName !== undefined) served.add(s.endpoint.nodeName);
      for (const n of s.nodes) served.add(n);
    }
    return served;
  }

  /** Moves nodes from fresh to stale and forgets unserved ones as time passes. */
  #advance(now: number, force: boolean): void {
    if (!force && now < this.#nextTransition) return;
    const served = this.#servedNodes();
    const { staleAfterMs, forgetAfterMs } = this.#o;
    const changes: DcgmNodeChange[] = [];
    let next = Number.POSITIVE_INFINITY;
    for (const rec of [...this.#records.values()]) {
      const last = rec.lastSuccessAt;
      if (!served.has(rec.node) && (last === undefined || now - last > forgetAfterMs)) {
        this.#records.delete(rec.node);
        if (rec.state !== "unknown") {
          changes.push({ node: rec.node, aspects: ["state"] });
          this.#log.info({ node: rec.node }, "no DCGM endpoint serves this node any more; its data is dropped");
        }
        continue;
      }
      const state: DcgmNodeState = last === undefined ? "unknown" : now - last > staleAfterMs ? "stale" : "fresh";
      if (state !== rec.state) {
        if (state === "stale") {
          this.#log.warn(
            { node: rec.node, scrapedAt: new Date(last!).toISOString(), lastError: rec.lastError },
            "DCGM data is stale; GPU health on this node now counts as unknown",
          );
        }
        rec.state = state;
        changes.push({ node: rec.node, aspects: ["state"] });
      }
      if (last !== undefined) {
        if (state === "fresh") next = Math.min(next, last + staleAfterMs + 1);
        if (!served.has(rec.node)) next = Math.min(next, last + forgetAfterMs + 1);
      }
    }
    this.#nextTransition = next;
    if (changes.length > 0) this.#rev++;
    this.#emit(changes);
  }

  #emit(changes: readonly DcgmNodeChange[]): void {
    if (changes.length === 0) {
      this.#updateGauges();
      return;
    }
    this.#version++;
    this.#rev++;
    for (const c of changes) {
      const rec = this.#records.get(c.node);
      if (rec) rec.version = this.#version;
    }
    this.#updateGauges();
    const change: DcgmChange = Object.freeze({ version: this.#version, nodes: Object.freeze([...changes]) });
    for (const listener of [...this.#listeners]) {
      try {
        listener(change);
      } catch (err) {
        this.#log.error({ err }, "DCGM change listener failed");
      }
    }
  }

  #updateGauges(): void {
    const nodes = { fresh: 0, stale: 0, unknown: 0 };
    let unhealthy = 0;
    for (const rec of this.#records.values()) {
      nodes[rec.state]++;
      if (rec.state === "fresh") for (const g of rec.gpus.list) if (!g.condition.healthy) unhealthy++;
    }
    for (const [state, n] of Object.entries(nodes)) this.#metrics.dcgmNodes.set({ state }, n);
    const endpoints = { pending: 0, ok: 0, failing: 0 };
    for (const s of this.#endpoints.values()) endpoints[s.lastOutcome === undefined ? "pending" : s.lastOutcome === "ok" ? "ok" : "failing"]++;
    for (const [state, n] of Object.entries(endpoints)) this.#metrics.dcgmEndpoints.set({ state }, n);
    this.#metrics.dcgmUnhealthyGpus.set(unhealthy);
  }

  // ---- snapshots ----

  #build(): DcgmSnapshot {
    const nodes = new Map<string, DcgmNodeStatus>();
    for (const rec of this.#records.values()) nodes.set(rec.node, this.#nodeStatus(rec));
    const endpoints = [...this.#endpoints.values()].map((s): DcgmEndpointStatus => {
      const state = s.lastOutcome === undefined ? "pending" : s.lastOutcome === "ok" ? "ok" : "failing";
      return Object.freeze({
        url: s.endpoint.url,
        ...(s.endpoint.nodeName !== undefined ? { nodeName: s.endpoint.nodeName } : {}),
        state,
        ...(s.lastOutcome !== undefined ? { lastOutcome: s.lastOutcome } : {}),
        consecutiveFailures: s.failures,
        ...(s.lastError !== undefined ? { lastError: s.lastError } : {}),
        ...(s.lastAttemptAt !== undefined ? { lastAttemptAt: new Date(s.lastAttemptAt) } : {}),
        ...(s.lastSuccessAt !== undefined ? { lastSuccessAt: new Date(s.lastSuccessAt) } : {}),
        nextAttemptAt: new Date(s.nextAt),
        nodes: Object.freeze([...s.nodes]),
      });
    });
    const version = this.#version;
    return Object.freeze({
      version,
      nodes,
      endpoints: Object.freeze(endpoints),
      node: (name: string): DcgmNodeStatus =>
        nodes.get(name) ?? Object.freeze({ node: name, version: 0, state: "unknown" as const, reason: "no DCGM endpoint reports this node" }),
      freshGpus: (name: string): DcgmNodeGpus | undefined => {
        const n = nodes.get(name);
        return n?.state === "fresh" ? n.gpus : undefined;
      },
    });
  }

  #nodeStatus(rec: NodeRecord): DcgmNodeStatus {
    const base = {
      node: rec.node,
      version: rec.version,
      ...(rec.endpointUrl !== undefined ? { endpoint: rec.endpointUrl } : {}),
      ...(rec.lastError !== undefined ? { lastError: rec.lastError } : {}),
    };
    if (rec.state === "fresh" && rec.lastSuccessAt !== undefined) {
      return Object.freeze({ ...base, state: "fresh" as const, scrapedAt: new Date(rec.lastSuccessAt), gpus: rec.gpus });
    }
    if (rec.state === "stale" && rec.lastSuccessAt !== undefined) {
      return Object.freeze({ ...base, state: "stale" as const, scrapedAt: new Date(rec.lastSuccessAt), lastKnownGpus: rec.gpus });
    }
    const reason = rec.lastError !== undefined ? `no DCGM data yet (${rec.lastError})` : "no DCGM data yet";
    return Object.freeze({ ...base, state: "unknown" as const, reason });
  }
}
