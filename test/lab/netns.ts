// The provisioning LAN: one network namespace the lab creates, holding a bridge with the master's
// address and one tap per peer NIC. Everything on it (dnsmasq, recon-agent serve, ipmi_sim, QEMU)
// runs inside the namespace through `ip netns exec`, so it can neither reach nor be reached from
// any other network. Deleting the namespace removes the bridge and taps with it.
import { randomBytes } from "node:crypto";
import type { Cleanup } from "./proc.ts";
import { pidAlive, run, sleep } from "./proc.ts";

export const NETNS_PREFIX = "rlab-";

export interface LanOptions {
  /** Master address on the bridge, default 10.13.37.1. */
  masterIp?: string;
  prefixLength?: number;
}

export class Lan {
  readonly ns: string;
  readonly bridge = "br0";
  readonly masterIp: string;
  readonly prefixLength: number;
  private taps = 0;

  private constructor(ns: string, masterIp: string, prefixLength: number) {
    this.ns = ns;
    this.masterIp = masterIp;
    this.prefixLength = prefixLength;
  }

  /** Creates the namespace, loopback and bridge; registers their removal with `cleanup`. */
  static create(cleanup: Cleanup, options: LanOptions = {}): Lan {
    const ns = `${NETNS_PREFIX}${process.pid}-${randomBytes(3).toString("hex")}`;
    const lan = new Lan(ns, options.masterIp ?? "10.13.37.1", options.prefixLength ?? 24);
    run(["ip", "netns", "add", ns]);
    cleanup.add(`delete netns ${ns}`, () => deleteNamespace(ns));
    const ip = (...args: string[]) => run(["ip", "-n", ns, ...args]);
    ip("link", "set", "lo", "up");
    ip("link", "add", lan.bridge, "type", "bridge", "stp_state", "0", "forward_delay", "0");
    ip("addr", "add", `${lan.masterIp}/${lan.prefixLength}`, "dev", lan.bridge);
    ip("link", "set", lan.bridge, "up");
    // Inside this namespace only: unprivileged processes (serve) may bind port 80.
    run(lan.exec(["sysctl", "-q", "-w", "net.ipv4.ip_unprivileged_port_start=0"]));
    return lan;
  }

  /** argv prefix that runs a command inside the namespace. */
  exec(argv: readonly string[]): string[] {
    return ["ip", "netns", "exec", this.ns, ...argv];
  }

  /** A persistent tap on the bridge that `uid` may open (QEMU opens it with ifname=). */
  addTap(uid = 0): string {
    const name = `tap${this.taps++}`;
    run(["ip", "-n", this.ns, "tuntap", "add", "dev", name, "mode", "tap", "user", String(uid)]);
    run(["ip", "-n", this.ns, "link", "set", name, "master", this.bridge, "up"]);
    return name;
  }
}

/** Kills every process still inside the namespace (by PID), then deletes it. */
export async function deleteNamespace(ns: string): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const pids = run(["ip", "netns", "pids", ns], { allowFail: true })
      .stdout.split(/\s+/)
      .filter(Boolean)
      .map(Number);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, attempt === 0 ? "SIGTERM" : "SIGKILL");
      } catch {}
    }
    await sleep(attempt === 0 ? 1500 : 500);
  }
  const r = run(["ip", "netns", "del", ns], { allowFail: true });
  if (r.code !== 0 && !/No such file/.test(r.stderr))
    throw new Error(`ip netns del ${ns}: ${r.stderr.trim()}`);
}

/**
 * Removes namespaces left by lab runs whose process is gone (e.g. killed with SIGKILL): names are
 * rlab-<pid>-<random>, so a dead <pid> means nobody owns it any more. Returns what was removed.
 */
export async function removeStaleNamespaces(): Promise<string[]> {
  const removed: string[] = [];
  const list = run(["ip", "netns", "list"], { allowFail: true }).stdout;
  for (const line of list.split("\n")) {
    const name = line.split(/\s+/)[0] ?? "";
    const m = new RegExp(`^${NETNS_PREFIX}(\\d+)-[0-9a-f]+$`).exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || pidAlive(pid)) continue;
    await deleteNamespace(name);
    removed.push(name);
  }
  return removed;
}
