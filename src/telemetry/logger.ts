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

/** A logger that drops everything (CLI subcommands, tests). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
