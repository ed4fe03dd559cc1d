// A strict parser for the Prometheus text exposition format, version 0.0.4,
// as served by dcgm-exporter on /metrics:
//
//   # HELP <name> <docstring>          docstring escapes: \\ and \n
//   # TYPE <name> counter|gauge|histogram|summary|untyped
//   # any other comment
//   <name>[{<label>="<value>",...}] <value> [<timestamp ms>]
//
// Label values escape \\, \" and \n. Values are Go floats, including NaN,
// +Inf and -Inf. Blank lines are ignored. A malformed line never throws: it
// becomes an error carrying its 1-based line number, and parsing goes on with
// the next line. The input is bounded in bytes and lines; past a bound the
// result is marked incomplete.

export type MetricType = "counter" | "gauge" | "histogram" | "summary" | "untyped";

const METRIC_TYPES: ReadonlySet<string> = new Set<MetricType>(["counter", "gauge", "histogram", "summary", "untyped"]);

export interface Sample {
  readonly name: string;
  /** Label name -> value. Nothing is inherited (no Object.prototype): a label named `__proto__` is just a label. */
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
  /** Milliseconds since the epoch, when the line carries a timestamp. */
  readonly timestampMs?: number;
}

export interface ExpositionError {
  /** 1-based line number; 0 for a problem with the input as a whole. */
  readonly line: number;
  readonly message: string;
}

export interface ExpositionLimits {
  /** Largest input accepted, in UTF-8 bytes; a larger input is not parsed at all. */
  readonly maxBytes: number;
  /** Lines parsed at most; the rest is dropped and the result is incomplete. */
  readonly maxLines: number;
  /** Errors kept at most (all are counted in errorCount). */
  readonly maxErrors: number;
  /** Labels one sample may carry. */
  readonly maxLabels: number;
}

export const DEFAULT_EXPOSITION_LIMITS: ExpositionLimits = {
  maxBytes: 8 * 1024 * 1024,
  maxLines: 200_000,
  maxErrors: 50,
  maxLabels: 64,
};

export interface Exposition {
  readonly samples: readonly Sample[];
  readonly types: ReadonlyMap<string, MetricType>;
  readonly help: ReadonlyMap<string, string>;
  /** The first maxErrors errors, in line order. */
  readonly errors: readonly ExpositionError[];
  /** Every error, including those not kept. */
  readonly errorCount: number;
  /** false when a byte or line limit cut the input short. */
  readonly complete: boolean;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const INFINITY = /^([+-]?)inf(?:inity)?$/i;
const TIMESTAMP = /^-?\d{1,19}$/;

/** Parses one value token the way Go's strconv.ParseFloat reads exposition values (decimal, NaN, ±Inf). */
export function parseSampleValue(token: string): number | undefined {
  if (DECIMAL.test(token)) return Number(token);
  if (/^nan$/i.test(token)) return Number.NaN;
  const inf = INFINITY.exec(token);
  if (inf) return inf[1] === "-" ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  return undefined;
}

/**
 * One sample line, read in place: what scanExposition hands its visitor.
 * Label values stay in the text until asked for, so a reader that needs three
 * labels of fifteen, or only checks that a label still has the value it saw
 * on the line before, makes no strings for the rest. Valid only during the
 * visitor's call: the next line reuses it.
 */
export class SampleLine {
  name = "";
  value = 0;
  timestampMs: number | undefined;
  #text = "";
  #count = 0;
  readonly #names: string[] = [];
  readonly #starts: number[] = [];
  readonly #ends: number[] = [];
  /** The unescaped value, for a value that held escapes. */
  readonly #unescaped: (string | undefined)[] = [];

  /** Starts a line of `text`. */
  reset(text: string): void {
    this.#text = text;
    this.#count = 0;
    this.timestampMs = undefined;
  }

  /** Records label `name` whose value is text[start, end), or `unescaped` when the value held escapes. */
  add(name: string, start: number, end: number, unescaped: string | undefined): void {
    const k = this.#count++;
    this.#names[k] = name;
    this.#starts[k] = start;
    this.#ends[k] = end;
    this.#unescaped[k] = unescaped;
  }

  #find(name: string): number {
    for (let k = 0; k < this.#count; k++) if (this.#names[k] === name) return k;
    return -1;
  }

  has(name: string): boolean {
    return this.#find(name) >= 0;
  }

  /** The value of label `name`, cut out of the text now; undefined when the line has no such label. */
  label(name: string): string | undefined {
    const k = this.#find(name);
    if (k < 0) return undefined;
    return this.#unescaped[k] ?? this.#text.slice(this.#starts[k], this.#ends[k]);
  }

