// Structural checks of the Dockerfile and .dockerignore, for CI machines that
// have neither a container engine nor hadolint. It reads the files as text and
// checks what the image depends on:
//
//   - a named build stage that runs npm ci, npm run build and npm prune --omit=dev;
//   - a runtime stage that copies dist/, node_modules/ and package.json from it
//     into /app, sets NODE_ENV=production, runs as a numeric non-root user and
//     starts `node /app/dist/main.js` (exec form), with no HEALTHCHECK;
//   - base images with explicit tags, no ADD, no VOLUME (read-only root);
//   - every file the build stage copies from the context exists and is let
//     through by the .dockerignore allow-list;
//   - after `npm run build`: dist/main.js exists, and every package that dist/
//     imports is a production dependency (so `npm prune --omit=dev` keeps it).
//
//   node --import tsx hack/lint-dockerfile.ts     # exit 1 and one line per problem
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { builtinModules } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const ENTRYPOINT = ["node", "/app/dist/main.js"] as const;
export const APP_DIR = "/app";

const INSTRUCTIONS = new Set([
  "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
  "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
]);

export interface Instruction {
  readonly keyword: string;
  readonly args: string;
  readonly line: number;
}

export interface Stage {
  readonly image: string;
  readonly name?: string;
  readonly line: number;
  readonly instructions: Instruction[];
}

/** Splits a Dockerfile into instructions: comments dropped, continuation lines joined. */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split(/\r?\n/);
  let buffer = "";
  let start = 0;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] ?? "";
    const trimmed = raw.trim();
    if (buffer === "" && (trimmed === "" || trimmed.startsWith("#"))) continue;
    if (buffer !== "" && trimmed.startsWith("#")) continue; // comments inside a continued instruction
    if (buffer === "") start = i + 1;
    if (trimmed.endsWith("\\")) {
      buffer += `${trimmed.slice(0, -1).trimEnd()} `;
      continue;
    }
    buffer += trimmed;
    const m = /^(\S+)\s*(.*)$/s.exec(buffer);
    if (m) out.push({ keyword: (m[1] ?? "").toUpperCase(), args: (m[2] ?? "").trim(), line: start });
    buffer = "";
  }
  if (buffer !== "") {
    const m = /^(\S+)\s*(.*)$/s.exec(buffer);
    if (m) out.push({ keyword: (m[1] ?? "").toUpperCase(), args: (m[2] ?? "").trim(), line: start });
  }
  return out;
}

/** ARG defaults declared before the first FROM (the only ones FROM may use). */
function globalArgs(instructions: readonly Instruction[]): Map<string, string> {
  const args = new Map<string, string>();
  for (const ins of instructions) {
    if (ins.keyword === "FROM") break;
    if (ins.keyword !== "ARG") continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/.exec(ins.args);
    if (m) args.set(m[1] ?? "", (m[2] ?? "").replace(/^"(.*)"$/, "$1"));
  }
  return args;
}

function substitute(value: string, args: ReadonlyMap<string, string>): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (whole, a: string | undefined, b: string | undefined) => {
    const v = args.get(a ?? b ?? "");
    return v === undefined ? whole : v;
  });
}

export function stagesOf(instructions: readonly Instruction[]): Stage[] {
  const args = globalArgs(instructions);
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === "FROM") {
      const words = ins.args.split(/\s+/).filter((w) => !w.startsWith("--"));
      const image = substitute(words[0] ?? "", args);
      const name = words[1]?.toUpperCase() === "AS" ? words[2] : undefined;
      stages.push({ image, ...(name !== undefined ? { name } : {}), line: ins.line, instructions: [] });
    } else {
      stages.at(-1)?.instructions.push(ins);
    }
  }
  return stages;
}

