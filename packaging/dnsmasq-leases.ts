// dnsmasq's lease file, read by the master: every peer is known from its first DHCP lease on,
// before it fetched a single boot file. dnsmasq rewrites the whole file on every change (one line
// per lease, `<expiry> <mac> <ip> <hostname|*> <client-id|*>`, plus a `duid` line once DHCPv6
// is on), so the reader polls it and compares; fs.watch would miss the rename-free rewrites on
// some file systems and fire several times per rewrite on others.
//
// The lease file does not hold the client architecture (DHCP option 93): that comes from dnsmasq's
// --dhcp-script hook (packaging/dnsmasq-hook.sh), whose lines watchHookFile below reads; without
// the hook `clientArch` stays null (unknown), never a guess.
import { open, readFile, stat } from "node:fs/promises";
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

/**
 * Each MAC's newest lease (latest expiry; 0 is infinite; a tie goes to the later line). dnsmasq
 * keeps two leases for one MAC when its DHCP clients send different client identifiers (a PXE ROM,
 * then the booted OS), until the older one expires: read line by line, the two would take turns
 * as "the" lease of that MAC at every rewrite of the file.
 */
export function newestByMac(leases: readonly Lease[]): Lease[] {
  const rank = (lease: Lease) =>
    lease.expiresAt === 0 ? Number.POSITIVE_INFINITY : lease.expiresAt;
  const newest = new Map<string, Lease>();
  for (const lease of leases) {
    const held = newest.get(lease.mac);
    if (!held || rank(lease) >= rank(held)) newest.set(lease.mac, lease);
  }
  return [...newest.values()];
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
  /** Milliseconds between checks; default 1000; 0: no timer (the caller polls). */
  intervalMs?: number;
  /**
   * Called with each MAC's newest lease when it is new or its IP changed. Not for a renewal, nor
   * for a changed hostname: dnsmasq takes a name off one lease when another client claims it, and
   * that node did not boot again.
   */
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
    for (const lease of newestByMac(leases)) {
      if (known.get(lease.mac) === lease.ip) continue;
      known.set(lease.mac, lease.ip);
      options.onLease(lease);
    }
  };
  const poll = () => {
    running ??= read().finally(() => {
      running = null;
    });
    return running;
  };
  const interval = options.intervalMs ?? 1000;
  const timer = interval > 0 ? setInterval(() => void poll(), interval) : undefined;
  timer?.unref();
  return {
    current: () => leases,
    byIp: (ip) => ipIndex.get(ip.startsWith("::ffff:") ? ip.slice(7) : ip),
    poll,
    stop: () => clearInterval(timer),
  };
}

/**
 * The lease file, the first DHCP range and the dhcp-script of a dnsmasq.conf (the one
 * renderDnsmasqConf wrote): the master reads what dnsmasq really runs with. Never throws; null
 * where the line is absent.
 * @example readDnsmasqConf("dhcp-range=10.13.36.16,10.13.39.254,255.255.252.0,1h\n" +
 *   "dhcp-leasefile=/run/recon/dnsmasq.leases\n")
 *   // -> { dhcpRange: ["10.13.36.16", "10.13.39.254"], leaseFile: "/run/recon/dnsmasq.leases",
 *   //      dhcpScript: null }
 */
export function readDnsmasqConf(text: string): {
  dhcpRange: [string, string] | null;
  leaseFile: string | null;
  dhcpScript: string | null;
} {
  let dhcpRange: [string, string] | null = null;
  let leaseFile: string | null = null;
  let dhcpScript: string | null = null;
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
    } else if (key === "dhcp-script" && dhcpScript === null) {
      if (value.startsWith("/")) dhcpScript = value;
    }
  }
  return { dhcpRange, leaseFile, dhcpScript };
}

// ---------------------------------------------------------------- the dhcp-script hook's file

/** Where packaging/dnsmasq-hook.sh appends when RECON_DHCP_HOOK_FILE is not set. */
export const DEFAULT_HOOK_FILE = "/run/recon/dhcp-hook.tsv";
/** Longest hook line read (7 fields of at most 255 bytes); longer ones are dropped whole. */
export const MAX_HOOK_LINE = 2048;
/** Most bytes of the hook file read per poll (about 10,000 lines). */
const HOOK_READ_BYTES = 1024 * 1024;

/**
 * The client architecture, DHCP option 93 (RFC 4578, IANA "Processor Architecture Types"):
 * "bios" (0), "uefi-x86_64" (7 and 9, 16 for HTTP boot), "uefi-arm64" (11, 19 for HTTP boot),
 * any other number as its decimal text ("6": 32-bit UEFI), null when the client did not say.
 */
export type ClientArch = string | null;

const ARCH_NAMES: Record<number, string> = {
  0: "bios",
  7: "uefi-x86_64",
  9: "uefi-x86_64",
  16: "uefi-x86_64",
  11: "uefi-arm64",
  19: "uefi-arm64",
};

