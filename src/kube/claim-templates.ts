// ResourceClaimTemplates for the webhook: a cluster-wide list+watch that keeps
// only what counting GPUs needs of each template (its device requests), and the
// creation of the templates that converted pods refer to. In steady state every
// template a pod needs is in the cache and admission makes no API write.
import {
  ListWatch,
  ResourceV1Api,
  Watch,
  setHeaderMiddleware,
  type ConfigurationOptions,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type V1ResourceClaimTemplate,
} from "@kubernetes/client-node";
import type { ClaimTemplates, EnsureOutcome } from "../admission/claim-template.js";
import type { ClaimTemplateDevices, DeviceRequestSummary } from "../admission/gpu-request.js";
import type { ResourceClaimTemplateWire } from "../admission/schema.js";
import type { Logger } from "../telemetry/logger.js";
import type { Metrics } from "../telemetry/metrics.js";
import { describeApiError } from "./node-annotation.js";

export const CLAIM_TEMPLATES_PATH = "/apis/resource.k8s.io/v1/resourceclaimtemplates";
export const FIELD_MANAGER = "topofit";
const USER_AGENT = "topofit-webhook";

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function summarizeRequest(r: Record<string, unknown>, firstAvailable: boolean): DeviceRequestSummary | undefined {
  if (typeof r.deviceClassName !== "string") return undefined;
  const mode = typeof r.allocationMode === "string" && r.allocationMode !== "" ? r.allocationMode : "ExactCount";
  const count = typeof r.count === "number" && Number.isInteger(r.count) && r.count > 0 ? r.count : 1;
  return { deviceClassName: r.deviceClassName, allocationMode: mode, count, firstAvailable };
}

/** The device requests of a resource.k8s.io/v1 ResourceClaimTemplate (its `spec.spec.devices.requests`). */
export function summarizeTemplate(template: unknown): ClaimTemplateDevices {
  const outer = isObject(template) && isObject(template.spec) ? template.spec : {};
  const devices = isObject(outer.spec) && isObject(outer.spec.devices) ? outer.spec.devices : {};
  const requests: DeviceRequestSummary[] = [];
  for (const r of Array.isArray(devices.requests) ? devices.requests : []) {
    if (!isObject(r)) continue;
    const first = Array.isArray(r.firstAvailable) ? r.firstAvailable[0] : undefined;
    const summary = isObject(r.exactly) ? summarizeRequest(r.exactly, false) : isObject(first) ? summarizeRequest(first, true) : undefined;
    if (summary !== undefined) requests.push(summary);
  }
  return { requests };
}

/** Templates by namespace and name: what the watch listed, plus what this process created since. */
export class ClaimTemplateCache {
  readonly #byKey = new Map<string, ClaimTemplateDevices>();

  get(namespace: string, name: string): ClaimTemplateDevices | undefined {
    return this.#byKey.get(`${namespace}/${name}`);
  }

  set(namespace: string, name: string, devices: ClaimTemplateDevices): void {
    this.#byKey.set(`${namespace}/${name}`, devices);
  }

  delete(namespace: string, name: string): void {
    this.#byKey.delete(`${namespace}/${name}`);
  }

  get size(): number {
    return this.#byKey.size;
  }
}

/** The one API call the manager makes, so that it can run against a fake. */
export interface ClaimTemplateWriter {
  /** Creates the template; rejects with the API error (its `code` is the HTTP status) or when `signal` aborts. */
  create(template: ResourceClaimTemplateWire, signal: AbortSignal): Promise<void>;
}

/** Request options that abort the call with `signal` and name topofit as the client. */
function abortWith(signal: AbortSignal): ConfigurationOptions {
  const agent = setHeaderMiddleware("User-Agent", USER_AGENT);
  return {
    middleware: [
      {
        pre: (ctx) => {
          ctx.setSignal(signal);
          return agent.pre(ctx);
        },
        post: (res) => agent.post(res),
      },
    ],
    middlewareMergeStrategy: "append",
  };
}

