// Every Prometheus metric topofit exports, declared once, on a registry owned
// by the caller (no global default registry, so tests can build many apps).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export interface Metrics {
  readonly registry: Registry;
  readonly httpRequests: Counter<"route" | "outcome">;
  readonly httpDuration: Histogram<"route" | "outcome">;
  readonly admissionDecisions: Counter<"decision" | "rule">;
  readonly claimTemplateCreates: Counter<"result">;
  readonly policyReloads: Counter<"source" | "result">;
  readonly policyGeneration: Gauge;
  readonly policyRules: Gauge;
  readonly extenderFilteredNodes: Counter<"cause">;
  readonly extenderNodeLists: Counter<"result">;
  readonly gpuPredictions: Counter<"result">;
  readonly dcgmScrapes: Counter<"outcome">;
  readonly dcgmScrapeDuration: Histogram<"outcome">;
  readonly dcgmNodes: Gauge<"state">;
  readonly dcgmEndpoints: Gauge<"state">;
  readonly dcgmUnhealthyGpus: Gauge;
}

export function createMetrics(options: { processMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: "topofit_" });
  const registers = [registry];
  return {
    registry,
    httpRequests: new Counter({
      name: "topofit_http_requests_total",
      help: "HTTP requests served, by route and outcome (e.g. mutated, skipped, bad_request, error).",
      labelNames: ["route", "outcome"],
      registers,
    }),
    httpDuration: new Histogram({
      name: "topofit_http_request_duration_seconds",
      help: "Time to answer an HTTP request, by route and outcome.",
      labelNames: ["route", "outcome"],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    admissionDecisions: new Counter({
      name: "topofit_admission_decisions_total",
      help: "Admission decisions: matched (by rule), unmatched GPU pods, and skipped pods.",
      labelNames: ["decision", "rule"],
      registers,
    }),
    claimTemplateCreates: new Counter({
      name: "topofit_claim_template_creates_total",
      help: "ResourceClaimTemplate create calls made for converted pods, by result: created, exists (409 AlreadyExists, counted as success), failed.",
      labelNames: ["result"],
      registers,
    }),
    policyReloads: new Counter({
      name: "topofit_policy_reloads_total",
      help: "Policy loads by source and result (applied, unchanged, rejected).",
      labelNames: ["source", "result"],
      registers,
    }),
    policyGeneration: new Gauge({
      name: "topofit_policy_generation",
      help: "Generation of the policy in force (increases on every applied load); 0 before the first.",
      registers,
    }),
    policyRules: new Gauge({ name: "topofit_policy_rules", help: "Number of rules in the policy in force.", registers }),
    gpuPredictions: new Counter({
      name: "topofit_gpu_predictions_total",
      help: "Predicted GPU sets checked against the set the pod got, from DCGM or a DRA allocation (result: agreed; equivalent: other GPUs, same bandwidth and NUMA span; differed).",
      labelNames: ["result"],
      registers,
    }),
    extenderFilteredNodes: new Counter({
      name: "topofit_extender_filtered_nodes_total",
      help: "Nodes the extender filtered out, by cause (capacity, nvlink, numa, busy, unhealthy, unknown_node).",
      labelNames: ["cause"],
      registers,
    }),
    extenderNodeLists: new Counter({
      name: "topofit_extender_node_lists_total",
      help: "NodeNames lists of extender calls read apart from the pod: reused (the same bytes as a recent call's: not parsed or looked up again) or parsed.",
      labelNames: ["result"],
      registers,
    }),
    dcgmScrapes: new Counter({
      name: "topofit_dcgm_scrapes_total",
      help: "dcgm-exporter scrapes by outcome (ok, timeout, unreachable, http_error, too_large, malformed, empty, no_gpus).",
      labelNames: ["outcome"],
      registers,
    }),
    dcgmScrapeDuration: new Histogram({
      name: "topofit_dcgm_scrape_duration_seconds",
      help: "Time to scrape one dcgm-exporter endpoint, by outcome.",
      labelNames: ["outcome"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    dcgmNodes: new Gauge({
      name: "topofit_dcgm_nodes",
      help: "Nodes by the state of their DCGM data: fresh, stale (older than the staleness limit) or unknown (none yet).",
      labelNames: ["state"],
      registers,
    }),
    dcgmEndpoints: new Gauge({
      name: "topofit_dcgm_endpoints",
      help: "dcgm-exporter endpoints by state: ok (last scrape succeeded), failing, or pending (not scraped yet).",
      labelNames: ["state"],
      registers,
    }),
    dcgmUnhealthyGpus: new Gauge({
      name: "topofit_dcgm_unhealthy_gpus",
      help: "GPUs that DCGM data marks unhealthy, on nodes whose data is fresh.",
      registers,
    }),
  };
}
