// What dcgm-exporter says about each GPU, and whether that GPU is fit for new
// work. Pure: samples in (see exposition.ts), readings and conditions out.
//
// dcgm-exporter labels every GPU series with gpu (index), UUID, pci_bus_id
// (00000000:1B:00.0), device, modelName and the node as Hostname (releases up
// to 4.5.3-4.8.2) or hostname (later). With Kubernetes mapping on, a GPU used by
// a pod also carries pod, namespace and container; the old-namespace mode (-o)
// spells them uuid, pod_name, pod_namespace, container_name. MIG series add
// GPU_I_PROFILE and GPU_I_ID. NVLink and NVSwitch entity series (nvlink or
// nvswitch label) and series without a gpu label are not GPUs and are skipped.
import { scanExposition, type ExpositionLimits, type ExpositionScan, type Sample } from "./exposition.js";
import { normalizePciBusId, type GpuCondition } from "./model.js";

/** The DCGM fields read here (all in dcgm-exporter's default counters). */
export const DCGM_FIELDS = {
  GPU_UTIL: "DCGM_FI_DEV_GPU_UTIL",
  FB_USED: "DCGM_FI_DEV_FB_USED",
  FB_FREE: "DCGM_FI_DEV_FB_FREE",
  GPU_TEMP: "DCGM_FI_DEV_GPU_TEMP",
  XID_ERRORS: "DCGM_FI_DEV_XID_ERRORS",
  ROW_REMAP_FAILURE: "DCGM_FI_DEV_ROW_REMAP_FAILURE",
  UNCORRECTABLE_REMAPPED_ROWS: "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS",
} as const;

/** XIDs that the NVIDIA device plugin and DRA driver treat as application faults, not GPU faults. */
export const BENIGN_XIDS: readonly number[] = [13, 31, 43, 45, 68, 109];

/** DCGM's int32 "blank" sentinel (DCGM_INT32_BLANK); values at or above it mean "no data". */
const DCGM_BLANK_THRESHOLD = 0x7ffffff0;

/** Issues kept per read (the rest are counted). */
const MAX_ISSUES = 20;

export interface XidInfo {
  /** The driver's name for it (nverror.h). */
  readonly mnemonic: string;
  readonly meaning: string;
}

/** The XIDs that matter for GPU health, with a short meaning each. */
export const XID_TABLE: ReadonlyMap<number, XidInfo> = new Map<number, XidInfo>([
  [13, { mnemonic: "ROBUST_CHANNEL_GR_EXCEPTION", meaning: "graphics engine exception" }],
  [31, { mnemonic: "ROBUST_CHANNEL_FIFO_ERROR_MMU_ERR_FLT", meaning: "GPU memory page fault" }],
  [43, { mnemonic: "ROBUST_CHANNEL_RESETCHANNEL_VERIF_ERROR", meaning: "GPU stopped processing" }],
  [45, { mnemonic: "ROBUST_CHANNEL_PREEMPTIVE_REMOVAL", meaning: "preemptive cleanup after earlier errors" }],
  [48, { mnemonic: "ROBUST_CHANNEL_GPU_ECC_DBE", meaning: "uncorrectable double-bit ECC error" }],
  [63, { mnemonic: "INFOROM_DRAM_RETIREMENT_EVENT", meaning: "page retired or row marked for remapping" }],
  [64, { mnemonic: "INFOROM_DRAM_RETIREMENT_FAILURE", meaning: "page retirement or row remapping failed" }],
  [68, { mnemonic: "ROBUST_CHANNEL_NVDEC0_ERROR", meaning: "video decoder exception" }],
  [74, { mnemonic: "NVLINK_ERROR", meaning: "NVLink error" }],
  [79, { mnemonic: "ROBUST_CHANNEL_GPU_HAS_FALLEN_OFF_THE_BUS", meaning: "GPU has fallen off the bus" }],
  [92, { mnemonic: "EXCESSIVE_SBE_INTERRUPTS", meaning: "high rate of correctable ECC errors" }],
  [94, { mnemonic: "ROBUST_CHANNEL_CONTAINED_ERROR", meaning: "contained memory error" }],
  [95, { mnemonic: "ROBUST_CHANNEL_UNCONTAINED_ERROR", meaning: "uncontained memory error" }],
  [109, { mnemonic: "ROBUST_CHANNEL_CTXSW_TIMEOUT_ERROR", meaning: "context-switch timeout" }],
  [119, { mnemonic: "GSP_RPC_TIMEOUT", meaning: "GSP firmware RPC timeout" }],
  [120, { mnemonic: "GSP_ERROR", meaning: "GSP firmware error" }],
  [140, { mnemonic: "UNRECOVERABLE_ECC_ERROR_ESCAPE", meaning: "unrecovered ECC error" }],
  [154, { mnemonic: "GPU_RECOVERY_ACTION_CHANGED", meaning: "GPU recovery action changed" }],
]);

