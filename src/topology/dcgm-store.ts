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
  DCGM_VALUE_FIELDS,
  DEFAULT_DCGM_HEALTH_RULES,
  evaluateGpuHealth,
  groupReadingsByNode,
  ownReading,
  readDcgmExposition,
  type DcgmGpuReading,
  type DcgmHealthRules,
} from "./dcgm.js";
import { fetchScrapeGet, httpScrapeGet, type FetchLike, type ScrapeGet } from "./dcgm-http.js";
import type { GpuCondition } from "./model.js";

/** One dcgm-exporter /metrics URL, and the node it runs on when known (always, for discovered endpoints). */
export interface DcgmEndpoint {
  readonly url: string;
  readonly nodeName?: string;
}

export type ScrapeOutcome = "ok" | "timeout" | "unreachable" | "http_error" | "too_large" | "malformed" | "empty" | "no_gpus";
export type ScrapeFailure = Exclude<ScrapeOutcome, "ok">;

export const SCRAPE_OUTCOMES: readonly ScrapeOutcome[] = ["ok", "timeout", "unreachable", "http_error", "too_large", "malformed", "empty", "no_gpus"];

export type { FetchLike } from "./dcgm-http.js";

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
  /** Default: topofit's own HTTP client (node:http, keep-alive); give a fetch function to scrape through it instead. */
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
  /** The latest readings and the conditions evaluated from them. */
  gpus: IndexedGpus;
  readonly baselines: Map<string, Baseline>;
}

type FetchResult =
  | { readonly kind: "body"; readonly text: string }
  | { readonly kind: "failed"; readonly outcome: ScrapeFailure; readonly error: string }
  | { readonly kind: "aborted" };


/** Longest wait between two wakes of the scrape timer once one is due (shorter for short intervals). */
const MAX_WAKE_GAP_MS = 250;

function gpuKey(r: DcgmGpuReading): string {
  return r.uuid ?? (r.pciBusId !== undefined ? `pci:${r.pciBusId}` : `index:${r.gpuIndex}`);
}

function status(r: DcgmGpuReading, condition: GpuCondition): DcgmGpuStatus {
  return Object.freeze({
    index: r.gpuIndex,
    ...(r.uuid !== undefined ? { uuid: r.uuid } : {}),
    ...(r.pciBusId !== undefined ? { pciBusId: r.pciBusId } : {}),
    ...(r.modelName !== undefined ? { modelName: r.modelName } : {}),
    condition,
    reading: r,
  });
}

/**
 * A node's GPUs as two parallel lists, readings and conditions. The status
 * objects and lookups of DcgmNodeGpus are built when first read: the
 * extender only ever reads conditions by index, and a scrape of ten thousand
 * nodes should not leave ten thousand sets of unused objects behind.
 */
class IndexedGpus implements DcgmNodeGpus {
  readonly readings: readonly DcgmGpuReading[];
  readonly conditions: readonly GpuCondition[];
  #list: readonly DcgmGpuStatus[] | undefined;
  #byIndex: ReadonlyMap<number, GpuCondition> | undefined;
  #byPciBusId: ReadonlyMap<string, GpuCondition> | undefined;
  #byUuid: ReadonlyMap<string, GpuCondition> | undefined;

  constructor(readings: readonly DcgmGpuReading[], conditions: readonly GpuCondition[]) {
    this.readings = Object.freeze([...readings]);
    this.conditions = Object.freeze([...conditions]);
    Object.freeze(this);
  }

