// A stand-in nvidia-smi: a shell script in a temporary folder that prints a
// fixture's files. Tests switch its fixture, make it fail (exit 1) or hang,
// and read which arguments it was called with.
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nvidiaSmiFixtureDir, type NvidiaSmiFixture } from "../fixtures/nvidia-smi.js";

export interface FakeNvidiaSmi {
  /** The folder holding the script, for PATH. */
  readonly dir: string;
  /** The script itself, named nvidia-smi. */
  readonly path: string;
  /** Print this fixture from now on. */
  use(fixture: NvidiaSmiFixture): void;
  /** Exit 1 with the message nvidia-smi prints when the driver is not loaded (true), or behave again (false). */
  fail(on: boolean): void;
  /** Sleep instead of answering, to run into the caller's timeout. */
  hang(on: boolean): void;
  /** Refuse to query these fields, as drivers older than the field do. */
  rejectFields(fields: readonly string[]): void;
  /** Argument lists of the calls so far, one string each. */
  calls(): string[];
  remove(): void;
}

const SCRIPT = `#!/bin/sh
here=$(dirname "$0")
echo "$*" >> "$here/calls.log"
if [ -f "$here/hang" ]; then exec sleep 30; fi
if [ -f "$here/fail" ]; then
  echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running."
  exit 1
fi
fixture=$(cat "$here/fixture")
case "$1" in
  topo)
    [ "$2" = "-m" ] || { echo "unexpected arguments: $*" >&2; exit 64; }
    cat "$fixture/topo-m.txt" ;;
  --query-gpu=*)
    if [ -f "$here/reject" ]; then
      while read -r field; do
        case "$1" in *"$field"*) echo "Field \\"$field\\" is not a valid field to query."; echo; echo "Run 'nvidia-smi --help-query-gpu' for usage."; exit 2 ;; esac
      done < "$here/reject"
    fi
    cat "$fixture/query-gpu.csv" ;;
  *) echo "unexpected arguments: $*" >&2; exit 64 ;;
esac
`;

export function fakeNvidiaSmi(fixture: NvidiaSmiFixture): FakeNvidiaSmi {
  const dir = mkdtempSync(join(tmpdir(), "topofit-fake-nvidia-smi-"));
  const path = join(dir, "nvidia-smi");
  writeFileSync(path, SCRIPT);
  chmodSync(path, 0o755);
  const flag = (name: string, on: boolean) => {
    const p = join(dir, name);
    if (on) writeFileSync(p, "");
    else rmSync(p, { force: true });
  };
  const use = (f: NvidiaSmiFixture) => writeFileSync(join(dir, "fixture"), nvidiaSmiFixtureDir(f));
  use(fixture);
  return {
    dir,
    path,
    use,
    fail: (on) => flag("fail", on),
    hang: (on) => flag("hang", on),
    rejectFields: (fields) => {
      if (fields.length === 0) rmSync(join(dir, "reject"), { force: true });
      else writeFileSync(join(dir, "reject"), `${fields.join("\n")}\n`);
    },
    calls: () => {
      const log = join(dir, "calls.log");
      return existsSync(log) ? readFileSync(log, "utf8").split("\n").filter((l) => l !== "") : [];
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