/** "XID 79 (GPU has fallen off the bus)"; just "XID 200" for one not in the table. */
export function describeXid(xid: number): string {
  const info = XID_TABLE.get(xid);
  return info ? `XID ${xid} (${info.meaning})` : `XID ${xid}`;
}

/** The values read for one GPU or one MIG instance; undefined when the exporter sent none. */
export interface DcgmFieldValues {
  /** DCGM_FI_DEV_GPU_UTIL, 0..100. */
  readonly utilization?: number;
  /** DCGM_FI_DEV_FB_USED, MiB. */
  readonly fbUsedMiB?: number;
  /** DCGM_FI_DEV_FB_FREE, MiB. */
  readonly fbFreeMiB?: number;
  /** DCGM_FI_DEV_GPU_TEMP, °C. */
  readonly temperature?: number;
  /** DCGM_FI_DEV_XID_ERRORS: the last XID seen (0: none), not a count. */
  readonly lastXid?: number;
  /** DCGM_FI_DEV_ROW_REMAP_FAILURE: non-zero when row remapping has failed. */
  readonly rowRemapFailure?: number;
  /** DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS: rows remapped for uncorrectable errors (a counter). */
  readonly uncorrectableRemappedRows?: number;
}

export interface DcgmMigInstance extends DcgmFieldValues {
  /** GPU_I_ID. */
  readonly instanceId: string;
  /** GPU_I_PROFILE, e.g. "1g.10gb". */
  readonly profile?: string;
  /** "namespace/pod" of the pods using this instance. */
  readonly pods: readonly string[];
}

export interface DcgmGpuReading extends DcgmFieldValues {
  readonly node: string;
  readonly gpuIndex: number;
  readonly uuid?: string;
  /** Normalised: 0000:1b:00.0. */
  readonly pciBusId?: string;
  readonly modelName?: string;
  /** "namespace/pod" of the pods using the whole GPU (MIG users are under migInstances). */
  readonly pods: readonly string[];
  /** Empty unless MIG is enabled on this GPU. */
  readonly migInstances: readonly DcgmMigInstance[];
}

export interface DcgmReadResult {
  /** Sorted by node, then GPU index. */
  readonly gpus: readonly DcgmGpuReading[];
  /** Inconsistencies in the data (at most 20 kept), e.g. one GPU index with two UUIDs. */
  readonly issues: readonly string[];
  /** The distinct Hostname/hostname label values seen on GPU series. */
  readonly hostnames: readonly string[];
  /** GPU series skipped because no node could be told for them. */
  readonly unattributedSeries: number;
}

export interface ReadDcgmOptions {
  /**
   * The node every GPU series belongs to, whatever its Hostname label says: the
   * node an exporter pod of a DaemonSet runs on. Without it the node comes from
   * the Hostname (or hostname) label. The label is not always the node name: an
   * exporter started without NODE_NAME reports its own host name, which inside
   * a pod is the pod's name.
   */
  readonly node?: string;
}

type FieldKey = keyof DcgmFieldValues;

