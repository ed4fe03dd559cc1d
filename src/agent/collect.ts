// Runs nvidia-smi, reads sysfs, and merges what they say into the value of the
// topology annotation. The value holds only static facts (no clocks, usage or
// timestamps), so an unchanged node always yields the same string.
import { execFile } from "node:child_process";
import {
  decodeTopologyAnnotation,
  encodeTopologyAnnotation,
  MAX_ANNOTATION_BYTES,
  MAX_GPUS,
  parseLinkCode,
  type AnnotatedGpu,
  type TopologyAnnotation,
} from "../topology/annotation.js";
import { parseQueryGpu, QUERY_GPU_FIELDS, QUERY_GPU_FIELDS_NO_MIG, queryGpuArgs, type QueriedGpu } from "./query-gpu.js";
import { readPciNumaNode } from "./sysfs.js";
import { formatTopoIssue, parseTopoMatrix, type TopoIssue, type TopoMatrix } from "./topo-matrix.js";

export interface CollectSettings {
  /** nvidia-smi to run: a path, or a name looked up on PATH. */
  readonly nvidiaSmi: string;
  readonly sysfsRoot: string;
  /** Per command; the command is killed when it runs longer. */
  readonly timeoutMs: number;
}

export type CollectResult =
  | {
      readonly ok: true;
      /** The annotation value, compact JSON as encodeTopologyAnnotation writes it. */
      readonly value: string;
      readonly annotation: TopologyAnnotation;
      readonly warnings: readonly string[];
    }
  | { readonly ok: false; readonly reason: string; readonly warnings: readonly string[] };

export type CommandResult = { readonly ok: true; readonly stdout: string } | { readonly ok: false; readonly reason: string; readonly output: string };

const MAX_OUTPUT_BYTES = 4 * 1024 * 1024;

function excerpt(text: string): string {
  const t = text.trim().replace(/\s+/g, " ");
  return t.length > 300 ? `${t.slice(0, 297)}...` : t;
}

/** Runs a command without a shell; never rejects. */
export function runCommand(file: string, args: readonly string[], timeoutMs: number): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(file, [...args], { timeout: timeoutMs, killSignal: "SIGKILL", maxBuffer: MAX_OUTPUT_BYTES, windowsHide: true }, (err, stdout, stderr) => {
      const out = `${String(stdout)}${String(stderr)}`;
      if (!err) {
        resolve({ ok: true, stdout: String(stdout) });
        return;
      }
      const e = err as NodeJS.ErrnoException & { killed?: boolean; signal?: string | null; code?: string | number | null };
      const cmd = `${file} ${args.join(" ")}`;
      let reason: string;
      if (e.code === "ENOENT") reason = `${file} not found (give its path with --nvidia-smi)`;
      else if (e.code === "EACCES") reason = `${file} is not executable`;
      else if (e.killed || e.signal === "SIGKILL") reason = `${cmd} did not finish within ${timeoutMs} ms`;
      else if (e.code === "ERR_CHILD_PROCESS_STDIO_MAXBUFFER") reason = `${cmd} printed more than ${MAX_OUTPUT_BYTES} bytes`;
      else if (typeof e.code === "number") reason = `${cmd} exited with status ${e.code}${out.trim() ? `: ${excerpt(out)}` : ""}`;
      else reason = `${cmd} failed: ${e.message}`;
      resolve({ ok: false, reason, output: out });
    });
  });
}

const topoWarning = (i: TopoIssue) => `nvidia-smi topo -m ${formatTopoIssue(i)}`;
const queryWarning = (i: TopoIssue) => `nvidia-smi --query-gpu ${formatTopoIssue(i)}`;

export type MergeResult =
  | { readonly ok: true; readonly value: string; readonly annotation: TopologyAnnotation; readonly warnings: readonly string[] }
  | { readonly ok: false; readonly reason: string; readonly warnings: readonly string[] };

/**
 * Merges the link matrix and per-GPU facts into an annotation. NUMA comes from
 * `topo -m` and, where it says nothing, from sysfs (`sysfsNuma`, by GPU index).
 * Pure; the result is checked by decoding it again.
 */
