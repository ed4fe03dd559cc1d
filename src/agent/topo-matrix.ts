// Parses the text of `nvidia-smi topo -m` into per-GPU affinity and a
// symmetric GPU-by-GPU link matrix. Pure: problems come back as values with
// the line they were found on; nothing here throws.
//
// Shapes this copes with (see the fixtures under test/fixtures/nvidia-smi/):
// - a tab-separated matrix whose header starts with a tab, possibly wrapped in
//   ANSI escapes (`ESC[4m ... ESC[0m`), cells padded with spaces (` X `);
//   a copy with the tabs turned into runs of spaces is read as well;
// - device columns GPU0..GPUn, then NIC columns (NIC0.. with a `NIC Legend:`
//   block, or on older drivers the device names themselves, e.g. mlx5_0);
// - affinity columns `CPU Affinity`, `NUMA Affinity`, `GPU NUMA ID`, where GPU
//   rows carry an extra empty field before `GPU NUMA ID`; older drivers print
//   fewer of them; `N/A` for unknown values;
// - the legacy `SOC` code, which later drivers print as `SYS`.
import { linkCodeOf, parseLinkCode, type LinkCode } from "../topology/annotation.js";
import { LINK_KINDS } from "../topology/model.js";

export interface TopoIssue {
  /** 1-based line of the output; 0 when the problem concerns the output as a whole. */
  readonly line: number;
  readonly message: string;
}

export interface TopoGpu {
  readonly index: number;
  /** cpulist of the CPUs local to the GPU, as printed ("0-55,112-167"). */
  readonly cpuAffinity?: string;
  /** Host NUMA node the GPU hangs off (`NUMA Affinity`). */
  readonly numaNode?: number;
  /** NUMA node of the GPU's own memory (`GPU NUMA ID`), on coherent CPU-GPU platforms only. */
  readonly gpuNumaId?: number;
}

export interface TopoNic {
  /** Column name: NIC0, or on older drivers the device name itself. */
  readonly name: string;
  /** RDMA device from the NIC legend (mlx5_0), when known. */
  readonly device?: string;
}

export interface TopoMatrix {
  /** Sorted by index. */
  readonly gpus: readonly TopoGpu[];
  /** links[i][j]: link code between gpus[i] and gpus[j] ("NV18", "PIX", ..., "SYS"); "X" on the diagonal. Symmetric. */
  readonly links: readonly (readonly string[])[];
  readonly nics: readonly TopoNic[];
}

export type ParseTopoResult =
  | { readonly ok: true; readonly matrix: TopoMatrix; readonly warnings: readonly TopoIssue[] }
  | { readonly ok: false; readonly errors: readonly TopoIssue[]; readonly warnings: readonly TopoIssue[] };

// CSI sequences (colours, underline, reset) and the two-byte charset selects some terminals add.
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]/g;

const AFFINITY_COLUMNS = new Map<string, "cpu" | "numa" | "gpuNuma">([
  ["cpu affinity", "cpu"],
  ["numa affinity", "numa"],
  ["gpu numa id", "gpuNuma"],
]);

/** Multi-word column names, rejoined when a copy has spaces instead of tabs. */
const PHRASES: readonly (readonly string[])[] = [
  ["GPU", "NUMA", "ID"],
  ["CPU", "Affinity"],
  ["NUMA", "Affinity"],
];

/** Codes older drivers printed, mapped to today's. */
const LEGACY_CODES: Readonly<Record<string, string>> = { SOC: "SYS" };

const GPU_LABEL = /^GPU(\d+)$/;
const CPULIST = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;

export function stripAnsi(text: string): string {
  return text.replace(ANSI, "");
}

/** Splits one line into trimmed cells: on tabs when it has any, else on runs of blanks. */
function cellsOf(line: string): string[] {
  if (line.includes("\t")) return line.split("\t").map((c) => c.trim());
  const words = line.trimEnd().split(/ +/);
  const out: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const phrase = PHRASES.find((p) => p.every((w, k) => words[i + k]?.toLowerCase() === w.toLowerCase()));
    if (phrase) {
      out.push(words.slice(i, i + phrase.length).join(" "));
      i += phrase.length - 1;
    } else {
      out.push(words[i] ?? "");
    }
  }
  return out;
}

function dropTrailingEmpty(cells: string[]): string[] {
  let end = cells.length;
  while (end > 0 && cells[end - 1] === "") end--;
  return cells.slice(0, end);
}

function isHeader(cells: readonly string[]): boolean {
  return cells.some((c) => GPU_LABEL.test(c)) && !cells.includes("X");
}

