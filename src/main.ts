#!/usr/bin/env node
// Composition root: parse the command line, then hand over to the subcommand.
import { readFileSync } from "node:fs";
import { parseCommand, USAGE } from "./config.js";
import { runAgent } from "./cli/agent.js";
import { runExplain } from "./cli/explain.js";
import { runServe } from "./cli/serve.js";
import { runValidatePolicy } from "./cli/validate-policy.js";

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version?: string };
    return pkg.version ?? "unknown";
  } catch {
    return "unknown";
  }
}

async function main(): Promise<number> {
  const parsed = parseCommand();
  if (!parsed.ok) {
    process.stderr.write(`topofit: ${parsed.error}\n\n${USAGE}`);
    return 2;
  }
  const cmd = parsed.command;
  switch (cmd.name) {
    case "help":
      process.stdout.write(USAGE);
      return 0;
    case "version":
      process.stdout.write(`topofit ${packageVersion()}\n`);
      return 0;
    case "validate-policy":
      return runValidatePolicy(cmd.files, (l) => process.stdout.write(`${l}\n`));
    case "explain":
      return runExplain(cmd.settings, (t) => process.stdout.write(t));
    case "serve":
      await runServe(cmd.settings, packageVersion());
      return 0;
    case "agent":
      return runAgent(cmd.settings, { out: (t) => process.stdout.write(t) });
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`topofit: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
