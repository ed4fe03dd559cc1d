// The Dockerfile cannot be built here (no container engine), so CI checks its
// structure instead (hack/lint-dockerfile.ts), and checks that the checks catch
// what they are meant to catch.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { copyParts, dockerignoreAllowList, lintDockerfile, parseDockerfile, stagesOf } from "../../../hack/lint-dockerfile.js";
import { repoRoot } from "../../../hack/cluster/binaries.js";

const DOCKERFILE = readFileSync(path.join(repoRoot, "Dockerfile"), "utf8");
const DOCKERIGNORE = readFileSync(path.join(repoRoot, ".dockerignore"), "utf8");

/** Lints a variant of the real Dockerfile (build output not checked). */
function lintVariant(dockerfile: string, dockerignore = DOCKERIGNORE): string[] {
  return lintDockerfile({ root: repoRoot, dockerfile, dockerignore, checkBuildOutput: false });
}

describe("the Dockerfile", () => {
  it("passes every check, including the build output it packages (npm test builds dist/ first)", () => {
    expect(lintDockerfile({ root: repoRoot })).toEqual([]);
  });

  it("has a build stage and a runtime stage on the same Node.js 20 image", () => {
    const stages = stagesOf(parseDockerfile(DOCKERFILE));
    expect(stages.map((s) => s.name)).toEqual(["build", "runtime"]);
    for (const s of stages) expect(s.image).toMatch(/^node:20[-.]/);
  });

  it("the .dockerignore is an allow-list that keeps node_modules, dist and .git out", () => {
    const allowed = dockerignoreAllowList(DOCKERIGNORE);
    expect(allowed).toBeDefined();
    expect(allowed).not.toContain("node_modules");
    expect(allowed).toContain("src");
  });

  it("parses continuation lines, flags and JSON-form COPY", () => {
    const ins = parseDockerfile("FROM a:1 AS b\n# note\nRUN one \\\n  # inside\n  two\nCOPY --from=b --chown=1:1 [\"x\", \"y/\"]\n");
    expect(ins.map((i) => [i.keyword, i.args])).toEqual([
      ["FROM", "a:1 AS b"],
      ["RUN", "one two"],
      ["COPY", '--from=b --chown=1:1 ["x", "y/"]'],
    ]);
    const c = copyParts(ins[2]!.args);
    expect([c.flags.get("from"), c.sources, c.dest]).toEqual(["b", ["x"], "y/"]);
  });
});

describe("the checks catch", () => {
  const cases: [string, (d: string) => string, RegExp][] = [
    ["a HEALTHCHECK", (d) => d.replace("USER 1000:1000", "HEALTHCHECK CMD true\nUSER 1000:1000"), /HEALTHCHECK/],
    ["no USER", (d) => d.replace("USER 1000:1000\n", ""), /no USER/],
    ["a named USER", (d) => d.replace("USER 1000:1000", "USER node"), /numeric UID/],
    ["USER root", (d) => d.replace("USER 1000:1000", "USER 0"), /root/],
    ["a shell-form ENTRYPOINT", (d) => d.replace(/ENTRYPOINT .*/, "ENTRYPOINT node /app/dist/main.js"), /exec form/],
    ["another entry point", (d) => d.replace(/ENTRYPOINT .*/, 'ENTRYPOINT ["node", "dist/main.js"]'), /ENTRYPOINT/],
    ["no NODE_ENV", (d) => d.replace("ENV NODE_ENV=production\n", ""), /NODE_ENV/],
    ["dev dependencies kept", (d) => d.replace(/ && npm prune[^\n]*/, ""), /npm prune --omit=dev/],
    ["a missing copy of node_modules", (d) => d.replace(/COPY --from=build \/src\/node_modules[^\n]*\n/, ""), /does not copy node_modules/],
    ["dist copied to the wrong place", (d) => d.replace("/src/dist ./dist", "/src/dist ./out"), /dist lands at \/app\/out/],
    ["a copy from a stage that does not exist", (d) => d.replaceAll("--from=build", "--from=builder"), /no stage is named builder/],
    ["a single stage", () => "FROM node:20-bookworm-slim\nUSER 1000\n", /build stage and a runtime stage/],
    ["an unpinned base image", (d) => d.replace("ARG NODE_IMAGE=node:20-bookworm-slim", "ARG NODE_IMAGE=node"), /pin a tag/],
    ["a source missing from the context", (d) => d.replace("COPY src ./src", "COPY lib ./lib"), /COPY lib: no such file/],
    ["ADD", (d) => d.replace("COPY src ./src", "ADD src ./src"), /use COPY/],
    ["a VOLUME", (d) => d.replace("WORKDIR /app", "WORKDIR /app\nVOLUME /data"), /VOLUME/],
  ];
  it.each(cases)("%s", (_what, change, problem) => {
    const problems = lintVariant(change(DOCKERFILE));
    expect(problems.some((p) => problem.test(p)), problems.join("\n")).toBe(true);
  });

  it("a source the .dockerignore leaves out, and a .dockerignore that lets node_modules in", () => {
    expect(lintVariant(DOCKERFILE, DOCKERIGNORE.replace("!tsconfig.build.json\n", ""))).toEqual([expect.stringMatching(/tsconfig\.build\.json: excluded by \.dockerignore/)]);
    expect(lintVariant(DOCKERFILE, `${DOCKERIGNORE}!node_modules/\n`)).toEqual([expect.stringMatching(/lets node_modules into/)]);
    expect(lintVariant(DOCKERFILE, "node_modules\n")).toEqual([expect.stringMatching(/allow-list/)]);
  });
});