/** How far a link reaches: larger is farther. Fewer bonded NVLinks count as farther. */
function farness(link: LinkCode): number {
  const kind = LINK_KINDS.indexOf(link.kind) * 1000;
  return link.kind === "NVLink" ? kind + 999 - Math.min(link.nvlinks, 999) : kind;
}

function readLink(cell: string): LinkCode | undefined {
  return parseLinkCode(LEGACY_CODES[cell] ?? cell);
}

function readNumaNode(value: string | undefined, what: string, line: number, warnings: TopoIssue[]): number | undefined {
  if (value === undefined || value === "" || value === "N/A") return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  warnings.push({ line, message: `${what} ${JSON.stringify(value)} is not a single NUMA node; treated as unknown` });
  return undefined;
}

interface GpuRow {
  readonly line: number;
  readonly cells: readonly string[];
  readonly gpu: TopoGpu;
}

export function parseTopoMatrix(output: string): ParseTopoResult {
  const warnings: TopoIssue[] = [];
  const errors: TopoIssue[] = [];
  const lines = output.replace(/\r\n?/g, "\n").split("\n").map(stripAnsi);

  const headerAt = lines.findIndex((l) => isHeader(cellsOf(l)));
  if (headerAt < 0) {
    const first = lines.find((l) => l.trim() !== "")?.trim();
    return {
      ok: false,
      errors: [{ line: 0, message: `no matrix header with GPU columns found${first ? ` (output starts ${JSON.stringify(first.slice(0, 120))})` : " (empty output)"}` }],
      warnings,
    };
  }
  const headerLine = headerAt + 1;
  let header = dropTrailingEmpty(cellsOf(lines[headerAt] ?? ""));
  if (header[0] === "") header = header.slice(1);
  if (header.includes("")) {
    warnings.push({ line: headerLine, message: "empty column names in the header were skipped" });
    header = header.filter((c) => c !== "");
  }

  const firstAffinity = header.findIndex((c) => AFFINITY_COLUMNS.has(c.toLowerCase()));
  const devices = firstAffinity < 0 ? header : header.slice(0, firstAffinity);
  const affinity = firstAffinity < 0 ? [] : header.slice(firstAffinity);
  for (const c of affinity) {
    if (!AFFINITY_COLUMNS.has(c.toLowerCase())) warnings.push({ line: headerLine, message: `unknown column ${JSON.stringify(c)} ignored` });
  }

  // Device columns: GPUs by index, everything else is a NIC or other PCI device.
  const gpuColumn = new Map<number, number>(); // GPU index -> column position
  const nicNames: string[] = [];
  devices.forEach((name, col) => {
    const m = GPU_LABEL.exec(name);
    if (!m) {
      nicNames.push(name);
      return;
    }
    const index = Number(m[1]);
    if (gpuColumn.has(index)) errors.push({ line: headerLine, message: `column ${name} appears twice` });
    else gpuColumn.set(index, col);
  });

  // Matrix rows run from the header to the first blank line or the legend.
  const rows = new Map<number, GpuRow>();
  let end = lines.length;
  let seenRow = false;
  for (let i = headerAt + 1; i < lines.length; i++) {
    const text = lines[i] ?? "";
    const lineNo = i + 1;
    if (text.trim() === "") {
      if (seenRow) {
        end = i;
        break;
      }
      continue;
    }
    if (/^\s*(NIC )?Legend:/i.test(text)) {
      end = i;
      break;
    }
    seenRow = true;
    const [label = "", ...cells] = cellsOf(text);
    const m = GPU_LABEL.exec(label);
    if (!m) {
      if (!devices.includes(label)) warnings.push({ line: lineNo, message: `row ${JSON.stringify(label)} matches no column; skipped` });
      continue;
    }
    const index = Number(m[1]);
    if (!gpuColumn.has(index)) {
      warnings.push({ line: lineNo, message: `row ${label} has no column in the header; skipped` });
      continue;
    }
    if (rows.has(index)) {
      warnings.push({ line: lineNo, message: `second row for ${label} ignored (first on line ${rows.get(index)?.line})` });
      continue;
    }
    if (cells.length < devices.length) {
      errors.push({ line: lineNo, message: `row ${label} has ${cells.length} cells, fewer than the ${devices.length} device columns` });
      continue;
    }
    const self = cells[gpuColumn.get(index) ?? -1];
    if (self !== "X") warnings.push({ line: lineNo, message: `row ${label} has ${JSON.stringify(self)} instead of X on the diagonal` });

    // Affinity cells, with the empty field some drivers print before GPU NUMA ID removed.
    const rest = dropTrailingEmpty(cells.slice(devices.length));
    while (rest.length > affinity.length) {
      let k = -1;
      for (let j = rest.length - 2; j >= 0; j--) {
        if (rest[j] === "") {
          k = j;
          break;
        }
      }
      if (k < 0) break;
      rest.splice(k, 1);
    }
    if (rest.length > affinity.length) {
      warnings.push({ line: lineNo, message: `row ${label} has ${rest.length - affinity.length} cells past the last column; ignored` });
    }
    const value = (kind: "cpu" | "numa" | "gpuNuma") => {
      const col = affinity.findIndex((c) => AFFINITY_COLUMNS.get(c.toLowerCase()) === kind);
      return col < 0 ? undefined : rest[col];
    };
    const cpu = value("cpu");
    let cpuAffinity: string | undefined;
    if (cpu !== undefined && cpu !== "" && cpu !== "N/A") {
      if (CPULIST.test(cpu)) cpuAffinity = cpu;
      else warnings.push({ line: lineNo, message: `CPU affinity ${JSON.stringify(cpu)} of ${label} is not a cpulist; treated as unknown` });
    }
    const numaNode = readNumaNode(value("numa"), `NUMA affinity of ${label}`, lineNo, warnings);
    const gpuNumaId = readNumaNode(value("gpuNuma"), `GPU NUMA ID of ${label}`, lineNo, warnings);
    rows.set(index, {
      line: lineNo,
      cells,
      gpu: {
        index,
        ...(cpuAffinity !== undefined ? { cpuAffinity } : {}),
        ...(numaNode !== undefined ? { numaNode } : {}),
        ...(gpuNumaId !== undefined ? { gpuNumaId } : {}),
      },
    });
  }

  const indices = [...gpuColumn.keys()].sort((a, b) => a - b);
  for (const index of indices) {
    if (!rows.has(index)) errors.push({ line: headerLine, message: `GPU${index} has a column but no row` });
  }

  // NIC legend: "  NIC0: mlx5_0".
  const legend = new Map<string, string>();
  for (let i = end; i < lines.length; i++) {
    const m = /^\s*(NIC\d+)\s*:\s*(\S+)\s*$/.exec(lines[i] ?? "");
    if (m?.[1] && m[2]) legend.set(m[1], m[2]);
  }
  const nics = nicNames.map((name) => {
    const device = legend.get(name);
    return device !== undefined ? { name, device } : { name };
  });

  // Symmetric link matrix: a disagreement between the two rows takes the farther link.
  const links: string[][] = indices.map(() => indices.map(() => "X"));
  for (let a = 0; a < indices.length; a++) {
    for (let b = a + 1; b < indices.length; b++) {
      const i = indices[a] ?? 0;
      const j = indices[b] ?? 0;
      const rowI = rows.get(i);
      const rowJ = rows.get(j);
      if (!rowI || !rowJ) continue;
      const cellIJ = rowI.cells[gpuColumn.get(j) ?? -1] ?? "";
      const cellJI = rowJ.cells[gpuColumn.get(i) ?? -1] ?? "";
      const ij = readLink(cellIJ);
      const ji = readLink(cellJI);
      let link: LinkCode | undefined;
      if (ij && ji) {
        link = farness(ij) >= farness(ji) ? ij : ji;
        if (linkCodeOf(ij) !== linkCodeOf(ji)) {
          warnings.push({
            line: rowJ.line,
            message: `GPU${i}-GPU${j} is ${cellIJ} on line ${rowI.line} but ${cellJI} on line ${rowJ.line}; using the farther, ${linkCodeOf(link)}`,
          });
        }
      } else if (ij || ji) {
        link = ij ?? ji;
        const [badLine, bad] = ij ? [rowJ.line, cellJI] : [rowI.line, cellIJ];
        warnings.push({ line: badLine, message: `GPU${i}-GPU${j}: ${JSON.stringify(bad)} is not a link code; using ${linkCodeOf(link as LinkCode)} from the other row` });
      } else {
        errors.push({ line: rowI.line, message: `GPU${i}-GPU${j}: neither ${JSON.stringify(cellIJ)} nor ${JSON.stringify(cellJI)} is a link code` });
        continue;
      }
      const code = linkCodeOf(link as LinkCode);
      (links[a] as string[])[b] = code;
      (links[b] as string[])[a] = code;
    }
  }

  if (indices.length === 0) errors.push({ line: headerLine, message: "the header names no GPU columns" });
  if (errors.length > 0) return { ok: false, errors, warnings };
  return {
    ok: true,
    matrix: { gpus: indices.map((i) => rows.get(i)?.gpu ?? { index: i }), links, nics },
    warnings,
  };
}

/** "line 3: ..." or the bare message for whole-output issues. */
export function formatTopoIssue(issue: TopoIssue): string {
  return issue.line > 0 ? `line ${issue.line}: ${issue.message}` : issue.message;
}
