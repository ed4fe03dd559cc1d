import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fetchScrapeGet, httpScrapeGet, type ScrapeGet } from "../../../src/topology/dcgm-http.js";
import { startFakeDcgmExporter, type FakeDcgmExporter } from "../../builders/fake-dcgm-exporter.js";

let exporter: FakeDcgmExporter;
const own = httpScrapeGet(4);

beforeAll(async () => {
  exporter = await startFakeDcgmExporter();
  exporter.set("ok", "DCGM_FI_DEV_GPU_UTIL{gpu=\"0\"} 5\n");
  exporter.set("chunked", { kind: "body", body: "DCGM_FI_DEV_GPU_UTIL{gpu=\"0\"} 7\n", chunked: true });
  exporter.set("missing", { kind: "body", body: "no", status: 404 });
  exporter.set("big", { kind: "flood", bytes: 256 * 1024 });
});

afterAll(async () => {
  own.close();
  await exporter.close();
});

const clients: [string, ScrapeGet][] = [
  ["topofit's own client", own.get],
  ["a fetch function", fetchScrapeGet((url, init) => fetch(url, init))],
];

describe.each(clients)("scraping through %s", (_name, get) => {
  const signal = () => new AbortController().signal;

  it("reads a body, with its declared length when the exporter sends one", async () => {
    const a = await get(exporter.url("ok"), signal());
    expect(a.status).toBe(200);
    expect(a.declaredBytes).toBe(32);
    expect(Buffer.from((await a.read(1024))!).toString()).toBe('DCGM_FI_DEV_GPU_UTIL{gpu="0"} 5\n');
    const c = await get(exporter.url("chunked"), signal());
    expect(c.declaredBytes).toBeUndefined();
    expect(Buffer.from((await c.read(1024))!).toString()).toContain("} 7");
  });

  it("gives the status of an error answer, and drops its body on request", async () => {
    const a = await get(exporter.url("missing"), signal());
    expect(a.status).toBe(404);
    await expect(a.discard()).resolves.toBeUndefined();
  });

  it("stops reading a body past the limit", async () => {
    const a = await get(exporter.url("big"), signal());
    await expect(a.read(64 * 1024)).resolves.toBeUndefined();
  });

  it("rejects when the signal aborts before the exporter answers", async () => {
    exporter.set("hang", { kind: "hang" });
    const controller = new AbortController();
    const pending = get(exporter.url("hang"), controller.signal);
    setTimeout(() => controller.abort(), 20);
    await expect(pending).rejects.toThrow();
  });
});