export function mergeTopology(topo: TopoMatrix, queried: readonly QueriedGpu[], sysfsNuma: ReadonlyMap<number, number> = new Map()): MergeResult {
  const warnings: string[] = [];
  const n = topo.gpus.length;
  if (n > MAX_GPUS) return { ok: false, reason: `${n} GPUs, over the annotation's limit of ${MAX_GPUS}`, warnings };
  const topoIndices = topo.gpus.map((g) => g.index);
  if (topoIndices.some((index, k) => index !== k)) {
    return { ok: false, reason: `nvidia-smi topo -m lists GPUs ${topoIndices.join(",")}, not 0..${n - 1}`, warnings };
  }
  const byIndex = new Map(queried.map((g) => [g.index, g]));
  const missing = topoIndices.filter((i) => !byIndex.has(i));
  const extra = queried.map((g) => g.index).filter((i) => i >= n);
  if (missing.length > 0 || extra.length > 0) {
    return {
      ok: false,
      reason: `nvidia-smi topo -m and --query-gpu disagree on the GPUs: topo -m lists ${n}, --query-gpu lists ${[...byIndex.keys()].sort((a, b) => a - b).join(",") || "none"}`,
      warnings,
    };
  }

  const gpus: AnnotatedGpu[] = topo.gpus.map((t) => {
    const q = byIndex.get(t.index);
    const numa = t.numaNode ?? sysfsNuma.get(t.index);
    if (numa === undefined) warnings.push(`GPU ${t.index}: NUMA node unknown (neither nvidia-smi topo -m nor sysfs names one)`);
    return {
      index: t.index,
      ...(q?.uuid !== undefined ? { uuid: q.uuid } : {}),
      ...(q?.pciBusId !== undefined ? { pci: q.pciBusId } : {}),
      ...(numa !== undefined ? { numa } : {}),
      ...(q?.memoryMiB !== undefined ? { memMiB: q.memoryMiB } : {}),
      ...(q?.name !== undefined ? { product: q.name } : {}),
      ...(q?.mig ? { mig: true } : {}),
    };
  });

  const links: string[] = [];
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const code = topo.links[i]?.[j];
      if (code === undefined || parseLinkCode(code) === undefined) {
        return { ok: false, reason: `no link code for GPU${i}-GPU${j} (got ${JSON.stringify(code ?? null)})`, warnings };
      }
      links.push(code);
    }
  }

  const annotation: TopologyAnnotation = { v: 1, gpus, links };
  const value = encodeTopologyAnnotation(annotation);
  const bytes = Buffer.byteLength(value, "utf8");
  if (bytes > MAX_ANNOTATION_BYTES) return { ok: false, reason: `annotation would be ${bytes} bytes, over the ${MAX_ANNOTATION_BYTES}-byte limit`, warnings };
  const check = decodeTopologyAnnotation(value);
  if (!check.ok) return { ok: false, reason: `the annotation built does not decode: ${check.reason}`, warnings };
  return { ok: true, value, annotation: check.annotation, warnings };
}

/** Runs `nvidia-smi topo -m` and `--query-gpu`, reads sysfs where needed, and merges. Never rejects. */
export async function collectTopology(settings: CollectSettings): Promise<CollectResult> {
  const warnings: string[] = [];
  const topoRun = await runCommand(settings.nvidiaSmi, ["topo", "-m"], settings.timeoutMs);
  if (!topoRun.ok) return { ok: false, reason: topoRun.reason, warnings };
  const topo = parseTopoMatrix(topoRun.stdout);
  warnings.push(...topo.warnings.map(topoWarning));
  if (!topo.ok) return { ok: false, reason: `cannot read nvidia-smi topo -m: ${topo.errors.map(formatTopoIssue).join("; ")}`, warnings };

  let fields: readonly string[] = QUERY_GPU_FIELDS;
  let queryRun = await runCommand(settings.nvidiaSmi, queryGpuArgs(fields), settings.timeoutMs);
  if (!queryRun.ok && /not a valid field/i.test(queryRun.output) && /mig\.mode/i.test(queryRun.output)) {
    // Drivers from before MIG reject the field; ask again without it.
    fields = QUERY_GPU_FIELDS_NO_MIG;
    queryRun = await runCommand(settings.nvidiaSmi, queryGpuArgs(fields), settings.timeoutMs);
  }
  if (!queryRun.ok) return { ok: false, reason: queryRun.reason, warnings };
  const query = parseQueryGpu(queryRun.stdout, fields);
  warnings.push(...query.warnings.map(queryWarning));
  if (query.errors.length > 0) return { ok: false, reason: `cannot read nvidia-smi --query-gpu: ${query.errors.map(formatTopoIssue).join("; ")}`, warnings };

  const sysfsNuma = new Map<number, number>();
  for (const t of topo.matrix.gpus) {
    if (t.numaNode !== undefined) continue;
    const pci = query.gpus.find((g) => g.index === t.index)?.pciBusId;
    if (pci === undefined) continue;
    const read = await readPciNumaNode(settings.sysfsRoot, pci);
    if (read.known) sysfsNuma.set(t.index, read.numaNode);
    else warnings.push(`GPU ${t.index}: ${read.reason}`);
  }

  const merged = mergeTopology(topo.matrix, query.gpus, sysfsNuma);
  return merged.ok
    ? { ok: true, value: merged.value, annotation: merged.annotation, warnings: [...warnings, ...merged.warnings] }
    : { ok: false, reason: merged.reason, warnings: [...warnings, ...merged.warnings] };
}
