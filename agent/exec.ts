// The one command runner. Every collector describes what it needs as a Probe (a command, a file
// to read, or an in-process reader) and gets back a ProbeResult; it never starts a process itself.
// Runners: real (child_process.spawn, argument arrays, no shell), capture (real + write the raw output to a
// directory), replay (read a capture directory instead of running anything). Under `node --test`
// the real runner refuses to start processes unless a test asks for it explicitly.
import { spawn } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { readFile, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { CollectorStatus } from "../schema/inventory.ts";
import { ERROR_CODES, ReconError } from "./errors.ts";
import { makeDirectory } from "./fs.ts";

export type ProbeSource =
  | { kind: "command"; argv: readonly [string, ...string[]]; versionArgv?: readonly string[] }
  | { kind: "file"; path: string }
  /**
   * An in-process reader. A synchronous one (sysfs walks, collect/sysfs.ts) returns the text
   * itself, so that its duration is taken the moment it is done; a promise is awaited.
   */
  | { kind: "internal"; describe: string; read: () => string | Promise<string> };

export interface Probe {
  /** Name of the raw output in a capture directory, e.g. "dmidecode.txt". */
  file: string;
  source: ProbeSource;
  timeoutMs: number;
  /** Only root can run this meaningfully (dmidecode reads /dev/mem, ipmitool opens /dev/ipmi0). */
  needsRoot?: boolean;
  /**
   * Starts before the processes already waiting for their turn: a step of a long serial chain
   * (ipmitool: mc info, then the lanes), asked for only after an await, whose end would
   * otherwise be the run's end.
   */
  urgent?: boolean;
}

export interface ProbeResult {
  file: string;
  status: CollectorStatus;
  /** Standard output (or file content); "" when there was none. */
  output: string;
  exitCode: number | null;
  durationMs: number;
  /** Display form of what ran or was read. */
  command: string;
  /** Why the probe did not succeed; null when ok. */
  message: string | null;
}

export interface Runner {
  run(probe: Probe, signal?: AbortSignal): Promise<ProbeResult>;
}

const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

export function describeProbe(probe: Probe): string {
  const { source } = probe;
  if (source.kind === "command") return source.argv.join(" ");
  if (source.kind === "file") return `read ${source.path}`;
  return source.describe;
}

function result(probe: Probe, fields: Partial<ProbeResult> & Pick<ProbeResult, "status">) {
  return {
    file: probe.file,
    output: "",
    exitCode: null,
    durationMs: 0,
    command: describeProbe(probe),
    message: null,
    ...fields,
  } satisfies ProbeResult;
}

function firstLine(text: string): string {
  return text.trim().split("\n")[0]?.slice(0, 300) ?? "";
}

function isRoot(): boolean {
  return typeof process.geteuid === "function" && process.geteuid() === 0;
}

export interface RealRunnerOptions {
  /** Allow real processes under `node --test` (tests of real tools, e.g. ipmitool vs ipmi_sim). */
  allowInTests?: boolean;
  /** Override the effective-uid check (tests of the non-root path). */
  root?: boolean;
  /** Called once per probe with its start and end (ms since process start); see probeTraceLine. */
  trace?: (event: ProbeTrace) => void;
}

/** When one probe ran, in ms since the process started (performance.now()). */
export interface ProbeTrace {
  file: string;
  status: CollectorStatus;
  startMs: number;
  endMs: number;
}

/**
 * RECON_TRACE_PROBES=1: one JSON line per probe on stderr, `{"event":"probe.trace",...}`.
 * bench/peer.ts reads them for the critical path (which probe ended last, the time before the
 * first probe); the document itself only carries durations.
 */
function envTrace(): RealRunnerOptions["trace"] {
  if (process.env.RECON_TRACE_PROBES !== "1") return undefined;
  return (event) => process.stderr.write(`${JSON.stringify({ event: "probe.trace", ...event })}\n`);
}

const round1 = (ms: number) => Math.round(ms * 10) / 10;

/**
 * Process starts, at most one per event-loop turn.
 *
 * Why: spawn() forks and waits for the child's exec on the main thread, and the fork copies the
 * page tables of a ~100 MB process. Sixteen probes started in one go under QEMU TCG blocked the
 * event loop for seconds, and everything else queued behind them. One start per turn lets the
 * I/O completions in between run (children's output, exits). The first start of a turn needs no
 * wait: lshw, the longest tool, is asked for first and forks at once, while the agent is at its
 * smallest, and the in-process reads (synchronous, collect/sysfs.ts) run while it works.
 */
function processStarts() {
  const urgent: (() => void)[] = [];
  const waiting: (() => void)[] = [];
  let startedThisTurn = false;
  let scheduled = false;
  const pump = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      startedThisTurn = false;
      const next = urgent.shift() ?? waiting.shift();
      if (next) {
        startedThisTurn = true;
        next();
      }
      if (startedThisTurn) pump();
    });
  };
  return {
    /** True when the caller may start its process now, synchronously, without waiting. */
    now(): boolean {
      if (startedThisTurn || urgent.length > 0 || waiting.length > 0) return false;
      startedThisTurn = true;
      pump();
      return true;
    },
    /** Resolves when the caller may start its process (it must do so synchronously). */
    turn(first = false): Promise<void> {
      return new Promise((resolve) => {
        (first ? urgent : waiting).push(resolve);
        pump();
      });
    },
  };
}

