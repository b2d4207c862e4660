// recon-agent's entry: arguments, subcommands, and the one place errors become exit codes.
// Heavy modules (zod, undici, tar) are imported by the subcommand that needs them, so
// `--version`, `--help` and usage errors start as fast as plain node.
// Each subcommand is one entry of COMMANDS: its flags (with their help), its positionals and its
// handler; `<command> --help` and the flag checks are generated from that entry, so the help
// names every flag the subcommand accepts and nothing else. A subcommand with its own parser
// (boot-assets, export) is a `delegated` entry: it gets its arguments and supplies its help.
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { CmdlineOverride } from "./collect/cmdline.ts";
import { ERROR_CODES, type ErrorCode, isReconError, ReconError } from "./errors.ts";
import { makeDirectory } from "./fs.ts";
import { consoleLogger } from "./log.ts";
import {
  DEFAULT_UPLOAD_TIMEOUT_MS,
  isPowerOffMode,
  MAX_UPLOAD_TIMEOUT_S,
  type PeerCmdline,
  POWER_OFF_MODES,
  parseMasterUrl,
  readPeerCmdline,
} from "./peer/config.ts";
import { DEFAULT_SPOOL_DIR } from "./peer/spool.ts";
import { AGENT_COMMIT, AGENT_NAME, AGENT_VERSION } from "./version.ts";

/** Exit codes, stable for scripts (post.sh, recon.service). */
export const EXIT_CODES: Record<ErrorCode | "OK" | "INTERNAL", number> = {
  OK: 0,
  INTERNAL: 1,
  [ERROR_CODES.USAGE]: 2,
  [ERROR_CODES.IO]: 3,
  [ERROR_CODES.INVALID_DOCUMENT]: 4,
  [ERROR_CODES.UPLOAD_FAILED]: 5,
  [ERROR_CODES.ACK_MISMATCH]: 6,
  [ERROR_CODES.POWER_OFF_FAILED]: 7,
  [ERROR_CODES.EXEC_REFUSED]: 8,
  [ERROR_CODES.EXPORT_FAILED]: 9,
};

/** What each exit code means, in --help and the README (a test keeps them identical). */
const EXIT_CODE_MEANINGS: Record<keyof typeof EXIT_CODES, string> = {
  OK: "ok",
  INTERNAL: "internal error",
  [ERROR_CODES.USAGE]: "usage",
  [ERROR_CODES.IO]: "file I/O",
  [ERROR_CODES.INVALID_DOCUMENT]: "invalid document",
  [ERROR_CODES.UPLOAD_FAILED]: "upload not acknowledged (document spooled)",
  [ERROR_CODES.ACK_MISMATCH]: "acknowledgement mismatch",
  [ERROR_CODES.POWER_OFF_FAILED]: "power-off failed",
  [ERROR_CODES.EXEC_REFUSED]: "refused to start a process under the test runner",
  [ERROR_CODES.EXPORT_FAILED]: "export: at least one node failed",
};

/** "Exit codes: 0 ok, 1 internal error, ..." as one line. */
export function exitCodesLine(): string {
  const entries = Object.entries(EXIT_CODES) as Array<[keyof typeof EXIT_CODES, number]>;
  return `Exit codes: ${entries
    .sort((a, b) => a[1] - b[1])
    .map(([key, code]) => `${code} ${EXIT_CODE_MEANINGS[key]}`)
    .join(", ")}.`;
}

/** Bounds of --budget, in seconds. */
export const BUDGET_SECONDS = { min: 1, max: 3600 } as const;

interface Flag {
  type: "string" | "boolean";
  short?: string;
  /** Placeholder of the value in the help ("DIR"). */
  arg?: string;
  help: string;
}
type Flags = Record<string, Flag>;
type Values = Record<string, string | boolean | undefined>;

interface ParsedCommand {
  name: string;
  usage: string;
  summary: string;
  flags: Flags;
  /** Placeholder of the positionals in the usage line, and how many are allowed. */
  positionals: { min: number; max: number; what?: string };
  run(values: Values, positionals: string[]): Promise<number>;
}

interface DelegatedCommand {
  name: string;
  summary: string;
  help(): Promise<string>;
  /** Parses --help itself (its targets have their own help). */
  ownHelp?: boolean;
  run(argv: string[]): Promise<number>;
}

const HELP_FLAGS: Flags = { help: { type: "boolean", short: "h", help: "this text" } };