  /** Whether label `name` is there with exactly `value`; no string is made. */
  labelIs(name: string, value: string): boolean {
    const k = this.#find(name);
    if (k < 0) return false;
    const unescaped = this.#unescaped[k];
    if (unescaped !== undefined) return unescaped === value;
    return this.#ends[k]! - this.#starts[k]! === value.length && this.#text.startsWith(value, this.#starts[k]);
  }

  /** Every label, as a label set of its own. */
  labels(): Record<string, string> {
    const out = new Labels();
    for (let k = 0; k < this.#count; k++) out[this.#names[k]!] = this.#unescaped[k] ?? this.#text.slice(this.#starts[k], this.#ends[k]);
    return out;
  }
}

const isBlank = (c: string | undefined) => c === " " || c === "\t";

/** text[i] when i is before `end` (the line's end), else undefined. */
function charAt(text: string, i: number, end: number): string | undefined {
  return i < end ? text[i] : undefined;
}

// Name characters by code unit (a scrape is tens of thousands of lines: no regex per character).
/** [a-zA-Z_], and ':' too when `colon` (metric names): the first character of a name. */
function isNameStart(c: number, colon: boolean): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || (colon && c === 58);
}

/** A name character after the first: the start characters and [0-9]. */
function isNameChar(c: number, colon: boolean): boolean {
  return isNameStart(c, colon) || (c >= 48 && c <= 57);
}

/**
 * Parses `<name>[{labels}] <value> [<timestamp>]`: the line text[from, end),
 * known not to be a comment or blank, into `out`. Read in place: the line is
 * not cut out. Returns what is wrong with the line, or undefined.
 */
function parseSampleLine(text: string, from: number, end: number, maxLabels: number, out: SampleLine): string | undefined {
  const line = text;
  out.reset(text);
  let i = from;
  while (isBlank(charAt(line, i, end))) i++;
  const nameStart = i;
  if (!isNameStart(line.charCodeAt(i), true)) return `expected a metric name, found ${describeChar(charAt(line, i, end))}`;
  while (i < end && isNameChar(line.charCodeAt(i), true)) i++;
  const name = METRIC_NAMES.take(line, nameStart, i);
  let j = i;
  while (isBlank(charAt(line, j, end))) j++;

  let labelCount = 0;
  if (charAt(line, j, end) === "{") {
    i = j + 1;
    for (;;) {
      while (isBlank(charAt(line, i, end))) i++;
      if (charAt(line, i, end) === "}") {
        i++;
        break;
      }
      if (!isNameStart(line.charCodeAt(i), false)) return `expected a label name or "}", found ${describeChar(charAt(line, i, end))}`;
      const labelStart = i;
      while (i < end && isNameChar(line.charCodeAt(i), false)) i++;
      const label = LABEL_NAMES.take(line, labelStart, i);
      while (isBlank(charAt(line, i, end))) i++;
      if (charAt(line, i, end) !== "=") return `expected "=" after label ${label}, found ${describeChar(charAt(line, i, end))}`;
      i++;
      while (isBlank(charAt(line, i, end))) i++;
      if (charAt(line, i, end) !== '"') return `expected '"' to open the value of label ${label}, found ${describeChar(charAt(line, i, end))}`;
      i++;
      const valueStart = i;
      let value = "";
      let escaped = false;
      let closed = false;
      // Most values hold no escape: take them whole up to the closing quote.
      const quote = line.indexOf('"', i);
      const backslash = line.indexOf("\\", i);
      if (quote !== -1 && quote < end && (backslash === -1 || backslash > quote)) {
        closed = true;
        i = quote + 1;
      }
      while (!closed && i < end) {
        const c = charAt(line, i, end);
        if (c === '"') {
          closed = true;
          i++;
          break;
        }
        if (c === "\\") {
          escaped = true;
          const next = charAt(line, i + 1, end);
          if (next === "\\") value += "\\";
          else if (next === '"') value += '"';
          else if (next === "n") value += "\n";
          else return `invalid escape ${next === undefined ? "\\ at end of line" : `\\${next}`} in the value of label ${label}`;
          i += 2;
          continue;
        }
        value += c;
        i++;
      }
      if (!closed) return `unterminated value of label ${label}`;
      if (out.has(label)) return `label ${label} appears twice`;
      labelCount++;
      if (labelCount > maxLabels) return `more than ${maxLabels} labels`;
      if (escaped) out.add(label, valueStart, valueStart, value);
      else out.add(label, valueStart, i - 1, undefined);
      while (isBlank(charAt(line, i, end))) i++;
      if (charAt(line, i, end) === ",") {
        i++;
        continue;
      }
      if (charAt(line, i, end) === "}") {
        i++;
        break;
      }
      return `expected "," or "}" after the value of label ${label}, found ${describeChar(charAt(line, i, end))}`;
    }
  }

  if (i < end && !isBlank(charAt(line, i, end))) return `expected a blank before the value, found ${describeChar(charAt(line, i, end))}`;
  // The value, then an optional timestamp, separated by blanks.
  let k = i;
  while (k < end && isBlank(line[k])) k++;
  if (k >= end) return `metric ${name} has no value`;
  const valueStart = k;
  while (k < end && !isBlank(line[k])) k++;
  const valueEnd = k;
  while (k < end && isBlank(line[k])) k++;
  let stampStart = -1;
  let stampEnd = -1;
  if (k < end) {
    stampStart = k;
    while (k < end && !isBlank(line[k])) k++;
    stampEnd = k;
    while (k < end && isBlank(line[k])) k++;
    if (k < end) {
      const tokens = line.slice(i, end).split(/[ \t]+/).filter((t) => t.length > 0);
      return `unexpected text after the timestamp: ${JSON.stringify(tokens.slice(2).join(" ").slice(0, 40))}`;
    }
  }
  const value = integerAt(line, valueStart, valueEnd) ?? parseSampleValue(line.slice(valueStart, valueEnd));
  if (value === undefined) return `value ${JSON.stringify(line.slice(valueStart, valueEnd).slice(0, 40))} is not a number`;
  if (stampStart >= 0) {
    const stamp = line.slice(stampStart, stampEnd);
    const ts = TIMESTAMP.test(stamp) ? Number(stamp) : Number.NaN;
    if (!Number.isSafeInteger(ts)) return `timestamp ${JSON.stringify(stamp.slice(0, 40))} is not an integer number of milliseconds`;
    out.timestampMs = ts;
  }
  out.name = name;
  out.value = value;
  return undefined;
}

/** text[start, end) read as a plain decimal integer ([+-]?digits, at most 15 of them), or undefined. */
function integerAt(text: string, start: number, end: number): number | undefined {
  let i = start;
  const sign = text.charCodeAt(i);
  if (sign === 43 || sign === 45) i++;
  if (i >= end || end - i > 15) return undefined;
  let n = 0;
  for (; i < end; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
  }
  return sign === 45 ? -n : n;
}

/**
 * Metric and label names repeat on every line (dcgm-exporter sends the same
 * ten label names on thousands of lines per scrape): a name already seen is
 * recognised in place and its one string reused, instead of cutting a new
 * string out of every line. Bounded: past the limit, names are cut as usual.
 */
class NameTable {
  readonly #byShape = new Map<number, string[]>();
  #count = 0;

