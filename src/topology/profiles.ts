// Topology profiles: the GPU layout of a known machine type, written as plain
// data so that admins can add their own in the policy (YAML) and have them
// validated with the same rules as the built-in ones. A profile is used for a
// node that has no topology annotation from the agent; see build.ts.
//
//   name: hgx-h100-8
//   match: {product: "/^NVIDIA-H100-80GB-HBM3(-SHARED)?$/", count: 8}
//   gpuCount: 8
//   numaNodes: [0, 0, 0, 0, 1, 1, 1, 1]      # per GPU; null where unknown
//   allPairs: NV18                           # or links: [upper triangle codes]
//   groups: [{gpus: [0, 1], link: NV12}]     # optional overrides, applied in order
//
// Match values are compared exactly, or as a regular expression when written
// "/body/flags" (flags from i, m, s, u). Every condition given must hold. A
// profile with an empty match is chosen only by name, through the node label
// topofit.io/topology-profile, which also overrides matching for any profile.
import { MAX_GPUS, pairIndex, parseLinkCode, type LinkCode } from "./annotation.js";
import { GPU_COUNT_LABEL, GPU_MACHINE_LABEL, GPU_PRODUCT_LABEL, TOPOLOGY_PROFILE_LABEL, gpuCountOf } from "./labels.js";
import { describeValue, joinPath } from "../validation/field-path.js";

export interface ProfileMatch {
  /** `nvidia.com/gpu.product`: exact, or "/regex/flags". */
  readonly product?: string;
  /** `nvidia.com/gpu.count`. */
  readonly count?: number;
  /** `nvidia.com/gpu.machine`: exact, or "/regex/flags". */
  readonly machine?: string;
  /** Any other labels, each value exact or "/regex/flags". */
  readonly labels?: Readonly<Record<string, string>>;
}

/** Sets the link code of every pair among `gpus`. */
export interface ProfileGroup {
  readonly gpus: readonly number[];
  readonly link: string;
}

export interface TopologyProfile {
  readonly name: string;
  readonly description?: string;
  readonly match: ProfileMatch;
  readonly gpuCount: number;
  /** Host NUMA node per GPU index; null (or the field left out) where unknown. */
  readonly numaNodes?: readonly (number | null)[];
  /** Upper triangle, row-major, as in the topology annotation: (0,1),(0,2),…,(1,2),… Exclusive with allPairs. */
  readonly links?: readonly string[];
  /** One code for every pair, before `groups` are applied. Exclusive with links. */
  readonly allPairs?: string;
  readonly groups?: readonly ProfileGroup[];
  /** Bandwidth of one NVLink in GB/s, overriding the product table. */
  readonly nvlinkGBps?: number;
}

/** One problem in a profile list, with the path of the offending field. */
export interface ProfileIssue {
  readonly path: string;
  readonly message: string;
}

export type ProfilesValidation =
  | { readonly ok: true; readonly profiles: readonly TopologyProfile[] }
  | { readonly ok: false; readonly errors: readonly ProfileIssue[] };

export interface ProfileMatchResult {
  readonly profile: TopologyProfile;
  /** Which labels selected it, e.g. "profile hgx-h100-8 (nvidia.com/gpu.product=…, nvidia.com/gpu.count=8)". */
  readonly reason: string;
}

const SOCKETS_8 = [0, 0, 0, 0, 1, 1, 1, 1];
const SOCKETS_4 = [0, 0, 1, 1];

/**
 * Machines common enough to recognise from GFD labels alone. NUMA layouts are
 * the usual BIOS defaults (one NUMA node per socket); the agent's annotation,
 * when present, always wins over these.
 */