/** COPY/ADD arguments: flags, sources and destination (JSON array form or words). */
export function copyParts(args: string): { flags: Map<string, string>; sources: string[]; dest: string } {
  const flags = new Map<string, string>();
  let rest = args;
  for (;;) {
    const m = /^--([a-z-]+)(?:=(\S*))?\s+/.exec(rest);
    if (!m) break;
    flags.set(m[1] ?? "", m[2] ?? "");
    rest = rest.slice(m[0].length);
  }
  let words: string[];
  if (rest.startsWith("[")) {
    try {
      words = JSON.parse(rest) as string[];
    } catch {
      words = [];
    }
  } else {
    words = rest.split(/\s+/).filter((w) => w !== "");
  }
  return { flags, sources: words.slice(0, -1), dest: words.at(-1) ?? "" };
}

function execForm(args: string): string[] | undefined {
  if (!args.startsWith("[")) return undefined;
  try {
    const v = JSON.parse(args) as unknown;
    return Array.isArray(v) && v.every((x) => typeof x === "string") ? (v as string[]) : undefined;
  } catch {
    return undefined;
  }
}

function resolveIn(workdir: string, p: string): string {
  return path.posix.normalize(p.startsWith("/") ? p : path.posix.join(workdir, p)).replace(/\/$/, "");
}

/** The .dockerignore as an allow-list: `*` first, then `!path` lines. Undefined when it has another shape. */
export function dockerignoreAllowList(text: string): string[] | undefined {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  if (lines[0] !== "*") return undefined;
  const allowed: string[] = [];
  for (const l of lines.slice(1)) {
    if (!l.startsWith("!")) return undefined;
    allowed.push(l.slice(1).replace(/^\/+/, "").replace(/\/+$/, ""));
  }
  return allowed;
}

/** Package names that the compiled JavaScript under dir imports (bare specifiers only). */
export function importedPackages(dir: string): Set<string> {
  const found = new Set<string>();
  const walk = (d: string) => {
    for (const entry of readdirSync(d)) {
      const p = path.join(d, entry);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith(".js")) {
        const text = readFileSync(p, "utf8");
        for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["']([^"']+)["']/g)) {
          const spec = m[1] ?? "";
          if (spec.startsWith(".") || spec.startsWith("/") || spec.startsWith("node:")) continue;
          const name = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : (spec.split("/")[0] ?? spec);
          if (builtinModules.includes(name)) continue;
          found.add(name);
        }
      }
    }
  };
  walk(dir);
  return found;
}

export interface LintOptions {
  /** Repository root: the build context. */
  readonly root: string;
  readonly dockerfile?: string;
  readonly dockerignore?: string;
  /** Check dist/ and node_modules/ as `npm run build` leaves them (default true). */
  readonly checkBuildOutput?: boolean;
}

