// How validation messages name a field and a bad value, shared by every
// validator (policy documents, topology profiles) so errors read the same:
// `spec.rules[1].inject.nodeSelector["nvidia.com/gpu.product"]: ... (got "x")`.

/** Appends a key or an index to a field path. */
export function joinPath(base: string, key: string | number): string {
  if (typeof key === "number") return `${base}[${key}]`;
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return base === "" ? key : `${base}.${key}`;
  return `${base}[${JSON.stringify(key)}]`;
}

/** A short description of a value for "(got ...)" in a message. */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === "object") return "an object";
  return String(value);
}
