// Writes JSON text straight into bytes. Extender replies are thousands of short
// strings (node names, reasons) and punctuation: written into one buffer they
// cost a few byte stores each, where string concatenation costs an object per
// piece, a flatten of the whole and a UTF-8 encode on the way to the socket.
//
// A reply is sent straight from the writer's storage (bytes()), and that
// storage is leased from a ReplyBuffers pool and handed back once the response
// is closed: sizeable replies (a 5,000-node answer is a few hundred KiB) would
// otherwise each be a fresh off-heap allocation, and V8 answers a steady stream
// of those with full mark-compact collections, pauses of several milliseconds
// in the middle of a scheduler's call.

/** JSON string literals of strings written again and again (reasons), as UTF-8 bytes, by string; and the same after a colon. */
const LITERALS = new Map<string, Uint8Array>();
const VALUES = new Map<string, Uint8Array>();

function literal(s: string, value = false): Uint8Array {
  const known = value ? VALUES : LITERALS;
  let bytes = known.get(s);
  if (bytes === undefined) {
    bytes = Buffer.from(`${value ? ":" : ""}${JSON.stringify(s)}`, "utf8");
    if (known.size < 10_000) known.set(s, bytes);
  }
  return bytes;
}

export class JsonWriter {
  #buf: Uint8Array;
  #len = 0;

  /** Writes into `storage` (it grows past it as needed), or into a new buffer of that many bytes. */
  constructor(storage: Uint8Array | number = 64 * 1024) {
    this.#buf = typeof storage === "number" ? new Uint8Array(storage) : storage;
  }

  /** The buffer written into: the one given, or a larger one that replaced it. */
  get storage(): Uint8Array {
    return this.#buf;
  }

  #room(bytes: number): void {
    if (this.#len + bytes <= this.#buf.length) return;
    const next = new Uint8Array(Math.max(this.#buf.length * 2, this.#len + bytes));
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
  }

  /** Starts a new text. */
  reset(): this {
    this.#len = 0;
    return this;
  }

  /** Writes JSON punctuation or any other text known to be plain ASCII (no escaping). */
  raw(ascii: string): this {
    const n = ascii.length;
    this.#room(n);
    const buf = this.#buf;
    let at = this.#len;
    for (let i = 0; i < n; i++) buf[at++] = ascii.charCodeAt(i);
    this.#len = at;
    return this;
  }

  /** Writes `s` as a JSON string literal. Plain ASCII is copied as it is; anything else goes through JSON.stringify. */
  string(s: string): this {
    const n = s.length;
    this.#room(n + 2);
    const buf = this.#buf;
    const start = this.#len;
    let at = start;
    buf[at++] = 0x22;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) {
        this.#len = start;
        return this.#text(JSON.stringify(s));
      }
      buf[at++] = c;
    }
    buf[at++] = 0x22;
    this.#len = at;
    return this;
  }

  /** Writes text that is JSON already (e.g. JSON.stringify's output), any characters, as UTF-8. */
  json(text: string): this {
    this.#room(Buffer.byteLength(text, "utf8"));
    const view = Buffer.from(this.#buf.buffer, this.#buf.byteOffset, this.#buf.length);
    this.#len += view.write(text, this.#len, "utf8");
    return this;
  }

  /** Writes `s` as a JSON string literal, keeping its encoded form for the next time (for strings that repeat). */
  repeatedString(s: string): this {
    return this.append(literal(s));
  }

  /** Writes `:` and `s` as a JSON string literal: the value of an object member, for values that repeat. */
  repeatedValue(s: string): this {
    return this.append(literal(s, true));
  }

  #text(s: string): this {
    return this.append(Buffer.from(s, "utf8"));
  }

  /** Copies bytes that are JSON text already (UTF-8). */
  append(bytes: Uint8Array): this {
    this.#room(bytes.length);
    this.#buf.set(bytes, this.#len);
    this.#len += bytes.length;
    return this;
  }

  /** Copies src[from, to), bytes that are JSON text already: short spans byte by byte, which costs less than a view to copy from. */
  copy(src: Uint8Array, from: number, to: number): this {
    const n = to - from;
    this.#room(n);
    if (n > 24) {
      this.#buf.set(src.subarray(from, to), this.#len);
      this.#len += n;
      return this;
    }
    const buf = this.#buf;
    let at = this.#len;
    for (let k = from; k < to; k++) buf[at++] = src[k]!;
    this.#len = at;
    return this;
  }

  /** How many bytes were written since reset(): where the next one goes in `storage`. */
  get length(): number {
    return this.#len;
  }

  /** The text written since reset(), without a copy: a view of the storage, valid until the storage is written again. */
  bytes(): Buffer {
    return Buffer.from(this.#buf.buffer, this.#buf.byteOffset, this.#len);
  }
}

/**
 * Reply storage that outlives a request: a writer leases a buffer, the reply is
 * sent from it, and it comes back when the response is closed, that is after
 * its bytes were handed to the socket (or the connection was dropped). Requests
 * in flight at the same time never share a buffer; a buffer that never comes
 * back is simply collected. At most `keep` buffers of up to `maxBytes` are kept
 * idle, so the pool holds a bounded amount of memory however large one reply was.
 */
export class ReplyBuffers {
  readonly #idle: Uint8Array[] = [];
  readonly #keep: number;
  readonly #maxBytes: number;
  readonly #firstBytes: number;
  #reused = 0;
  #allocated = 0;

  constructor(options: { keep?: number; maxBytes?: number; firstBytes?: number } = {}) {
    this.#keep = options.keep ?? 4;
    this.#maxBytes = options.maxBytes ?? 1024 * 1024;
    this.#firstBytes = options.firstBytes ?? 64 * 1024;
  }

  /** A writer over a buffer of the pool's, for one reply. */
  writer(): JsonWriter {
    const idle = this.#idle.pop();
    if (idle !== undefined) this.#reused += 1;
    else this.#allocated += 1;
    return new JsonWriter(idle ?? new Uint8Array(this.#firstBytes));
  }

  /** Gives the writer's storage back; nothing may read a reply from it afterwards. */
  release(writer: JsonWriter): void {
    const buf = writer.storage;
    if (this.#idle.length < this.#keep && buf.length <= this.#maxBytes && !this.#idle.includes(buf)) this.#idle.push(buf);
  }

  /** Writers served from a returned buffer, and from a new one. */
  get stats(): { readonly reused: number; readonly allocated: number; readonly idle: number } {
    return { reused: this.#reused, allocated: this.#allocated, idle: this.#idle.length };
  }
}