export const BUILTIN_PROFILES: readonly TopologyProfile[] = [
  {
    name: "hgx-h100-8",
    description: "HGX/DGX H100 SXM5, 8 GPUs on NVSwitch (every pair NV18); GPUs 0-3 on socket 0, 4-7 on socket 1",
    match: { product: "/^NVIDIA-H100-80GB-HBM3(-SHARED)?$/", count: 8 },
    gpuCount: 8,
    numaNodes: SOCKETS_8,
    allPairs: "NV18",
  },
  {
    name: "hgx-h200-8",
    description: "HGX/DGX H200 SXM, 8 GPUs on NVSwitch (every pair NV18); GPUs 0-3 on socket 0, 4-7 on socket 1",
    match: { product: "/^NVIDIA-H200(-[0-9]+GB(-HBM3e)?)?(-SHARED)?$/i", count: 8 },
    gpuCount: 8,
    numaNodes: SOCKETS_8,
    allPairs: "NV18",
  },
  {
    name: "hgx-b200-8",
    description: "HGX/DGX B200, 8 GPUs on NVLink 5 switches (every pair NV18); GPUs 0-3 on socket 0, 4-7 on socket 1",
    match: { product: "/^NVIDIA-B200(-[0-9]+GB(-HBM3e)?)?(-SHARED)?$/i", count: 8 },
    gpuCount: 8,
    numaNodes: SOCKETS_8,
    allPairs: "NV18",
  },
  {
    name: "hgx-a100-sxm4-8",
    description: "HGX/DGX A100 SXM4, 8 GPUs on NVSwitch (every pair NV12); GPUs 0-3 on socket 0, 4-7 on socket 1",
    match: { product: "/^(NVIDIA-)?A100-SXM4-(40|80)GB(-SHARED)?$/", count: 8 },
    gpuCount: 8,
    numaNodes: SOCKETS_8,
    allPairs: "NV12",
  },
  {
    name: "a100-pcie-4-bridged",
    description: "4 A100 PCIe cards over two sockets with NVLink bridges on 0-1 and 2-3 (NV12); other pairs cross the sockets",
    match: { product: "/^(NVIDIA-)?A100-(PCIE-(40|80)GB|(40|80)GB-PCIE)(-SHARED)?$/i", count: 4 },
    gpuCount: 4,
    numaNodes: SOCKETS_4,
    allPairs: "SYS",
    groups: [
      { gpus: [0, 1], link: "NV12" },
      { gpus: [2, 3], link: "NV12" },
    ],
  },
  {
    name: "dgx1-v100-8",
    description: "DGX-1 with V100: hybrid cube-mesh NVLink (NV1/NV2), GPUs 0-3 on socket 0, 4-7 on socket 1",
    match: { machine: "/^DGX-1/i", count: 8 },
    gpuCount: 8,
    numaNodes: SOCKETS_8,
    // Upper triangle, one row per GPU.
    links: [
      /* 0: 1..7 */ "NV1", "NV1", "NV2", "NV2", "SYS", "SYS", "SYS",
      /* 1: 2..7 */ "NV2", "NV1", "SYS", "NV2", "SYS", "SYS",
      /* 2: 3..7 */ "NV2", "SYS", "SYS", "NV1", "SYS",
      /* 3: 4..7 */ "SYS", "SYS", "SYS", "NV1",
      /* 4: 5..7 */ "NV1", "NV1", "NV2",
      /* 5: 6..7 */ "NV2", "NV1",
      /* 6: 7    */ "NV2",
    ],
  },
  {
    name: "l40s-8",
    description: "8 L40S PCIe cards over two sockets, two per PCIe switch (0-1, 2-3, 4-5, 6-7 PIX); no NVLink",
    match: { product: "/^NVIDIA-L40S(-SHARED)?$/", count: 8 },
    gpuCount: 8,
    numaNodes: SOCKETS_8,
    allPairs: "SYS",
    groups: [
      { gpus: [0, 1, 2, 3], link: "NODE" },
      { gpus: [4, 5, 6, 7], link: "NODE" },
      { gpus: [0, 1], link: "PIX" },
      { gpus: [2, 3], link: "PIX" },
      { gpus: [4, 5], link: "PIX" },
      { gpus: [6, 7], link: "PIX" },
    ],
  },
  {
    name: "l40s-4",
    description: "4 L40S PCIe cards over two sockets, each on its own root port (0-1 and 2-3 NODE); no NVLink",
    match: { product: "/^NVIDIA-L40S(-SHARED)?$/", count: 4 },
    gpuCount: 4,
    numaNodes: SOCKETS_4,
    allPairs: "SYS",
    groups: [
      { gpus: [0, 1], link: "NODE" },
      { gpus: [2, 3], link: "NODE" },
    ],
  },
  {
    name: "pcie-2socket-4",
    description: "Generic two-socket PCIe server, 4 GPUs: 0-1 on socket 0, 2-3 on socket 1; chosen by name only",
    match: {},
    gpuCount: 4,
    numaNodes: SOCKETS_4,
    allPairs: "SYS",
    groups: [
      { gpus: [0, 1], link: "NODE" },
      { gpus: [2, 3], link: "NODE" },
    ],
  },
  {
    name: "pcie-2socket-8",
    description: "Generic two-socket PCIe server, 8 GPUs: 0-3 on socket 0, 4-7 on socket 1; chosen by name only",
    match: {},
    gpuCount: 8,
    numaNodes: SOCKETS_8,
    allPairs: "SYS",
    groups: [
      { gpus: [0, 1, 2, 3], link: "NODE" },
      { gpus: [4, 5, 6, 7], link: "NODE" },
    ],
  },
];

