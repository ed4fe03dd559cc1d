// The load generator's HTTP client for `npm run bench:webhook`: a pool of
// kept-alive TLS connections speaking plain HTTP/1.1, one request at a time per
// connection, as kube-apiserver's client does with a webhook. Hand-written
// rather than node:https so that the generator, which shares the machine with
// the server it measures, spends as little CPU and makes as little garbage as
// it can: its own pauses would otherwise show up as the server's latency.
import { connect, type TLSSocket } from "node:tls";

export interface Reply {
  readonly status: number;
  /** Body length in bytes. */
  readonly bytes: number;
}

const HEADER_END = Buffer.from("\r\n\r\n");
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*(\d+)/i;

class Connection {
  /** The start of a response head that has not arrived whole yet. */
  private head: Buffer | undefined;
  /** Body bytes still to come; -1 while the head is being read. */
  private remaining = -1;
  private bodyBytes = 0;
  private status = 0;
  private pending: { resolve: (r: Reply) => void; reject: (e: Error) => void } | undefined;

  constructor(private readonly socket: TLSSocket) {
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    const fail = (err: Error) => {
      const p = this.pending;
      this.pending = undefined;
      p?.reject(err);
    };
    socket.on("error", fail);
    socket.on("close", () => fail(new Error("connection closed by the server")));
  }

  /** Writes `parts` as one request (the socket gathers them into one TLS record). */
  send(parts: readonly (string | Buffer)[]): Promise<Reply> {
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.socket.cork();
      for (const p of parts) this.socket.write(p);
      this.socket.uncork();
    });
  }

  /**
   * Reads one response. Only the head is ever buffered: body bytes are counted
   * as they arrive and dropped, so a reply of any size costs no copies. One
   * request at a time per connection, so nothing after the body can follow.
   */
  private receive(chunk: Buffer): void {
    let body = chunk;
    if (this.remaining < 0) {
      const buf = this.head ? Buffer.concat([this.head, chunk]) : chunk;
      const end = buf.indexOf(HEADER_END);
      if (end < 0) {
        this.head = buf;
        return;
      }
      this.head = undefined;
      const head = buf.toString("latin1", 0, end);
      this.status = Number(head.slice(9, 12));
      const length = CONTENT_LENGTH.exec(head);
      if (!length) {
        this.pending?.reject(new Error(`response without Content-Length: ${head.split("\r\n", 1)[0]}`));
        this.pending = undefined;
        this.socket.destroy();
        return;
      }
      this.bodyBytes = Number(length[1]);
      this.remaining = this.bodyBytes;
      body = buf.subarray(end + HEADER_END.length);
    }
    this.remaining -= body.length;
    if (this.remaining > 0) return;
    this.remaining = -1;
    const p = this.pending;
    this.pending = undefined;
    p?.resolve({ status: this.status, bytes: this.bodyBytes });
  }

  close(): void {
    this.socket.destroy();
  }
}

/** `connections` open TLS connections to host:port; requests wait for an idle one. */
export class ConnectionPool {
  private readonly idle: Connection[] = [];
  private readonly waiting: ((c: Connection) => void)[] = [];

  private constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly all: Connection[],
  ) {
    this.idle.push(...all);
  }

  /** Opens every connection (TLS handshake included) before returning. */
  static async open(host: string, port: number, connections: number): Promise<ConnectionPool> {
    const sockets = await Promise.all(
      Array.from(
        { length: connections },
        () =>
          new Promise<TLSSocket>((resolve, reject) => {
            const s = connect({ host, port, rejectUnauthorized: false }, () => resolve(s));
            s.setNoDelay(true);
            s.once("error", reject);
          }),
      ),
    );
    return new ConnectionPool(host, port, sockets.map((s) => new Connection(s)));
  }

  /**
   * POSTs a JSON body given in parts (e.g. a large constant Buffer around a
   * small string that changes per request: nothing is concatenated or copied).
   */
  async post(path: string, body: readonly (string | Buffer)[]): Promise<Reply> {
    const conn = this.idle.pop() ?? (await new Promise<Connection>((resolve) => this.waiting.push(resolve)));
    try {
      let length = 0;
      for (const p of body) length += typeof p === "string" ? Buffer.byteLength(p) : p.length;
      const head = `POST ${path} HTTP/1.1\r\nHost: ${this.host}:${this.port}\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;
      return await conn.send([head, ...body]);
    } finally {
      const next = this.waiting.shift();
      if (next) next(conn);
      else this.idle.push(conn);
    }
  }

  close(): void {
    for (const c of this.all) c.close();
  }
}
