// Typed arrays reused from call to call. An extender call runs synchronously,
// so a per-node working array that never leaves the call can be the same
// buffer every time. Allocated per call, each would be a buffer of its own
// outside the heap (a few hundred KiB at 5,000 nodes), and V8 answers a steady
// stream of those with full collections.

/** A source of one reused array: `take(n)` gives one of at least n elements (only the first n are meant to be read). */
export function scratchArray<T extends { readonly length: number }>(make: (length: number) => T): (n: number) => T {
  let buf = make(0);
  return (n) => {
    if (buf.length < n) buf = make(Math.max(n, buf.length * 2, 256));
    return buf;
  };
}