export function createClaimTemplateWriter(kc: KubeConfig): ClaimTemplateWriter {
  const api = kc.makeApiClient(ResourceV1Api);
  return {
    async create(template, signal) {
      const body = template as unknown as V1ResourceClaimTemplate;
      await api.createNamespacedResourceClaimTemplate({ namespace: template.metadata.namespace, body, fieldManager: FIELD_MANAGER }, abortWith(signal));
    },
  };
}

export interface ClaimTemplateManagerOptions {
  readonly writer: ClaimTemplateWriter;
  readonly cache: ClaimTemplateCache;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** How long one create may take before the pod is admitted unconverted (default 2000 ms; the webhook's timeout is 5 s). */
  readonly timeoutMs?: number;
  /** After a failed create, pods needing the same template are not converted, without a new attempt, for this long (default 5000 ms). */
  readonly retryAfterMs?: number;
  readonly now?: () => number;
}

type CreateResult = { readonly ok: true; readonly created: boolean } | { readonly ok: false; readonly reason: string };

function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "number" ? code : undefined;
}

/** Resolves or rejects with `p`, or rejects when `signal` aborts first. */
function raceAbort(p: Promise<void>, signal: AbortSignal): Promise<void> {
  p.catch(() => undefined);
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    signal.addEventListener("abort", () => reject(signal.reason as Error), { once: true });
    p.then(resolve, reject);
  });
}

/** Creates the templates that are not in the cache; concurrent requests for one template share one call. */
export class ClaimTemplateManager implements ClaimTemplates {
  readonly #o: Required<Omit<ClaimTemplateManagerOptions, "now">> & { now: () => number };
  readonly #inFlight = new Map<string, Promise<CreateResult>>();
  readonly #failed = new Map<string, { until: number; reason: string }>();

  constructor(options: ClaimTemplateManagerOptions) {
    this.#o = { timeoutMs: 2000, retryAfterMs: 5000, now: Date.now, ...options };
  }

  lookup(namespace: string, name: string): ClaimTemplateDevices | undefined {
    return this.#o.cache.get(namespace, name);
  }

  async ensure(templates: readonly ResourceClaimTemplateWire[]): Promise<EnsureOutcome> {
    const missing = templates.filter((t) => this.#o.cache.get(t.metadata.namespace, t.metadata.name) === undefined);
    if (missing.length === 0) return { ok: true, created: [] };
    const results = await Promise.all(missing.map((t) => this.#createOnce(t)));
    const failures = new Set(results.flatMap((r) => (r.ok ? [] : [r.reason])));
    if (failures.size > 0) return { ok: false, reason: [...failures].join("; ") };
    return { ok: true, created: missing.filter((_, i) => results[i]?.ok === true && results[i].created).map((t) => t.metadata.name) };
  }

  #createOnce(t: ResourceClaimTemplateWire): Promise<CreateResult> {
    const key = `${t.metadata.namespace}/${t.metadata.name}`;
    const failed = this.#failed.get(key);
    if (failed !== undefined) {
      if (this.#o.now() < failed.until) return Promise.resolve({ ok: false, reason: failed.reason });
      this.#failed.delete(key);
    }
    let pending = this.#inFlight.get(key);
    if (pending === undefined) {
      pending = this.#create(t, key).finally(() => this.#inFlight.delete(key));
      this.#inFlight.set(key, pending);
    }
    return pending;
  }

  async #create(t: ResourceClaimTemplateWire, key: string): Promise<CreateResult> {
    const { writer, cache, metrics, log, timeoutMs } = this.#o;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      await raceAbort(writer.create(t, signal), signal);
      metrics.claimTemplateCreates.inc({ result: "created" });
      cache.set(t.metadata.namespace, t.metadata.name, summarizeTemplate(t));
      log.info({ template: key, rule: t.metadata.labels["topofit.io/rule"] }, "ResourceClaimTemplate created");
      return { ok: true, created: true };
    } catch (err) {
      if (statusOf(err) === 409) {
        metrics.claimTemplateCreates.inc({ result: "exists" });
        cache.set(t.metadata.namespace, t.metadata.name, summarizeTemplate(t));
        return { ok: true, created: false };
      }
      // Short: it reaches the user as an admission warning; the log names the template.
      const reason = signal.aborted ? `no answer from the API server within ${timeoutMs} ms` : describeApiError(err);
      metrics.claimTemplateCreates.inc({ result: "failed" });
      this.#failed.set(key, { until: this.#o.now() + this.#o.retryAfterMs, reason });
      log.warn({ template: key, err: reason }, "ResourceClaimTemplate not created");
      return { ok: false, reason };
    }
  }
}

/** A cache entry: the template's identity and device requests, nothing else. */
interface CachedTemplate extends KubernetesObject {
  readonly devices: ClaimTemplateDevices;
}

function compact(o: unknown): CachedTemplate {
  const meta = isObject(o) && isObject(o.metadata) ? o.metadata : {};
  const str = (v: unknown) => (typeof v === "string" ? v : undefined);
  return {
    metadata: {
      ...(str(meta.name) !== undefined ? { name: str(meta.name) } : {}),
      ...(str(meta.namespace) !== undefined ? { namespace: str(meta.namespace) } : {}),
      ...(str(meta.resourceVersion) !== undefined ? { resourceVersion: str(meta.resourceVersion) } : {}),
    },
    devices: summarizeTemplate(o),
  };
}

/** A watch that hands the informer compact entries, so whole templates are never kept. */
class CompactingWatch extends Watch {
  override watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    return super.watch(path, queryParams, (phase, obj, w) => callback(phase, phase === "ERROR" ? obj : compact(obj), w), done);
  }
}