// --- patterns ---------------------------------------------------------------

const PATTERN = /^\/(.*)\/([imsu]*)$/s;
const compiled = new Map<string, RegExp>();

/** Compiles "/body/flags" to a RegExp; undefined for a plain string. Throws on a bad regex (validation catches it first). */
function regexOf(pattern: string): RegExp | undefined {
  const m = PATTERN.exec(pattern);
  if (!m) return undefined;
  let re = compiled.get(pattern);
  if (re === undefined) {
    re = new RegExp(m[1]!, m[2]);
    compiled.set(pattern, re);
  }
  return re;
}

function patternProblem(pattern: string): string | undefined {
  const m = PATTERN.exec(pattern);
  if (!m) return pattern === "" ? "must not be empty" : undefined;
  try {
    new RegExp(m[1]!, m[2]);
    return undefined;
  } catch (err) {
    return `is not a valid regular expression: ${(err as Error).message}`;
  }
}

function matchesPattern(pattern: string, value: string | undefined): boolean {
  if (value === undefined) return false;
  const re = regexOf(pattern);
  return re ? re.test(value) : pattern === value;
}

// --- selection --------------------------------------------------------------

type Labels = Readonly<Record<string, string>>;

function hasConditions(m: ProfileMatch): boolean {
  return m.product !== undefined || m.count !== undefined || m.machine !== undefined || Object.keys(m.labels ?? {}).length > 0;
}

/** The labels that satisfied a profile's match, or undefined when it does not match. */
function matchedLabels(m: ProfileMatch, labels: Labels): string[] | undefined {
  if (!hasConditions(m)) return undefined;
  const used: string[] = [];
  const check = (key: string, pattern: string): boolean => {
    const ok = matchesPattern(pattern, labels[key]);
    if (ok) used.push(`${key}=${labels[key]}`);
    return ok;
  };
  if (m.product !== undefined && !check(GPU_PRODUCT_LABEL, m.product)) return undefined;
  if (m.machine !== undefined && !check(GPU_MACHINE_LABEL, m.machine)) return undefined;
  for (const [key, pattern] of Object.entries(m.labels ?? {})) if (!check(key, pattern)) return undefined;
  if (m.count !== undefined) {
    if (gpuCountOf(labels) !== m.count) return undefined;
    used.push(`${GPU_COUNT_LABEL}=${m.count}`);
  }
  return used;
}

/**
 * Every profile that applies to a node, in list order (put admins' profiles
 * before the built-in ones to give them priority). When the node names a
 * profile with topofit.io/topology-profile, only that profile is returned
 * (none when the name is unknown).
 */
export function matchProfiles(labels: Labels, profiles: readonly TopologyProfile[]): readonly ProfileMatchResult[] {
  const named = labels[TOPOLOGY_PROFILE_LABEL];
  if (named !== undefined && named !== "") {
    const profile = profiles.find((p) => p.name === named);
    return profile ? [{ profile, reason: `profile ${profile.name} (named by label ${TOPOLOGY_PROFILE_LABEL})` }] : [];
  }
  const out: ProfileMatchResult[] = [];
  for (const profile of profiles) {
    const used = matchedLabels(profile.match, labels);
    if (used) out.push({ profile, reason: `profile ${profile.name} (labels ${used.join(", ")})` });
  }
  return out;
}

/** The first profile that applies to a node (see matchProfiles); undefined when none does. */
export function selectProfile(labels: Labels, profiles: readonly TopologyProfile[]): ProfileMatchResult | undefined {
  return matchProfiles(labels, profiles)[0];
}

/** A valid profile's link codes as the upper-triangle list the annotation uses. */
export function profileLinkCodes(profile: TopologyProfile): LinkCode[] {
  const n = profile.gpuCount;
  const codes: LinkCode[] = [];
  if (profile.links !== undefined) {
    for (const code of profile.links) codes.push(parseLinkCode(code) ?? { kind: "SYS", nvlinks: 0 });
  } else {
    const all = parseLinkCode(profile.allPairs ?? "SYS") ?? { kind: "SYS", nvlinks: 0 };
    for (let k = 0; k < (n * (n - 1)) / 2; k++) codes.push(all);
  }
  for (const group of profile.groups ?? []) {
    const code = parseLinkCode(group.link);
    if (!code) continue;
    const gpus = [...group.gpus].sort((a, b) => a - b);
    for (let a = 0; a < gpus.length; a++) {
      for (let b = a + 1; b < gpus.length; b++) {
        const i = gpus[a]!;
        const j = gpus[b]!;
        if (i !== j && j < n) codes[pairIndex(n, i, j)] = code;
      }
    }
  }
  return codes;
}

