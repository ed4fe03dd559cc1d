// Starts a local control plane for a person and keeps it up until Ctrl-C:
//
//   node --import tsx hack/local-up.ts [--keep-data-dir] [--gpu-nodes N] [--verbose]
//
// It prints the KUBECONFIG to export and the kubectl to use. --gpu-nodes
// creates N fake 8-GPU nodes (no kubelets: pods get bound, never run).

import { parseArgs } from "node:util";
import { startControlPlane } from "./cluster/control-plane.js";
import { createGpuNode } from "./cluster/nodes.js";

const { values } = parseArgs({
  options: {
    "keep-data-dir": { type: "boolean", default: false },
    "gpu-nodes": { type: "string", default: "0" },
    verbose: { type: "boolean", default: false },
  },
});
const gpuNodes = Number(values["gpu-nodes"]);
if (!Number.isInteger(gpuNodes) || gpuNodes < 0) throw new Error(`--gpu-nodes wants a whole number, got ${values["gpu-nodes"]}`);

const say = (message: string): void => void process.stderr.write(`[local-up] ${message}\n`);

// Our own handlers own shutdown (the control plane's module steps aside when
// another listener exists); a second Ctrl-C forces the exit.
let stopping = false;
let resolveStop: () => void = () => undefined;
const stopRequested = new Promise<void>((resolve) => (resolveStop = resolve));
const onSignal = (signal: NodeJS.Signals): void => {
  if (stopping) {
    say(`${signal} again: exiting now`);
    process.exit(130);
  }
  stopping = true;
  say(`${signal}: stopping`);
  resolveStop();
};
process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);

const cp = await startControlPlane({ keepDataDir: values["keep-data-dir"], ...(values.verbose ? { log: say } : {}) });
for (let i = 0; i < gpuNodes; i++) await createGpuNode(cp.kubeConfig(), { name: `gpu-node-${i}`, gpus: 8 });

process.stdout.write(
  [
    `Kubernetes ${cp.binaries.version} is up at ${cp.server} (started in ${(cp.startupMs / 1000).toFixed(1)} s).`,
    "",
    `export KUBECONFIG=${cp.kubeconfigPath}`,
    `alias kubectl=${cp.binaries.kubectl}`,
    "",
    `Data dir (certs, configs, logs): ${cp.dataDir}`,
    `Cluster CA: ${cp.caPath}`,
    "Press Ctrl-C to stop.",
    "",
  ].join("\n"),
);

if (!stopping) await stopRequested;
await cp.stop();
say(values["keep-data-dir"] ? `stopped; kept ${cp.dataDir}` : "stopped");
process.exit(0);