const FIELD_KEYS: ReadonlyMap<string, FieldKey> = new Map<string, FieldKey>([
  [DCGM_FIELDS.GPU_UTIL, "utilization"],
  [DCGM_FIELDS.FB_USED, "fbUsedMiB"],
  [DCGM_FIELDS.FB_FREE, "fbFreeMiB"],
  [DCGM_FIELDS.GPU_TEMP, "temperature"],
  [DCGM_FIELDS.XID_ERRORS, "lastXid"],
  [DCGM_FIELDS.ROW_REMAP_FAILURE, "rowRemapFailure"],
  [DCGM_FIELDS.UNCORRECTABLE_REMAPPED_ROWS, "uncorrectableRemappedRows"],
]);

/** Every value field a reading can carry. */
export const DCGM_VALUE_FIELDS: readonly FieldKey[] = [...FIELD_KEYS.values()];

/** Fields that describe the whole device even when DCGM reports them per MIG instance. */
const DEVICE_FIELDS: readonly FieldKey[] = ["temperature", "lastXid", "rowRemapFailure", "uncorrectableRemappedRows"];

/** Fields whose whole-GPU value is the sum over the MIG instances. */
const ADDITIVE_FIELDS: readonly FieldKey[] = ["fbUsedMiB", "fbFreeMiB"];

interface MigAcc {
  readonly instanceId: string;
  profile?: string;
  readonly values: Partial<Record<FieldKey, number>>;
  readonly pods: Set<string>;
}

interface GpuAcc {
  readonly node: string;
  readonly index: number;
  uuid?: string;
  pciBusId?: string;
  /** The pci_bus_id label as first seen (normalised only when a series brings another). */
  rawPci?: string;
  modelName?: string;
  /** The pod and namespace labels of the last series that named a pod, and the key made of them. */
  lastPod?: { readonly pod: string; readonly ns: string | undefined; readonly key: string };
  readonly values: Partial<Record<FieldKey, number>>;
  readonly pods: Set<string>;
  readonly mig: Map<string, MigAcc>;
}

/**
 * A series as the reader needs it: a parsed Sample, or a sample line read in
 * place (exposition.ts's SampleLine), whose label values are made into
 * strings only when asked for.
 */
export interface DcgmSeries {
  readonly name: string;
  readonly value: number;
  has(label: string): boolean;
  label(label: string): string | undefined;
  labelIs(label: string, value: string): boolean;
}

/** A Sample seen as a DcgmSeries (one object, pointed at each sample in turn). */
class SampleSeries implements DcgmSeries {
  #sample: Sample | undefined;

  of(sample: Sample): this {
    this.#sample = sample;
    return this;
  }

  get name(): string {
    return this.#sample!.name;
  }

  get value(): number {
    return this.#sample!.value;
  }

  has(label: string): boolean {
    return this.#sample!.labels[label] !== undefined;
  }

  label(label: string): string | undefined {
    return this.#sample!.labels[label];
  }

  labelIs(label: string, value: string): boolean {
    return this.#sample!.labels[label] === value;
  }
}

/** The first of the labels `name`, `alias` that is set and not empty. */
function label(s: DcgmSeries, name: string, alias?: string): string | undefined {
  const v = s.label(name);
  if (v !== undefined && v !== "") return v;
  if (alias === undefined) return undefined;
  const w = s.label(alias);
  return w !== undefined && w !== "" ? w : undefined;
}

/** Whether label(s, name, alias) is `value`, found without making a string. */
function labelIs(s: DcgmSeries, name: string, alias: string | undefined, value: string): boolean {
  if (value === "") return false;
  if (s.labelIs(name, value)) return true;
  if (s.has(name) && !s.labelIs(name, "")) return false;
  return alias !== undefined && s.labelIs(alias, value);
}

/** Whether any of the labels is set and not empty. */
function hasLabel(s: DcgmSeries, name: string, alias: string): boolean {
  return (s.has(name) && !s.labelIs(name, "")) || (s.has(alias) && !s.labelIs(alias, ""));
}

