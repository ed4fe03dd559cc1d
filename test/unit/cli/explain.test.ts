import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { runExplain, type Explanation, type NodeReport } from "../../../src/cli/explain.js";
import { stringify } from "yaml";
import { gpuDevices, resourceClaim, resourceSlice } from "../../builders/dra.js";
import type { ExplainSettings } from "../../../src/config.js";

const SERVING_POD = `apiVersion: v1
kind: Pod
metadata:
  name: llm-server
  namespace: serving
  labels: {topofit.io/workload: serving}
spec:
  containers:
    - name: vllm
      image: vllm/vllm-openai:v0.11.0
      resources: {limits: {nvidia.com/gpu: 1}}
`;

describe("runExplain", () => {
  let dir: string;
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const run = async (settings: Partial<ExplainSettings> & { podFile: string }) => {
    let out = "";
    const code = await runExplain({ namespaceLabels: {}, output: "text", ...settings }, (t) => (out += t));
    return { code, out };
  };
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "topofit-explain-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("prints every rule tried with its reason, the patch, and the resulting pod", async () => {
    const { code, out } = await run({ podFile: file("pod.yaml", SERVING_POD) });
    expect(code).toBe(0);
    expect(out).toMatch(/^Pod serving\/llm-server\n/);
    expect(out).toContain("GPUs requested: 1");
    expect(out).toMatch(/✘ training: namespace serving is not in \[ml-train\]/);
    expect(out).toMatch(/✔ inference: matched/);
    expect(out).not.toMatch(/any-gpu/);
    expect(out).toMatch(/JSON patch \(\d+ operations\):/);
    expect(out).toContain('"path":"/metadata/annotations","value":{"topofit.io/rule":"inference"');
    expect(out).toContain('"path":"/spec/priorityClassName","value":"gpu-inference"');
    const resulting = out.slice(out.indexOf("Resulting pod:") + "Resulting pod:".length);
    const pod = parse(resulting.replace(/^ {2}/gm, "")) as { metadata: { annotations: Record<string, string> }; spec: { priorityClassName: string } };
    expect(pod.metadata.annotations["topofit.io/rule"]).toBe("inference");
    expect(pod.spec.priorityClassName).toBe("gpu-inference");
  });

  it("uses --namespace for a manifest without one, and the namespace labels given", async () => {
    const policy = file(
      "policy.yaml",
      "apiVersion: topofit.io/v1alpha1\nkind: PlacementPolicy\nspec:\n  rules:\n    - name: vision\n      match: {namespaceSelector: {matchLabels: {team: vision}}}\n",
    );
    const podFile = file("bare.yaml", SERVING_POD.replace("  namespace: serving\n", ""));
    const matched = await run({ podFile, policyFile: policy, namespace: "lab", namespaceLabels: { team: "vision" }, output: "json" });
    const e = JSON.parse(matched.out) as Explanation;
    expect(e.namespace).toBe("lab");
    expect(e.decision).toBe("matched");
    expect(e.rule).toBe("vision");

    const unmatched = JSON.parse((await run({ podFile, policyFile: policy, namespace: "lab", output: "json" })).out) as Explanation;
    expect(unmatched.decision).toBe("unmatched");
    expect(unmatched.trials).toEqual([{ rule: "vision", matched: false, reason: expect.stringMatching(/^namespaceSelector: label team is absent/) }]);
  });

  it("says why a pod is not mutated when it is skipped", async () => {
    const { code, out } = await run({ podFile: file("cpu.yaml", SERVING_POD.replace("nvidia.com/gpu: 1", "cpu: 1")) });
    expect(code).toBe(0);
    expect(out).toMatch(/not mutated: requests none of nvidia\.com\/gpu/);
  });

  it("writes JSON with the decision, trials, patch and result", async () => {
    const { out } = await run({ podFile: file("pod.json.yaml", SERVING_POD), output: "json" });
    const e = JSON.parse(out) as Explanation;
    expect(e).toMatchObject({ pod: "llm-server", namespace: "serving", decision: "matched", rule: "inference", gpus: 1 });
    expect(e.trials.map((t) => t.rule)).toEqual(["training", "inference"]);
    expect(e.patch.length).toBeGreaterThan(0);
    expect((e.result as { metadata: { annotations: Record<string, string> } }).metadata.annotations["topofit.io/rule"]).toBe("inference");
  });

  it("exits 1 with every error when the policy is invalid", async () => {
    const { code, out } = await run({
      podFile: file("p.yaml", SERVING_POD),
      policyFile: file("bad-policy.yaml", "apiVersion: topofit.io/v1alpha1\nkind: PlacementPolicy\nspec:\n  gpuResources: [gpu]\n  rules: [{name: Bad}]\n"),
    });
    expect(code).toBe(1);
    expect(out).toContain("spec.gpuResources[0]");
    expect(out).toContain("spec.rules[0].name");
  });

  it("exits 1 when the file is not a Pod manifest", async () => {
    const { code, out } = await run({ podFile: file("deploy.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n") });
    expect(code).toBe(1);
    expect(out).toMatch(/does not hold a Pod manifest/);
  });
});

