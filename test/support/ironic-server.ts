// A private OpenStack Ironic with ironic-inspector for tests, from Debian 12's packages: the
// all-in-one `ironic` process (API and conductor, `rpc_transport = none`) and `ironic-inspector`
// (standalone, `transport_url = fake://`), each with a sqlite database in one temporary folder,
// `auth_strategy = noauth`, on loopback ports. Ironic enables only the `fake-hardware` hardware
// type; the inspector enrolls nodes it does not know (`node_not_found_hook = enroll`) in that
// Ironic, keeps the introspection data in its database (`store_data = database`) and runs the
// extra_hardware, lldp_basic and local_link_connection hooks after its defaults. Nothing of the
// system's services is used: both processes are started here, each in its own process group,
// and stopped by PID. How it was found to work, and its traps:
// /work/shared/reference/inventory-servers.md (Ironic section).
//
// Usage:
//   test("...", { skip: ironicServerSkip() }, async (t) => {
//     const ironic = await startIronicServer();
//     t.after(() => ironic.stop());
//     ... POST to `${ironic.inspectorUrl}/v1/continue`, read back with ironic.ironicApi("/v1/nodes") ...
//   });
// Without the packages: skipped with a reason, except under CI (test/support/ci.ts), where
// startIronicServer() fails with a message naming them.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { accessSync, closeSync, constants, openSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { underCI } from "./ci.ts";
import { freePort } from "./free-port.ts";
import { until } from "./poll.ts";

/** `ironic-common` has the all-in-one `ironic` and `ironic-dbsync`; `ironic-inspector` pulls in
 * python3-ironic-inspector with `ironic-inspector` and its dbsync. */
export const IRONIC_PACKAGES = ["ironic-common", "ironic-inspector"] as const;
const INSTALL_HINT = `apt-get install -y --no-install-recommends ${IRONIC_PACKAGES.join(" ")}`;
const REQUIRED_FILES = [
  "/usr/bin/ironic",
  "/usr/bin/ironic-dbsync",
  "/usr/bin/ironic-inspector",
  "/usr/bin/ironic-inspector-dbsync",
] as const;
const UP_TIMEOUT_MS = 90_000;

export function missingIronicFiles(): string[] {
  return REQUIRED_FILES.filter((file) => {
    try {
      accessSync(file, constants.X_OK);
      return false;
    } catch {
      return true;
    }
  });
}

/**
 * For `test(name, { skip: ironicServerSkip() }, ...)`: a reason to skip on a developer machine
 * without the packages; false under CI (the test then fails in startIronicServer).
 */
export function ironicServerSkip(): string | false {
  const missing = missingIronicFiles();
  if (missing.length === 0 || underCI) return false;
  return `${missing.join(", ")} missing (${INSTALL_HINT})`;
}

export interface IronicServer {
  /** Ironic's API, e.g. http://127.0.0.1:40123 */
  ironicUrl: string;
  /** ironic-inspector's API: POST ${inspectorUrl}/v1/continue as ironic-python-agent does. */
  inspectorUrl: string;
  /** From the start of each one's dbsync to its API answering (ms). */
  ironicUpMs: number;
  inspectorUpMs: number;
  /** GET on Ironic's API (latest microversion); throws on a non-2xx answer. */
  ironicApi<T = unknown>(path: string): Promise<T>;
  /** GET on the inspector's API; throws on a non-2xx answer. */
  inspectorApi<T = unknown>(path: string): Promise<T>;
  /** The tail of a service's log. */
  log(service: "ironic" | "inspector"): Promise<string>;
  /** Stops both process groups and removes the folder. Safe to call twice. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
/** A test that dies without stop() must not leave Python services behind. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const child of running) {
      if (child.pid) killGroup(child.pid, "SIGKILL");
    }
  });
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {}
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** SIGTERM to the child's whole process group (eventlet services fork helpers), then SIGKILL. */
async function stopGroup(child: ChildProcess | null): Promise<void> {
  if (!child?.pid) return;
  const pid = child.pid;
  if (!exited(child)) {
    killGroup(pid, "SIGTERM");
    if (!(await waitExit(child, 15_000))) {
      killGroup(pid, "SIGKILL");
      await waitExit(child, 5_000);
    }
  }
  // Helpers left in the group after the leader exited.
  killGroup(pid, "SIGKILL");
  running.delete(child);
}

function run(file: string, args: string[], log: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { timeout: 120_000, maxBuffer: 8 * 1024 * 1024 },
      (error, stdout, stderr) => {
        writeFile(log, `${stdout}${stderr}`).finally(() =>
          error
            ? reject(
                new Error(
                  `${file} ${args.join(" ")} failed: ${error.message}\n${stderr.slice(-2000)}`,
                ),
              )
            : resolve(),
        );
      },
    );
  });
}

