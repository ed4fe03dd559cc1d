// Logger factory. The logger is created once in main.ts and passed down.
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from "pino";

export type { Logger };

/**
 * The `"time"` member of a log line, an ISO 8601 UTC timestamp with milliseconds
 * exactly as `Date.prototype.toISOString` writes it. Formatting a Date on every
 * line costs more than the rest of the timestamp, so the part up to the seconds
 * is formatted once a second and the milliseconds appended.
 */
let cachedSecond = Number.NaN;
let cachedPrefix = "";

export function isoTimestamp(now: number = Date.now()): string {
  const second = Math.floor(now / 1000);
  if (second !== cachedSecond) {
    const iso = new Date(second * 1000).toISOString();
    cachedSecond = second;
    cachedPrefix = `,"time":"${iso.slice(0, iso.length - 4)}`;
  }
  const ms = now - second * 1000;
  return `${cachedPrefix}${ms < 10 ? "00" : ms < 100 ? "0" : ""}${ms}Z"`;
}

export function createLogger(options: { level: LevelWithSilent; name?: string; destination?: DestinationStream }): Logger {
  const opts = {
    level: options.level,
    base: { service: options.name ?? "topofit" },
    timestamp: () => isoTimestamp(),
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return options.destination ? pino(opts, options.destination) : pino(opts);
}

const { chindingsSym, lsCacheSym, streamSym, timeSym } = pino.symbols;

/**
 * Writes the record `log.info(fields, msg)` would write, given the fields
 * already as JSON members (`,"key":value` each, in order), for the one line the
 * admission route writes per request: serialising a known shape by hand costs a
 * fraction of pino's walk over an object. The line is pino's own from its
 * level label on: the level, the time, the logger's bindings, the members, the
 * message; and it is written to the logger's stream, synchronously where the
 * stream is. Loggers made here have no mixin or hooks that this would bypass.
 */
export function writeInfoRecord(log: Logger, members: string, msg: string): void {
  if (!log.isLevelEnabled("info")) return;
  const internals = log as unknown as Record<symbol, unknown>;
  const levelHead = (internals[lsCacheSym] as Record<number, string>)[log.levels.values.info!];
  const time = (internals[timeSym] as () => string)();
  const line = `${levelHead}${time}${internals[chindingsSym] as string}${members},"msg":${JSON.stringify(msg)}}\n`;
  (internals[streamSym] as { write(line: string): void }).write(line);
}

/** A logger that drops everything (CLI subcommands, tests). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