// --- validation -------------------------------------------------------------

const PROFILE_FIELDS = ["name", "description", "match", "gpuCount", "numaNodes", "links", "allPairs", "groups", "nvlinkGBps"];
const MATCH_FIELDS = ["product", "count", "machine", "labels"];
const GROUP_FIELDS = ["gpus", "link"];
const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const CODES_HINT = "NV<n>, SB, PIX, PXB, PHB, NODE, SYS";

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}



function isIntIn(v: unknown, min: number, max: number): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= min && v <= max;
}

function unknownFields(obj: Record<string, unknown>, known: readonly string[], path: string, issues: ProfileIssue[]): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) issues.push({ path: joinPath(path, key), message: `unknown field (known fields here: ${known.join(", ")})` });
  }
}

function checkPattern(v: unknown, path: string, issues: ProfileIssue[]): void {
  if (typeof v !== "string") {
    issues.push({ path, message: `must be a string (got ${describeValue(v)})` });
    return;
  }
  const problem = patternProblem(v);
  if (problem) issues.push({ path, message: problem });
}

function checkCode(v: unknown, path: string, issues: ProfileIssue[]): void {
  if (typeof v !== "string" || parseLinkCode(v) === undefined) {
    issues.push({ path, message: `must be a link code (${CODES_HINT}) (got ${describeValue(v)})` });
  }
}

function validateMatch(m: unknown, gpuCount: number | undefined, path: string, issues: ProfileIssue[]): void {
  if (!isObj(m)) {
    issues.push({ path, message: `must be an object (got ${describeValue(m)})` });
    return;
  }
  unknownFields(m, MATCH_FIELDS, path, issues);
  if (m.product !== undefined) checkPattern(m.product, joinPath(path, "product"), issues);
  if (m.machine !== undefined) checkPattern(m.machine, joinPath(path, "machine"), issues);
  if (m.count !== undefined) {
    if (!isIntIn(m.count, 1, MAX_GPUS)) issues.push({ path: joinPath(path, "count"), message: `must be an integer in 1..${MAX_GPUS} (got ${describeValue(m.count)})` });
    else if (gpuCount !== undefined && m.count !== gpuCount) {
      issues.push({ path: joinPath(path, "count"), message: `is ${m.count} but gpuCount is ${gpuCount}: the profile could never apply` });
    }
  }
  if (m.labels !== undefined) {
    const lp = joinPath(path, "labels");
    if (!isObj(m.labels)) issues.push({ path: lp, message: `must be a map of label key to value (got ${describeValue(m.labels)})` });
    else for (const [key, value] of Object.entries(m.labels)) checkPattern(value, joinPath(lp, key), issues);
  }
}