const INVENTORY_FLAGS: Flags = {
  replay: {
    type: "string",
    arg: "DIR",
    help: "build the document from a capture directory instead of running tools",
  },
  budget: {
    type: "string",
    arg: "SECONDS",
    help: `overall time budget for all collectors, ${BUDGET_SECONDS.min}..${BUDGET_SECONDS.max} (default 300)`,
  },
  cmdline: { type: "string", arg: "FILE", help: "read this instead of /proc/cmdline" },
  "allow-anonymous": {
    type: "boolean",
    help: "with --replay: accept a capture with no UUID, serial, MAC or stable fact (random nodeId)",
  },
};

const PEER_FLAGS: Flags = {
  master: {
    type: "string",
    arg: "URL",
    help: "the master's base URL (default: recon.master= or http://<pxeaddr>/)",
  },
  "token-file": {
    type: "string",
    arg: "FILE",
    help: "bearer token for uploads (default: recon.token=)",
  },
  poweroff: {
    type: "string",
    arg: "MODE",
    help: `${POWER_OFF_MODES.join("|")} after the acknowledgement (default: soft)`,
  },
  "no-poweroff": { type: "boolean", help: "same as --poweroff none" },
  "upload-timeout": {
    type: "string",
    arg: "S",
    help: `keep retrying the upload this long, 1..${MAX_UPLOAD_TIMEOUT_S} (default ${DEFAULT_UPLOAD_TIMEOUT_MS / 1000})`,
  },
  spool: {
    type: "string",
    arg: "DIR",
    help: `where an unacknowledged document is kept (default ${DEFAULT_SPOOL_DIR})`,
  },
  "ipmi-host": {
    type: "string",
    arg: "HOST",
    help: "power off out-of-band over lanplus (password from IPMI_PASSWORD)",
  },
  "ipmi-port": { type: "string", arg: "PORT", help: "with --ipmi-host (default 623)" },
  "ipmi-user": { type: "string", arg: "USER", help: "with --ipmi-host" },
};

/** A usage error that names the subcommand and points to its help. */
function usage(message: string, command?: string): ReconError {
  const help = command ? `${command === "dry-run" ? "--dry-run" : command} --help` : "--help";
  return new ReconError(ERROR_CODES.USAGE, `${message} (see ${AGENT_NAME} ${help})`);
}

/** A positive number of seconds as typed ("600", "0.5"); the text itself in the error. */
function positiveSeconds(
  value: string | undefined,
  flag: string,
  command: string,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n <= 0)
    throw usage(`${flag} needs a positive number of seconds, got "${value}"`, command);
  return n;
}

function seconds(
  value: string | boolean | undefined,
  flag: string,
  bounds: { min: number; max: number },
  command: string,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== "string" || !Number.isFinite(n) || n < bounds.min || n > bounds.max)
    throw usage(
      `${flag} needs a number of seconds from ${bounds.min} to ${bounds.max}, got "${value}"`,
      command,
    );
  return n * 1000;
}

function port(value: string | undefined, flag: string, fallback: number, command: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw usage(`${flag} needs a port 0-65535, got "${value}"`, command);
  return n;
}

function bytes(value: string | undefined, flag: string, command: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1)
    throw usage(`${flag} needs a whole number of bytes >= 1, got "${value}"`, command);
  return n;
}

/** A file-system error as recon's E_IO: the path and the reason, never a stack. */
function ioError(what: string, path: string, error: unknown): ReconError {
  const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
  return new ReconError(ERROR_CODES.IO, `cannot ${what} ${path}: ${reason}`, { cause: error });
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    throw ioError(`read ${what}`, path, error);
  }
}

async function readToken(path: string | undefined, command: string): Promise<string | null> {
  if (!path) return null;
  const token = (await readText(path, "token file")).trim();
  if (!token) throw usage(`token file ${path} is empty`, command);
  return token;
}

function warn(message: string): void {
  process.stderr.write(`${AGENT_NAME}: warning: ${message}\n`);
}

function warnIfNotRoot(replaying: boolean): void {
  if (replaying || process.geteuid?.() === 0) return;
  warn(
    "not running as root: dmidecode, lshw and ipmitool are skipped " +
      '(marked "requires root" in collectors[]); run as root for a complete inventory',
  );
}

/** Files a capture directory may hold (the probes' file names, see agent/collect/*). */
const CAPTURE_FILE =
  /^(?:manifest\.json|(?:cmdline|dmidecode|hostname|lldpctl|lspci|meminfo|ipmi-devices(?:-after-modprobe)?|modprobe-[\w-]+|ethtool-(?:P-)?[\w.@-]+)\.txt|(?:ip-addr|lsblk|lscpu|lshw|smartctl-scan|sys-class-net)\.json)$/;