/** "namespace/pod" of the series, if it names a pod; the GPU's last one again when the labels repeat (the usual case). */
function podOf(acc: GpuAcc, s: DcgmSeries): string | undefined {
  const last = acc.lastPod;
  if (last !== undefined && labelIs(s, "pod", "pod_name", last.pod) && (last.ns === undefined ? !hasLabel(s, "namespace", "pod_namespace") : labelIs(s, "namespace", "pod_namespace", last.ns))) {
    return last.key;
  }
  const pod = label(s, "pod", "pod_name");
  if (pod === undefined) return undefined;
  const ns = label(s, "namespace", "pod_namespace");
  const key = ns === undefined ? pod : `${ns}/${pod}`;
  acc.lastPod = { pod, ns, key };
  return key;
}

const usable = (v: number) => Number.isFinite(v) && v < DCGM_BLANK_THRESHOLD;

/**
 * Gathers one reading per GPU (per node and index) from series handed in one
 * at a time. Every series of a GPU repeats its identity labels (UUID, bus id,
 * model, node, pod): they are compared in place with what the GPU's first
 * series gave, and made into strings once per GPU, not once per series.
 */
class GpuReadings {
  readonly #options: ReadDcgmOptions;
  readonly #byNode = new Map<string, Map<number, GpuAcc>>();
  readonly #gpus: GpuAcc[] = [];
  readonly #hostnames = new Set<string>();
  readonly #issues: string[] = [];
  readonly #seenIssues = new Set<string>();
  #unattributed = 0;

  constructor(options: ReadDcgmOptions) {
    this.#options = options;
  }

  #issue(text: string): void {
    if (this.#seenIssues.has(text) || this.#issues.length >= MAX_ISSUES) return;
    this.#seenIssues.add(text);
    this.#issues.push(text);
  }

  add(s: DcgmSeries): void {
    if (!s.name.startsWith("DCGM_")) return;
    if (s.has("nvlink") || s.has("nvswitch")) return;
    const gpuLabel = s.label("gpu");
    if (gpuLabel === undefined) return;
    if (!/^\d{1,4}$/.test(gpuLabel)) {
      this.#issue(`${s.name}: gpu label ${JSON.stringify(gpuLabel.slice(0, 20))} is not a GPU index`);
      return;
    }
    const given = this.#options.node;
    const hostname = given !== undefined && labelIs(s, "Hostname", "hostname", given) ? given : label(s, "Hostname", "hostname");
    if (hostname !== undefined) this.#hostnames.add(hostname);
    const node = given ?? hostname;
    if (node === undefined) {
      this.#unattributed++;
      return;
    }
    const index = Number(gpuLabel);
    let onNode = this.#byNode.get(node);
    if (!onNode) this.#byNode.set(node, (onNode = new Map()));
    let acc = onNode.get(index);
    if (!acc) {
      acc = { node, index, values: {}, pods: new Set(), mig: new Map() };
      onNode.set(index, acc);
      this.#gpus.push(acc);
    }

    if (acc.uuid === undefined) {
      const uuid = label(s, "UUID", "uuid");
      if (uuid !== undefined) acc.uuid = uuid;
    } else if (!labelIs(s, "UUID", "uuid", acc.uuid)) {
      const uuid = label(s, "UUID", "uuid");
      if (uuid !== undefined) this.#issue(`GPU ${index} on node ${node}: UUID ${uuid} differs from ${acc.uuid} seen first; keeping ${acc.uuid}`);
    }
    if (acc.rawPci === undefined || !labelIs(s, "pci_bus_id", undefined, acc.rawPci)) {
      // Only a spelling of the bus id not seen on this GPU yet is normalised and checked.
      const rawPci = label(s, "pci_bus_id");
      if (rawPci !== undefined) {
        const pci = normalizePciBusId(rawPci);
        if (pci === undefined) this.#issue(`GPU ${index} on node ${node}: pci_bus_id ${JSON.stringify(rawPci.slice(0, 40))} is not a PCI bus id`);
        else if (acc.pciBusId === undefined) {
          acc.pciBusId = pci;
          acc.rawPci = rawPci;
        } else if (acc.pciBusId !== pci) this.#issue(`GPU ${index} on node ${node}: PCI bus id ${pci} differs from ${acc.pciBusId} seen first; keeping ${acc.pciBusId}`);
      }
    }
    if (acc.modelName === undefined) {
      const model = label(s, "modelName", "model_name");
      if (model !== undefined) acc.modelName = model;
    }

    const field = FIELD_KEYS.get(s.name);
    const pod = podOf(acc, s);
    const instanceId = s.has("GPU_I_ID") ? label(s, "GPU_I_ID") : undefined;
    if (instanceId !== undefined) {
      let mig = acc.mig.get(instanceId);
      if (!mig) {
        mig = { instanceId, values: {}, pods: new Set() };
        acc.mig.set(mig.instanceId, mig);
      }
      if (mig.profile === undefined) {
        const profile = label(s, "GPU_I_PROFILE");
        if (profile !== undefined) mig.profile = profile;
      }
      if (pod !== undefined) mig.pods.add(pod);
      if (field !== undefined && usable(s.value) && mig.values[field] === undefined) mig.values[field] = s.value;
      return;
    }
    if (pod !== undefined) acc.pods.add(pod);
    if (field !== undefined && usable(s.value) && acc.values[field] === undefined) acc.values[field] = s.value;
  }