export interface ClaimTemplateWatch {
  /** True once the templates have been listed. */
  isSynced(): boolean;
  /** True once the first list has either succeeded or failed (e.g. resource.k8s.io/v1 not served, or no permission). */
  isSettled(): boolean;
  stop(): Promise<void>;
}

/** Keeps `cache` equal to the cluster's ResourceClaimTemplates (all namespaces); retries with backoff when it cannot list. */
export function watchClaimTemplates(kc: KubeConfig, cache: ClaimTemplateCache, log: Logger): ClaimTemplateWatch {
  const api = kc.makeApiClient(ResourceV1Api);
  let synced = false;
  let settled = false;
  let stopped = false;
  let delayMs = 3000;
  let lastError: string | undefined;
  const list = async (): Promise<KubernetesListObject<CachedTemplate>> => {
    const l = await api.listResourceClaimTemplateForAllNamespaces();
    synced = true;
    settled = true;
    delayMs = 3000;
    lastError = undefined;
    return { ...(l.metadata ? { metadata: l.metadata } : {}), items: l.items.map(compact) };
  };
  const informer = new ListWatch<CachedTemplate>(CLAIM_TEMPLATES_PATH, new CompactingWatch(kc), list, false);
  const put = (t: CachedTemplate) => t.metadata?.name && cache.set(t.metadata.namespace ?? "", t.metadata.name, t.devices);
  informer.on("add", put);
  informer.on("update", put);
  informer.on("delete", (t) => t.metadata?.name && cache.delete(t.metadata.namespace ?? "", t.metadata.name));
  informer.on("error", (err) => {
    settled = true;
    if (stopped) return;
    const why = describeApiError(err);
    // Said once at warn (e.g. a cluster without resource.k8s.io/v1), then at debug while it stays the same.
    if (why !== lastError) log.warn({ err: why, retryInMs: delayMs }, "cannot watch ResourceClaimTemplates; pods asking for GPUs through claims are not counted until it can");
    else log.debug({ err: why, retryInMs: delayMs }, "cannot watch ResourceClaimTemplates yet");
    lastError = why;
    setTimeout(() => {
      if (!stopped) void informer.start().catch(() => undefined);
    }, delayMs).unref();
    delayMs = Math.min(delayMs * 2, 60_000);
  });
  void informer.start().catch(() => undefined);
  return {
    isSynced: () => synced,
    isSettled: () => settled,
    stop: async () => {
      stopped = true;
      await informer.stop();
    },
  };
}