/**
 * Whether `file` can be found the way execvp looks for it: a path as it is, a bare name in one of
 * PATH's directories. Only existence is checked (a file that is there but not executable is
 * spawned, and fails with EACCES as before). Why: a tool that is not installed (lldpctl, storcli)
 * answered ENOENT only after a fork of the agent, which costs what a real probe costs on a slow
 * node; without PATH the runner does not guess and spawns.
 */
export function onPath(file: string, path: string | undefined): boolean {
  const exists = (candidate: string) => {
    try {
      return !statSync(candidate).isDirectory();
    } catch {
      return false;
    }
  };
  if (file.includes("/")) return exists(file);
  if (path === undefined) return true;
  // An empty PATH entry is the current directory, as for execvp.
  return path.split(":").some((dir) => exists(join(dir === "" ? "." : dir, file)));
}

interface ChildOutcome {
  stdout: string;
  stderr: string;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** spawn's own error (ENOENT: not installed, EACCES). */
  error: NodeJS.ErrnoException | null;
  timedOut: boolean;
  canceled: boolean;
  overflowed: boolean;
}

/** How long a child that ignored SIGTERM gets before SIGKILL. */
const KILL_GRACE_MS = 2000;

/**
 * One child through child_process.spawn directly (no execa: its per-call work and its modules
 * cost what a process start costs on a slow node): argument array, no shell, stdin closed,
 * C locale, output bounded, SIGTERM on timeout or cancel and SIGKILL after KILL_GRACE_MS.
 */
function runChild(argv: readonly [string, ...string[]], timeoutMs: number, signal?: AbortSignal) {
  return new Promise<ChildOutcome>((resolve) => {
    const [file, ...args] = argv;
    const outcome: ChildOutcome = {
      stdout: "",
      stderr: "",
      exitCode: null,
      signal: null,
      error: null,
      timedOut: false,
      canceled: false,
      overflowed: false,
    };
    const child = spawn(file, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, LC_ALL: "C", LANG: "C" },
    });
    const chunks: { out: Buffer[]; err: Buffer[] } = { out: [], err: [] };
    let bytes = 0;
    let killTimer: NodeJS.Timeout | null = null;
    const stop = () => {
      child.kill("SIGTERM");
      killTimer ??= setTimeout(() => child.kill("SIGKILL"), KILL_GRACE_MS);
    };
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > MAX_OUTPUT_BYTES) {
        outcome.overflowed = true;
        stop();
        return;
      }
      into.push(chunk);
    };
    child.stdout.on("data", collect(chunks.out));
    child.stderr.on("data", collect(chunks.err));
    const timer = setTimeout(() => {
      outcome.timedOut = true;
      stop();
    }, timeoutMs);
    const onAbort = () => {
      outcome.canceled = true;
      stop();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    let settled = false;
    const done = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      signal?.removeEventListener("abort", onAbort);
      outcome.stdout = Buffer.concat(chunks.out).toString("utf8");
      outcome.stderr = Buffer.concat(chunks.err).toString("utf8");
      resolve(outcome);
    };
    child.on("error", (error) => {
      outcome.error = error;
      // A child that never started emits no "close" on some Node versions.
      if (child.pid === undefined) done();
    });
    child.on("close", (code, killedBy) => {
      outcome.exitCode = code;
      outcome.signal = killedBy;
      done();
    });
  });
}