  result(): DcgmReadResult {
    const out = this.#gpus
      .sort((a, b) => (a.node === b.node ? a.index - b.index : a.node < b.node ? -1 : 1))
      .map((acc): DcgmGpuReading => {
        const migInstances = [...acc.mig.values()]
          .sort((a, b) => compareInstanceIds(a.instanceId, b.instanceId))
          .map((m): DcgmMigInstance => ({
            instanceId: m.instanceId,
            ...(m.profile !== undefined ? { profile: m.profile } : {}),
            ...m.values,
            pods: [...m.pods].sort(),
          }));
        const values: Partial<Record<FieldKey, number>> = { ...acc.values };
        // On a MIG-enabled GPU the exporter may send device-wide fields only on
        // the instance series; the whole GPU then takes them from there, and its
        // framebuffer figures are the instances' added up.
        for (const f of [...DEVICE_FIELDS, ...ADDITIVE_FIELDS]) {
          if (values[f] !== undefined) continue;
          const fromMig = wholeGpuValueFromInstances(f, migInstances);
          if (fromMig !== undefined) values[f] = fromMig;
        }
        return {
          node: acc.node,
          gpuIndex: acc.index,
          ...(acc.uuid !== undefined ? { uuid: acc.uuid } : {}),
          ...(acc.pciBusId !== undefined ? { pciBusId: acc.pciBusId } : {}),
          ...(acc.modelName !== undefined ? { modelName: acc.modelName } : {}),
          ...values,
          pods: [...acc.pods].sort(),
          migInstances,
        };
      });
    return { gpus: out, issues: this.#issues, hostnames: [...this.#hostnames].sort(), unattributedSeries: this.#unattributed };
  }
}

/**
 * Builds one reading per GPU (per node and index) from exposition samples.
 * Its strings are the samples' label values, which may be slices of the
 * scraped body: a caller that keeps readings long copies what it keeps (see
 * ownReading), or it keeps the whole body alive with them.
 */
export function readDcgmGpus(samples: readonly Sample[], options: ReadDcgmOptions = {}): DcgmReadResult {
  const readings = new GpuReadings(options);
  const series = new SampleSeries();
  for (const sample of samples) readings.add(series.of(sample));
  return readings.result();
}

/**
 * Parses a dcgm-exporter body and reads its GPUs in one pass, without
 * building a sample per line (see scanExposition): what a scrape does. The
 * readings are only meaningful when the scan found the body complete and
 * without errors.
 */
export function readDcgmExposition(text: string, limits: Partial<ExpositionLimits>, options: ReadDcgmOptions = {}): { readonly scan: ExpositionScan; readonly read: DcgmReadResult } {
  const readings = new GpuReadings(options);
  const scan = scanExposition(text, limits, (line) => readings.add(line));
  return { scan, read: readings.result() };
}

/** The empty list every reading and condition without pods, reasons or MIG instances shares. */
const NONE: readonly never[] = Object.freeze([]);

/** Strings that repeat from GPU to GPU and node to node (model names, node names): one copy each, up to a bound. */
const SHARED_STRINGS = new Map<string, string>();

function shared(s: string): string {
  const known = SHARED_STRINGS.get(s);
  if (known !== undefined) return known;
  const copy = ownString(s);
  if (SHARED_STRINGS.size < 1024) SHARED_STRINGS.set(copy, copy);
  return copy;
}

/**
 * A copy of `s` that shares no characters with the text it was cut from.
 * V8 keeps a slice's parent alive: a kept label value would keep the whole
 * scraped body (tens of KiB per node).
 */
export function ownString(s: string): string {
  return (" " + s).slice(1);
}

/**
 * `next` with strings of its own: where `prev` (an earlier reading of the same
 * GPU) holds equal text, its string is taken, otherwise a copy is made. A GPU
 * keeps one copy of its UUID, bus id, model and pods from scrape to scrape.
 */
export function ownReading(next: DcgmGpuReading, prev?: DcgmGpuReading): DcgmGpuReading {
  const same = (a: string | undefined, b: string | undefined): string | undefined => (b === undefined ? undefined : a === b ? a : ownString(b));
  const pods = (before: readonly string[] | undefined, now: readonly string[]): readonly string[] =>
    now.length === 0 ? NONE : now.map((p) => before?.find((q) => q === p) ?? ownString(p));
  // Every reading has the same fields in the same order (undefined where the exporter sent none): one compact shape.
  return {
    node: next.node === prev?.node ? prev.node : shared(next.node),
    gpuIndex: next.gpuIndex,
    uuid: same(prev?.uuid, next.uuid),
    pciBusId: same(prev?.pciBusId, next.pciBusId),
    modelName: next.modelName === undefined ? undefined : next.modelName === prev?.modelName ? prev.modelName : shared(next.modelName),
    utilization: next.utilization,
    fbUsedMiB: next.fbUsedMiB,
    fbFreeMiB: next.fbFreeMiB,
    temperature: next.temperature,
    lastXid: next.lastXid,
    rowRemapFailure: next.rowRemapFailure,
    uncorrectableRemappedRows: next.uncorrectableRemappedRows,
    pods: prev !== undefined && prev.pods.length === next.pods.length && prev.pods.every((p, i) => p === next.pods[i]) ? prev.pods : pods(prev?.pods, next.pods),
    migInstances:
      next.migInstances.length === 0
        ? NONE
        : next.migInstances.map((m) => ({ ...m, instanceId: ownString(m.instanceId), ...(m.profile !== undefined ? { profile: ownString(m.profile) } : {}), pods: pods(undefined, m.pods) })),
  };
}

function compareInstanceIds(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  if (Number.isFinite(na) && Number.isFinite(nb) && na !== nb) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}

function wholeGpuValueFromInstances(field: FieldKey, instances: readonly DcgmMigInstance[]): number | undefined {
  const values = instances.map((m) => m[field]).filter((v): v is number => v !== undefined);
  if (values.length === 0) return undefined;
  if (ADDITIVE_FIELDS.includes(field)) return values.reduce((a, b) => a + b, 0);
  // The last XID is a code, not a quantity: take the first non-zero one.
  if (field === "lastXid") return values.find((v) => v !== 0) ?? 0;
  return Math.max(...values);
}

/** Readings grouped by node, in the order they come. */
export function groupReadingsByNode(gpus: readonly DcgmGpuReading[]): ReadonlyMap<string, readonly DcgmGpuReading[]> {
  const out = new Map<string, DcgmGpuReading[]>();
  for (const g of gpus) {
    const list = out.get(g.node);
    if (list) list.push(g);
    else out.set(g.node, [g]);
  }
  return out;
}

/**
 * Which DCGM signals make a GPU unfit for new work. A plain value type, meant to
 * be embedded in the placement policy.
 */
export interface DcgmHealthRules {
  /** A non-zero last XID outside benignXids makes the GPU unhealthy. Default true. */
  readonly xidErrors: boolean;
  /** XIDs that reflect application faults. Default BENIGN_XIDS: 13, 31, 43, 45, 68, 109. */
  readonly benignXids: readonly number[];
  /** DCGM_FI_DEV_ROW_REMAP_FAILURE > 0 makes the GPU unhealthy. Default true. */
  readonly rowRemapFailure: boolean;
  /** More uncorrectable remapped rows than at the previous reading makes the GPU unhealthy. Default true. */
  readonly uncorrectableRemappedRowsRising: boolean;
  /** A GPU hotter than this (°C) is unhealthy; null turns the rule off. Default 90. */
  readonly maxTemperatureC: number | null;
}

export const DEFAULT_DCGM_HEALTH_RULES: DcgmHealthRules = {
  xidErrors: true,
  benignXids: BENIGN_XIDS,
  rowRemapFailure: true,
  uncorrectableRemappedRowsRising: true,
  maxTemperatureC: 90,
};

/** The defaults with the given rules laid over them. */
export function resolveDcgmHealthRules(rules: Partial<DcgmHealthRules> = {}): DcgmHealthRules {
  return { ...DEFAULT_DCGM_HEALTH_RULES, ...rules };
}

function formatNumber(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Math.round(n * 10) / 10);
}

