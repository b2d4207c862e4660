// The master: `recon-agent serve`. agent/cli.ts parses flags and calls serveCommand.
import { existsSync, statSync } from "node:fs";
import path from "node:path";
import v8 from "node:v8";
import { ERROR_CODES, ReconError } from "../errors.ts";
import {
  causeText,
  type LogEvent,
  type RunningServer,
  type ServerOptions,
  startServer,
} from "./serve.ts";

export type { NodeList, NodeListItem } from "./page.ts";
export {
  DEFAULT_MAX_CONCURRENT_UPLOADS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_EVIDENCE_BYTES,
  DEFAULT_MAX_INVENTORY_BYTES,
  DEFAULT_MIN_UPLOAD_BYTES_PER_SECOND,
  DEFAULT_UPLOAD_GRACE_MS,
  type LogEvent,
  type RunningServer,
  type ServerOptions,
  startServer,
} from "./serve.ts";
export type { StoreResult } from "./store.ts";

export interface ServeArgs {
  /** Data directory: nodes go to <root>/nodes/<nodeId>/ (also served under /nodes). */
  root: string;
  host: string;
  port: number;
  token: string | null;
  /** File served as /menu.ipxe. */
  menu?: string;
  /** File served as /post.tgz. */
  postTgz?: string;
  /** Directory whose post.tgz, post-x86_64.tgz, post-aarch64.tgz are served under those names. */
  postDir?: string;
  /** Directories served under /export, /isos, /install. */
  export?: string;
  isos?: string;
  install?: string;
  /** Largest inventory body accepted (default DEFAULT_MAX_INVENTORY_BYTES). */
  maxInventoryBytes?: number;
  /** Largest evidence body accepted (default DEFAULT_MAX_EVIDENCE_BYTES). */
  maxEvidenceBytes?: number;
  /** Average upload rate an upload must keep after the grace period (default 1024 B/s). */
  minUploadBytesPerSecond?: number;
  /** Seconds an upload may run before the minimum rate applies (default 10). */
  uploadGraceSeconds?: number;
  maxConnections?: number;
  maxConcurrentUploads?: number;
  /** dnsmasq.conf of the master's dnsmasq: its lease file and DHCP range (node states, GET /api/v1/dhcp). */
  dnsmasqConf?: string;
  /** dnsmasq's lease file (overrides the one in dnsmasqConf). */
  leaseFile?: string;
  /** Seconds without progress after which a node is `stalled` (default 600). */
  stallAfterSeconds?: number;
}

/** What --post-dir serves: the per-architecture packages and post.tgz for older peers. */
export const POST_PACKAGES: readonly string[] = ["post.tgz", "post-x86_64.tgz", "post-aarch64.tgz"];

function requireKind(flag: string, target: string, kind: "file" | "directory"): string {
  const resolved = path.resolve(target);
  let ok = false;
  try {
    const info = statSync(resolved);
    ok = kind === "file" ? info.isFile() : info.isDirectory();
  } catch {
    ok = false;
  }
  if (!ok) throw new ReconError(ERROR_CODES.USAGE, `${flag}: ${target} is not a ${kind}`);
  return resolved;
}

function requirePositive(flag: string, value: number | undefined, integer: boolean): void {
  if (value === undefined) return;
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isSafeInteger(value))) {
    throw new ReconError(
      ERROR_CODES.USAGE,
      `${flag}: ${value} is not a positive ${integer ? "integer" : "number"}`,
    );
  }
}

/** ServeArgs (from the command line) -> startServer options. Throws ReconError(E_USAGE). */
export function serveOptions(args: ServeArgs): ServerOptions {
  if (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535) {
    throw new ReconError(ERROR_CODES.USAGE, `--port: ${args.port} is not a TCP port`);
  }
  if (args.token === "") throw new ReconError(ERROR_CODES.USAGE, "--token: empty token");
  requirePositive("--max-inventory-bytes", args.maxInventoryBytes, true);
  requirePositive("--max-evidence-bytes", args.maxEvidenceBytes, true);
  requirePositive("--min-upload-rate", args.minUploadBytesPerSecond, true);
  requirePositive("uploadGraceSeconds (no flag)", args.uploadGraceSeconds, false);
  requirePositive("--stall-after", args.stallAfterSeconds, false);
  const root = path.resolve(args.root);
  const staticRoots: Record<string, string> = { "/nodes": path.join(root, "nodes") };
  if (args.export) staticRoots["/export"] = requireKind("--export", args.export, "directory");
  if (args.isos) staticRoots["/isos"] = requireKind("--isos", args.isos, "directory");
  if (args.install) staticRoots["/install"] = requireKind("--install", args.install, "directory");
  const files: Record<string, string> = {};
  if (args.menu) files["/menu.ipxe"] = requireKind("--menu", args.menu, "file");
  if (args.postTgz) files["/post.tgz"] = requireKind("--post-tgz", args.postTgz, "file");
  if (args.postDir) {
    const dir = requireKind("--post-dir", args.postDir, "directory");
    // Each package that is there: a peer asks for post-$(uname -m).tgz, then post.tgz.
    for (const name of POST_PACKAGES) {
      const file = path.join(dir, name);
      if (!files[`/${name}`] && existsSync(file)) files[`/${name}`] = file;
    }
  }
  return {
    root,
    host: args.host,
    port: args.port,
    token: args.token,
    staticRoots,
    files,
    ...(args.maxInventoryBytes !== undefined ? { maxInventoryBytes: args.maxInventoryBytes } : {}),
    ...(args.maxEvidenceBytes !== undefined ? { maxEvidenceBytes: args.maxEvidenceBytes } : {}),
    ...(args.minUploadBytesPerSecond !== undefined
      ? { minUploadBytesPerSecond: args.minUploadBytesPerSecond }
      : {}),
    ...(args.uploadGraceSeconds !== undefined
      ? { uploadGraceMs: args.uploadGraceSeconds * 1000 }
      : {}),
    ...(args.maxConnections !== undefined ? { maxConnections: args.maxConnections } : {}),
    ...(args.dnsmasqConf
      ? { dnsmasqConf: requireKind("--dnsmasq-conf", args.dnsmasqConf, "file") }
      : {}),
    // The lease file may not exist yet: dnsmasq writes it on the first lease.
    ...(args.leaseFile ? { leaseFile: path.resolve(args.leaseFile) } : {}),
    ...(args.stallAfterSeconds !== undefined
      ? { stallAfterMs: args.stallAfterSeconds * 1000 }
      : {}),
    ...(args.maxConcurrentUploads !== undefined
      ? { maxConcurrentUploads: args.maxConcurrentUploads }
      : {}),
  };
}

