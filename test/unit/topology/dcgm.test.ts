import { describe, expect, it } from "vitest";
import {
  BENIGN_XIDS,
  DEFAULT_DCGM_HEALTH_RULES,
  XID_TABLE,
  describeXid,
  evaluateGpuHealth,
  groupReadingsByNode,
  readDcgmExposition,
  readDcgmGpus,
  resolveDcgmHealthRules,
  type DcgmGpuReading,
  type DcgmHealthRules,
} from "../../../src/topology/dcgm.js";
import { parseExposition } from "../../../src/topology/exposition.js";
import { dcgmFixture, type DcgmFixture } from "../../fixtures/load.js";

/**
 * Reads `text` both ways the code does: from parsed samples (explain), and in
 * place as a scrape does (readDcgmExposition). The two must agree on every
 * case below.
 */
function read(text: string, options = {}) {
  const viaSamples = readDcgmGpus(parseExposition(text).samples, options);
  expect(readDcgmExposition(text, {}, options).read).toEqual(viaSamples);
  return viaSamples;
}
const fixtureGpus = (name: DcgmFixture) => read(dcgmFixture(name));

const GPU0 = 'gpu="0",UUID="GPU-aaa",pci_bus_id="00000000:1B:00.0",device="nvidia0",modelName="NVIDIA H100 80GB HBM3"';

function reading(over: Partial<DcgmGpuReading> = {}): DcgmGpuReading {
  return { node: "n1", gpuIndex: 0, uuid: "GPU-aaa", pods: [], migInstances: [], lastXid: 0, temperature: 40, ...over };
}

describe("readDcgmGpus on the 8×H100 fixture (Hostname, release 4.5.3 format)", () => {
  const out = fixtureGpus("h100-8gpu-xid79");
  const gpu = (i: number) => out.gpus.find((g) => g.gpuIndex === i);

  it("finds eight GPUs on node dgx-h100-01, in index order, without issues", () => {
    expect(out.gpus.map((g) => [g.node, g.gpuIndex])).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((i) => ["dgx-h100-01", i]));
    expect(out.issues).toEqual([]);
    expect(out.hostnames).toEqual(["dgx-h100-01"]);
  });

  it("normalises every PCI bus id", () => {
    expect(out.gpus.map((g) => g.pciBusId)).toEqual([
      "0000:1b:00.0",
      "0000:43:00.0",
      "0000:52:00.0",
      "0000:61:00.0",
      "0000:9d:00.0",
      "0000:c3:00.0",
      "0000:d1:00.0",
      "0000:df:00.0",
    ]);
  });

  it("reads identity, load and health fields of a busy GPU", () => {
    const g = gpu(0);
    expect(g?.uuid).toBe("GPU-6cad4a26-8d11-4ece-9738-f7d93d9c1724");
    expect(g?.modelName).toBe("NVIDIA H100 80GB HBM3");
    expect(g?.utilization).toBe(97);
    expect(g?.fbUsedMiB).toBeGreaterThan(70000);
    expect((g?.fbUsedMiB ?? 0) + (g?.fbFreeMiB ?? 0)).toBe(81559 - 530);
    expect(g?.temperature).toBeGreaterThan(50);
    expect(g?.lastXid).toBe(0);
    expect(g?.rowRemapFailure).toBe(0);
    expect(g?.uncorrectableRemappedRows).toBe(0);
    expect(g?.migInstances).toEqual([]);
  });

  it.each([
    [0, ["ml-team/llm-train-0"]],
    [3, ["ml-team/llm-train-0"]],
    [4, []],
    [5, ["serving/vllm-llama-8b-6d9f8c7b5-x2k9q"]],
    [7, []],
  ])("attributes GPU %i to pods %j", (i, pods) => {
    expect(gpu(i)?.pods).toEqual(pods);
  });

  it("reads the GPU that fell off the bus with its XID and no blanked fields", () => {
    const g = gpu(6);
    expect(g?.lastXid).toBe(79);
    expect(g?.utilization).toBeUndefined();
    expect(g?.temperature).toBeUndefined();
    expect(g?.fbUsedMiB).toBeUndefined();
  });

  it("finds only GPU 6 unhealthy, because of XID 79", () => {
    const conditions = out.gpus.map((g) => evaluateGpuHealth(g, undefined));
    expect(conditions.map((c) => c.healthy)).toEqual([true, true, true, true, true, true, false, true]);
    expect(conditions[6]?.reasons).toEqual(["XID 79 (GPU has fallen off the bus)"]);
  });
});