/** A replay directory must exist, be readable and hold at least one capture file. */
async function checkReplayDir(dir: string, command: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR")
      throw usage(`replay directory not found: ${dir}`, command);
    throw ioError("read replay directory", dir, error);
  }
  if (!names.some((name) => CAPTURE_FILE.test(name)))
    throw usage(
      `${dir} holds no capture files (manifest.json, dmidecode.txt, lsblk.json, ...): ` +
        `make one with ${AGENT_NAME} capture DIR`,
      command,
    );
}

/** `--cmdline FILE`, read up front so a missing file is exit 3 before any work. */
async function cmdlineOverride(values: Values): Promise<CmdlineOverride | null> {
  const path = values.cmdline;
  if (typeof path !== "string") return null;
  return { path, text: await readText(path, "kernel command line") };
}

async function dryRun(values: Values): Promise<number> {
  const command = "dry-run";
  if (values.replay) await checkReplayDir(String(values.replay), command);
  const cmdline = await cmdlineOverride(values);
  warnIfNotRoot(Boolean(values.replay));
  const budgetMs = seconds(values.budget, "--budget", BUDGET_SECONDS, command);
  const [{ buildInventory, refuseAnonymousReplay }, { summarize }] = await Promise.all([
    import("./inventory.ts"),
    import("./summary.ts"),
  ]);
  const { document } = await buildInventory({
    replayDir: typeof values.replay === "string" ? values.replay : null,
    budgetMs,
    cmdline,
  });
  refuseAnonymousReplay(document, {
    replayDir: typeof values.replay === "string" ? values.replay : null,
    allowAnonymous: Boolean(values["allow-anonymous"]),
  });
  const json = `${JSON.stringify(document, null, 2)}\n`;
  if (typeof values.out !== "string") {
    process.stdout.write(json);
    return 0;
  }
  let target = values.out;
  const isDir =
    target.endsWith("/") ||
    (await stat(target).then(
      (s) => s.isDirectory(),
      () => false,
    ));
  if (isDir) {
    try {
      await makeDirectory(target);
    } catch (error) {
      throw ioError("create directory", target, error);
    }
    target = join(target, `${document.nodeId}.json`);
  }
  try {
    await writeFile(target, json);
  } catch (error) {
    throw ioError("write", target, error);
  }
  process.stdout.write(summarize(document));
  process.stdout.write(`document   ${target}\n`);
  return 0;
}

async function capture(values: Values, [dir]: string[]): Promise<number> {
  const command = "capture";
  if (!dir) throw usage("capture needs a directory", command);
  const budgetMs = seconds(values.budget, "--budget", BUDGET_SECONDS, command);
  try {
    await makeDirectory(dir);
  } catch (error) {
    throw ioError("create capture directory", dir, error);
  }
  warnIfNotRoot(false);
  const [{ buildInventory }, { summarize }] = await Promise.all([
    import("./inventory.ts"),
    import("./summary.ts"),
  ]);
  const { document } = await buildInventory({ captureDir: dir, budgetMs });
  process.stdout.write(summarize(document));
  process.stdout.write(
    `capture    ${dir} (replay with: ${AGENT_NAME} --dry-run --replay ${dir})\n`,
  );
  return 0;
}

/** Checks every file, reports each bad one, and fails at the end if any was bad. */
async function validate(_values: Values, files: string[]): Promise<number> {
  const { Inventory } = await import("../schema/inventory.ts");
  let invalid = 0;
  let unreadable = 0;
  for (const file of files) {
    let text: string;
    try {
      text = await readText(file, "document");
    } catch (error) {
      process.stdout.write(`${file}: ${(error as Error).message}\n`);
      unreadable++;
      continue;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      process.stdout.write(`${file}: not JSON: ${(error as Error).message}\n`);
      invalid++;
      continue;
    }
    const result = Inventory.safeParse(parsed);
    if (result.success) {
      process.stdout.write(`${file}: valid (${result.data.nodeId})\n`);
    } else {
      invalid++;
      for (const issue of result.error.issues) {
        process.stdout.write(`${file}: ${issue.path.join(".") || "(root)"}: ${issue.message}\n`);
      }
    }
  }
  const summary = `${invalid} invalid and ${unreadable} unreadable of ${files.length} documents`;
  if (invalid > 0) throw new ReconError(ERROR_CODES.INVALID_DOCUMENT, summary);
  if (unreadable > 0) throw new ReconError(ERROR_CODES.IO, summary);
  return 0;
}