/**
 * Process-wide tuning for a process whose job is serving (serveCommand, bench/serve-child.ts):
 * keep V8's young generation at its initial size. Under a burst of uploads (short-lived JSON and
 * zod object graphs) V8 otherwise grows it to ~64 MB of mostly empty semi-space that stays
 * resident; without growth the 1,000-peer benchmark's peak RSS drops by 30-60 MB at no visible
 * cost in throughput. setFlagsFromString after start is allowed for this flag: V8 reads it at
 * each growth decision. Not called by startServer, which must not change its host process.
 */
export function tuneProcessForServing(): void {
  v8.setFlagsFromString("--semi-space-growth-factor=1");
}

export interface ServeIo {
  /** Where log lines go (one JSON object per line); default stderr. */
  writeLine?: (line: string) => void;
  /** Stops the server when aborted; SIGINT and SIGTERM always do. */
  signal?: AbortSignal;
  /** Called once the server listens (tests, readiness). */
  onListening?: (server: RunningServer) => void;
}

/**
 * Run the master until SIGINT/SIGTERM (or io.signal). Resolves after a clean shutdown, once
 * report.html and nodes.csv are written to the data root (RECON-DATA on the stick); throws
 * ReconError E_USAGE for bad arguments and E_IO when the root, the port or the report cannot be
 * written.
 */
export async function serveCommand(args: ServeArgs, io: ServeIo = {}): Promise<void> {
  const writeLine = io.writeLine ?? ((line: string) => process.stderr.write(`${line}\n`));
  const log = (event: LogEvent) =>
    writeLine(JSON.stringify({ ts: new Date().toISOString(), ...event }));
  const options = serveOptions(args);
  tuneProcessForServing();
  const server = await startServer({ ...options, log });
  io.onListening?.(server);
  // Once stopping, a further SIGINT, SIGTERM or SIGHUP must not end the process before the
  // report is on the stick: they are logged and otherwise ignored until serveCommand returns.
  const repeated = (signal: NodeJS.Signals) => log({ event: "signal_while_stopping", signal });
  await new Promise<void>((resolve) => {
    const stop = (reason: string) => {
      process.off("SIGINT", onSigint);
      process.off("SIGTERM", onSigterm);
      for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, repeated);
      io.signal?.removeEventListener("abort", onAbort);
      log({ event: "stopping", reason });
      resolve();
    };
    const onSigint = () => stop("SIGINT");
    const onSigterm = () => stop("SIGTERM");
    const onAbort = () => stop("aborted");
    process.once("SIGINT", onSigint);
    process.once("SIGTERM", onSigterm);
    if (io.signal?.aborted) onAbort();
    else io.signal?.addEventListener("abort", onAbort, { once: true });
  });
  try {
    await server.close();
    await writeServeReport(options.root, log);
  } finally {
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.off(signal, repeated);
  }
}

/** report.html and nodes.csv into the data root; E_IO when they cannot be written. */
async function writeServeReport(root: string, log: (event: LogEvent) => void): Promise<void> {
  const { writeReport } = await import("./report.ts");
  try {
    const written = await writeReport({ root });
    log({ event: "report_written", html: written.html, csv: written.csv, nodes: written.nodes });
  } catch (error) {
    log({ event: "report_failed", root, message: causeText(error) });
    throw new ReconError(
      ERROR_CODES.IO,
      `cannot write the report to ${root}: ${causeText(error)}`,
      {
        cause: error,
      },
    );
  }
}
