// JSON text of short strings on the admission hot path. Names, uids and
// namespaces are plain ASCII almost always, and for those the literal is the
// string in quotes; anything else goes through JSON.stringify.

/** `s` as a JSON string literal, exactly as JSON.stringify writes it. */
export function jsonString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) return JSON.stringify(s);
  }
  return `"${s}"`;
}