async function reparse(values: Values): Promise<number> {
  const command = "reparse";
  if (typeof values.root !== "string") throw usage("--root DIR is required", command);
  const root = values.root;
  const info = await stat(root).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") throw usage(`data root not found: ${root}`, command);
    throw ioError("read data root", root, error);
  });
  if (!info.isDirectory()) throw usage(`not a directory: ${root}`, command);
  const { describeChanges, reparseRoot } = await import("./master/reparse.ts");
  const results = await reparseRoot({
    root,
    dryRun: values["dry-run"] === true,
    onNode: (node, done, total) => {
      const to =
        node.toVersion && node.toVersion !== node.fromVersion ? ` -> ${node.toVersion}` : "";
      const versions = node.fromVersion ? ` ${node.fromVersion}${to}` : "";
      const changes = node.outcome === "upgraded" || node.outcome === "conflict";
      const what = changes ? describeChanges(node.changes) : "";
      const detail = [what, node.detail].filter((part) => part !== "").join("; ");
      process.stdout.write(
        `${node.nodeId}: ${node.outcome}${versions}${detail ? `: ${detail}` : ""}\n`,
      );
      if (total >= 50 && done % 50 === 0) process.stderr.write(`recon: ${done}/${total} nodes\n`);
    },
  });
  const count = (outcome: string) => results.filter((node) => node.outcome === outcome).length;
  const line = ["upgraded", "unchanged", "conflict", "skipped", "failed"]
    .map((outcome) => `${count(outcome)} ${outcome}`)
    .join(", ");
  process.stdout.write(`recon: ${results.length} nodes: ${line}\n`);
  const failed = results.filter((node) => node.outcome === "failed");
  if (failed.some((node) => node.problem === "invalid"))
    throw new ReconError(ERROR_CODES.INVALID_DOCUMENT, `${failed.length} nodes failed to re-parse`);
  if (failed.length > 0)
    throw new ReconError(ERROR_CODES.IO, `${failed.length} nodes failed to re-parse`);
  return 0;
}

async function report(values: Values): Promise<number> {
  const command = "report";
  if (typeof values.root !== "string") throw usage("--root DIR is required", command);
  const root = values.root;
  const info = await stat(root).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") throw usage(`data root not found: ${root}`, command);
    throw ioError("read data root", root, error);
  });
  if (!info.isDirectory()) throw usage(`not a directory: ${root}`, command);
  const out = typeof values.out === "string" ? values.out : root;
  const { writeReport } = await import("./master/report.ts");
  const written = await writeReport({ root, out }).catch((error: unknown) => {
    throw ioError("write the report to", out, error);
  });
  const counts = Object.entries(written.counts)
    .filter(([, n]) => n > 0)
    .map(([state, n]) => `${n} ${state}`)
    .join(", ");
  process.stdout.write(
    `recon: ${written.nodes} nodes (${counts || "none"}): ${written.html}, ${written.csv}\n`,
  );
  if (written.skipped.length > 0) {
    process.stderr.write(
      `recon: left out of nodes.csv (stored document invalid): ${written.skipped.join(", ")}\n`,
    );
  }
  return 0;
}

async function serve(values: Values): Promise<number> {
  const command = "serve";
  const text = (name: string) =>
    typeof values[name] === "string" ? (values[name] as string) : undefined;
  const root = text("root");
  if (!root) throw usage("serve needs --root DIR", command);
  const { serveCommand } = await import("./master/index.ts");
  await serveCommand({
    root,
    host: text("host") ?? "0.0.0.0",
    port: port(text("port"), "--port", 80, command),
    token: await readToken(text("token-file"), command),
    menu: text("menu"),
    postTgz: text("post-tgz"),
    postDir: text("post-dir"),
    export: text("export"),
    isos: text("isos"),
    install: text("install"),
    maxInventoryBytes: bytes(text("max-inventory-bytes"), "--max-inventory-bytes", command),
    maxEvidenceBytes: bytes(text("max-evidence-bytes"), "--max-evidence-bytes", command),
    minUploadBytesPerSecond: bytes(text("min-upload-rate"), "--min-upload-rate", command),
    dnsmasqConf: text("dnsmasq-conf"),
    leaseFile: text("lease-file"),
    stallAfterSeconds: positiveSeconds(text("stall-after"), "--stall-after", command),
  });
  return 0;
}

/** A flag wins over its kernel argument; a bad kernel argument it overrides is only a warning. */
function resolve<T>(
  fromCmdline: PeerCmdline[keyof PeerCmdline],
  flag: string | null,
  fromFlag: () => T,
): T {
  if (flag !== null) {
    if ("error" in fromCmdline)
      warn(`ignoring the kernel argument (${fromCmdline.error.message}): overridden by ${flag}`);
    return fromFlag();
  }
  if ("error" in fromCmdline)
    throw usage(`${fromCmdline.error.message}; a flag overrides it`, "run");
  return fromCmdline.value as T;
}