describe("readDcgmGpus on the fixture with a lower-case hostname label", () => {
  const out = fixtureGpus("h100-8gpu-lowercase-hostname");

  it("attributes all eight GPUs to dgx-h100-02", () => {
    expect(out.gpus).toHaveLength(8);
    expect(new Set(out.gpus.map((g) => g.node))).toEqual(new Set(["dgx-h100-02"]));
  });

  it("skips the per-link NVLink series", () => {
    expect(out.issues).toEqual([]);
    expect(out.gpus.every((g) => g.modelName === "NVIDIA H100 80GB HBM3")).toBe(true);
  });

  it("counts the benign XID 13 on GPU 2 as healthy and attributes its pod", () => {
    const g2 = out.gpus[2]!;
    expect(g2.lastXid).toBe(13);
    const c = evaluateGpuHealth(g2, undefined);
    expect(c.healthy).toBe(true);
    expect(c.pods).toEqual(["research/jupyter-alice-0"]);
  });
});

describe("readDcgmGpus on the MIG fixture", () => {
  const out = fixtureGpus("a100-mig");
  const [mig, whole] = out.gpus;

  it("yields one reading per physical GPU", () => {
    expect(out.gpus.map((g) => [g.node, g.gpuIndex, g.pciBusId])).toEqual([
      ["a100-mig-01", 0, "0000:07:00.0"],
      ["a100-mig-01", 1, "0000:0f:00.0"],
    ]);
  });

  it("records the MIG instances with their profiles, values and pods", () => {
    expect(mig?.migInstances.map((m) => [m.instanceId, m.profile, m.fbUsedMiB, m.pods])).toEqual([
      ["1", "3g.40gb", 30377, ["serving/triton-small-0"]],
      ["2", "3g.40gb", 0, []],
    ]);
  });

  it("keeps instance pods off the whole-GPU pod list but puts them on the GPU's condition", () => {
    expect(mig?.pods).toEqual([]);
    expect(evaluateGpuHealth(mig!, undefined).pods).toEqual(["serving/triton-small-0"]);
  });

  it("takes device-wide fields of a MIG GPU from its instances, and sums their framebuffer", () => {
    expect(mig?.temperature).toBe(47);
    expect(mig?.lastXid).toBe(0);
    expect(mig?.fbUsedMiB).toBe(30377);
    expect(mig?.fbFreeMiB).toBe(9861 + 40238);
    expect(mig?.utilization).toBeUndefined();
  });

  it("reads the non-MIG GPU beside it as usual", () => {
    expect(whole?.migInstances).toEqual([]);
    expect(whole?.utilization).toBe(71);
    expect(whole?.pods).toEqual(["batch/etl-nightly-28xq7"]);
  });
});