/** Every problem in one profile; `path` prefixes each issue (e.g. "spec.topologyProfiles[2]"). */
export function validateProfile(raw: unknown, path: string): ProfileIssue[] {
  const issues: ProfileIssue[] = [];
  if (!isObj(raw)) return [{ path, message: `must be an object (got ${describeValue(raw)})` }];
  unknownFields(raw, PROFILE_FIELDS, path, issues);

  if (raw.name === undefined) issues.push({ path: joinPath(path, "name"), message: "is required" });
  else if (typeof raw.name !== "string" || raw.name.length > 63 || !NAME.test(raw.name)) {
    issues.push({ path: joinPath(path, "name"), message: `must be a lowercase DNS label, at most 63 characters (got ${describeValue(raw.name)})` });
  }
  if (raw.description !== undefined && typeof raw.description !== "string") {
    issues.push({ path: joinPath(path, "description"), message: `must be a string (got ${describeValue(raw.description)})` });
  }

  let n: number | undefined;
  if (raw.gpuCount === undefined) issues.push({ path: joinPath(path, "gpuCount"), message: "is required" });
  else if (!isIntIn(raw.gpuCount, 1, MAX_GPUS)) {
    issues.push({ path: joinPath(path, "gpuCount"), message: `must be an integer in 1..${MAX_GPUS} (got ${describeValue(raw.gpuCount)})` });
  } else n = raw.gpuCount;

  if (raw.match === undefined) issues.push({ path: joinPath(path, "match"), message: "is required (use {} for a profile chosen only by name)" });
  else validateMatch(raw.match, n, joinPath(path, "match"), issues);

  if (raw.numaNodes !== undefined) {
    const np = joinPath(path, "numaNodes");
    if (!Array.isArray(raw.numaNodes)) issues.push({ path: np, message: `must be a list with one NUMA node per GPU (got ${describeValue(raw.numaNodes)})` });
    else {
      if (n !== undefined && raw.numaNodes.length !== n) issues.push({ path: np, message: `must list ${n} entries, one per GPU (got ${raw.numaNodes.length})` });
      raw.numaNodes.forEach((v, k) => {
        if (v !== null && !isIntIn(v, 0, 1023)) issues.push({ path: joinPath(np, k), message: `must be a NUMA node number or null (got ${describeValue(v)})` });
      });
    }
  }

  if (raw.links !== undefined && raw.allPairs !== undefined) {
    issues.push({ path: joinPath(path, "links"), message: "give either links or allPairs, not both" });
  } else if (raw.links === undefined && raw.allPairs === undefined) {
    issues.push({ path, message: "needs links (upper-triangle codes) or allPairs (one code for every pair)" });
  }
  if (raw.allPairs !== undefined) checkCode(raw.allPairs, joinPath(path, "allPairs"), issues);
  if (raw.links !== undefined) {
    const lp = joinPath(path, "links");
    if (!Array.isArray(raw.links)) issues.push({ path: lp, message: `must be a list of link codes (got ${describeValue(raw.links)})` });
    else {
      if (n !== undefined && raw.links.length !== (n * (n - 1)) / 2) {
        issues.push({ path: lp, message: `must list the ${(n * (n - 1)) / 2} pairs of ${n} GPUs (upper triangle, row-major), got ${raw.links.length}` });
      }
      raw.links.forEach((code, k) => checkCode(code, joinPath(lp, k), issues));
    }
  }

  if (raw.groups !== undefined) {
    const gp = joinPath(path, "groups");
    if (!Array.isArray(raw.groups)) issues.push({ path: gp, message: `must be a list of {gpus, link} (got ${describeValue(raw.groups)})` });
    else {
      raw.groups.forEach((g, k) => {
        const p = joinPath(gp, k);
        if (!isObj(g)) {
          issues.push({ path: p, message: `must be an object (got ${describeValue(g)})` });
          return;
        }
        unknownFields(g, GROUP_FIELDS, p, issues);
        checkCode(g.link, joinPath(p, "link"), issues);
        const gpusPath = joinPath(p, "gpus");
        if (!Array.isArray(g.gpus) || g.gpus.length < 2) {
          issues.push({ path: gpusPath, message: `must list at least 2 GPU indices (got ${describeValue(g.gpus)})` });
          return;
        }
        const seen = new Set<number>();
        g.gpus.forEach((idx, m) => {
          if (!isIntIn(idx, 0, MAX_GPUS - 1) || (n !== undefined && idx >= n)) {
            issues.push({ path: joinPath(gpusPath, m), message: `must be a GPU index in 0..${(n ?? MAX_GPUS) - 1} (got ${describeValue(idx)})` });
          } else if (seen.has(idx)) issues.push({ path: joinPath(gpusPath, m), message: `repeats GPU ${idx}` });
          else seen.add(idx);
        });
      });
    }
  }

  if (raw.nvlinkGBps !== undefined && !(typeof raw.nvlinkGBps === "number" && raw.nvlinkGBps > 0 && raw.nvlinkGBps <= 1000)) {
    issues.push({ path: joinPath(path, "nvlinkGBps"), message: `must be a number in (0, 1000] (got ${describeValue(raw.nvlinkGBps)})` });
  }
  return issues;
}

/**
 * Validates a list of profiles (parsed YAML or JSON) and returns every
 * problem with its path, e.g. `profiles[2].links[5]: must be a link code …`.
 * Names must be unique within the list.
 */
export function validateProfiles(raw: unknown, path = "profiles"): ProfilesValidation {
  if (!Array.isArray(raw)) return { ok: false, errors: [{ path, message: `must be a list of profiles (got ${describeValue(raw)})` }] };
  const errors: ProfileIssue[] = [];
  const names = new Map<string, number>();
  raw.forEach((p, k) => {
    const itemPath = joinPath(path, k);
    errors.push(...validateProfile(p, itemPath));
    if (isObj(p) && typeof p.name === "string") {
      const first = names.get(p.name);
      if (first !== undefined) errors.push({ path: joinPath(itemPath, "name"), message: `repeats the name of ${joinPath(path, first)}` });
      else names.set(p.name, k);
    }
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, profiles: raw as TopologyProfile[] };
}
