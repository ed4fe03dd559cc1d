// Prints the directory holding the control-plane binaries, building them first
// if needed (progress on stderr):
//
//   node --import tsx hack/cluster/locate.ts          # the directory
//   node --import tsx hack/cluster/locate.ts --json   # every path, and the version
//   node --import tsx hack/cluster/locate.ts --no-build

import { locateBinaries } from "./binaries.js";

const args = new Set(process.argv.slice(2));
try {
  const binaries = await locateBinaries({ build: !args.has("--no-build") });
  process.stdout.write(args.has("--json") ? `${JSON.stringify(binaries, null, 2)}\n` : `${binaries.binDir}\n`);
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