  take(line: string, start: number, end: number): string {
    const length = end - start;
    const shape = length * 65536 + line.charCodeAt(start);
    const known = this.#byShape.get(shape);
    if (known !== undefined) for (const name of known) if (line.startsWith(name, start)) return name;
    const name = line.slice(start, end);
    if (this.#count < 4096) {
      const copy = (" " + name).slice(1);
      if (known !== undefined) known.push(copy);
      else this.#byShape.set(shape, [copy]);
      this.#count += 1;
      return copy;
    }
    return name;
  }
}

const METRIC_NAMES = new NameTable();
const LABEL_NAMES = new NameTable();


/**
 * Label sets: objects whose prototype has no prototype, so a label named
 * `__proto__` or `toString` is just a label, yet of a shape V8 shares between
 * the many lines that carry the same labels (a null-prototype object would be
 * a dictionary of its own, several times larger).
 */
const Labels = function Labels(this: Record<string, string>) {} as unknown as new () => Record<string, string>;
Labels.prototype = Object.create(null) as object;

function describeChar(c: string | undefined): string {
  return c === undefined ? "end of line" : JSON.stringify(c);
}

function unescapeHelp(text: string): string | undefined {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== "\\") {
      out += c;
      continue;
    }
    const next = text[i + 1];
    if (next === "\\") out += "\\";
    else if (next === "n") out += "\n";
    else return undefined;
    i++;
  }
  return out;
}

/** What scanExposition finds besides the samples it hands out. */
export interface ExpositionScan extends Omit<Exposition, "samples"> {
  /** Valid sample lines handed to the visitor. */
  readonly sampleCount: number;
}

