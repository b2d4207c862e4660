// recon-agent's entry: arguments, subcommands, and the one place errors become exit codes.
// Heavy modules (zod, execa, undici, tar) are imported by the subcommand that needs them, so
// `--version`, `--help` and usage errors start as fast as plain node.
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ERROR_CODES, type ErrorCode, isReconError, ReconError } from "./errors.ts";
import { consoleLogger } from "./log.ts";
import {
  DEFAULT_UPLOAD_TIMEOUT_MS,
  isPowerOffMode,
  masterUrlFrom,
  peerConfigFromCmdline,
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
};

const HELP = `${AGENT_NAME} ${AGENT_VERSION}: bare-metal hardware inventory

Usage:
  ${AGENT_NAME} [run] [options]          peer mode: inventory, upload to the master, wait for
                                      its acknowledgement, then power off (see --poweroff)
  ${AGENT_NAME} --dry-run [options]      inventory only: print the JSON document (or --out)
  ${AGENT_NAME} capture DIR              run every tool and keep its raw output in DIR
  ${AGENT_NAME} serve --root DIR [...]   the master's HTTP server (files, upload API, status page)
  ${AGENT_NAME} boot-assets [...]        write the master's dnsmasq.conf and menu.ipxe (below)
  ${AGENT_NAME} validate FILE...         check inventory documents against the schema
  ${AGENT_NAME} schema                   print the JSON Schema of the document

Inventory options (run and --dry-run):
  --replay DIR          build the document from a capture directory instead of running tools
  --out PATH            (--dry-run) write the document to PATH (a directory gets <nodeId>.json)
                        and print a short summary instead of the JSON
  --budget SECONDS      overall time budget for all collectors (default 300)

Peer options (run; each overrides the kernel command line, see README):
  --master URL          the master's base URL (default: recon.master= or http://<pxeaddr>/)
  --token-file FILE     bearer token for uploads (default: recon.token=)
  --poweroff MODE       soft|hard|reboot|none after the acknowledgement (default: soft)
  --no-poweroff         same as --poweroff none
  --upload-timeout S    keep retrying the upload this long (default ${DEFAULT_UPLOAD_TIMEOUT_MS / 1000})
  --spool DIR           where an unacknowledged document is kept (default ${DEFAULT_SPOOL_DIR})
  --cmdline FILE        read this instead of /proc/cmdline
  --ipmi-host HOST --ipmi-port PORT --ipmi-user USER
                        power off out-of-band over lanplus (password from IPMI_PASSWORD)

Serve options:
  --root DIR            data directory; nodes are stored in DIR/nodes/<nodeId>/
  --host ADDR --port N  listen address (default 0.0.0.0:80)
  --token-file FILE     require this bearer token for uploads
  --menu FILE --post-tgz FILE    served as /menu.ipxe and /post.tgz
  --export DIR --isos DIR --install DIR   served under /export, /isos, /install

Boot-assets options (recon-role.sh runs this when a node becomes the master):
  --interface IF --address CIDR --tftp-root DIR     required
  --dnsmasq-out FILE [--lease-file F] [--dhcp-range FIRST,LAST] [--lease-time T]
      [--domain D] [--master-name N] [--http-base URL] [--bios-file F] [--efi-file F]
  --menu-out FILE --image-name N --image-version V --kernel K --initrd I
      [--iso-path P] [--master HOST] [--console C]... [--kernel-arg A]...

Other:
  -h, --help            this text
  -V, --version         version and git commit

Exit codes: 0 ok, 1 internal error, 2 usage, 3 file I/O, 4 invalid document,
5 upload not acknowledged (document spooled), 6 acknowledgement mismatch, 7 power-off failed.
`;