async function tail(file: string, chars = 3000): Promise<string> {
  try {
    return (await readFile(file, "utf8")).slice(-chars);
  } catch {
    return "(no log)";
  }
}

async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

/**
 * Spawns a service in its own process group with its output in `log`, waits until `probe(port)`
 * answers; a service that exits first (its port taken between freePort and its bind) is tried
 * again on another port, twice.
 */
async function startService(
  name: string,
  file: string,
  config: (port: number) => Promise<string>,
  log: string,
  probe: (port: number) => string,
): Promise<{ child: ChildProcess; port: number }> {
  let lastError = "";
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const configFile = await config(port);
    const fd = openSync(log, "a");
    const child = spawn(file, ["--config-file", configFile], {
      detached: true,
      stdio: ["ignore", fd, fd],
    });
    closeSync(fd);
    running.add(child);
    try {
      await until(
        `${name} on 127.0.0.1:${port}`,
        UP_TIMEOUT_MS,
        async () => {
          if (exited(child))
            throw new Error(`${name} exited (${child.exitCode ?? child.signalCode})`);
          return (await answers(probe(port))) ? true : undefined;
        },
        100,
      );
      return { child, port };
    } catch (error) {
      lastError = `${(error as Error).message}; its log:\n${await tail(log)}`;
      await stopGroup(child);
      if (!exited(child) || !/Address already in use|EADDRINUSE/i.test(await tail(log))) break;
    }
  }
  throw new Error(lastError);
}