/**
 * Health and load of one GPU. `previous` is an earlier reading of the same GPU
 * (used by the rising-rows rule); a previous reading of a different GPU (another
 * UUID) is ignored. Pods are those of the whole GPU and of its MIG instances.
 */
export function evaluateGpuHealth(
  reading: DcgmGpuReading,
  previous: DcgmGpuReading | undefined,
  rules: DcgmHealthRules = DEFAULT_DCGM_HEALTH_RULES,
): GpuCondition {
  const reasons: string[] = [];
  const xid = reading.lastXid;
  if (rules.xidErrors && xid !== undefined && xid !== 0 && !rules.benignXids.includes(xid)) reasons.push(describeXid(xid));
  if (rules.rowRemapFailure && reading.rowRemapFailure !== undefined && reading.rowRemapFailure > 0) reasons.push("row remap failure");
  const sameGpu = previous !== undefined && (previous.uuid === undefined || reading.uuid === undefined || previous.uuid === reading.uuid);
  const before = sameGpu ? previous.uncorrectableRemappedRows : undefined;
  const now = reading.uncorrectableRemappedRows;
  if (rules.uncorrectableRemappedRowsRising && before !== undefined && now !== undefined && now > before) {
    reasons.push(`uncorrectable remapped rows rose from ${formatNumber(before)} to ${formatNumber(now)}`);
  }
  const limit = rules.maxTemperatureC;
  if (limit !== null && reading.temperature !== undefined && reading.temperature > limit) {
    reasons.push(`temperature ${formatNumber(reading.temperature)} °C over the ${formatNumber(limit)} °C limit`);
  }
  // Most GPUs have no reasons and one pod or none: those share empty lists or keep the reading's own.
  let pods: readonly string[] = reading.pods;
  if (reading.migInstances.length > 0) {
    const all = new Set(reading.pods);
    for (const m of reading.migInstances) for (const p of m.pods) all.add(p);
    pods = [...all].sort();
  } else if (pods.length > 1) {
    pods = [...new Set(pods)].sort();
  }
  return {
    healthy: reasons.length === 0,
    reasons: reasons.length === 0 ? NONE : reasons,
    ...(reading.utilization !== undefined ? { utilization: reading.utilization } : {}),
    ...(reading.fbUsedMiB !== undefined ? { memoryUsedMiB: reading.fbUsedMiB } : {}),
    pods: pods.length === 0 ? NONE : pods,
  };
}
