// GC pauses of a benchmark process, by kind, from perf_hooks' "gc" entries.
import { constants, PerformanceObserver } from "node:perf_hooks";

export interface GcSummary {
  /** Scavenges (young generation). */
  minor: number;
  /** Mark-compacts (whole heap). */
  major: number;
  totalMs: number;
  maxMs: number;
}

/** Counts this process's GC pauses from now on; take() returns them and starts afresh. */
export function gcCounter(): { take(): GcSummary } {
  let gc: GcSummary = { minor: 0, major: 0, totalMs: 0, maxMs: 0 };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0;
      if (kind === constants.NODE_PERFORMANCE_GC_MINOR) gc.minor += 1;
      else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) gc.major += 1;
      gc.totalMs += e.duration;
      gc.maxMs = Math.max(gc.maxMs, e.duration);
    }
  }).observe({ entryTypes: ["gc"] });
  return {
    take() {
      const g = gc;
      gc = { minor: 0, major: 0, totalMs: 0, maxMs: 0 };
      return g;
    },
  };
}

export const gcText = (g: GcSummary): string =>
  `${g.minor} scavenges, ${g.major} mark-compacts, ${g.totalMs.toFixed(0)} ms paused in all, longest ${g.maxMs.toFixed(1)} ms`;