async function run(values: Values): Promise<number> {
  const command = "run";
  const text = (name: string) =>
    typeof values[name] === "string" ? (values[name] as string) : undefined;
  if (values.out !== undefined) throw usage("--out is for --dry-run", command);
  if (values.replay) await checkReplayDir(String(values.replay), command);
  const cmdline = await cmdlineOverride(values);
  const fromCmdline = readPeerCmdline(
    cmdline?.text ?? (await readText("/proc/cmdline", "kernel command line")),
  );
  const master = text("master");
  const masterUrl = resolve<URL | null>(fromCmdline.masterUrl, master ? "--master" : null, () => {
    try {
      return parseMasterUrl(master ?? "", "--master");
    } catch (error) {
      throw isReconError(error) ? usage(error.message, command) : error;
    }
  });
  if (!masterUrl) {
    throw usage(
      "no master: the kernel command line has neither pxeaddr= nor recon.master=, and no --master was given",
      command,
    );
  }
  const poweroffFlag = values["no-poweroff"]
    ? "--no-poweroff"
    : text("poweroff") !== undefined
      ? "--poweroff"
      : null;
  const mode = resolve(fromCmdline.powerOff, poweroffFlag, () => {
    if (values["no-poweroff"]) return "none" as const;
    const wanted = text("poweroff") ?? "";
    if (!isPowerOffMode(wanted))
      throw usage(`--poweroff must be ${POWER_OFF_MODES.join(", ")}, got "${wanted}"`, command);
    return wanted;
  });
  const totalTimeoutMs = resolve(
    fromCmdline.uploadTimeoutMs,
    text("upload-timeout") !== undefined ? "--upload-timeout" : null,
    () =>
      seconds(
        values["upload-timeout"],
        "--upload-timeout",
        { min: 1, max: MAX_UPLOAD_TIMEOUT_S },
        command,
      ) ?? DEFAULT_UPLOAD_TIMEOUT_MS,
  );
  const budgetMs = seconds(values.budget, "--budget", BUDGET_SECONDS, command);
  const ipmiArgs: string[] = [];
  const ipmiHost = text("ipmi-host");
  if (ipmiHost) {
    ipmiArgs.push("-I", "lanplus", "-C", "3", "-H", ipmiHost);
    ipmiArgs.push("-p", String(port(text("ipmi-port"), "--ipmi-port", 623, command)));
    const user = text("ipmi-user");
    if (user) ipmiArgs.push("-U", user);
    if (process.env.IPMI_PASSWORD) ipmiArgs.push("-E");
  } else if (text("ipmi-port") || text("ipmi-user")) {
    throw usage("--ipmi-port and --ipmi-user need --ipmi-host", command);
  }
  const cmdlineToken = "value" in fromCmdline.token ? fromCmdline.token.value : null;
  const token = (await readToken(text("token-file"), command)) ?? cmdlineToken;
  warnIfNotRoot(Boolean(values.replay));
  const { runPeer } = await import("./peer/run.ts");
  const result = await runPeer({
    masterUrl,
    token,
    powerOff: mode,
    retry: { totalTimeoutMs },
    budgetMs,
    spoolDir: text("spool") ?? DEFAULT_SPOOL_DIR,
    replayDir: text("replay") ?? null,
    allowAnonymous: Boolean(values["allow-anonymous"]),
    cmdline,
    ipmiArgs,
    log: consoleLogger(),
  });
  process.stdout.write(
    `recon: done: ${result.document.nodeId} acknowledged by ${masterUrl.origin}\n`,
  );
  return 0;
}

