// dnsmasq's lease file, read by the master: every peer is known from its first DHCP lease on,
// before it fetched a single boot file. dnsmasq rewrites the whole file on every change (one line
// per lease, `<expiry> <mac> <ip> <hostname|*> <client-id|*>`, plus a `duid` line once DHCPv6
// is on), so the reader polls it and compares; fs.watch would miss the rename-free rewrites on
// some file systems and fire several times per rewrite on others.
//
// The lease file does not hold the client architecture (DHCP option 93): `clientArch` stays null
// here (unknown), never a guess.
import { readFile, stat } from "node:fs/promises";
import { isIpv4 } from "./menu.ts";

export interface Lease {
  /** Unix seconds when the lease ends; 0 for an infinite lease. */
  expiresAt: number;
  /** Lowercase, colon form: "52:54:00:12:34:56". */
  mac: string;
  ip: string;
  /** The name the client sent, or null ("*"). */
  hostname: string | null;
  clientId: string | null;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const CLIENT_ID = /^[0-9a-f]{2}(:[0-9a-f]{2}){0,254}$/i;

/**
 * The leases of a dnsmasq lease file; lines that are not a well-formed IPv4 lease (the DHCPv6
 * `duid` line, a torn last line while dnsmasq writes) are skipped. Never throws.
 * @example parseLeases(
 *   "1764650943 52:54:00:12:34:56 10.13.36.20 peer-1 01:52:54:00:12:34:56\n" +
 *   "1764650951 52:54:00:ab:cd:ef 10.13.36.21 * *\n")
 *   // -> [{ expiresAt: 1764650943, mac: "52:54:00:12:34:56", ip: "10.13.36.20",
 *   //       hostname: "peer-1", clientId: "01:52:54:00:12:34:56" }, { ..., hostname: null, clientId: null }]
 */
export function parseLeases(text: string): Lease[] {
  const leases: Lease[] = [];
  for (const line of text.split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields.length !== 5) continue;
    const [expiry, rawMac, ip, hostname, clientId] = fields as [
      string,
      string,
      string,
      string,
      string,
    ];
    const mac = rawMac.toLowerCase();
    if (!/^\d{1,12}$/.test(expiry) || !MAC.test(mac) || !isIpv4(ip)) continue;
    leases.push({
      expiresAt: Number(expiry),
      mac,
      ip,
      hostname: hostname !== "*" && NAME.test(hostname) ? hostname : null,
      clientId: clientId !== "*" && CLIENT_ID.test(clientId) ? clientId.toLowerCase() : null,
    });
  }
  return leases;
}

function ipv4ToInt(ip: string): number {
  return ip.split(".").reduce((n, o) => n * 256 + Number(o), 0);
}

/** Addresses in an inclusive range, e.g. 1007 for 10.13.36.16 - 10.13.39.254. */
export function rangeSize(range: readonly [string, string]): number {
  return Math.max(0, ipv4ToInt(range[1]) - ipv4ToInt(range[0]) + 1);
}

export interface DhcpUsage {
  /** Addresses the range holds; null when the master was not told the range. */
  rangeSize: number | null;
  /** Leases not yet expired (inside the range, when it is known). */
  leases: number;
  free: number | null;
  /** Fewer than 5 % or fewer than 10 addresses free: the next peers may get none. */
  nearlyFull: boolean;
}

/** How full the range is at `nowSeconds`. Pure. */
export function dhcpUsage(
  leases: readonly Lease[],
  range: readonly [string, string] | null,
  nowSeconds: number,
): DhcpUsage {
  const low = range ? ipv4ToInt(range[0]) : 0;
  const high = range ? ipv4ToInt(range[1]) : 0;
  const active = new Set<string>();
  for (const lease of leases) {
    if (lease.expiresAt !== 0 && lease.expiresAt <= nowSeconds) continue;
    const n = ipv4ToInt(lease.ip);
    if (range && (n < low || n > high)) continue;
    active.add(lease.ip);
  }
  if (!range) return { rangeSize: null, leases: active.size, free: null, nearlyFull: false };
  const size = rangeSize(range);
  const free = Math.max(0, size - active.size);
  return {
    rangeSize: size,
    leases: active.size,
    free,
    nearlyFull: free < 10 || free < size * 0.05,
  };
}

