// Writes JSON text straight into bytes. Extender replies are thousands of short
// strings (node names, reasons) and punctuation: written into one buffer they
// cost a few byte stores each, where string concatenation costs an object per
// piece, a flatten of the whole and a UTF-8 encode on the way to the socket.
//
// The writer is reused from request to request (one per route registration):
// take() copies the finished text out, so a reply never shares its bytes with
// the next one.

/** JSON string literals of strings written again and again (reasons), as UTF-8 bytes, by string. */
const LITERALS = new Map<string, Uint8Array>();

function literal(s: string): Uint8Array {
  let bytes = LITERALS.get(s);
  if (bytes === undefined) {
    bytes = Buffer.from(JSON.stringify(s), "utf8");
    if (LITERALS.size < 10_000) LITERALS.set(s, bytes);
  }
  return bytes;
}

export class JsonWriter {
  #buf: Uint8Array;
  #len = 0;

  constructor(initialBytes = 64 * 1024) {
    this.#buf = new Uint8Array(initialBytes);
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

  /** Writes `s` as a JSON string literal, keeping its encoded form for the next time (for strings that repeat). */
  repeatedString(s: string): this {
    return this.#bytes(literal(s));
  }

  #text(s: string): this {
    return this.#bytes(Buffer.from(s, "utf8"));
  }

  #bytes(bytes: Uint8Array): this {
    this.#room(bytes.length);
    this.#buf.set(bytes, this.#len);
    this.#len += bytes.length;
    return this;
  }

  /** The text written since reset(), as a Buffer of its own. */
  take(): Buffer {
    return Buffer.from(this.#buf.subarray(0, this.#len));
  }
}