const COMMANDS: ParsedCommand[] = [
  {
    name: "run",
    usage: "[run] [options]",
    summary:
      "peer mode: inventory, upload to the master, wait for its acknowledgement, then power off.\n" +
      'Each flag overrides its kernel argument (see the README, "Kernel command line").',
    flags: { ...INVENTORY_FLAGS, ...PEER_FLAGS },
    positionals: { min: 0, max: 0 },
    run,
  },
  {
    name: "dry-run",
    usage: "--dry-run [options]",
    summary: "inventory only: print the JSON document (or write it with --out); uploads nothing",
    flags: {
      "dry-run": { type: "boolean", help: "this mode" },
      ...INVENTORY_FLAGS,
      out: {
        type: "string",
        arg: "PATH",
        help: "write the document to PATH (a directory gets <nodeId>.json) and print a summary",
      },
    },
    positionals: { min: 0, max: 0 },
    run: dryRun,
  },
  {
    name: "capture",
    usage: "capture DIR [--budget SECONDS]",
    summary: "run every tool and keep its raw output (and manifest.json) in DIR",
    flags: { budget: INVENTORY_FLAGS.budget as Flag },
    positionals: { min: 1, max: 1, what: "DIR" },
    run: capture,
  },
  {
    name: "serve",
    usage: "serve --root DIR [options]",
    summary: "the master's HTTP server (files, upload API, status page)",
    flags: {
      root: {
        type: "string",
        arg: "DIR",
        help: "data directory; nodes are stored in DIR/nodes/<nodeId>/",
      },
      host: { type: "string", arg: "ADDR", help: "listen address (default 0.0.0.0)" },
      port: { type: "string", arg: "N", help: "listen port (default 80)" },
      "token-file": { type: "string", arg: "FILE", help: "require this bearer token for uploads" },
      menu: { type: "string", arg: "FILE", help: "served as /menu.ipxe" },
      "post-tgz": { type: "string", arg: "FILE", help: "served as /post.tgz" },
      "post-dir": {
        type: "string",
        arg: "DIR",
        help: "its post.tgz, post-x86_64.tgz, post-aarch64.tgz are served under those names",
      },
      export: { type: "string", arg: "DIR", help: "served under /export" },
      isos: { type: "string", arg: "DIR", help: "served under /isos" },
      install: { type: "string", arg: "DIR", help: "served under /install" },
      "max-inventory-bytes": {
        type: "string",
        arg: "N",
        help: "largest inventory body accepted (default 4 MiB)",
      },
      "max-evidence-bytes": {
        type: "string",
        arg: "N",
        help: "largest evidence body accepted (default 64 MiB)",
      },
      "min-upload-rate": {
        type: "string",
        arg: "BYTES_PER_S",
        help: "an upload slower than this on average after a grace period is cut with 408 (default 1024)",
      },
      "dnsmasq-conf": {
        type: "string",
        arg: "FILE",
        help: "dnsmasq.conf of the master's dnsmasq: its leases and DHCP range feed the node states",
      },
      "lease-file": {
        type: "string",
        arg: "FILE",
        help: "dnsmasq's lease file (default: the conf's)",
      },
      "stall-after": {
        type: "string",
        arg: "SECONDS",
        help: "a node without progress for this long is stalled (default 600)",
      },
    },
    positionals: { min: 0, max: 0 },
    run: serve,
  },
  {
    name: "validate",
    usage: "validate FILE...",
    summary:
      "check inventory documents against the schema; reports every file, fails if any is bad",
    flags: {},
    positionals: { min: 1, max: Number.POSITIVE_INFINITY, what: "FILE" },
    run: validate,
  },
  {
    name: "reparse",
    usage: "reparse --root DIR [--dry-run]",
    summary:
      "rebuild every node's inventory.json under a data root from its stored evidence with\n" +
      "today's parsers (the old version goes to history/) and report what changed per node",
    flags: {
      root: {
        type: "string",
        arg: "DIR",
        help: "the data root (<root>/nodes/<nodeId>/), e.g. the mounted stick; no master may serve it",
      },
      "dry-run": { type: "boolean", help: "report what would change; write nothing" },
    },
    positionals: { min: 0, max: 0 },
    run: reparse,
  },
  {
    name: "report",
    usage: "report --root DIR [--out DIR]",
    summary:
      "write report.html (self-contained, opens offline: counts, every node with its state,\n" +
      "failed and missing first, links to its files) and nodes.csv for a data root",
    flags: {
      root: { type: "string", arg: "DIR", help: "the data root (<root>/nodes/<nodeId>/)" },
      out: { type: "string", arg: "DIR", help: "where the two files go (default: the root)" },
    },
    positionals: { min: 0, max: 0 },
    run: report,
  },
  {
    name: "schema",
    usage: "schema",
    summary: "print the JSON Schema of the document",
    flags: {},
    positionals: { min: 0, max: 0 },
    run: async () => {
      const { inventoryJsonSchema } = await import("../schema/inventory.ts");
      process.stdout.write(`${JSON.stringify(inventoryJsonSchema(), null, 2)}\n`);
      return 0;
    },
  },
];