/** "52:54:00:12:34:56" -> "525400123456"; null unless a MAC. */
export function macHex(mac: string): string | null {
  const lower = mac.toLowerCase();
  return MAC.test(lower) ? lower.replaceAll(":", "") : null;
}

export interface LeaseWatcher {
  /** The leases of the last good read. */
  current(): readonly Lease[];
  /** The lease holding this IPv4 address now, if any. */
  byIp(ip: string): Lease | undefined;
  /** Reads the file now if it changed; resolves after the callbacks ran. */
  poll(): Promise<void>;
  stop(): void;
}

export interface LeaseWatchOptions {
  file: string;
  /** Milliseconds between checks; default 1000. */
  intervalMs?: number;
  /** Called with each lease that is new, or whose IP or hostname changed (renewals are not). */
  onLease: (lease: Lease) => void;
  /** Called once per read that failed for another reason than a missing file. */
  onError?: (error: unknown) => void;
}

/**
 * Polls the lease file (stat: mtime and size, then a read only when one changed). A missing file
 * is no lease yet (dnsmasq creates it on the first lease).
 */
export function watchLeases(options: LeaseWatchOptions): LeaseWatcher {
  let leases: Lease[] = [];
  let ipIndex = new Map<string, Lease>();
  const known = new Map<string, string>();
  let signature = "";
  let running: Promise<void> | null = null;
  const read = async () => {
    let text: string;
    try {
      const info = await stat(options.file);
      const next = `${info.mtimeMs}:${info.size}:${info.ino}`;
      if (next === signature) return;
      text = await readFile(options.file, "utf8");
      signature = next;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") options.onError?.(error);
      return;
    }
    leases = parseLeases(text);
    ipIndex = new Map(leases.map((lease) => [lease.ip, lease]));
    for (const lease of leases) {
      const seen = `${lease.ip} ${lease.hostname ?? "*"}`;
      if (known.get(lease.mac) === seen) continue;
      known.set(lease.mac, seen);
      options.onLease(lease);
    }
  };
  const poll = () => {
    running ??= read().finally(() => {
      running = null;
    });
    return running;
  };
  const timer = setInterval(() => void poll(), options.intervalMs ?? 1000);
  timer.unref();
  return {
    current: () => leases,
    byIp: (ip) => ipIndex.get(ip.startsWith("::ffff:") ? ip.slice(7) : ip),
    poll,
    stop: () => clearInterval(timer),
  };
}

/**
 * The lease file and the first DHCP range of a dnsmasq.conf (the one renderDnsmasqConf wrote):
 * the master reads what dnsmasq really runs with. Never throws; null where the line is absent.
 * @example readDnsmasqConf("dhcp-range=10.13.36.16,10.13.39.254,255.255.252.0,1h\n" +
 *   "dhcp-leasefile=/run/recon/dnsmasq.leases\n")
 *   // -> { dhcpRange: ["10.13.36.16", "10.13.39.254"], leaseFile: "/run/recon/dnsmasq.leases" }
 */
export function readDnsmasqConf(text: string): {
  dhcpRange: [string, string] | null;
  leaseFile: string | null;
} {
  let dhcpRange: [string, string] | null = null;
  let leaseFile: string | null = null;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    const eq = line.indexOf("=");
    if (line.startsWith("#") || eq < 0) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key === "dhcp-range" && dhcpRange === null) {
      // dhcp-range=[tag:..,][set:..,]<start>,<end>[,<mode>][,<netmask>[,<broadcast>]][,<lease>]
      const parts = value.split(",").filter((p) => !/^(tag|set):/.test(p));
      const [start, end] = parts;
      if (start && end && isIpv4(start) && isIpv4(end) && ipv4ToInt(start) <= ipv4ToInt(end)) {
        dhcpRange = [start, end];
      }
    } else if ((key === "dhcp-leasefile" || key === "dhcp-lease-file") && leaseFile === null) {
      if (value.startsWith("/")) leaseFile = value;
    }
  }
  return { dhcpRange, leaseFile };
}