describe("readDcgmGpus label handling", () => {
  it.each([
    ["Hostname", "Hostname"],
    ["hostname", "hostname"],
  ])("takes the node from the %s label", (_what, labelName) => {
    const out = read(`DCGM_FI_DEV_GPU_UTIL{${GPU0},${labelName}="node-a"} 5\n`);
    expect(out.gpus.map((g) => g.node)).toEqual(["node-a"]);
  });

  it("lets the endpoint's node name override the hostname label and reports the label", () => {
    const out = read(`DCGM_FI_DEV_GPU_UTIL{${GPU0},hostname="dcgm-exporter-wwwjh"} 5\n`, { node: "gpu-node-7" });
    expect(out.gpus.map((g) => g.node)).toEqual(["gpu-node-7"]);
    expect(out.hostnames).toEqual(["dcgm-exporter-wwwjh"]);
  });

  it("uses the endpoint's node name when the series carry no hostname", () => {
    expect(read(`DCGM_FI_DEV_GPU_UTIL{${GPU0}} 5\n`, { node: "gpu-node-7" }).gpus[0]?.node).toBe("gpu-node-7");
  });

  it("skips and counts GPU series for which no node can be told", () => {
    const out = read(`DCGM_FI_DEV_GPU_UTIL{${GPU0}} 5\nDCGM_FI_DEV_GPU_TEMP{${GPU0}} 40\n`);
    expect(out.gpus).toEqual([]);
    expect(out.unattributedSeries).toBe(2);
  });

  it.each([
    ["the DCGM form", "00000000:1B:00.0", "0000:1b:00.0"],
    ["the DRA form", "0000:1b:00.0", "0000:1b:00.0"],
    ["a non-zero domain", "00000001:AF:00.1", "0001:af:00.1"],
  ])("normalises a PCI bus id in %s", (_what, raw, normalised) => {
    const out = read(`DCGM_FI_DEV_GPU_UTIL{gpu="0",pci_bus_id="${raw}",Hostname="n"} 1\n`);
    expect(out.gpus[0]?.pciBusId).toBe(normalised);
  });

  it("reports a PCI bus id it cannot read and leaves it out", () => {
    const out = read(`DCGM_FI_DEV_GPU_UTIL{gpu="0",pci_bus_id="bogus",Hostname="n"} 1\n`);
    expect(out.gpus[0]?.pciBusId).toBeUndefined();
    expect(out.issues).toEqual(['GPU 0 on node n: pci_bus_id "bogus" is not a PCI bus id']);
  });

  it.each([
    ["pod and namespace labels", 'container="c",namespace="ns",pod="p"', ["ns/p"]],
    ["the old-namespace labels", 'container_name="c",pod_namespace="ns",pod_name="p"', ["ns/p"]],
    ["empty pod labels", 'container="",namespace="",pod=""', []],
    ["no pod labels", "", []],
    ["a pod without a namespace", 'pod="p"', ["p"]],
  ])("attributes pods from %s", (_what, podLabels, pods) => {
    const out = read(`DCGM_FI_DEV_GPU_UTIL{${GPU0},Hostname="n"${podLabels ? `,${podLabels}` : ""}} 1\n`);
    expect(out.gpus[0]?.pods).toEqual(pods);
  });

  it("attributes a shared GPU to every pod, once each, sorted", () => {
    const out = read(
      [
        `DCGM_FI_DEV_GPU_UTIL{${GPU0},Hostname="n",namespace="b",pod="y"} 40`,
        `DCGM_FI_DEV_GPU_UTIL{${GPU0},Hostname="n",namespace="a",pod="x"} 40`,
        `DCGM_FI_DEV_FB_USED{${GPU0},Hostname="n",namespace="a",pod="x"} 1000`,
      ].join("\n"),
    );
    expect(out.gpus[0]?.pods).toEqual(["a/x", "b/y"]);
    expect(out.gpus[0]?.utilization).toBe(40);
  });

  it("reads the old-namespace uuid label", () => {
    expect(read('DCGM_FI_DEV_GPU_UTIL{gpu="0",uuid="GPU-old",Hostname="n"} 1\n').gpus[0]?.uuid).toBe("GPU-old");
  });

  it.each([
    ["an NVLink series", 'DCGM_FI_DEV_NVLINK_BANDWIDTH_L0{gpu="0",nvlink="0",hostname="n"} 1'],
    ["an NVSwitch series", 'DCGM_FI_DEV_NVSWITCH_TEMPERATURE_CURRENT{nvswitch="0",gpu="0",Hostname="n"} 40'],
    ["a CPU series", 'DCGM_FI_DEV_CPU_UTIL_TOTAL{cpu="0",Hostname="n"} 0.5'],
    ["a non-DCGM series", 'process_cpu_seconds_total{gpu="0",Hostname="n"} 3'],
  ])("skips %s", (_what, line) => {
    expect(read(`${line}\n`).gpus).toEqual([]);
  });

  it("reports a gpu label that is not an index", () => {
    const out = read('DCGM_FI_DEV_GPU_UTIL{gpu="x",Hostname="n"} 1\n');
    expect(out.gpus).toEqual([]);
    expect(out.issues).toEqual(['DCGM_FI_DEV_GPU_UTIL: gpu label "x" is not a GPU index']);
  });

  it("keeps the first UUID of a GPU index and reports the second", () => {
    const out = read(
      'DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-a",Hostname="n"} 1\nDCGM_FI_DEV_GPU_TEMP{gpu="0",UUID="GPU-b",Hostname="n"} 40\n',
    );
    expect(out.gpus[0]?.uuid).toBe("GPU-a");
    expect(out.issues).toEqual(["GPU 0 on node n: UUID GPU-b differs from GPU-a seen first; keeping GPU-a"]);
  });

  it.each([
    ["DCGM's int64 blank", "9223372036854775794"],
    ["DCGM's int32 blank", "2147483632"],
    ["NaN", "NaN"],
    ["+Inf", "+Inf"],
  ])("drops %s as no data", (_what, value) => {
    const out = read(`DCGM_FI_DEV_XID_ERRORS{${GPU0},Hostname="n"} ${value}\n`);
    expect(out.gpus[0]?.lastXid).toBeUndefined();
  });

  it("prefers a whole-GPU value over the instances' values", () => {
    const out = read(
      [
        `DCGM_FI_DEV_GPU_TEMP{${GPU0},Hostname="n"} 60`,
        `DCGM_FI_DEV_GPU_TEMP{${GPU0},GPU_I_PROFILE="1g.10gb",GPU_I_ID="7",Hostname="n"} 95`,
      ].join("\n"),
    );
    expect(out.gpus[0]?.temperature).toBe(60);
    expect(out.gpus[0]?.migInstances[0]?.temperature).toBe(95);
  });

  it("marks a MIG GPU unhealthy when its XID shows only on instance series", () => {
    const out = read(
      [
        `DCGM_FI_DEV_XID_ERRORS{${GPU0},GPU_I_PROFILE="1g.10gb",GPU_I_ID="7",Hostname="n"} 0`,
        `DCGM_FI_DEV_XID_ERRORS{${GPU0},GPU_I_PROFILE="1g.10gb",GPU_I_ID="8",Hostname="n"} 95`,
      ].join("\n"),
    );
    const c = evaluateGpuHealth(out.gpus[0]!, undefined);
    expect(c.reasons).toEqual(["XID 95 (uncontained memory error)"]);
  });

  it("orders MIG instances by numeric id", () => {
    const lines = ["10", "9", "2"].map((id) => `DCGM_FI_DEV_FB_USED{${GPU0},GPU_I_PROFILE="1g.10gb",GPU_I_ID="${id}",Hostname="n"} 1`);
    expect(read(lines.join("\n")).gpus[0]?.migInstances.map((m) => m.instanceId)).toEqual(["2", "9", "10"]);
  });

  it("groups readings by node", () => {
    const out = read(
      ['DCGM_FI_DEV_GPU_UTIL{gpu="1",Hostname="b"} 1', 'DCGM_FI_DEV_GPU_UTIL{gpu="0",Hostname="a"} 1', 'DCGM_FI_DEV_GPU_UTIL{gpu="0",Hostname="b"} 1'].join("\n"),
    );
    const groups = groupReadingsByNode(out.gpus);
    expect([...groups].map(([n, gs]) => [n, gs.map((g) => g.gpuIndex)])).toEqual([
      ["a", [0]],
      ["b", [0, 1]],
    ]);
  });
});

