// Process and cleanup plumbing for the lab: every process the lab starts is tracked by PID and
// killed by PID (never by name); every resource registers an undo step that runs, in reverse
// order, on success, failure, or SIGINT/SIGTERM.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createWriteStream } from "node:fs";

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a short command to completion (argument array, no shell). Throws on a non-zero exit. */
export function run(
  argv: readonly string[],
  options: { input?: string; allowFail?: boolean; cwd?: string } = {},
): RunResult {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error("run: empty argv");
  const r = spawnSync(cmd, args, {
    encoding: "utf8",
    input: options.input,
    cwd: options.cwd,
    maxBuffer: 256 * 1024 * 1024,
    env: { ...process.env, LC_ALL: "C" },
  });
  const result = { code: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  if (r.error) {
    if (options.allowFail) return { ...result, code: -1, stderr: String(r.error) };
    throw new Error(`${argv.join(" ")}: ${r.error.message}`);
  }
  if (r.status !== 0 && !options.allowFail) {
    throw new Error(
      `${argv.join(" ")} exited ${r.status ?? r.signal}: ${result.stderr.trim().slice(0, 2000)}`,
    );
  }
  return result;
}

/** The environment for the lab's children: without node --test's marker (NODE_TEST_CONTEXT). */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  return env;
}

export interface Daemon {
  name: string;
  child: ChildProcess;
  pid: number;
  /** Resolves with the exit code (or the signal name) and the host time of the exit. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  running(): boolean;
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts a long-running process with stdout+stderr appended to `logFile`. The returned handle
 * kills exactly this PID (SIGTERM, then SIGKILL after graceMs).
 */
export function startDaemon(
  name: string,
  argv: readonly string[],
  logFile: string,
  env?: NodeJS.ProcessEnv,
): Daemon {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error("startDaemon: empty argv");
  const out = createWriteStream(logFile, { flags: "a" });
  const child = spawn(cmd, args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...cleanEnv(), LC_ALL: "C", ...env },
  });
  child.stdout?.pipe(out, { end: false });
  child.stderr?.pipe(out, { end: false });
  let alive = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>(
    (resolve) => {
      child.on("error", (err) => {
        out.write(`\n[lab] ${name}: ${err.message}\n`);
        alive = false;
        resolve({ code: -1, signal: null, at: Date.now() });
      });
      child.on("exit", (code, signal) => {
        alive = false;
        const at = Date.now();
        // Let the pipes drain before closing the log.
        setTimeout(() => out.end(), 50);
        resolve({ code, signal, at });
      });
    },
  );
  if (child.pid === undefined) {
    // spawn failed synchronously (ENOENT is reported through "error")
  }
  const handle: Daemon = {
    name,
    child,
    pid: child.pid ?? -1,
    exited,
    running: () => alive,
    async stop(graceMs = 3000) {
      if (!alive || child.pid === undefined) return;
      try {
        process.kill(child.pid, "SIGTERM");
      } catch {
        return;
      }
      const timer = setTimeout(() => {
        if (alive && child.pid !== undefined) {
          try {
            process.kill(child.pid, "SIGKILL");
          } catch {}
        }
      }, graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  return handle;
}

/** A stack of undo steps; `close()` runs them last-in first-out and never throws. */
export class Cleanup {
  private steps: { label: string; fn: () => unknown }[] = [];
  private closing: Promise<string[]> | null = null;

  add(label: string, fn: () => unknown): void {
    this.steps.push({ label, fn });
  }

  /** Runs every step once; returns the errors (as text) of the steps that failed. */
  close(): Promise<string[]> {
    this.closing ??= (async () => {
      const errors: string[] = [];
      while (this.steps.length > 0) {
        const step = this.steps.pop();
        if (!step) break;
        try {
          await step.fn();
        } catch (err) {
          errors.push(`${step.label}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      return errors;
    })();
    return this.closing;
  }
}

/**
 * Runs `cleanup.close()` when the process gets SIGINT/SIGTERM/SIGHUP, then exits 130/143.
 * Returns a function that removes the handlers.
 */
export function closeOnSignals(cleanup: Cleanup, onSignal?: (signal: string) => void): () => void {
  const handler = (signal: NodeJS.Signals) => {
    onSignal?.(signal);
    void cleanup.close().finally(() => {
      process.exit(signal === "SIGINT" ? 130 : 143);
    });
  };
  const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  for (const s of signals) process.on(s, handler);
  return () => {
    for (const s of signals) process.off(s, handler);
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