const BOOT_ASSETS_HELP = `Usage: ${AGENT_NAME} boot-assets [options]
Writes the master's dnsmasq.conf, menu.ipxe and grub.cfg (recon-role.sh runs this when a node
becomes the master). Give --dnsmasq-out, --menu-out and/or --grub-cfg-out.

Required:
  --interface IF          the provisioning interface
  --address CIDR          the master's address on it, e.g. 10.13.37.1/24
  --tftp-root DIR         the TFTP root (iPXE, shim and GRUB loaders, grub/grub.cfg)

dnsmasq.conf:
  --dnsmasq-out FILE      write dnsmasq.conf here
  --lease-file FILE  --dhcp-range FIRST,LAST  --lease-time T  --domain D  --master-name N
  --http-base URL  --bios-file F
  --efi-file F            UEFI x86_64 loader (default ipxe.efi; recon-role.sh: shimx64.efi)
  --efi-aarch64-file F    UEFI arm64 loader (grubaa64.efi; default: none for arm64)
  --dhcp-script FILE      dnsmasq's dhcp-script (recon-role.sh: the installed
                          dnsmasq-hook.sh, whose lines give serve each client's architecture)

menu.ipxe and grub.cfg (the same kernel arguments):
  --menu-out FILE         write menu.ipxe here (iPXE: BIOS clients)
  --grub-cfg-out FILE     write grub.cfg here (TFTP grub/grub.cfg: shim + GRUB, UEFI clients)
  either needs: --image-name N  --image-version V  --kernel K  --initrd I
  optional: --squashfs-path P (the peers' root; wins over --iso-path P)  --master HOST
  --aarch64-path DIR (its linux, initrd, squashfs.img: arm64 peers, grub.cfg only)
  --console C  --aarch64-console C  --extra-arg A (alias --kernel-arg; all repeatable)

  -h, --help              this text
`;

const DELEGATED: DelegatedCommand[] = [
  {
    name: "boot-assets",
    summary: "write the master's dnsmasq.conf and menu.ipxe",
    help: async () => BOOT_ASSETS_HELP,
    run: async (argv) => {
      const { bootAssetsCommand } = await import("./master/boot-assets.ts");
      return bootAssetsCommand(argv);
    },
  },
  {
    name: "export",
    summary: "export documents into a CMDB (or the files it imports)",
    ownHelp: true,
    help: async () => (await import("./export/command.ts")).EXPORT_HELP,
    run: async (argv) => {
      const { exportCommand } = await import("./export/command.ts");
      await exportCommand(argv);
      return 0;
    },
  },
];

function flagLabel(name: string, flag: Flag): string {
  const long = `--${name}${flag.arg ? ` ${flag.arg}` : ""}`;
  return flag.short ? `-${flag.short}, ${long}` : long;
}

export function commandHelp(command: ParsedCommand): string {
  const flags = Object.entries({ ...command.flags, ...HELP_FLAGS });
  const width = Math.max(...flags.map(([name, flag]) => flagLabel(name, flag).length)) + 2;
  const lines = flags.map(([name, flag]) => `  ${flagLabel(name, flag).padEnd(width)}${flag.help}`);
  return `Usage: ${AGENT_NAME} ${command.usage}\n${command.summary}\n\nOptions:\n${lines.join("\n")}\n\n${exitCodesLine()}\n`;
}

function globalHelp(): string {
  const entries: Array<[string, string]> = [
    ...COMMANDS.map((c): [string, string] => [c.usage, c.summary.split("\n")[0] ?? ""]),
    ...DELEGATED.map((c): [string, string] => [`${c.name} [options]`, c.summary]),
  ];
  const width = Math.max(...entries.map(([u]) => u.length)) + 2;
  return `${AGENT_NAME} ${AGENT_VERSION}: bare-metal hardware inventory

Usage:
${entries.map(([u, s]) => `  ${AGENT_NAME} ${u.padEnd(width)}${s}`).join("\n")}

  ${AGENT_NAME} COMMAND --help        the options of one command (run: ${AGENT_NAME} run --help)
  -h, --help                     this text
  -V, --version                  version and git commit

${exitCodesLine()}
`;
}

const GLOBAL_FLAGS: Flags = {
  ...HELP_FLAGS,
  version: { type: "boolean", short: "V", help: "version and git commit" },
};

type Token = NonNullable<ReturnType<typeof parseArgs>["tokens"]>[number];

function tokensOf(argv: string[], flags: Flags): Token[] {
  const options = Object.fromEntries(
    Object.entries(flags).map(([name, f]) => [
      name,
      f.short ? { type: f.type, short: f.short } : { type: f.type },
    ]),
  );
  return (
    parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true })
      .tokens ?? []
  );
}