const OPTIONS = {
  "dry-run": { type: "boolean" },
  replay: { type: "string" },
  out: { type: "string" },
  budget: { type: "string" },
  master: { type: "string" },
  "token-file": { type: "string" },
  poweroff: { type: "string" },
  "no-poweroff": { type: "boolean" },
  "upload-timeout": { type: "string" },
  spool: { type: "string" },
  cmdline: { type: "string" },
  "ipmi-host": { type: "string" },
  "ipmi-port": { type: "string" },
  "ipmi-user": { type: "string" },
  root: { type: "string" },
  host: { type: "string" },
  port: { type: "string" },
  menu: { type: "string" },
  "post-tgz": { type: "string" },
  export: { type: "string" },
  isos: { type: "string" },
  install: { type: "string" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
} as const;

type Values = ReturnType<
  typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>
>["values"];

function usage(message: string): ReconError {
  return new ReconError(ERROR_CODES.USAGE, `${message} (see ${AGENT_NAME} --help)`);
}

function seconds(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw usage(`${flag} needs a number of seconds > 0, got "${value}"`);
  return n * 1000;
}

function port(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw usage(`${flag} needs a port 0-65535, got "${value}"`);
  return n;
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    throw new ReconError(
      ERROR_CODES.IO,
      `cannot read ${what} ${path}: ${(error as Error).message}`,
    );
  }
}

async function readToken(path: string | undefined): Promise<string | null> {
  if (!path) return null;
  const token = (await readText(path, "token file")).trim();
  if (!token) throw usage(`token file ${path} is empty`);
  return token;
}

function warnIfNotRoot(replaying: boolean): void {
  if (replaying || process.geteuid?.() === 0) return;
  process.stderr.write(
    `${AGENT_NAME}: warning: not running as root: dmidecode, lshw and ipmitool are skipped ` +
      '(marked "requires root" in collectors[]); run as root for a complete inventory\n',
  );
}

async function dryRun(values: Values): Promise<number> {
  warnIfNotRoot(Boolean(values.replay));
  const [{ buildInventory }, { summarize }] = await Promise.all([
    import("./inventory.ts"),
    import("./summary.ts"),
  ]);
  const { document } = await buildInventory({
    replayDir: values.replay ?? null,
    budgetMs: seconds(values.budget, "--budget"),
  });
  const json = `${JSON.stringify(document, null, 2)}\n`;
  if (!values.out) {
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
    await mkdir(target, { recursive: true });
    target = join(target, `${document.nodeId}.json`);
  }
  try {
    await writeFile(target, json);
  } catch (error) {
    throw new ReconError(ERROR_CODES.IO, `cannot write ${target}: ${(error as Error).message}`);
  }
  process.stdout.write(summarize(document));
  process.stdout.write(`document   ${target}\n`);
  return 0;
}

async function capture(values: Values, dir: string | undefined): Promise<number> {
  if (!dir) throw usage("capture needs a directory");
  warnIfNotRoot(false);
  const [{ buildInventory }, { summarize }] = await Promise.all([
    import("./inventory.ts"),
    import("./summary.ts"),
  ]);
  const { document } = await buildInventory({
    captureDir: dir,
    budgetMs: seconds(values.budget, "--budget"),
  });
  process.stdout.write(summarize(document));
  process.stdout.write(
    `capture    ${dir} (replay with: ${AGENT_NAME} --dry-run --replay ${dir})\n`,
  );
  return 0;
}

async function validate(files: string[]): Promise<number> {
  if (files.length === 0) throw usage("validate needs at least one file");
  const { Inventory } = await import("../schema/inventory.ts");
  let bad = 0;
  for (const file of files) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readText(file, "document"));
    } catch (error) {
      if (isReconError(error)) throw error;
      process.stdout.write(`${file}: not JSON: ${(error as Error).message}\n`);
      bad++;
      continue;
    }
    const result = Inventory.safeParse(parsed);
    if (result.success) {
      process.stdout.write(`${file}: valid (${result.data.nodeId})\n`);
    } else {
      bad++;
      for (const issue of result.error.issues) {
        process.stdout.write(`${file}: ${issue.path.join(".") || "(root)"}: ${issue.message}\n`);
      }
    }
  }
  if (bad > 0)
    throw new ReconError(
      ERROR_CODES.INVALID_DOCUMENT,
      `${bad} of ${files.length} documents invalid`,
    );
  return 0;
}

async function serve(values: Values): Promise<number> {
  if (!values.root) throw usage("serve needs --root DIR");
  const { serveCommand } = await import("./master/index.ts");
  await serveCommand({
    root: values.root,
    host: values.host ?? "0.0.0.0",
    port: port(values.port, "--port", 80),
    token: await readToken(values["token-file"]),
    menu: values.menu,
    postTgz: values["post-tgz"],
    export: values.export,
    isos: values.isos,
    install: values.install,
  });
  return 0;
}

