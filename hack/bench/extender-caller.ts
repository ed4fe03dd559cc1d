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
  // Only what the calls need stays reachable: the Node objects only for full-Nodes calls (a
  // caller's collections walk its whole heap, and they fall inside the calls it times).
  const { names, items } = ((): { names: string[]; items: { metadata: object; items: NodeWire[] } | undefined } => {
    const nodes: NodeWire[] = makeFleet(size).map((n) => n.wire);
    return { names: nodes.map((n) => n.metadata!.name!), items: mode === "objects" ? { metadata: {}, items: nodes } : undefined };
  })();
  const podOf = (i: number) => podWire(`${size}-${mode}-${i}`, SIZES_OF_POD[i % 4]!, PLACEMENTS[i % 3]!);
  // A names-mode body is the pod's part, made before the first call, then the list, one Buffer
  // shared by every call (sent as two parts, never concatenated): the caller makes no garbage
  // of the list's size while it times. A full-Nodes body runs to megabytes, so each of those
  // is encoded just before its calls.
  const namesTail = Buffer.from(`${JSON.stringify(names)}}`);
  const heads = mode === "names" ? Array.from({ length: count + WARM_UP }, (_, i) => Buffer.from(`{"Pod":${JSON.stringify(podOf(i))},"Nodes":null,"NodeNames":`)) : [];
  const body = (i: number): Buffer[] =>
    items === undefined ? [heads[i]!, namesTail] : [Buffer.from(JSON.stringify({ Pod: podOf(i), Nodes: items, NodeNames: null }))];
  const pool = await ConnectionPool.open("127.0.0.1", port, 1);
  const gc = gcCounter();
  const lat = { noop: [] as number[], filter: [] as number[], prioritize: [] as number[] };
  const call = async (path: string, parts: readonly Buffer[]) => {
    const t0 = performance.now();
    const reply = await pool.post(path, parts);
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
    const parts = body(i);
    const b = await call("/noop", parts);
    const f = await call("/filter", parts);
    const p = await call("/prioritize", parts);
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