/** Parses Prometheus text exposition. Never throws; see Exposition for what comes back. */
export function parseExposition(text: string, limits: Partial<ExpositionLimits> = {}): Exposition {
  const samples: Sample[] = [];
  const scan = scanExposition(text, limits, (line) => {
    const labels = line.labels();
    samples.push(line.timestampMs === undefined ? { name: line.name, labels, value: line.value } : { name: line.name, labels, value: line.value, timestampMs: line.timestampMs });
  });
  const { sampleCount: _count, ...rest } = scan;
  return { samples, ...rest };
}

/**
 * Parses Prometheus text exposition like parseExposition, handing each valid
 * sample line to `visit` as it is read instead of collecting samples (see
 * SampleLine). Never throws. A caller that must not act on a body with errors
 * waits for the result before using what it gathered.
 */
export function scanExposition(text: string, limits: Partial<ExpositionLimits>, visit: (line: SampleLine) => void): ExpositionScan {
  const lim: ExpositionLimits = { ...DEFAULT_EXPOSITION_LIMITS, ...limits };
  const types = new Map<string, MetricType>();
  const help = new Map<string, string>();
  const errors: ExpositionError[] = [];
  let errorCount = 0;
  const fail = (line: number, message: string) => {
    errorCount++;
    if (errors.length < lim.maxErrors) errors.push({ line, message });
  };

  // A string of n UTF-16 units is at most 3n UTF-8 bytes: count them only when that could be over the limit.
  const bytes = text.length * 3 <= lim.maxBytes ? 0 : Buffer.byteLength(text, "utf8");
  if (bytes > lim.maxBytes) {
    fail(0, `input is ${bytes} bytes, over the limit of ${lim.maxBytes}`);
    return { types, help, errors, errorCount, complete: false, sampleCount: 0 };
  }
  const line = new SampleLine();
  let sampleCount = 0;

  const seenSamples = new Set<string>();
  let complete = true;
  let lineNo = 0;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf("\n", start);
    if (end === -1) end = text.length;
    lineNo++;
    if (lineNo > lim.maxLines) {
      fail(lineNo, `more than ${lim.maxLines} lines; the rest is ignored`);
      complete = false;
      break;
    }
    const lineStart = start;
    start = end + 1;
    if (end > lineStart && text.charCodeAt(end - 1) === 13) end -= 1;
    let first = lineStart;
    while (first < end && isBlank(text[first])) first++;
    if (first === end) continue;

    if (text.charCodeAt(first) === 35) {
      // "#": a comment; only HELP and TYPE lines mean something.
      const trimmed = text.slice(first, end);
      const m = /^#[ \t]+(HELP|TYPE)(?:[ \t]+(.*))?$/.exec(trimmed);
      if (!m) continue; // an ordinary comment
      const keyword = m[1]!;
      const body = m[2] ?? "";
      const nm = /^(\S+)(?:[ \t]+(.*))?$/.exec(body);
      if (!nm) {
        fail(lineNo, `# ${keyword} without a metric name`);
        continue;
      }
      const metric = nm[1]!;
      if (!METRIC_NAME.test(metric)) {
        fail(lineNo, `# ${keyword}: ${JSON.stringify(metric.slice(0, 60))} is not a metric name`);
        continue;
      }
      const arg = nm[2] ?? "";
      if (keyword === "TYPE") {
        const type = arg.trim();
        if (!METRIC_TYPES.has(type)) {
          fail(lineNo, `# TYPE ${metric}: unknown type ${JSON.stringify(type.slice(0, 40))}`);
        } else if (types.has(metric)) {
          fail(lineNo, `second # TYPE line for ${metric}`);
        } else if (seenSamples.has(metric)) {
          fail(lineNo, `# TYPE line for ${metric} after its samples`);
        } else {
          types.set(metric, type as MetricType);
        }
      } else {
        const doc = unescapeHelp(arg);
        if (doc === undefined) fail(lineNo, `# HELP ${metric}: invalid escape sequence (only \\\\ and \\n are allowed)`);
        else if (help.has(metric)) fail(lineNo, `second # HELP line for ${metric}`);
        else help.set(metric, doc);
      }
      continue;
    }

    const error = parseSampleLine(text, first, end, lim.maxLabels, line);
    if (error !== undefined) {
      fail(lineNo, error);
      continue;
    }
    seenSamples.add(line.name);
    sampleCount += 1;
    visit(line);
  }
  return { types, help, errors, errorCount, complete, sampleCount };
}