describe("evaluateGpuHealth", () => {
  it.each([
    [79, "XID 79 (GPU has fallen off the bus)"],
    [48, "XID 48 (uncorrectable double-bit ECC error)"],
    [74, "XID 74 (NVLink error)"],
    [94, "XID 94 (contained memory error)"],
    [95, "XID 95 (uncontained memory error)"],
    [119, "XID 119 (GSP firmware RPC timeout)"],
    [200, "XID 200"],
  ])("marks a GPU whose last XID is %i unhealthy: %s", (xid, reason) => {
    const c = evaluateGpuHealth(reading({ lastXid: xid }), undefined);
    expect(c.healthy).toBe(false);
    expect(c.reasons).toEqual([reason]);
  });

  it.each(BENIGN_XIDS.map((x) => [x]))("keeps a GPU whose last XID is the benign %i healthy", (xid) => {
    expect(evaluateGpuHealth(reading({ lastXid: xid }), undefined)).toMatchObject({ healthy: true, reasons: [] });
  });

  it.each([
    ["no XID (0)", reading({ lastXid: 0 })],
    ["no XID sample at all", reading({ lastXid: undefined })],
  ])("keeps a GPU with %s healthy", (_what, r) => {
    expect(evaluateGpuHealth(r, undefined).healthy).toBe(true);
  });

  it.each<[string, Partial<DcgmHealthRules>, number, boolean]>([
    ["a custom benign list that includes it", { benignXids: [79] }, 79, true],
    ["a custom benign list that leaves 13 out", { benignXids: [] }, 13, false],
    ["the XID rule off", { xidErrors: false }, 79, true],
  ])("honours %s", (_what, rules, xid, healthy) => {
    expect(evaluateGpuHealth(reading({ lastXid: xid }), undefined, resolveDcgmHealthRules(rules)).healthy).toBe(healthy);
  });

  it.each<[string, Partial<DcgmGpuReading>, Partial<DcgmHealthRules>, readonly string[]]>([
    ["a row remap failure", { rowRemapFailure: 1 }, {}, ["row remap failure"]],
    ["no row remap failure", { rowRemapFailure: 0 }, {}, []],
    ["a row remap failure with the rule off", { rowRemapFailure: 1 }, { rowRemapFailure: false }, []],
    ["93 °C", { temperature: 93 }, {}, ["temperature 93 °C over the 90 °C limit"]],
    ["exactly the limit", { temperature: 90 }, {}, []],
    ["a fractional temperature", { temperature: 90.46 }, {}, ["temperature 90.5 °C over the 90 °C limit"]],
    ["85 °C with an 80 °C limit", { temperature: 85 }, { maxTemperatureC: 80 }, ["temperature 85 °C over the 80 °C limit"]],
    ["120 °C with the temperature rule off", { temperature: 120 }, { maxTemperatureC: null }, []],
    ["no temperature sample", { temperature: undefined }, {}, []],
  ])("reasons about %s", (_what, over, rules, reasons) => {
    const c = evaluateGpuHealth(reading(over), undefined, resolveDcgmHealthRules(rules));
    expect(c.reasons).toEqual(reasons);
    expect(c.healthy).toBe(reasons.length === 0);
  });

  it.each<[string, number | undefined, number | undefined, string | undefined, readonly string[]]>([
    ["rows that rose", 2, 3, undefined, ["uncorrectable remapped rows rose from 2 to 3"]],
    ["rows that stayed", 3, 3, undefined, []],
    ["rows that fell (a counter reset)", 3, 0, undefined, []],
    ["no previous count", undefined, 5, undefined, []],
    ["a previous reading of another GPU", 0, 5, "GPU-other", []],
  ])("compares uncorrectable remapped rows with the previous reading: %s", (_what, before, now, prevUuid, reasons) => {
    const previous = reading({ uncorrectableRemappedRows: before, ...(prevUuid ? { uuid: prevUuid } : {}) });
    expect(evaluateGpuHealth(reading({ uncorrectableRemappedRows: now }), previous).reasons).toEqual(reasons);
  });

  it("ignores rising rows when that rule is off", () => {
    const c = evaluateGpuHealth(
      reading({ uncorrectableRemappedRows: 3 }),
      reading({ uncorrectableRemappedRows: 2 }),
      resolveDcgmHealthRules({ uncorrectableRemappedRowsRising: false }),
    );
    expect(c.healthy).toBe(true);
  });

  it("lists every reason, XID first and temperature last", () => {
    const c = evaluateGpuHealth(
      reading({ lastXid: 48, rowRemapFailure: 1, uncorrectableRemappedRows: 4, temperature: 95 }),
      reading({ uncorrectableRemappedRows: 1 }),
    );
    expect(c.reasons).toEqual([
      "XID 48 (uncorrectable double-bit ECC error)",
      "row remap failure",
      "uncorrectable remapped rows rose from 1 to 4",
      "temperature 95 °C over the 90 °C limit",
    ]);
  });

  it("carries utilisation, memory used and pods into the condition", () => {
    const c = evaluateGpuHealth(reading({ utilization: 55, fbUsedMiB: 1234, pods: ["a/x"] }), undefined);
    expect(c).toEqual({ healthy: true, reasons: [], utilization: 55, memoryUsedMiB: 1234, pods: ["a/x"] });
  });

  it("leaves load out of the condition when DCGM sent none", () => {
    const c = evaluateGpuHealth(reading(), undefined);
    expect("utilization" in c).toBe(false);
    expect("memoryUsedMiB" in c).toBe(false);
  });
});

describe("health rule defaults and the XID table", () => {
  it("defaults to the device plugin's benign XIDs and a 90 °C limit", () => {
    expect(DEFAULT_DCGM_HEALTH_RULES).toEqual({
      xidErrors: true,
      benignXids: [13, 31, 43, 45, 68, 109],
      rowRemapFailure: true,
      uncorrectableRemappedRowsRising: true,
      maxTemperatureC: 90,
    });
  });

  it("lays given rules over the defaults", () => {
    expect(resolveDcgmHealthRules({ maxTemperatureC: 85 })).toEqual({ ...DEFAULT_DCGM_HEALTH_RULES, maxTemperatureC: 85 });
  });

  it.each([
    [79, "XID 79 (GPU has fallen off the bus)"],
    [13, "XID 13 (graphics engine exception)"],
    [1, "XID 1"],
  ])("describes XID %i as %j", (xid, text) => {
    expect(describeXid(xid)).toBe(text);
  });

  it("names every benign XID in the table", () => {
    for (const x of BENIGN_XIDS) expect(XID_TABLE.has(x)).toBe(true);
    expect(XID_TABLE.get(79)?.mnemonic).toBe("ROBUST_CHANNEL_GPU_HAS_FALLEN_OFF_THE_BUS");
  });
});