  get list(): readonly DcgmGpuStatus[] {
    return (this.#list ??= Object.freeze(this.readings.map((r, i) => status(r, this.conditions[i]!))));
  }

  get byIndex(): ReadonlyMap<number, GpuCondition> {
    return (this.#byIndex ??= new Map(this.readings.map((r, i) => [r.gpuIndex, this.conditions[i]!])));
  }

  get byPciBusId(): ReadonlyMap<string, GpuCondition> {
    return (this.#byPciBusId ??= new Map(this.readings.flatMap((r, i) => (r.pciBusId !== undefined ? [[r.pciBusId, this.conditions[i]!] as const] : []))));
  }

  get byUuid(): ReadonlyMap<string, GpuCondition> {
    return (this.#byUuid ??= new Map(this.readings.flatMap((r, i) => (r.uuid !== undefined ? [[r.uuid, this.conditions[i]!] as const] : []))));
  }

  unhealthyCount(): number {
    let n = 0;
    for (const c of this.conditions) if (!c.healthy) n += 1;
    return n;
  }
}

const EMPTY_GPUS = new IndexedGpus([], []);

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function diffGpus(a: IndexedGpus, b: IndexedGpus): Set<DcgmChangeAspect> {
  const aspects = new Set<DcgmChangeAspect>();
  const bByIndex = new Map(b.readings.map((r, i) => [r.gpuIndex, i]));
  if (a.readings.length !== b.readings.length) aspects.add("gpus");
  for (let i = 0; i < a.readings.length; i++) {
    const j = bByIndex.get(a.readings[i]!.gpuIndex);
    if (j === undefined) {
      aspects.add("gpus");
      continue;
    }
    const ra = a.readings[i]!;
    const rb = b.readings[j]!;
    if (ra.uuid !== rb.uuid || ra.pciBusId !== rb.pciBusId) aspects.add("gpus");
    const ca = a.conditions[i]!;
    const cb = b.conditions[j]!;
    if (ca.healthy !== cb.healthy || !sameStrings(ca.reasons, cb.reasons)) aspects.add("health");
    if (!sameStrings(ca.pods, cb.pods)) aspects.add("pods");
    if (ca.utilization !== cb.utilization || ca.memoryUsedMiB !== cb.memoryUsedMiB) aspects.add("load");
  }
  return aspects;
}

/** Whether two readings say the same in every field (MIG instances aside: a reading with any is never taken as unchanged). */
function sameReading(a: DcgmGpuReading, b: DcgmGpuReading): boolean {
  if (a.node !== b.node || a.gpuIndex !== b.gpuIndex || a.uuid !== b.uuid || a.pciBusId !== b.pciBusId || a.modelName !== b.modelName) return false;
  if (a.migInstances.length > 0 || b.migInstances.length > 0 || !sameStrings(a.pods, b.pods)) return false;
  for (const f of DCGM_VALUE_FIELDS) if (a[f] !== b[f]) return false;
  return true;
}

function sameCondition(a: GpuCondition, b: GpuCondition): boolean {
  return a.healthy === b.healthy && a.utilization === b.utilization && a.memoryUsedMiB === b.memoryUsedMiB && sameStrings(a.reasons, b.reasons) && sameStrings(a.pods, b.pods);
}


function endpointState(s: EndpointState): DcgmEndpointStatus["state"] {
  return s.lastOutcome === undefined ? "pending" : s.lastOutcome === "ok" ? "ok" : "failing";
}

function describeFetchError(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    const detail = cause instanceof Error ? cause.message : cause !== undefined ? String(cause) : "";
    return detail && !err.message.includes(detail) ? `${err.message}: ${detail}` : err.message;
  }
  return String(err);
}


export class DcgmStore {
  readonly #log: Logger;
  readonly #metrics: DcgmMetrics;
  readonly #o: { readonly [K in keyof typeof DCGM_STORE_DEFAULTS]: number };
  readonly #get: ScrapeGet;
  readonly #closeClient: () => void;
  readonly #now: () => number;
  readonly #random: () => number;
  #rules: DcgmHealthRules;

  readonly #endpoints = new Map<string, EndpointState>();
  readonly #records = new Map<string, NodeRecord>();
  readonly #listeners = new Set<DcgmChangeListener>();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #abort = new AbortController();
  /** Scrapes in flight, aborted by stop(). */
  readonly #requests = new Set<AbortController>();
  #waiting: (() => void)[] = [];
  #active = 0;
  #version = 0;
  /** The last snapshot handed out, until anything changes (then dropped: a snapshot holds every node). */
  #cached: DcgmSnapshot | undefined;
  #nextTransition = Number.POSITIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;
  /** When the pending timer fires (Infinity: none pending). */
  #timerAt = Number.POSITIVE_INFINITY;
  #lastWake = Number.NEGATIVE_INFINITY;
  /** Gauge values, kept up to date as records and endpoints change (a scrape must not cost a pass over every node). */
  readonly #nodeCounts: Record<DcgmNodeState, number> = { fresh: 0, stale: 0, unknown: 0 };
  readonly #endpointCounts: Record<DcgmEndpointStatus["state"], number> = { pending: 0, ok: 0, failing: 0 };
  #unhealthyGpus = 0;
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
    if (options.fetch) {
      this.#get = fetchScrapeGet(options.fetch);
      this.#closeClient = () => undefined;
    } else {
      const client = httpScrapeGet(this.#o.concurrency);
      this.#get = client.get;
      this.#closeClient = () => client.close();
    }
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
        this.#countEndpoint(s, -1);
        this.#endpoints.delete(url);
        removed++;
      }
    }
    for (const [url, e] of wanted) {
      if (this.#endpoints.has(url)) continue;
      const state: EndpointState = { endpoint: e, failures: 0, nextAt: now, inFlight: false, nodes: [], warnedHostnames: false, issuesKey: "" };
      this.#endpoints.set(url, state);
      this.#countEndpoint(state, 1);
      added++;
      if (e.nodeName !== undefined && !this.#records.has(e.nodeName)) this.#addRecord(e.nodeName);
    }
    if (added > 0 || removed > 0) {
      this.#log.info({ endpoints: this.#endpoints.size, added, removed }, "DCGM endpoints updated");
    }
    this.#changed();
    this.#advance(now, true);
    this.#updateGauges();
    this.#schedule();
  }

  /** Puts new health rules in force and re-evaluates every node's last readings with them. */
  setRules(rules: DcgmHealthRules): void {
    this.#rules = rules;
    const changes: DcgmNodeChange[] = [];
    for (const rec of this.#records.values()) {
      if (rec.gpus.readings.length === 0) continue;
      const readings = rec.gpus.readings;
      const gpus = new IndexedGpus(
        readings,
        readings.map((r) => Object.freeze(evaluateGpuHealth(r, rec.baselines.get(gpuKey(r))?.reading, rules))),
      );
      const aspects = diffGpus(rec.gpus, gpus);
      this.#logHealthChanges(rec.node, rec.gpus, gpus);
      this.#countRecord(rec, -1);
      rec.gpus = gpus;
      this.#countRecord(rec, 1);
      if (aspects.size > 0) changes.push({ node: rec.node, aspects: ASPECT_ORDER.filter((a) => aspects.has(a)) });
    }
    this.#changed();
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
    this.#timerAt = Number.POSITIVE_INFINITY;
    this.#abort.abort();
    for (const r of this.#requests) r.abort();
    await Promise.allSettled([...this.#inFlight]);
    this.#closeClient();
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

  /**
   * One node's status as snapshot().node(name) would give it, without building
   * a snapshot of every node: what a change listener reads for the nodes a
   * change names. Undefined when no record of the node is kept.
   */
  nodeStatus(name: string): DcgmNodeStatus | undefined {
    this.#advance(this.#now(), false);
    const rec = this.#records.get(name);
    return rec === undefined ? undefined : this.#nodeStatus(rec);
  }

  #changed(): void {
    this.#cached = undefined;
  }

  /** The current state; the same object until something changes. */
  snapshot(): DcgmSnapshot {
    this.#advance(this.#now(), false);
    return (this.#cached ??= this.#build());
  }

  // ---- scheduling ----

  #wake(): void {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    if (!this.#running) return;
    this.#lastWake = this.#now();
    this.#advance(this.#lastWake, false);
    void this.scrapeDue();
    this.#schedule();
  }

  /** Sets the timer for the earliest due endpoint or state transition (a pass over every endpoint). */
  #schedule(): void {
    if (!this.#running) return;
    let next = Number.POSITIVE_INFINITY;
    for (const s of this.#endpoints.values()) if (!s.inFlight) next = Math.min(next, s.nextAt);
    this.#setTimer(Math.min(this.#batched(next), this.#nextTransition));
  }

  /**
   * When to wake for an endpoint due at `at`: wakes for scrapes are spaced a
   * little, so endpoints falling due one after another are scraped in batches
   * (each wake looks at every endpoint).
   */
  #batched(at: number): number {
    return Math.max(at, this.#lastWake + Math.min(MAX_WAKE_GAP_MS, this.#o.intervalMs / 8));
  }

  /** After a scrape: brings the timer forward if the endpoint or a state transition is due sooner (no pass over the endpoints). */
  #scheduleAfterScrape(s: EndpointState): void {
    const at = Math.min(this.#batched(s.nextAt), this.#nextTransition);
    if (this.#running && at < this.#timerAt) this.#setTimer(at);
  }

  #setTimer(at: number): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = at;
    if (!Number.isFinite(at)) return;
    const delay = Math.min(Math.max(0, at - this.#now()), 2 ** 31 - 1);
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
      this.#scheduleAfterScrape(s);
    }
  }

  async #fetchBody(url: string): Promise<FetchResult> {
    // One controller per request, aborted by its own timer or by stop(), which
    // aborts every request in the set. (No listener on a store-wide signal per
    // request: with many endpoints in flight they pile up past Node's warning
    // limit, and AbortSignal.any's dependants leak in some Node releases.)
    const request = new AbortController();
    const signal = request.signal;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      request.abort(new DOMException(`no answer within ${this.#o.timeoutMs} ms`, "TimeoutError"));
    }, this.#o.timeoutMs);
    this.#requests.add(request);
    const max = this.#o.maxBodyBytes;
    try {
      const res = await this.#get(url, signal);
      if (res.status < 200 || res.status > 299) {
        await res.discard();
        return { kind: "failed", outcome: "http_error", error: `HTTP ${res.status}` };
      }
      const declared = res.declaredBytes;
      if (declared !== undefined && declared > max) {
        await res.discard();
        return { kind: "failed", outcome: "too_large", error: `body of ${declared} bytes is over the limit of ${max}` };
      }
      const bytes = await res.read(max);
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
      this.#requests.delete(request);
    }
  }

  /** Records the result of one scrape; returns its outcome. */
  #apply(s: EndpointState, result: Exclude<FetchResult, { kind: "aborted" }>, now: number): ScrapeOutcome {
    if (this.#endpoints.get(s.endpoint.url) !== s || this.#stopped) {
      // Removed while in flight: its result no longer speaks for any node.
      return result.kind === "body" ? "ok" : result.outcome;
    }
    s.lastAttemptAt = now;
    this.#changed();
    if (result.kind === "failed") return this.#fail(s, result.outcome, result.error, now);

    const nodeName = s.endpoint.nodeName;
    const { scan, read } = readDcgmExposition(result.text, { maxBytes: this.#o.maxBodyBytes, maxLines: this.#o.maxLines }, nodeName !== undefined ? { node: nodeName } : {});
    if (!scan.complete || scan.errorCount > 0) {
      const first = scan.errors[0];
      const where = first ? `; first at line ${first.line}: ${first.message}` : "";
      return this.#fail(s, "malformed", `${scan.errorCount} malformed line(s)${where}`, now);
    }
    if (scan.sampleCount === 0) return this.#fail(s, "empty", "the body has no samples", now);
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
    this.#countEndpoint(s, -1);
    s.lastOutcome = "ok";
    this.#countEndpoint(s, 1);
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
    this.#countEndpoint(s, -1);
    s.lastOutcome = outcome;
    this.#countEndpoint(s, 1);
    s.lastError = error;
    const nodes = new Set(s.nodes);
    if (s.endpoint.nodeName !== undefined) nodes.add(s.endpoint.nodeName);
    for (const node of nodes) {
      const rec = this.#records.get(node) ?? this.#addRecord(node);
      // Say why, unless another live endpoint is the one serving this node.
      if (rec.endpointUrl === undefined || rec.endpointUrl === s.endpoint.url || !this.#endpoints.has(rec.endpointUrl)) {
        rec.lastError = `${outcome}: ${error}`;
      }
    }
    this.#updateGauges();
    return outcome;
  }

  #addRecord(node: string): NodeRecord {
    const rec: NodeRecord = { node, version: this.#version, state: "unknown", gpus: EMPTY_GPUS, baselines: new Map() };
    this.#records.set(node, rec);
    this.#countRecord(rec, 1);
    return rec;
  }

  #deleteRecord(rec: NodeRecord): void {
    this.#records.delete(rec.node);
    this.#countRecord(rec, -1);
  }

  /** Adds (sign 1) or takes away (-1) what a record contributes to the node and unhealthy-GPU gauges. */
  #countRecord(rec: NodeRecord, sign: 1 | -1): void {
    this.#nodeCounts[rec.state] += sign;
    if (rec.state !== "fresh") return;
    this.#unhealthyGpus += sign * rec.gpus.unhealthyCount();
  }

  #countEndpoint(s: EndpointState, sign: 1 | -1): void {
    this.#endpointCounts[endpointState(s)] += sign;
  }

  #applyNode(node: string, readings: readonly DcgmGpuReading[], endpointUrl: string, now: number): DcgmNodeChange | undefined {
    const rec = this.#records.get(node) ?? this.#addRecord(node);
    const hold = this.#o.remappedRowsHoldMs;
    const prev = rec.gpus;
    const kept: DcgmGpuReading[] = [];
    const conditions: GpuCondition[] = [];
    for (const scraped of readings) {
      const key = gpuKey(scraped);
      // An unchanged GPU keeps its reading and condition objects: only what changed is new.
      const p = prev.readings.findIndex((r) => gpuKey(r) === key);
      const before = p >= 0 ? prev.readings[p]! : undefined;
      const r = before !== undefined && sameReading(before, scraped) ? before : ownReading(scraped, before);
      const base = rec.baselines.get(key);
      const evaluated = evaluateGpuHealth(r, base?.reading, this.#rules);
      const condition = p >= 0 && sameCondition(prev.conditions[p]!, evaluated) ? prev.conditions[p]! : Object.freeze(evaluated);
      kept.push(r);
      conditions.push(condition);
      const rows = base?.reading.uncorrectableRemappedRows;
      const rose = base !== undefined && rows !== undefined && r.uncorrectableRemappedRows !== undefined && r.uncorrectableRemappedRows > rows;
      if (base === undefined) {
        // Keyed by the kept reading's string: the scraped one may be a slice of the body.
        rec.baselines.set(gpuKey(r), { reading: r, seenAt: now });
      } else if (rose) {
        base.riseSince ??= now;
        base.seenAt = now;
        if (now - base.riseSince >= hold) Object.assign(base, { reading: r, riseSince: undefined });
      } else {
        base.reading = r;
        base.riseSince = undefined;
        base.seenAt = now;
      }
    }
    for (const [key, b] of rec.baselines) if (now - b.seenAt > this.#o.forgetAfterMs) rec.baselines.delete(key);

    const gpus = new IndexedGpus(kept, conditions);
    const aspects = diffGpus(rec.gpus, gpus);
    const wasState = rec.state;
    if (wasState !== "fresh") {
      aspects.add("state");
      if (wasState === "stale") this.#log.info({ node }, "DCGM data is fresh again");
    }
    this.#logHealthChanges(node, rec.gpus, gpus);
    this.#countRecord(rec, -1);
    rec.state = "fresh";
    rec.gpus = gpus;
    this.#countRecord(rec, 1);
    rec.lastSuccessAt = now;
    rec.endpointUrl = endpointUrl;
    rec.lastError = undefined;
    this.#nextTransition = Math.min(this.#nextTransition, now + this.#o.staleAfterMs + 1);
    return aspects.size > 0 ? { node, aspects: ASPECT_ORDER.filter((a) => aspects.has(a)) } : undefined;
  }

  #logHealthChanges(node: string, before: IndexedGpus, after: IndexedGpus): void {
    for (let i = 0; i < after.readings.length; i++) {
      const g = { index: after.readings[i]!.gpuIndex, uuid: after.readings[i]!.uuid };
      const p = before.readings.findIndex((r) => r.gpuIndex === g.index);
      const was = p >= 0 ? before.conditions[p] : undefined;
      const c = after.conditions[i]!;
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
        this.#deleteRecord(rec);
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
        this.#countRecord(rec, -1);
        rec.state = state;
        this.#countRecord(rec, 1);
        changes.push({ node: rec.node, aspects: ["state"] });
      }
      if (last !== undefined) {
        if (state === "fresh") next = Math.min(next, last + staleAfterMs + 1);
        if (!served.has(rec.node)) next = Math.min(next, last + forgetAfterMs + 1);
      }
    }
    this.#nextTransition = next;
    if (changes.length > 0) this.#changed();
    this.#emit(changes);
  }

  #emit(changes: readonly DcgmNodeChange[]): void {
    if (changes.length === 0) {
      this.#updateGauges();
      return;
    }
    this.#version++;
    this.#changed();
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
    for (const [state, n] of Object.entries(this.#nodeCounts)) this.#metrics.dcgmNodes.set({ state }, n);
    for (const [state, n] of Object.entries(this.#endpointCounts)) this.#metrics.dcgmEndpoints.set({ state }, n);
    this.#metrics.dcgmUnhealthyGpus.set(this.#unhealthyGpus);
  }

  // ---- snapshots ----

  #build(): DcgmSnapshot {
    const nodes = new Map<string, DcgmNodeStatus>();
    for (const rec of this.#records.values()) nodes.set(rec.node, this.#nodeStatus(rec));
    const endpoints = [...this.#endpoints.values()].map((s): DcgmEndpointStatus => {
      const state = endpointState(s);
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
