// The one command runner. Every collector describes what it needs as a Probe (a command, a file
// to read, or an in-process reader) and gets back a ProbeResult; it never starts a process itself.
// Runners: real (execa, argument arrays, no shell), capture (real + write the raw output to a
// directory), replay (read a capture directory instead of running anything). Under `node --test`
// the real runner refuses to start processes unless a test asks for it explicitly.
import { readFile, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import type { CollectorStatus } from "../schema/inventory.ts";
import { ERROR_CODES, ReconError } from "./errors.ts";
import { makeDirectory } from "./fs.ts";

export type ProbeSource =
  | { kind: "command"; argv: readonly [string, ...string[]]; versionArgv?: readonly string[] }
  | { kind: "file"; path: string }
  | { kind: "internal"; describe: string; read: () => Promise<string> };

export interface Probe {
  /** Name of the raw output in a capture directory, e.g. "dmidecode.txt". */
  file: string;
  source: ProbeSource;
  timeoutMs: number;
  /** Only root can run this meaningfully (dmidecode reads /dev/mem, ipmitool opens /dev/ipmi0). */
  needsRoot?: boolean;
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
}

/** Runs commands for real: argument arrays only, C locale, per-probe timeout, bounded output. */
export function realRunner(options: RealRunnerOptions = {}): Runner {
  const root = options.root ?? isRoot();
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
      const started = performance.now();
      const elapsed = () => Math.round((performance.now() - started) * 10) / 10;
      const { source } = probe;
      if (source.kind !== "command") {
        try {
          const output =
            source.kind === "file" ? await readFile(source.path, "utf8") : await source.read();
          return result(probe, { status: "ok", output, durationMs: elapsed() });
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          return result(probe, {
            status: code === "ENOENT" ? "skipped" : "failed",
            durationMs: elapsed(),
            message: code === "ENOENT" ? "not present on this system" : String(error),
          });
        }
      }
      const [file, ...args] = source.argv;
      const run = await execa(file, args, {
        reject: false,
        timeout: probe.timeoutMs,
        forceKillAfterDelay: 2000,
        cancelSignal: signal,
        maxBuffer: MAX_OUTPUT_BYTES,
        stdin: "ignore",
        stripFinalNewline: false,
        env: { LC_ALL: "C", LANG: "C" },
      });
      const durationMs = elapsed();
      const output = typeof run.stdout === "string" ? run.stdout : "";
      const stderr = typeof run.stderr === "string" ? run.stderr : "";
      const exitCode = run.exitCode ?? null;
      if ((run as { code?: string }).code === "ENOENT") {
        return result(probe, { status: "skipped", durationMs, message: `${file}: not installed` });
      }
      if (run.timedOut || run.isCanceled) {
        return result(probe, {
          status: "timeout",
          output,
          durationMs,
          message: run.timedOut ? `timed out after ${probe.timeoutMs} ms` : "overall budget spent",
        });
      }
      if (run.failed) {
        return result(probe, {
          status: "failed",
          output,
          exitCode,
          durationMs,
          message: firstLine(stderr) || firstLine(run.shortMessage ?? "") || "failed",
        });
      }
      return result(probe, { status: "ok", output, exitCode, durationMs });
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
