// Child processes of a control plane: logs to files, graceful stop, and
// cleanup that survives a crash of this Node process.
//
// Three layers make sure no component outlives its owner:
//   1. `stop()` on each process (SIGTERM, then SIGKILL after a grace period);
//   2. handlers on this process' `exit` (SIGKILL to every live child) and on
//      SIGINT/SIGTERM/SIGHUP when nobody else handles them (graceful stop of
//      every registered owner, then the signal is re-raised);
//   3. a watchdog shell per control plane, fed by a pipe from this process: when
//      the pipe closes (including when this process is SIGKILLed) it stops
//      every pid listed in a pid file whose command line mentions the data dir.

import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface StartProcessOptions {
  name: string;
  command: string;
  args: readonly string[];
  logPath: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

const liveProcesses = new Set<ManagedProcess>();

export class ManagedProcess {
  readonly name: string;
  readonly logPath: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly pid: number;
  /** Settles when the process has exited, however that happened. */
  readonly exited: Promise<ProcessExit>;
  private exitInfo: ProcessExit | undefined;
  private stopping = false;
  private readonly child: ChildProcess;

  private constructor(options: StartProcessOptions, child: ChildProcess, exited: Promise<ProcessExit>) {
    this.name = options.name;
    this.logPath = options.logPath;
    this.command = options.command;
    this.args = options.args;
    this.child = child;
    this.pid = child.pid ?? -1;
    this.exited = exited.then((info) => {
      this.exitInfo = info;
      liveProcesses.delete(this);
      return info;
    });
  }

  /** Starts a process with stdout and stderr appended to `logPath`. */
  static start(options: StartProcessOptions): ManagedProcess {
    const fd = openSync(options.logPath, "a");
    let child: ChildProcess;
    try {
      child = spawn(options.command, [...options.args], {
        cwd: options.cwd,
        env: options.env ?? process.env,
        stdio: ["ignore", fd, fd],
        detached: false,
      });
    } finally {
      closeSync(fd);
    }
    const exited = new Promise<ProcessExit>((resolve) => {
      child.once("exit", (code, signal) => resolve({ code, signal }));
      child.once("error", (err) => {
        writeFileSync(options.logPath, `failed to start ${options.command}: ${err.message}\n`, { flag: "a" });
        resolve({ code: -1, signal: null });
      });
    });
    const proc = new ManagedProcess(options, child, exited);
    if (child.pid !== undefined) liveProcesses.add(proc);
    return proc;
  }

  /** How it exited, or undefined while it runs. */
  get exit(): ProcessExit | undefined {
    return this.exitInfo;
  }

  get running(): boolean {
    return this.exitInfo === undefined && this.pid > 0;
  }

  /** True once `stop()` was called: an exit after that is expected. */
  get stopRequested(): boolean {
    return this.stopping;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  async stop(graceMs = 5_000): Promise<ProcessExit> {
    this.stopping = true;
    if (!this.running) return this.exited;
    this.signal("SIGTERM");
    const timer = setTimeout(() => this.signal("SIGKILL"), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends a signal if the process still runs (never throws). */
  signal(signal: NodeJS.Signals): void {
    if (!this.running) return;
    try {
      this.child.kill(signal);
    } catch {
      // already gone
    }
  }

  /** The last `lines` lines of the log file. */
  tail(lines = 40): string {
    return tailFile(this.logPath, lines);
  }

  describeExit(): string {
    const e = this.exitInfo;
    if (!e) return "running";
    return e.signal ? `killed by ${e.signal}` : `exited with code ${e.code}`;
  }
}

export function tailFile(file: string, lines = 40): string {
  try {
    const text = readFileSync(file, "utf8");
    return text.trimEnd().split("\n").slice(-lines).join("\n");
  } catch (err) {
    return `(could not read ${file}: ${err instanceof Error ? err.message : String(err)})`;
  }
}

// ---------------------------------------------------------------------------
// Owners (control planes) that want a graceful stop on SIGINT/SIGTERM/SIGHUP.

export interface StopOnSignal {
  stop(): Promise<void>;
}

const owners = new Set<StopOnSignal>();
const HANDLED_SIGNALS: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
let handlersInstalled = false;
let shuttingDown = false;

function killAllNow(): void {
  for (const proc of liveProcesses) proc.signal("SIGKILL");
}

function onSignal(signal: NodeJS.Signals): void {
  // Another listener (a CLI such as hack/local-up.ts) owns shutdown: it is
  // expected to call stop(); the exit handler and the watchdog back it up.
  if (process.listenerCount(signal) > 1) return;
  if (shuttingDown) return;
  shuttingDown = true;
  const all = [...owners].map((owner) => owner.stop().catch(() => undefined));
  const hardDeadline = setTimeout(killAllNow, 8_000);
  void Promise.all(all).finally(() => {
    clearTimeout(hardDeadline);
    for (const s of HANDLED_SIGNALS) process.removeListener(s, onSignal);
    process.kill(process.pid, signal);
  });
}

/** Registers an owner for graceful stop on signals; returns the unregister function. */
export function registerOwner(owner: StopOnSignal): () => void {
  if (!handlersInstalled) {
    handlersInstalled = true;
    process.on("exit", killAllNow);
    for (const s of HANDLED_SIGNALS) process.on(s, onSignal);
  }
  owners.add(owner);
  return () => {
    owners.delete(owner);
  };
}

// ---------------------------------------------------------------------------
// Watchdog

const WATCHDOG_SCRIPT = String.raw`
trap '' INT TERM HUP
pidfile=$1 marker=$2 remove=$3
cat >/dev/null
ours() { [ -r "/proc/$1/cmdline" ] && tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$marker"; }
pids=$(cat "$pidfile" 2>/dev/null)
for p in $pids; do ours "$p" && kill -TERM "$p" 2>/dev/null; done
i=0
while [ $i -lt 50 ]; do
  alive=
  for p in $pids; do ours "$p" && alive=1; done
  [ -z "$alive" ] && break
  sleep 0.1; i=$((i + 1))
done
for p in $pids; do ours "$p" && kill -KILL "$p" 2>/dev/null; done
[ "$remove" = 1 ] && rm -rf -- "$marker"
exit 0
`;

export class Watchdog {
  private readonly child: ChildProcess;
  private readonly pids = new Set<number>();
  private readonly gone: Promise<void>;

  /**
   * @param pidFile where the pids to guard are listed
   * @param marker a string every guarded command line contains (the data dir)
   * @param removeMarkerDir remove `marker` as a directory once the pids are gone
   */
  constructor(
    private readonly pidFile: string,
    marker: string,
    removeMarkerDir: boolean,
  ) {
    writeFileSync(pidFile, "");
    this.child = spawn("sh", ["-c", WATCHDOG_SCRIPT, "topofit-watchdog", pidFile, marker, removeMarkerDir ? "1" : "0"], {
      stdio: ["pipe", "ignore", "ignore"],
      detached: false,
    });
    this.child.stdin?.on("error", () => undefined);
    this.gone = new Promise((resolve) => {
      this.child.once("exit", () => resolve());
      this.child.once("error", () => resolve());
    });
  }

  guard(pid: number): void {
    if (pid <= 0) return;
    this.pids.add(pid);
    this.flush();
  }

  release(pid: number): void {
    this.pids.delete(pid);
    this.flush();
  }

  /** Lets the watchdog run its cleanup now (normally with nothing left to do) and waits for it. */
  async close(): Promise<void> {
    this.child.stdin?.end();
    await this.gone;
  }

  private flush(): void {
    writeFileSync(this.pidFile, [...this.pids].join("\n") + "\n");
  }
}
