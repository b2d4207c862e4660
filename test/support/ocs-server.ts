// A private OCS Inventory NG server for tests: MariaDB in a temporary data directory (loopback
// port and its own socket) holding the `ocsweb` schema, and Apache with mod_perl running the
// Debian package's Apache::Ocsinventory handler on a loopback port, with its own configuration.
// Nothing of the system's mariadb or apache2 is used or touched; both processes are started here
// and stopped by their PID. How it was found to work, and its traps:
// /work/shared/reference/inventory-servers.md (OCS section).
//
// The schema comes from the installed `ocsinventory-reports` (the SQL its PHP installer runs; the
// test loads it itself, so no PHP runs and no web installer is needed).
//
// Usage:
//   test("...", { skip: ocsServerSkip() }, async (t) => {
//     const ocs = await startOcsServer();
//     t.after(() => ocs.stop());
//     ... POST to ocs.url, then await ocs.query("SELECT ... FROM hardware") ...
//   });
// Without the packages: skipped with a reason, except under CI (test/support/ci.ts), where
// startOcsServer() fails with a message naming them.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, constants } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { underCI } from "./ci.ts";
import { freePort } from "./free-port.ts";
import { until } from "./poll.ts";

export const OCS_PACKAGES = [
  "ocsinventory-server",
  "mariadb-server",
  "apache2",
  "libapache2-mod-perl2",
  "ocsinventory-reports",
] as const;
const INSTALL_HINT = `apt-get install -y --no-install-recommends ${OCS_PACKAGES.join(" ")}`;

/** What the harness needs from those packages. */
const REQUIRED_FILES = [
  "/usr/sbin/mariadbd",
  "/usr/bin/mariadb",
  "/usr/bin/mariadb-install-db",
  "/usr/sbin/apache2",
  "/usr/lib/apache2/modules/mod_perl.so",
  "/usr/lib/apache2/modules/mod_mpm_prefork.so",
  "/usr/share/perl5/Apache/Ocsinventory.pm",
  "/etc/apache2/conf-available/ocsinventory-server.conf",
  "/usr/share/ocsinventory-reports/files/ocsbase_new.sql",
] as const;

/** Where the installed reports package keeps its SQL. */
const INSTALLED_REPORTS_FILES = "/usr/share/ocsinventory-reports/files";
/** The last schema update of ocsinventory-reports 2.11.1, written to config.GUI_VERSION. */
const LAST_UPDATE = 7069;
const FIRST_UPDATE = 7040;

export function missingOcsFiles(): string[] {
  return REQUIRED_FILES.filter((file) => {
    try {
      accessSync(file, constants.R_OK);
      return false;
    } catch {
      return true;
    }
  });
}

/**
 * For `test(name, { skip: ocsServerSkip() }, ...)`: a reason to skip on a developer machine
 * without the packages; false under CI (the test then fails in startOcsServer).
 */
export function ocsServerSkip(): string | false {
  const missing = missingOcsFiles();
  if (missing.length === 0 || underCI) return false;
  return `${missing.join(", ")} missing (${INSTALL_HINT})`;
}

export type Row = Record<string, string | null>;