const TIMED_OUT = Symbol("timed out");
const CANCELED = Symbol("canceled");

/**
 * An asynchronous in-process read (the TPM's GetCapability) within the probe's `timeoutMs` and
 * the overall budget, as a command is: a device that never answers is a `timeout`, not a hang
 * and not a `failed`. The read itself cannot be stopped; it is left to settle unobserved.
 */
async function bounded(
  read: Promise<string>,
  probe: Probe,
  signal?: AbortSignal,
): Promise<string | typeof TIMED_OUT | typeof CANCELED> {
  if (signal?.aborted) return CANCELED;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const limit = new Promise<typeof TIMED_OUT | typeof CANCELED>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), probe.timeoutMs);
    onAbort = () => resolve(CANCELED);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
  read.catch(() => {});
  try {
    return await Promise.race([read, limit]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener("abort", onAbort);
  }
}

/** Runs commands for real: argument arrays only, C locale, per-probe timeout, bounded output. */
export function realRunner(options: RealRunnerOptions = {}): Runner {
  const root = options.root ?? isRoot();
  const trace = options.trace ?? envTrace();
  const starts = processStarts();
  const finish = (startMs: number, outcome: ProbeResult): ProbeResult => {
    trace?.({
      file: outcome.file,
      status: outcome.status,
      startMs: round1(startMs),
      endMs: round1(startMs + outcome.durationMs),
    });
    return outcome;
  };
  return {
    async run(probe, signal) {
      if (process.env.NODE_TEST_CONTEXT && !options.allowInTests) {
        throw new ReconError(
          ERROR_CODES.EXEC_REFUSED,
          `refusing to run "${describeProbe(probe)}" under the test runner; use a replay runner`,
        );
      }
      if (probe.needsRoot && !root) {
        return result(probe, { status: "skipped", message: "requires root" });
      }
      const { source } = probe;
      if (source.kind !== "command") {
        const started = performance.now();
        const elapsed = () => round1(performance.now() - started);
        try {
          // A procfs/sysfs file is a few bytes: read at once, its time is its own.
          const read = source.kind === "file" ? readFileSync(source.path, "utf8") : source.read();
          // Taken before any await: a synchronous read's duration is its own, not the time the
          // rest of this turn (the other collectors' reads) takes before a continuation runs.
          const readMs = typeof read === "string" ? elapsed() : null;
          const output = typeof read === "string" ? read : await bounded(read, probe, signal);
          if (output === TIMED_OUT || output === CANCELED) {
            return finish(
              started,
              result(probe, {
                status: "timeout",
                durationMs: elapsed(),
                message:
                  output === TIMED_OUT
                    ? `timed out after ${probe.timeoutMs} ms`
                    : "overall budget spent",
              }),
            );
          }
          return finish(
            started,
            result(probe, { status: "ok", output, durationMs: readMs ?? elapsed() }),
          );
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          return finish(
            started,
            result(probe, {
              status: code === "ENOENT" ? "skipped" : "failed",
              durationMs: elapsed(),
              message: code === "ENOENT" ? "not present on this system" : String(error),
            }),
          );
        }
      }
      const file = source.argv[0];
      if (!onPath(file, process.env.PATH)) {
        const started = performance.now();
        return finish(
          started,
          result(probe, {
            status: "skipped",
            durationMs: round1(performance.now() - started),
            message: `${file}: not installed`,
          }),
        );
      }
      if (!starts.now()) await starts.turn(probe.urgent === true);
      // The clock starts at this probe's own spawn, not when it was queued.
      const started = performance.now();
      if (signal?.aborted) {
        return finish(
          started,
          result(probe, { status: "timeout", message: "overall budget spent" }),
        );
      }
      const run = await runChild(source.argv, probe.timeoutMs, signal);
      const durationMs = round1(performance.now() - started);
      const { stdout: output, stderr, exitCode } = run;
      if (run.error?.code === "ENOENT") {
        return finish(
          started,
          result(probe, { status: "skipped", durationMs, message: `${file}: not installed` }),
        );
      }
      if (run.timedOut || run.canceled) {
        return finish(
          started,
          result(probe, {
            status: "timeout",
            output,
            durationMs,
            message: run.timedOut
              ? `timed out after ${probe.timeoutMs} ms`
              : "overall budget spent",
          }),
        );
      }
      const command = describeProbe(probe);
      const failure = run.error
        ? `Command failed: ${command}: ${run.error.message}`
        : run.overflowed
          ? `Command's output exceeded ${MAX_OUTPUT_BYTES} bytes: ${command}`
          : run.signal
            ? `Command was killed with ${run.signal}: ${command}`
            : exitCode !== 0
              ? `Command failed with exit code ${exitCode}: ${command}`
              : null;
      if (failure !== null) {
        return finish(
          started,
          result(probe, {
            status: "failed",
            output,
            exitCode,
            durationMs,
            message: firstLine(stderr) || failure,
          }),
        );
      }
      return finish(started, result(probe, { status: "ok", output, exitCode, durationMs }));
    },
  };
}