/** Starts Ironic, then the inspector pointed at it; throws (with the log's tail) on failure. */
export async function startIronicServer(): Promise<IronicServer> {
  const missing = missingIronicFiles();
  if (missing.length > 0) {
    throw new Error(
      `Ironic packages missing: ${missing.join(", ")} (${INSTALL_HINT})` +
        (underCI ? " (CI must provide them: the Ironic export test is not optional there)" : ""),
    );
  }
  installExitHook();
  const dir = await mkdtemp(join(tmpdir(), "recon-ironic-"));
  const logs = { ironic: join(dir, "ironic.log"), inspector: join(dir, "inspector.log") };
  let ironic: ChildProcess | null = null;
  let inspector: ChildProcess | null = null;
  const stop = async () => {
    await Promise.all([stopGroup(inspector), stopGroup(ironic)]);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const ironicConf = (port: number) => {
      const file = join(dir, "ironic.conf");
      return writeFile(file, ironicConfig(dir, port)).then(() => file);
    };
    const ironicStarted = Date.now();
    await run(
      "/usr/bin/ironic-dbsync",
      ["--config-file", await ironicConf(0), "create_schema"],
      join(dir, "ironic-dbsync.log"),
    );
    const up = await startService(
      "ironic",
      "/usr/bin/ironic",
      ironicConf,
      logs.ironic,
      (p) => `http://127.0.0.1:${p}/v1`,
    );
    ironic = up.child;
    const ironicUrl = `http://127.0.0.1:${up.port}`;
    const ironicUpMs = Date.now() - ironicStarted;

    const inspectorConf = (port: number) => {
      const file = join(dir, "inspector.conf");
      return writeFile(file, inspectorConfig(dir, port, ironicUrl)).then(() => file);
    };
    const inspectorStarted = Date.now();
    await run(
      "/usr/bin/ironic-inspector-dbsync",
      ["--config-file", await inspectorConf(0), "upgrade"],
      join(dir, "inspector-dbsync.log"),
    );
    const iup = await startService(
      "ironic-inspector",
      "/usr/bin/ironic-inspector",
      inspectorConf,
      logs.inspector,
      (p) => `http://127.0.0.1:${p}/`,
    );
    inspector = iup.child;
    const inspectorUrl = `http://127.0.0.1:${iup.port}`;
    const inspectorUpMs = Date.now() - inspectorStarted;

    const get = async <T>(url: string, headers: Record<string, string> = {}): Promise<T> => {
      const response = await fetch(url, { headers, signal: AbortSignal.timeout(30_000) });
      const text = await response.text();
      if (!response.ok)
        throw new Error(`GET ${url}: HTTP ${response.status}: ${text.slice(0, 500)}`);
      return JSON.parse(text) as T;
    };
    return {
      ironicUrl,
      inspectorUrl,
      ironicUpMs,
      inspectorUpMs,
      ironicApi: <T>(path: string) =>
        get<T>(`${ironicUrl}${path}`, { "X-OpenStack-Ironic-API-Version": "latest" }),
      inspectorApi: <T>(path: string) => get<T>(`${inspectorUrl}${path}`),
      log: (service) => tail(logs[service], 6000),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The all-in-one Ironic: API and conductor in one process, no message bus, fake hardware only. */
function ironicConfig(dir: string, port: number): string {
  return `[DEFAULT]
auth_strategy = noauth
rpc_transport = none
host = recon-test-ironic
use_stderr = true
enabled_hardware_types = fake-hardware
enabled_boot_interfaces = fake
enabled_deploy_interfaces = fake
enabled_management_interfaces = fake
enabled_power_interfaces = fake
enabled_inspect_interfaces = fake,no-inspect
enabled_console_interfaces = fake,no-console
enabled_raid_interfaces = fake,no-raid
enabled_vendor_interfaces = fake,no-vendor
enabled_bios_interfaces = fake,no-bios
enabled_rescue_interfaces = fake,no-rescue
enabled_network_interfaces = noop
enabled_storage_interfaces = noop
[api]
host_ip = 127.0.0.1
port = ${port}
[database]
connection = sqlite:///${join(dir, "ironic.sqlite")}
[dhcp]
dhcp_provider = none
[conductor]
automated_clean = false
[oslo_concurrency]
lock_path = ${join(dir, "locks")}
`;
}

/**
 * The inspector, standalone: `transport_url = fake://` (without it, it hangs retrying a message
 * queue), coordination through a file in the folder (its default is memcached on localhost,
 * which another test's memcached could answer), no PXE filter (it would need root and dnsmasq).
 */
function inspectorConfig(dir: string, port: number, ironicUrl: string): string {
  return `[DEFAULT]
auth_strategy = noauth
transport_url = fake://
standalone = true
listen_address = 127.0.0.1
listen_port = ${port}
host = recon-test-inspector
use_stderr = true
[ironic]
auth_type = none
endpoint_override = ${ironicUrl}
[database]
connection = sqlite:///${join(dir, "inspector.sqlite")}
[coordination]
backend_url = file://${join(dir, "coordination")}
[processing]
node_not_found_hook = enroll
store_data = database
processing_hooks = $default_processing_hooks,extra_hardware,lldp_basic,local_link_connection
power_off = false
[discovery]
enroll_node_driver = fake-hardware
[pxe_filter]
driver = noop
[oslo_concurrency]
lock_path = ${join(dir, "locks")}
`;
}