export function lintDockerfile(options: LintOptions): string[] {
  const root = options.root;
  const problems: string[] = [];
  const dockerfile = options.dockerfile ?? readFileSync(path.join(root, "Dockerfile"), "utf8");
  const dockerignore = options.dockerignore ?? (existsSync(path.join(root, ".dockerignore")) ? readFileSync(path.join(root, ".dockerignore"), "utf8") : undefined);
  const instructions = parseDockerfile(dockerfile);
  for (const ins of instructions) {
    if (!INSTRUCTIONS.has(ins.keyword)) problems.push(`line ${ins.line}: unknown instruction ${ins.keyword}`);
    if (ins.keyword === "HEALTHCHECK") problems.push(`line ${ins.line}: HEALTHCHECK: Kubernetes probes do this; the image must not carry its own`);
    if (ins.keyword === "ADD") problems.push(`line ${ins.line}: use COPY, not ADD`);
    if (ins.keyword === "VOLUME") problems.push(`line ${ins.line}: VOLUME: the pods mount what they need (emptyDir /tmp); an image volume breaks read-only root setups`);
    if (ins.keyword === "MAINTAINER") problems.push(`line ${ins.line}: MAINTAINER is deprecated; use a LABEL`);
    if (ins.keyword === "RUN" && /\bsudo\b/.test(ins.args)) problems.push(`line ${ins.line}: RUN uses sudo`);
  }
  const stages = stagesOf(instructions);
  if (stages.length < 2) {
    problems.push(`expected a build stage and a runtime stage, found ${stages.length} FROM`);
    return problems;
  }
  for (const s of stages) {
    if (s.image.includes("$")) problems.push(`line ${s.line}: FROM ${s.image}: an ARG without a default`);
    else if (!/:[^/:]+$/.test(s.image) && !s.image.includes("@sha256:")) problems.push(`line ${s.line}: FROM ${s.image}: pin a tag or digest`);
    else if (/:latest$/.test(s.image)) problems.push(`line ${s.line}: FROM ${s.image}: do not use :latest`);
  }
  const names = new Map(stages.filter((s) => s.name !== undefined).map((s) => [s.name!, s]));
  const final = stages.at(-1)!;

  // The build stage: whatever the final stage copies from.
  const finalCopies = final.instructions.filter((i) => i.keyword === "COPY").map((i) => ({ ins: i, ...copyParts(i.args) }));
  const fromNames = new Set(finalCopies.map((c) => c.flags.get("from")).filter((f): f is string => f !== undefined));
  if (fromNames.size !== 1) problems.push(`the runtime stage must copy from exactly one build stage (copies from: ${[...fromNames].join(", ") || "none"})`);
  const buildName = [...fromNames][0];
  const build = buildName !== undefined ? names.get(buildName) : undefined;
  if (buildName !== undefined && !build) problems.push(`COPY --from=${buildName}: no stage is named ${buildName}`);

  if (build) {
    const runs = build.instructions.filter((i) => i.keyword === "RUN").map((i) => i.args).join(" && ");
    if (!/\bnpm ci\b/.test(runs)) problems.push(`build stage ${build.name}: no \`npm ci\``);
    if (!/\bnpm run build\b/.test(runs)) problems.push(`build stage ${build.name}: no \`npm run build\``);
    if (!/\bnpm prune\b[^&;]*--omit=dev\b/.test(runs)) problems.push(`build stage ${build.name}: no \`npm prune --omit=dev\` (dev dependencies would ship)`);
    const buildDir = build.instructions.filter((i) => i.keyword === "WORKDIR").map((i) => i.args).at(-1) ?? "/";
    // Sources copied from the build context.
    const allowed = dockerignore === undefined ? undefined : dockerignoreAllowList(dockerignore);
    if (dockerignore === undefined) problems.push(".dockerignore is missing: node_modules, dist and .git would be sent to the builder");
    else if (allowed === undefined) problems.push(".dockerignore must be an allow-list: `*` on the first line, then `!path` lines");
    else {
      for (const bad of ["node_modules", "dist", ".git"]) {
        if (allowed.some((a) => a === bad || a.startsWith(`${bad}/`))) problems.push(`.dockerignore lets ${bad} into the build context`);
      }
    }
    for (const ins of build.instructions.filter((i) => i.keyword === "COPY")) {
      const c = copyParts(ins.args);
      if (c.flags.has("from")) continue;
      for (const src of c.sources) {
        const rel = src.replace(/^\.\//, "").replace(/\/+$/, "");
        if (!existsSync(path.join(root, rel))) problems.push(`line ${ins.line}: COPY ${src}: no such file in the build context`);
        if (allowed && !allowed.some((a) => rel === a || rel.startsWith(`${a}/`))) problems.push(`line ${ins.line}: COPY ${src}: excluded by .dockerignore`);
      }
    }
    // What the runtime stage takes from the build stage.
    const finalDir = final.instructions.filter((i) => i.keyword === "WORKDIR").map((i) => i.args).at(-1) ?? "/";
    if (finalDir !== APP_DIR) problems.push(`runtime stage: WORKDIR ${finalDir}, expected ${APP_DIR}`);
    const copied = new Map<string, string>();
    for (const c of finalCopies.filter((x) => x.flags.get("from") === buildName)) {
      const dest = resolveIn(finalDir, c.dest);
      for (const src of c.sources) copied.set(path.posix.basename(resolveIn(buildDir, src)), c.sources.length > 1 || c.dest.endsWith("/") ? path.posix.join(dest, path.posix.basename(src)) : dest);
      for (const src of c.sources) {
        if (!resolveIn(buildDir, src).startsWith(`${resolveIn("/", buildDir)}/`)) problems.push(`line ${c.ins.line}: COPY --from=${buildName} ${src}: not under the build stage's WORKDIR ${buildDir}`);
      }
    }
    for (const needed of ["dist", "node_modules", "package.json"]) {
      const at = copied.get(needed);
      if (at === undefined) problems.push(`runtime stage: does not copy ${needed} from ${buildName}`);
      else if (at !== `${APP_DIR}/${needed}`) problems.push(`runtime stage: ${needed} lands at ${at}, expected ${APP_DIR}/${needed}`);
    }
  }

  // The runtime stage.
  const env = final.instructions.filter((i) => i.keyword === "ENV").map((i) => i.args).join(" ");
  if (!/\bNODE_ENV[= ]"?production"?/.test(env)) problems.push("runtime stage: ENV NODE_ENV=production is missing");
  const user = final.instructions.filter((i) => i.keyword === "USER").at(-1);
  if (!user) problems.push("runtime stage: no USER (the container would run as root)");
  else {
    const [uid, gid] = user.args.split(":");
    if (!/^\d+$/.test(uid ?? "")) problems.push(`line ${user.line}: USER ${user.args}: use a numeric UID so that runAsNonRoot can be verified`);
    else if (Number(uid) === 0) problems.push(`line ${user.line}: USER ${user.args}: root`);
    if (gid !== undefined && !/^\d+$/.test(gid)) problems.push(`line ${user.line}: USER ${user.args}: use a numeric GID`);
    if (final.instructions.some((i) => i.keyword === "RUN" && i.line > user.line)) problems.push(`runtime stage: RUN after USER`);
  }
  const entrypoints = final.instructions.filter((i) => i.keyword === "ENTRYPOINT");
  const entry = entrypoints.at(-1);
  if (!entry) problems.push("runtime stage: no ENTRYPOINT");
  else {
    const argv = execForm(entry.args);
    if (!argv) problems.push(`line ${entry.line}: ENTRYPOINT must use the exec form (JSON array), so that signals reach node`);
    else if (JSON.stringify(argv) !== JSON.stringify(ENTRYPOINT)) problems.push(`line ${entry.line}: ENTRYPOINT ${JSON.stringify(argv)}, expected ${JSON.stringify(ENTRYPOINT)}`);
  }
  const cmd = final.instructions.filter((i) => i.keyword === "CMD").at(-1);
  if (cmd && !execForm(cmd.args)) problems.push(`line ${cmd.line}: CMD must use the exec form (JSON array)`);

  // The build output the image is made of.
  if (options.checkBuildOutput ?? true) {
    const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { dependencies?: Record<string, string>; bin?: Record<string, string> };
    if (!existsSync(path.join(root, "dist", "main.js"))) problems.push("dist/main.js does not exist: run `npm run build` first");
    else {
      const deps = new Set(Object.keys(pkg.dependencies ?? {}));
      for (const name of importedPackages(path.join(root, "dist"))) {
        if (!deps.has(name)) problems.push(`dist imports ${name}, which is not in package.json "dependencies": npm prune --omit=dev would drop it`);
        else if (!existsSync(path.join(root, "node_modules", name, "package.json"))) problems.push(`dist imports ${name}, which is not installed in node_modules`);
      }
    }
    if (pkg.bin?.topofit !== "dist/main.js") problems.push(`package.json bin.topofit is ${pkg.bin?.topofit}, expected dist/main.js (the ENTRYPOINT runs it)`);
  }
  return problems;
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (invokedDirectly) {
  const root = path.resolve(fileURLToPath(new URL("..", import.meta.url)));
  const problems = lintDockerfile({ root });
  for (const p of problems) process.stderr.write(`Dockerfile: ${p}\n`);
  if (problems.length === 0) process.stdout.write("Dockerfile: ok\n");
  process.exitCode = problems.length === 0 ? 0 : 1;
}