/** Manifest of a capture directory: what ran, how it ended, and which tool versions. */
export interface CaptureManifest {
  format: "recon-capture/1";
  capturedAt: string;
  agentVersion: string;
  probes: Record<
    string,
    Omit<ProbeResult, "output" | "file"> & { toolVersion: string | null; bytes: number }
  >;
}

export const MANIFEST_FILE = "manifest.json";

/** The real runner, plus every raw output written to `dir` and recorded in its manifest. */
export function captureRunner(dir: string, inner: Runner, agentVersion: string) {
  const manifest: CaptureManifest = {
    format: "recon-capture/1",
    capturedAt: new Date().toISOString(),
    agentVersion,
    probes: {},
  };
  const versions = new Map<string, Promise<string | null>>();
  const toolVersion = (probe: Probe, signal?: AbortSignal) => {
    const { source } = probe;
    if (source.kind !== "command" || !source.versionArgv) return Promise.resolve(null);
    const key = source.argv[0];
    let pending = versions.get(key);
    if (!pending) {
      const versionProbe: Probe = {
        file: `${key}.version`,
        source: { kind: "command", argv: [key, ...source.versionArgv] },
        timeoutMs: 5000,
      };
      pending = inner
        .run(versionProbe, signal)
        .then((r) => (r.status === "ok" ? firstLine(r.output) || null : null));
      versions.set(key, pending);
    }
    return pending;
  };
  const runner: Runner & { finish(): Promise<CaptureManifest> } = {
    async run(probe, signal) {
      const [outcome, version] = await Promise.all([
        inner.run(probe, signal),
        toolVersion(probe, signal),
      ]);
      const { output, file, ...rest } = outcome;
      if (output.length > 0) await writeFile(join(dir, file), output);
      manifest.probes[file] = { ...rest, toolVersion: version, bytes: Buffer.byteLength(output) };
      return outcome;
    },
    async finish() {
      const temp = join(dir, `.${MANIFEST_FILE}.tmp`);
      await writeFile(temp, `${JSON.stringify(manifest, null, 2)}\n`);
      await rename(temp, join(dir, MANIFEST_FILE));
      return manifest;
    },
  };
  return runner;
}

export async function prepareCaptureDir(dir: string): Promise<void> {
  try {
    await makeDirectory(dir);
  } catch (error) {
    throw new ReconError(ERROR_CODES.IO, `cannot create capture directory ${dir}`, {
      cause: error,
    });
  }
}

/**
 * Reads a capture directory instead of running tools. A file that is absent was not captured:
 * status "skipped", never a crash. When the manifest recorded a failure, the replay reports it.
 */
export async function replayRunner(dir: string): Promise<Runner> {
  let manifest: CaptureManifest | null = null;
  try {
    manifest = JSON.parse(await readFile(join(dir, MANIFEST_FILE), "utf8")) as CaptureManifest;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOTDIR" || (code === "ENOENT" && !(await isDirectory(dir)))) {
      throw new ReconError(ERROR_CODES.USAGE, `replay directory not found: ${dir}`);
    }
    // No manifest (hand-made fixture directory): every present file counts as a clean run.
  }
  return {
    async run(probe) {
      const recorded = manifest?.probes?.[probe.file];
      let output: string;
      try {
        output = await readFile(join(dir, probe.file), "utf8");
      } catch {
        // Recorded but no file: the tool printed nothing (a failure, or an ok modprobe).
        if (recorded) return result(probe, { ...recorded, command: `replay ${recorded.command}` });
        return result(probe, { status: "skipped", message: "not captured" });
      }
      return result(probe, {
        status: recorded?.status ?? "ok",
        exitCode: recorded?.exitCode ?? null,
        message: recorded?.message ?? null,
        output,
        command: `replay ${probe.file}`,
      });
    },
  };
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
