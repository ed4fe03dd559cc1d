// Logger factory. The logger is created once in main.ts and passed down.
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from "pino";

export type { Logger };

export function createLogger(options: { level: LevelWithSilent; name?: string; destination?: DestinationStream }): Logger {
  const opts = {
    level: options.level,
    base: { service: options.name ?? "topofit" },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return options.destination ? pino(opts, options.destination) : pino(opts);
}

/** A logger that drops everything (CLI subcommands, tests). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