/** Which command the arguments ask for (positionals are read with every command's flags). */
function pickCommand(argv: string[]): { command: ParsedCommand | null; unknown?: string } {
  const all: Flags = { ...GLOBAL_FLAGS };
  for (const c of COMMANDS) Object.assign(all, c.flags);
  const tokens = tokensOf(argv, all);
  const first = tokens.find((t) => t.kind === "positional");
  const dryRun = tokens.some((t) => t.kind === "option" && t.name === "dry-run");
  const byName = (name: string) =>
    COMMANDS.find((c) => c.name === name && name !== "dry-run") ?? null;
  const named = first?.kind === "positional" ? byName(first.value) : null;
  // `--dry-run` anywhere is the dry-run mode, unless the named command has a --dry-run of its own.
  if (named?.flags["dry-run"]) return { command: named };
  if (dryRun) return { command: COMMANDS.find((c) => c.name === "dry-run") ?? null };
  if (first?.kind !== "positional") return { command: byName("run") };
  return named ? { command: named } : { command: null, unknown: first.value };
}

/** Strict parse against one command's flags, with recon's own messages. */
function parseFor(
  command: ParsedCommand,
  argv: string[],
): { values: Values; positionals: string[] } {
  const flags = { ...GLOBAL_FLAGS, ...command.flags };
  const values: Values = {};
  const positionals: string[] = [];
  let named = command.name === "dry-run";
  for (const token of tokensOf(argv, flags)) {
    if (token.kind === "option-terminator") continue;
    if (token.kind === "positional") {
      if (!named && token.value === command.name) named = true;
      else positionals.push(token.value);
      continue;
    }
    const flag = flags[token.name];
    const label = command.name === "dry-run" ? "--dry-run" : `"${command.name}"`;
    if (!flag || (flag.short === undefined && token.rawName.length === 2))
      throw usage(`unknown flag ${token.rawName} for ${label}`, command.name);
    if (flag.type === "boolean" && token.value !== undefined)
      throw usage(`${token.rawName} takes no value, got "${token.value}"`, command.name);
    if (flag.type === "string" && token.value === undefined)
      throw usage(
        `${token.rawName} needs a value${flag.arg ? ` (${flag.arg})` : ""}`,
        command.name,
      );
    values[token.name] = token.value ?? true;
  }
  if (!values.help && !values.version) {
    const { min, max, what } = command.positionals;
    if (positionals.length > max)
      throw usage(
        `${command.name === "dry-run" ? "--dry-run" : command.name} takes ${max === 0 ? "no arguments" : `at most ${max}`}, got "${positionals[max]}"`,
        command.name,
      );
    if (positionals.length < min)
      throw usage(`${command.name} needs ${what ?? "an argument"}`, command.name);
  }
  return { values, positionals };
}

function exitOf(error: unknown): number {
  if (isReconError(error)) {
    process.stderr.write(`${AGENT_NAME}: ${error.message} [${error.code}]\n`);
    return EXIT_CODES[error.code];
  }
  const errno = error as NodeJS.ErrnoException;
  if (typeof errno?.syscall === "string" && typeof errno.code === "string") {
    // A file-system error nobody wrapped: still a file I/O failure, never a stack trace.
    process.stderr.write(`${AGENT_NAME}: ${errno.message} [${ERROR_CODES.IO}]\n`);
    return EXIT_CODES[ERROR_CODES.IO];
  }
  process.stderr.write(
    `${AGENT_NAME}: internal error: ${(error as Error)?.stack ?? String(error)}\n`,
  );
  return EXIT_CODES.INTERNAL;
}

/** Runs the CLI; returns the process exit code. Never throws. */
export async function main(argv: string[]): Promise<number> {
  try {
    const delegated = DELEGATED.find((c) => c.name === argv[0]);
    if (delegated) {
      const rest = argv.slice(1);
      // export answers --help itself: "export csv --help" is the csv target's own help.
      if (!delegated.ownHelp && (rest.includes("--help") || rest.includes("-h"))) {
        process.stdout.write(await delegated.help());
        return 0;
      }
      return await delegated.run(rest);
    }
    const { command, unknown } = pickCommand(argv);
    if (!command) {
      if (argv.includes("--help") || argv.includes("-h")) {
        process.stdout.write(globalHelp());
        return 0;
      }
      throw usage(`unknown command "${unknown}"`);
    }
    const explicit = command.name !== "run" || argv.some((a) => a === "run");
    const { values, positionals } = parseFor(command, argv);
    if (values.help) {
      process.stdout.write(explicit ? commandHelp(command) : globalHelp());
      return 0;
    }
    if (values.version) {
      process.stdout.write(`${AGENT_NAME} ${AGENT_VERSION} (${AGENT_COMMIT})\n`);
      return 0;
    }
    return await command.run(values, positionals);
  } catch (error) {
    return exitOf(error);
  }
}

/** For tests: the parsed commands, their help and the delegated ones. */
export const COMMAND_TABLE = { commands: COMMANDS, delegated: DELEGATED, globalHelp };
