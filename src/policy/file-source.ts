// Keeps the PolicyStore in step with a policy file: loads it at start and on
// every change. Polling (not inotify) so that ConfigMap volume updates, which
// swap a symlink, are seen too.
import { readFile } from "node:fs/promises";
import { unwatchFile, watchFile } from "node:fs";
import type { PolicyStore, ReloadOutcome } from "./store.js";

export interface PolicyFileSource {
  readonly source: string;
  /** Reads the file now and applies it. */
  load(): Promise<ReloadOutcome>;
  stop(): void;
}

export function watchPolicyFile(path: string, store: PolicyStore, intervalMs = 1000): PolicyFileSource {
  const source = `file:${path}`;
  const load = async (): Promise<ReloadOutcome> => {
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (err) {
      const message = `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
      return store.reject(source, [{ path: "", message }]);
    }
    return store.apply(text, source);
  };
  const onChange = (curr: { mtimeMs: number; size: number }, prev: { mtimeMs: number; size: number }) => {
    if (curr.mtimeMs !== prev.mtimeMs || curr.size !== prev.size) void load();
  };
  watchFile(path, { interval: intervalMs }, onChange);
  return { source, load, stop: () => unwatchFile(path, onChange) };
}
