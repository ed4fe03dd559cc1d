// Parses `nvidia-smi --query-gpu=... --format=csv[,noheader][,nounits]`.
// Pure; problems come back as values with their line.
//
// The agent asks for QUERY_GPU_FIELDS without a header or units. A capture
// taken with a header (`--format=csv`) is read by its column names instead, so
// extra columns and units ("81559 MiB") do no harm. Unavailable values print
// as `[N/A]`, `N/A` or `[Not Supported]`.
import { normalizePciBusId } from "../topology/model.js";
import type { TopoIssue } from "./topo-matrix.js";

/** The columns the agent queries, in the order nvidia-smi prints them. */
export const QUERY_GPU_FIELDS = ["index", "uuid", "name", "pci.bus_id", "memory.total", "mig.mode.current"] as const;

/** The same without the MIG column, for drivers that predate MIG. */
export const QUERY_GPU_FIELDS_NO_MIG = QUERY_GPU_FIELDS.filter((f) => f !== "mig.mode.current");

export interface QueriedGpu {
  readonly index: number;
  readonly uuid?: string;
  readonly name?: string;
  /** Normalised: 0000:1b:00.0. */
  readonly pciBusId?: string;
  readonly memoryMiB?: number;
  /** MIG mode: true enabled, false disabled, undefined when the GPU cannot do MIG or the driver predates it. */
  readonly mig?: boolean;
}

export interface QueryGpuResult {
  readonly gpus: readonly QueriedGpu[];
  readonly warnings: readonly TopoIssue[];
  readonly errors: readonly TopoIssue[];
}

/** Arguments for nvidia-smi that produce what parseQueryGpu reads by default. */
export function queryGpuArgs(fields: readonly string[] = QUERY_GPU_FIELDS): string[] {
  return [`--query-gpu=${fields.join(",")}`, "--format=csv,noheader,nounits"];
}

const UNAVAILABLE = new Set(["", "n/a", "[n/a]", "[not supported]", "not supported", "[unknown error]", "[insufficient permissions]"]);

function present(cell: string | undefined): string | undefined {
  if (cell === undefined) return undefined;
  const v = cell.trim();
  return UNAVAILABLE.has(v.toLowerCase()) ? undefined : v;
}

/** "memory.total [MiB]" -> "memory.total". */
function columnName(cell: string): string {
  return cell.replace(/\s*\[[^\]]*\]\s*$/, "").trim().toLowerCase();
}

export function parseQueryGpu(output: string, fields: readonly string[] = QUERY_GPU_FIELDS): QueryGpuResult {
  const warnings: TopoIssue[] = [];
  const errors: TopoIssue[] = [];
  const gpus: QueriedGpu[] = [];
  let columns = fields.map((f) => f.toLowerCase());
  const seen = new Map<number, number>();
  const lines = output.replace(/\r\n?/g, "\n").split("\n");
  let first = true;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    const lineNo = i + 1;
    if (line.trim() === "") continue;
    const cells = line.split(",").map((c) => c.trim());
    if (first) {
      first = false;
      if (columnName(cells[0] ?? "") === "index") {
        columns = cells.map(columnName);
        continue;
      }
    }
    if (cells.length !== columns.length) {
      errors.push({ line: lineNo, message: `${cells.length} fields where ${columns.length} were expected (${columns.join(", ")})` });
      continue;
    }
    const get = (field: string) => {
      const col = columns.indexOf(field);
      return col < 0 ? undefined : present(cells[col]);
    };
    const rawIndex = get("index");
    if (rawIndex === undefined || !/^\d+$/.test(rawIndex)) {
      errors.push({ line: lineNo, message: `GPU index ${JSON.stringify(rawIndex ?? "")} is not a number` });
      continue;
    }
    const index = Number(rawIndex);
    if (seen.has(index)) {
      errors.push({ line: lineNo, message: `GPU ${index} listed twice (first on line ${seen.get(index)})` });
      continue;
    }
    seen.set(index, lineNo);

    const rawPci = get("pci.bus_id");
    const pciBusId = rawPci === undefined ? undefined : normalizePciBusId(rawPci);
    if (rawPci !== undefined && pciBusId === undefined) warnings.push({ line: lineNo, message: `GPU ${index}: PCI bus id ${JSON.stringify(rawPci)} not understood` });

    const rawMem = get("memory.total");
    const mem = rawMem === undefined ? undefined : /^(\d+)(\s*MiB)?$/i.exec(rawMem);
    if (rawMem !== undefined && !mem) warnings.push({ line: lineNo, message: `GPU ${index}: memory.total ${JSON.stringify(rawMem)} not understood` });

    const rawMig = get("mig.mode.current");
    let mig: boolean | undefined;
    if (rawMig !== undefined) {
      if (/^enabled$/i.test(rawMig)) mig = true;
      else if (/^disabled$/i.test(rawMig)) mig = false;
      else warnings.push({ line: lineNo, message: `GPU ${index}: MIG mode ${JSON.stringify(rawMig)} not understood` });
    }

    const uuid = get("uuid");
    const name = get("name");
    gpus.push({
      index,
      ...(uuid !== undefined ? { uuid } : {}),
      ...(name !== undefined ? { name } : {}),
      ...(pciBusId !== undefined ? { pciBusId } : {}),
      ...(mem?.[1] !== undefined ? { memoryMiB: Number(mem[1]) } : {}),
      ...(mig !== undefined ? { mig } : {}),
    });
  }
  if (gpus.length === 0 && errors.length === 0) errors.push({ line: 0, message: "no GPUs listed" });
  gpus.sort((a, b) => a.index - b.index);
  return { gpus, warnings, errors };
}