/**
 * The architecture a DHCP client gave: the number in its PXE vendor class (option 60,
 * "PXEClient:Arch:00007:UNDI:003016"; "HTTPClient:Arch:00016" for UEFI HTTP boot), else
 * dnsmasq's tags `efi-x86_64` and `efi-arm64`, which renderDnsmasqConf sets from option 93 (7 or
 * 9, 11). Pure.
 * @example clientArchOf("PXEClient:Arch:00000:UNDI:002001", []) // -> "bios"
 * @example clientArchOf("udhcp 1.35.0", ["efi-x86_64", "lh0"]) // -> "uefi-x86_64"
 * @example clientArchOf("PXEClient:Arch:00006:UNDI:003016", []) // -> "6"
 */
export function clientArchOf(vendorClass: string | null, tags: readonly string[]): ClientArch {
  const m = /^(?:PXEClient|HTTPClient):Arch:(\d{5})(?::|$)/.exec(vendorClass ?? "");
  if (m) {
    const arch = Number(m[1]);
    return ARCH_NAMES[arch] ?? String(arch);
  }
  if (tags.includes("efi-x86_64")) return "uefi-x86_64";
  return tags.includes("efi-arm64") ? "uefi-arm64" : null;
}

/** One line of the hook file: a lease as dnsmasq reported it to its dhcp-script. */
export interface HookLease extends Lease {
  action: "add" | "old";
  vendorClass: string | null;
  tags: string[];
  clientArch: ClientArch;
}

const TAG = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
const VENDOR = /^[\x20-\x7e]{1,255}$/;

/**
 * A line packaging/dnsmasq-hook.sh wrote, every field checked (the hostname and the vendor
 * class come from the DHCP client); null for anything else: another action, a bad MAC or
 * address, a line over MAX_HOOK_LINE, a field count that is not 7. A bad optional field (the
 * hostname, a tag) is dropped, not the lease. Never throws.
 * @example parseHookLine("add\t52:54:00:12:34:56\t10.13.36.20\tpeer-1\t" +
 *   "PXEClient:Arch:00007:UNDI:003016\tefi-x86_64 lh0\t1764650943")
 *   // -> { action: "add", mac: "52:54:00:12:34:56", ip: "10.13.36.20", hostname: "peer-1",
 *   //      clientId: null, expiresAt: 1764650943, vendorClass: "PXEClient:Arch:00007:UNDI:003016",
 *   //      tags: ["efi-x86_64", "lh0"], clientArch: "uefi-x86_64" }
 */
export function parseHookLine(line: string): HookLease | null {
  if (line.length > MAX_HOOK_LINE) return null;
  const fields = line.split("\t");
  if (fields.length !== 7) return null;
  const [action, rawMac, ip, hostname, vendor, tagText, expires] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const mac = rawMac.toLowerCase();
  if ((action !== "add" && action !== "old") || !MAC.test(mac) || !isIpv4(ip)) return null;
  const vendorClass = VENDOR.test(vendor) ? vendor : null;
  const tags = tagText.split(" ").filter((t) => TAG.test(t));
  return {
    action,
    mac,
    ip,
    hostname: NAME.test(hostname) ? hostname : null,
    clientId: null,
    expiresAt: /^\d{1,12}$/.test(expires) ? Number(expires) : 0,
    vendorClass,
    tags,
    clientArch: clientArchOf(vendorClass, tags),
  };
}

export interface HookWatcher {
  /** Reads what the hook appended since the last poll; resolves after the callbacks ran. */
  poll(): Promise<void>;
}

/**
 * Follows the hook file as it grows (it is only appended to; a shorter file than last time was
 * replaced, and is read from its start). A missing file is no lease yet. A partial last line
 * waits for its newline; a line longer than MAX_HOOK_LINE is skipped whole, so a hostile client
 * can neither split a line nor make the reader hold an unbounded one.
 */
export function watchHookFile(options: {
  file: string;
  onLease: (lease: HookLease) => void;
  onError?: (error: unknown) => void;
}): HookWatcher {
  let offset = 0;
  let ino = -1;
  /** Inside a line over the cap: drop everything up to its newline. */
  let skipping = false;
  let running: Promise<void> | null = null;
  const read = async () => {
    let handle: Awaited<ReturnType<typeof open>> | null = null;
    try {
      handle = await open(options.file, "r");
      const info = await handle.stat();
      if (info.ino !== ino || info.size < offset) {
        ino = info.ino;
        offset = 0;
        skipping = false;
      }
      while (offset < info.size) {
        const want = Math.min(HOOK_READ_BYTES, info.size - offset);
        const buffer = Buffer.alloc(want);
        const { bytesRead } = await handle.read(buffer, 0, want, offset);
        if (bytesRead === 0) break;
        const chunk = buffer.subarray(0, bytesRead);
        const last = chunk.lastIndexOf(0x0a);
        if (last < 0) {
          // No newline yet: a line being written, or an overlong one (skipped from here on).
          if (chunk.length < MAX_HOOK_LINE && !skipping) break;
          skipping = true;
          offset += chunk.length;
          continue;
        }
        const lines = chunk.subarray(0, last).toString("utf8").split("\n");
        if (skipping) lines.shift();
        skipping = false;
        offset += last + 1;
        for (const line of lines) {
          const lease = parseHookLine(line);
          if (lease) options.onLease(lease);
        }
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") options.onError?.(error);
    } finally {
      await handle?.close();
    }
  };
  return {
    poll: () => {
      running ??= read().finally(() => {
        running = null;
      });
      return running;
    },
  };
}
