// Logger factory. The logger is created once in main.ts and passed down.
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from "pino";

export type { Logger };

/**
 * Where `serve` logs: stdout, written asynchronously in batches of at least
 * 4 KiB (a write per decision would cost a system call on the admission hot
 * path), flushed at least every second and synchronously when the process
 * exits, so a quiet server's lines are not held back and none is lost on exit.
 */
export function bufferedStdout(flushEveryMs = 1000, target: number | string = 1): DestinationStream {
  const dest = pino.destination({ dest: target, sync: false, minLength: 4096 });
  setInterval(() => {
    try {
      dest.flush();
    } catch {
      // not ready yet (the file descriptor opens asynchronously); the next tick retries
    }
  }, flushEveryMs).unref();
  process.once("exit", () => {
    try {
      dest.flushSync();
    } catch {
      // nothing more can be done at exit
    }
  });
  return dest;
}

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