export interface OcsServer {
  /** The agent endpoint: POST here as an OCS agent does. */
  url: string;
  /** How long the stack took to come up (schema load included, package download excluded). */
  startupMs: number;
  /** Runs SQL in `ocsweb` through the `mariadb` client (--batch); one object per row. */
  query(sql: string): Promise<Row[]>;
  /** Apache's error log (mod_perl and Apache::Ocsinventory write their errors there). */
  errorLog(): Promise<string>;
  /** Stops Apache and MariaDB by PID and removes the folder. Safe to call twice. */
  stop(): Promise<void>;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], options: { input?: string; cwd?: string } = {}) {
  return new Promise<Run>((resolve) => {
    const child = execFile(
      file,
      args,
      { cwd: options.cwd, maxBuffer: 64 * 1024 * 1024, timeout: 120_000, env: cEnv() },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : null) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

function cEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C", LANG: "C" };
}

async function must(what: string, file: string, args: string[], input?: string): Promise<Run> {
  const result = await run(file, args, { input });
  if (result.code !== 0) {
    throw new Error(`${what} failed (exit ${result.code}): ${result.stderr.trim().slice(-2000)}`);
  }
  return result;
}

/** The unixusers table as ocsbase_new.sql creates it (7040.sql drops it; the server writes it). */
function unixusersTable(base: string): string {
  const match = /CREATE TABLE `unixusers` \([\s\S]*?\)[^;]*;/.exec(base);
  if (!match) throw new Error("ocsbase_new.sql has no CREATE TABLE `unixusers`");
  return match[0];
}

/** Reads mariadb --batch output: a header line, tab-separated rows, \t \n \\ \0 escaped, NULL. */
export function parseBatch(text: string): Row[] {
  const lines = text.split("\n").filter((line) => line.length > 0);
  const [header, ...rows] = lines;
  if (header === undefined) return [];
  const names = header.split("\t");
  const decode = (field: string): string | null =>
    field === "NULL"
      ? null
      : field.replace(/\\(.)/g, (_, c: string) =>
          c === "t" ? "\t" : c === "n" ? "\n" : c === "0" ? "\0" : c,
        );
  return rows.map((line) => {
    const fields = line.split("\t");
    return Object.fromEntries(names.map((name, i) => [name, decode(fields[i] ?? "")]));
  });
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

async function stopChild(child: ChildProcess | null): Promise<void> {
  if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
  process.kill(child.pid, "SIGTERM");
  if (!(await waitExit(child, 20_000))) {
    process.kill(child.pid, "SIGKILL");
    await waitExit(child, 5_000);
  }
}

/** Starts the stack; throws (with the logs' tail) if any step fails. */
export async function startOcsServer(): Promise<OcsServer> {
  const missing = missingOcsFiles();
  if (missing.length > 0) {
    throw new Error(`OCS server packages missing: ${missing.join(", ")} (${INSTALL_HINT})`);
  }
  const dir = await mkdtemp(join(tmpdir(), "recon-ocs-"));
  // Apache's children run as www-data: they must reach the socket and write the logs.
  await chmod(dir, 0o755);
  let mariadbd: ChildProcess | null = null;
  let apache: ChildProcess | null = null;
  const stop = async () => {
    await stopChild(apache);
    await stopChild(mariadbd);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const files = INSTALLED_REPORTS_FILES;
    const started = Date.now();
    const data = join(dir, "mysql");
    const socket = join(dir, "mysql.sock");
    const user = process.getuid?.() === 0 ? "root" : (process.env.USER ?? "root");
    await must("mariadb-install-db", "mariadb-install-db", [
      "--no-defaults",
      `--datadir=${data}`,
      `--user=${user}`,
      "--auth-root-authentication-method=socket",
      `--auth-root-socket-user=${user}`,
      "--skip-test-db",
      "--skip-name-resolve",
    ]);
    const dbPort = await freePort();
    const dbLog = join(dir, "mariadb.log");
    mariadbd = spawn(
      "mariadbd",
      [
        "--no-defaults",
        `--datadir=${data}`,
        `--socket=${socket}`,
        `--port=${dbPort}`,
        "--bind-address=127.0.0.1",
        `--pid-file=${join(dir, "mariadb.pid")}`,
        `--log-error=${dbLog}`,
        `--user=${user}`,
        "--skip-name-resolve",
        "--skip-log-bin",
        "--innodb-buffer-pool-size=32M",
        "--innodb-log-file-size=16M",
        "--innodb-flush-log-at-trx-commit=0",
        "--max-connections=50",
      ],
      { stdio: "ignore", env: cEnv() },
    );
    const client = (database: string | null) => [
      "--no-defaults",
      `--socket=${socket}`,
      `--user=${user}`,
      ...(database ? [database] : []),
    ];
    await until(
      "MariaDB to accept connections",
      60_000,
      async () => {
        if (mariadbd?.exitCode !== null) {
          throw new Error(
            `mariadbd exited: ${(await readFile(dbLog, "utf8").catch(() => "")).slice(-1500)}`,
          );
        }
        const ping = await run("mariadb", [...client(null), "-e", "SELECT 1"]);
        return ping.code === 0 ? true : undefined;
      },
      100,
    );

    // What install.php does: the database, the server's account, the base schema.
    const password = randomBytes(12).toString("hex");
    await must(
      "creating ocsweb",
      "mariadb",
      [...client(null), "--batch"],
      `CREATE DATABASE ocsweb CHARACTER SET utf8 COLLATE utf8_bin;
CREATE USER 'ocs'@'localhost' IDENTIFIED BY '${password}';
GRANT ALL PRIVILEGES ON ocsweb.* TO 'ocs'@'localhost';`,
    );
    const base = await readFile(join(files, "ocsbase_new.sql"), "utf8");
    await must("loading ocsbase_new.sql", "mariadb", client("ocsweb"), base);
    // What update.php does: every update after the base, errors for changes the base already
    // has are expected (--force goes on), then the version the GUI checks.
    const updates: string[] = [];
    for (let n = FIRST_UPDATE; n <= LAST_UPDATE; n++) {
      updates.push(await readFile(join(files, "update", `${n}.sql`), "utf8"));
    }
    await run("mariadb", [...client("ocsweb"), "--force"], { input: updates.join("\n;\n") });
    await must(
      "finishing the schema",
      "mariadb",
      client("ocsweb"),
      `${unixusersTable(base)}
UPDATE config SET TVALUE='${LAST_UPDATE}' WHERE NAME='GUI_VERSION';`,
    );

    // Apache with only what the OCS handler needs, and the package's OCS configuration with
    // its database, socket and log path pointed here.
    const logs = join(dir, "log");
    await mkdir(logs, { recursive: true });
    await chmod(logs, 0o777);
    const packageConf = await readFile(
      "/etc/apache2/conf-available/ocsinventory-server.conf",
      "utf8",
    );
    const ocsConf = packageConf
      .replace(/PerlSetEnv OCS_DB_HOST .*/, "PerlSetEnv OCS_DB_HOST localhost")
      .replace(/PerlSetEnv OCS_DB_PORT .*/, `PerlSetEnv OCS_DB_PORT ${dbPort}`)
      .replace(/PerlSetEnv OCS_DB_USER .*/, "PerlSetEnv OCS_DB_USER ocs")
      .replace(/PerlSetVar OCS_DB_PWD .*/, `PerlSetVar OCS_DB_PWD ${password}`)
      .replace(/PerlSetEnv OCS_OPT_LOGPATH .*/, `PerlSetEnv OCS_OPT_LOGPATH "${logs}/"`)
      .replace(
        /PerlSetEnv OCS_OPT_DBI_PRINT_ERROR .*/,
        `PerlSetEnv OCS_OPT_DBI_PRINT_ERROR 1\n  PerlSetEnv OCS_OPT_DBI_MYSQL_SOCKET "${socket}"`,
      );
    if (!ocsConf.includes(socket)) throw new Error("ocsinventory-server.conf: no DBI line found");
    await writeFile(join(dir, "ocsinventory-server.conf"), ocsConf);
    const httpPort = await freePort();
    const modules = "/usr/lib/apache2/modules";
    const runDir = join(dir, "run");
    await mkdir(runDir);
    await writeFile(
      join(dir, "apache2.conf"),
      `# Generated by test/support/ocs-server.ts
ServerRoot /etc/apache2
ServerName 127.0.0.1
Listen 127.0.0.1:${httpPort}
PidFile ${join(dir, "apache2.pid")}
DefaultRuntimeDir ${runDir}
Mutex file:${runDir} default
ErrorLog ${join(logs, "apache-error.log")}
LogLevel warn
LoadModule mpm_prefork_module ${modules}/mod_mpm_prefork.so
LoadModule authz_core_module ${modules}/mod_authz_core.so
LoadModule authn_core_module ${modules}/mod_authn_core.so
LoadModule auth_basic_module ${modules}/mod_auth_basic.so
LoadModule authn_file_module ${modules}/mod_authn_file.so
LoadModule authz_user_module ${modules}/mod_authz_user.so
LoadModule perl_module ${modules}/mod_perl.so
${user === "root" ? "User www-data\nGroup www-data" : ""}
StartServers 2
MinSpareServers 1
MaxSpareServers 2
MaxRequestWorkers 4
Timeout 60
Include ${join(dir, "ocsinventory-server.conf")}
`,
    );
    // Its own process group: on stop, prefork signals its whole group (killpg), which would
    // otherwise include this test process.
    apache = spawn("apache2", ["-f", join(dir, "apache2.conf"), "-DFOREGROUND"], {
      detached: true,
      stdio: ["ignore", "ignore", "pipe"],
      env: cEnv(),
    });
    let apacheStderr = "";
    apache.stderr?.on("data", (chunk: Buffer) => {
      apacheStderr = (apacheStderr + chunk.toString()).slice(-4000);
    });
    const url = `http://127.0.0.1:${httpPort}/ocsinventory`;
    await until(
      "Apache to answer",
      60_000,
      async () => {
        if (apache?.exitCode !== null) {
          const log = await readFile(join(logs, "apache-error.log"), "utf8").catch(() => "");
          throw new Error(`apache2 exited: ${apacheStderr}${log.slice(-1500)}`);
        }
        // A GET that is not a deploy or update URL: the handler answers 400, so it is loaded.
        const answer = await fetch(url, { signal: AbortSignal.timeout(5000) }).catch(() => null);
        if (answer === null) return undefined;
        await answer.body?.cancel();
        return answer.status === 400 ? true : undefined;
      },
      100,
    );
    const startupMs = Date.now() - started;
    return {
      url,
      startupMs,
      async query(sql) {
        const result = await run("mariadb", [...client("ocsweb"), "--batch", "-e", sql]);
        if (result.code !== 0) throw new Error(`SQL failed: ${result.stderr.trim()}\n${sql}`);
        return parseBatch(result.stdout);
      },
      errorLog: () => readFile(join(logs, "apache-error.log"), "utf8").catch(() => ""),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
