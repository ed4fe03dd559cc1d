// The caller half of `npm run bench:extender`: plays kube-scheduler against
// the server, one call at a time over one kept-alive TLS connection, in a
// process of its own that holds nothing but the request bodies. The parent,
// which builds the fleet and serves every node's dcgm-exporter, has a heap of
// hundreds of MiB; a collection there takes milliseconds, and made in the
// middle of a timed call it would be counted as the extender's latency.
//
// Arguments: port, fleet size, mode (names | objects), pods to time. It
// makes 10 warm-up pods, sends {warm}, waits for "go", times the rest and
// sends {result} (latencies per route in ms, its own GC pauses), then exits.
import type { NodeWire } from "../../src/extender/schema.js";
import { makeFleet, podWire } from "./fleet.js";
import { gcCounter, type GcSummary } from "./gc.js";
import { ConnectionPool } from "./webhook-client.js";

const PLACEMENTS = [
  '{"gpuLinks":"NVLinkRequired","numa":"SingleNode","strategy":"BinPack"}',
  '{"gpuLinks":"NVLinkPreferred","numa":"Preferred","strategy":"Spread"}',
  '{"gpuLinks":"Any","numa":"Any","strategy":"BinPack"}',
];
const SIZES_OF_POD = [1, 2, 4, 8];
const WARM_UP = 10;

export interface CallerResult {
  readonly lat: { readonly noop: number[]; readonly filter: number[]; readonly prioritize: number[] };
  readonly gc: GcSummary;
}

async function main(): Promise<void> {
  const [port, size, mode, count] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4] as "names" | "objects", Number(process.argv[5])];
  const nodes: NodeWire[] = makeFleet(size).map((n) => n.wire);
  const names = nodes.map((n) => n.metadata!.name!);
  const items = mode === "objects" ? { metadata: {}, items: nodes } : undefined;
  const encode = (i: number) => {
    const pod = podWire(`${size}-${mode}-${i}`, SIZES_OF_POD[i % 4]!, PLACEMENTS[i % 3]!);
    return Buffer.from(JSON.stringify(items === undefined ? { Pod: pod, Nodes: null, NodeNames: names } : { Pod: pod, Nodes: items, NodeNames: null }));
  };
  // Names-mode bodies are all encoded before the first call; a full-Nodes body
  // runs to megabytes, so each of those is encoded just before its calls.
  const bodies = mode === "names" ? Array.from({ length: count + WARM_UP }, (_, i) => encode(i)) : [];
  const pool = await ConnectionPool.open("127.0.0.1", port, 1);
  const gc = gcCounter();
  const lat = { noop: [] as number[], filter: [] as number[], prioritize: [] as number[] };
  const call = async (path: string, body: Buffer) => {
    const t0 = performance.now();
    const reply = await pool.post(path, [body]);
    if (reply.status !== 200) throw new Error(`HTTP ${reply.status} from ${path} at ${size} nodes (${mode})`);
    return performance.now() - t0;
  };
  for (let i = 0; i < count + WARM_UP; i++) {
    if (i === WARM_UP) {
      globalThis.gc?.();
      await new Promise<void>((resolve) => {
        process.once("message", () => resolve());
        process.send?.({ warm: true });
      });
      gc.take();
    }
    const body = bodies[i] ?? encode(i);
    const b = await call("/noop", body);
    const f = await call("/filter", body);
    const p = await call("/prioritize", body);
    if (i < WARM_UP) continue;
    lat.noop.push(b);
    lat.filter.push(f);
    lat.prioritize.push(p);
  }
  pool.close();
  const result: CallerResult = { lat, gc: gc.take() };
  process.send?.({ result }, () => process.exit(0));
}

await main();