async function run(values: Values): Promise<number> {
  const cmdlineText = await readText(values.cmdline ?? "/proc/cmdline", "kernel command line");
  const fromCmdline = peerConfigFromCmdline(cmdlineText);
  const masterUrl = values.master
    ? masterUrlFrom({ master: values.master })
    : fromCmdline.masterUrl;
  if (!masterUrl) {
    throw usage(
      "no master: the kernel command line has neither pxeaddr= nor recon.master=, and no --master was given",
    );
  }
  let mode = fromCmdline.powerOff;
  if (values.poweroff !== undefined) {
    if (!isPowerOffMode(values.poweroff))
      throw usage(`--poweroff must be soft, hard, reboot or none`);
    mode = values.poweroff;
  }
  if (values["no-poweroff"]) mode = "none";
  const ipmiArgs: string[] = [];
  if (values["ipmi-host"]) {
    ipmiArgs.push("-I", "lanplus", "-C", "3", "-H", values["ipmi-host"]);
    ipmiArgs.push("-p", String(port(values["ipmi-port"], "--ipmi-port", 623)));
    if (values["ipmi-user"]) ipmiArgs.push("-U", values["ipmi-user"]);
    if (process.env.IPMI_PASSWORD) ipmiArgs.push("-E");
  }
  warnIfNotRoot(Boolean(values.replay));
  const { runPeer } = await import("./peer/run.ts");
  const result = await runPeer({
    masterUrl,
    token: (await readToken(values["token-file"])) ?? fromCmdline.token,
    powerOff: mode,
    retry: {
      totalTimeoutMs:
        seconds(values["upload-timeout"], "--upload-timeout") ?? fromCmdline.uploadTimeoutMs,
    },
    spoolDir: values.spool ?? DEFAULT_SPOOL_DIR,
    replayDir: values.replay ?? null,
    ipmiArgs,
    log: consoleLogger(),
  });
  process.stdout.write(
    `recon: done: ${result.document.nodeId} acknowledged by ${masterUrl.origin}\n`,
  );
  return 0;
}

/** Runs the CLI; returns the process exit code. Never throws. */
export async function main(argv: string[]): Promise<number> {
  try {
    // boot-assets has its own flags (see agent/master/boot-assets.ts).
    if (argv[0] === "boot-assets") {
      const { bootAssetsCommand } = await import("./master/boot-assets.ts");
      return await bootAssetsCommand(argv.slice(1));
    }
    const { values, positionals } = parseArgs({
      args: argv,
      options: OPTIONS,
      allowPositionals: true,
      strict: true,
    });
    if (values.help) {
      process.stdout.write(HELP);
      return 0;
    }
    if (values.version) {
      process.stdout.write(`${AGENT_NAME} ${AGENT_VERSION} (${AGENT_COMMIT})\n`);
      return 0;
    }
    const [command, ...rest] = positionals;
    if (values["dry-run"]) {
      if (command !== undefined) throw usage(`--dry-run takes no subcommand, got "${command}"`);
      return await dryRun(values);
    }
    switch (command) {
      case undefined:
      case "run":
        return await run(values);
      case "capture":
        return await capture(values, rest[0]);
      case "serve":
        return await serve(values);
      case "validate":
        return await validate(rest);
      case "schema": {
        const { inventoryJsonSchema } = await import("../schema/inventory.ts");
        process.stdout.write(`${JSON.stringify(inventoryJsonSchema(), null, 2)}\n`);
        return 0;
      }
      default:
        throw usage(`unknown command "${command}"`);
    }
  } catch (error) {
    if (isReconError(error)) {
      process.stderr.write(`${AGENT_NAME}: ${error.message} [${error.code}]\n`);
      return EXIT_CODES[error.code];
    }
    if ((error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(
        `${AGENT_NAME}: ${(error as Error).message} (see ${AGENT_NAME} --help)\n`,
      );
      return EXIT_CODES[ERROR_CODES.USAGE];
    }
    process.stderr.write(
      `${AGENT_NAME}: internal error: ${(error as Error)?.stack ?? String(error)}\n`,
    );
    return EXIT_CODES.INTERNAL;
  }
}