describe("runExplain with --nodes: the scheduler extender's view", () => {
  const fixture = (path: string) => fileURLToPath(new URL(`../../fixtures/${path}`, import.meta.url));
  const TRAINING_POD = fixture("explain/training-pod.yaml");
  const NODES = fixture("explain/nodes.yaml");
  const PODS = fixture("explain/pods.yaml");
  const XID79_SCRAPE = fixture("dcgm/h100-8gpu-xid79.txt");
  let dir: string;
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const run = async (settings: Partial<ExplainSettings>) => {
    let out = "";
    const code = await runExplain({ podFile: TRAINING_POD, namespaceLabels: {}, output: "text", nodesFile: NODES, ...settings }, (t) => (out += t));
    return { code, out };
  };
  const json = async (settings: Partial<ExplainSettings>) => {
    const { code, out } = await run({ ...settings, output: "json" });
    expect(code).toBe(0);
    const e = JSON.parse(out) as Explanation;
    if (!e.extender) throw new Error("no extender section");
    return e.extender;
  };
  const byNode = (nodes: readonly NodeReport[]) => Object.fromEntries(nodes.map((n) => [n.node, n]));
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "topofit-explain-nodes-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("prints each node's verdict, score, GPU set and tiers after the admission decision", async () => {
    const { code, out } = await run({ podsFile: PODS, dcgmFiles: [{ file: XID79_SCRAPE }] });
    expect(code).toBe(0);
    const section = out.slice(out.indexOf("Scheduler extender:"));
    expect(out.indexOf("Resulting pod:")).toBeLessThan(out.indexOf("Scheduler extender:"));
    expect(section).toMatch(/^Scheduler extender: 4 GPUs, placement \{"gpuLinks":"NVLinkRequired","numa":"SingleNode","strategy":"BinPack"\}, from the pod's topofit.io\/placement annotation; group ml-train\/pretrain/);
    expect(section).toContain("4 nodes: 2 passed, 2 filtered");
    // The exact fit (4 free on dgx-h100-02) ranks first: taking 4 of the idle dgx-h100-03 would break its 8-GPU slot.
    expect(section).toMatch(/✔ dgx-h100-02 +score 10 +GPUs \[4,5,6,7\]\n +tuple \(0, 900, 5400, 0, -1, 0, 0, 0\)\n +- GPUs \[4,5,6,7\]: bottleneck 900 GB\/s, total 5400 GB\/s/);
    expect(section).toMatch(/✔ dgx-h100-03 +score +9 +GPUs \[0,1,2,3\]\n +tuple \(0, 900, 5400, -\d+, -1, 0, 0, -4\)/);
    expect(section).toMatch(/✘ dgx-h100-01 +score +0 +filtered \(resolvable: preemption could help\): needs 4 GPUs; 3 free and healthy \(1 GPU unhealthy\)/);
    expect(section).toMatch(/✘ a100-pcie-01 +score +0 +filtered \(unresolvable\): needs 4 NVLink-connected GPUs; largest free NVLink-connected set is 2/);
    expect(section).toContain("topology: profile hgx-h100-8");
    expect(section).toContain("1 GPU pod is not bound to a node, so it holds no GPUs");
  });

  it("writes the same as JSON: passed nodes best first, then filtered ones in file order", async () => {
    const x = await json({ podsFile: PODS, dcgmFiles: [{ file: XID79_SCRAPE }] });
    expect(x).toMatchObject({ gpus: 4, placementSource: "annotation", passThrough: false, group: "ml-train/pretrain" });
    expect(x.nodes.map((n) => [n.node, n.verdict, n.score])).toEqual([
      ["dgx-h100-02", "passed", 10],
      ["dgx-h100-03", "passed", 9],
      ["dgx-h100-01", "filtered", 0],
      ["a100-pcie-01", "filtered", 0],
    ]);
    const nodes = byNode(x.nodes);
    expect(nodes["dgx-h100-02"]).toMatchObject({ gpus: [4, 5, 6, 7], tuple: [0, 900, 5400, 0, -1, 0, 0, 0] });
    expect(nodes["dgx-h100-02"]!.breakdown).toContain("0 GPUs left free (BinPack: fewer is better)");
    expect(nodes["dgx-h100-01"]).toMatchObject({ resolvable: true, dcgm: "fresh" });
    expect(nodes["a100-pcie-01"]).toMatchObject({ resolvable: false, topology: "annotation topofit.io/gpu-topology (4 GPUs)" });
  });

  it("takes the GPUs DCGM shows in use by listed pods as busy, and never an unhealthy one", async () => {
    const pod = file("two.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: default}\nspec:\n  containers: [{name: c, resources: {limits: {nvidia.com/gpu: 3}}}]\n");
    const x = await json({ podFile: pod, podsFile: PODS, dcgmFiles: [{ file: XID79_SCRAPE }] });
    // GPUs 0-3: llm-train-0; 5: a pod the pod list does not have (gone); 6: XID 79.
    expect(byNode(x.nodes)["dgx-h100-01"]).toMatchObject({ verdict: "passed", gpus: [4, 5, 7] });
  });

  it("counts every pod DCGM shows when no pod list is given", async () => {
    const pod = file("three.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: default}\nspec:\n  containers: [{name: c, resources: {limits: {nvidia.com/gpu: 3}}}]\n");
    const x = await json({ podFile: pod, dcgmFiles: [{ file: XID79_SCRAPE }] });
    expect(byNode(x.nodes)["dgx-h100-01"]).toMatchObject({ verdict: "filtered", reason: "needs 3 GPUs; 2 free and healthy (1 GPU unhealthy)" });
  });

  it("files a scrape under the node NODE= names, whatever its Hostname label says", async () => {
    const x = await json({ dcgmFiles: [{ node: "dgx-h100-03", file: XID79_SCRAPE }] });
    expect(byNode(x.nodes)["dgx-h100-03"]).toMatchObject({ verdict: "filtered", dcgm: "fresh" });
    expect(byNode(x.nodes)["dgx-h100-01"]).toMatchObject({ verdict: "passed", gpus: [0, 1, 2, 3] });
  });

  it("reads a NodeList in JSON as kube-scheduler and kubectl write it", async () => {
    const pod = file("infer.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: vllm-0, namespace: serving, labels: {topofit.io/workload: inference}}\nspec:\n  containers: [{name: vllm, resources: {limits: {nvidia.com/gpu: 2}}}]\n");
    const x = await json({ podFile: pod, nodesFile: fixture("extender/nodes.json") });
    expect(x.placement).toEqual({ gpuLinks: "NVLinkPreferred", numa: "Preferred", strategy: "Spread" });
    expect(x.nodes.map((n) => [n.node, n.score])).toEqual([
      ["dgx-h100-01", 10],
      ["dgx-h100-02", 10],
      ["a100-pcie-01", 9],
      ["l40s-01", 8],
      ["cpu-01", 0],
    ]);
    expect(byNode(x.nodes)["cpu-01"]).toMatchObject({ verdict: "filtered", resolvable: false, reason: "node has no GPUs in status.allocatable" });
  });

  it("uses the policy's defaultPlacement for a GPU pod the webhook skips", async () => {
    const pod = file("system.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: dcgm-probe, namespace: kube-system}\nspec:\n  containers: [{name: c, resources: {limits: {nvidia.com/gpu: 1}}}]\n");
    const { out } = await run({ podFile: pod });
    expect(out).toMatch(/not mutated: /);
    expect(out).toContain('Scheduler extender: 1 GPU, placement {"gpuLinks":"Any","numa":"Any","strategy":"BinPack"}, the policy\'s defaultPlacement');
  });

  it("says every node passes untouched for a pod without GPUs", async () => {
    const { code, out } = await run({ podFile: file("cpu.yaml", SERVING_POD.replace("nvidia.com/gpu: 1", "cpu: 1")) });
    expect(code).toBe(0);
    expect(out).toContain("Scheduler extender: the pod asks for no GPUs; every node passes untouched");
  });

  it("warns about inputs that do not fit together, without failing", async () => {
    const pods = file("stray-pods.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: x, namespace: ml}\nspec:\n  nodeName: gone-node\n  containers: [{name: c, resources: {limits: {nvidia.com/gpu: 1}}}]\n");
    const x = await json({ podsFile: pods, dcgmFiles: [{ node: "elsewhere", file: XID79_SCRAPE }] });
    expect(x.warnings).toEqual(["pod ml/x is bound to gone-node, which is not among the nodes given", "DCGM data for elsewhere, which is not among the nodes given"]);
  });

  it("passes on a malformed topology annotation as a warning and falls back to the next source", async () => {
    const nodes = file(
      "bad-annotation.yaml",
      "apiVersion: v1\nkind: Node\nmetadata:\n  name: odd-01\n  labels: {nvidia.com/gpu.count: '2'}\n  annotations: {topofit.io/gpu-topology: 'not json'}\nstatus: {allocatable: {nvidia.com/gpu: '2'}}\n",
    );
    const x = await json({ nodesFile: nodes });
    expect(x.warnings.some((w) => w.startsWith("node odd-01: "))).toBe(true);
    expect(x.nodes[0]).toMatchObject({ node: "odd-01", verdict: "filtered" });
  });

  it("with --dra, judges DRA nodes by their ResourceSlices and claims, and a claim pod by its claim", async () => {
    const node = (name: string) => ({
      apiVersion: "v1",
      kind: "Node",
      metadata: { name, labels: { "nvidia.com/gpu.product": "NVIDIA-A100-PCIE-80GB", "nvidia.com/gpu.count": "4" } },
      status: { allocatable: { cpu: "64" } },
    });
    const nodes = file("dra-nodes.yaml", stringify({ apiVersion: "v1", kind: "List", items: [node("dra-a"), node("dra-b")] }));
    // As `kubectl get resourceslices,resourceclaims -A -o yaml` writes it: one List of both kinds.
    const items = [
      { apiVersion: "resource.k8s.io/v1", kind: "ResourceSlice", ...resourceSlice("dra-a", gpuDevices("dra-a", 4)) },
      { apiVersion: "resource.k8s.io/v1", kind: "ResourceSlice", ...resourceSlice("dra-b", gpuDevices("dra-b", 4)) },
      { apiVersion: "resource.k8s.io/v1", kind: "ResourceClaim", ...resourceClaim("ml/filler", { gpus: 1, node: "dra-a", allocated: ["gpu-0"] }) },
      { apiVersion: "resource.k8s.io/v1", kind: "ResourceClaim", ...resourceClaim("ml/train-gpus-x1", { gpus: 2 }) },
    ];
    const dra = file("dra.yaml", stringify({ apiVersion: "v1", kind: "List", items }));
    const pod = file(
      "claim-pod.yaml",
      stringify({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "train", namespace: "ml", annotations: { "topofit.io/placement": '{"gpuLinks":"NVLinkRequired","numa":"Any","strategy":"BinPack"}' } },
        spec: { resourceClaims: [{ name: "gpus", resourceClaimTemplateName: "two" }], containers: [{ name: "c", resources: { claims: [{ name: "gpus" }] } }] },
        status: { resourceClaimStatuses: [{ name: "gpus", resourceClaimName: "train-gpus-x1" }] },
      }),
    );
    const x = await json({ podFile: pod, nodesFile: nodes, draFile: dra });
    expect(x.gpus).toBe(2);
    expect(x.warnings).toEqual([]);
    expect(byNode(x.nodes)["dra-b"]).toMatchObject({ verdict: "passed", gpus: [0, 1] });
    expect(byNode(x.nodes)["dra-a"]).toMatchObject({
      verdict: "filtered",
      reason: "needs 2 GPUs NVLink-connected; the DRA allocator would take the first free devices (gpu-1, gpu-2), which are not",
    });
    const missing = await json({ podFile: pod, nodesFile: nodes, draFile: file("slices-only.yaml", stringify({ kind: "ResourceSliceList", items: items.slice(0, 2) })) });
    expect(missing.warnings).toEqual(["the pod names 1 ResourceClaim(s) not in --dra (give them, or the pod's status.resourceClaimStatuses)"]);
  });

  it.each<[string, string, RegExp]>([
    ["holds a Deployment", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n", /holds a Deployment; expected Node, NodeList or List/],
    ["holds no Node", "# nothing here\n", /holds no Node objects/],
    ["is not YAML", "items: [\n", /is not valid YAML or JSON/],
    ["lists a Pod among its items", "apiVersion: v1\nkind: List\nitems: [{kind: Pod, metadata: {name: p}}]\n", /an item is a Pod, not a Node/],
  ])("exits 1 when the nodes file %s", async (_name, text, message) => {
    const { code, out } = await run({ nodesFile: file("bad-nodes.yaml", text) });
    expect(code).toBe(1);
    expect(out).toMatch(message);
  });
});
