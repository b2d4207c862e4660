// NIC facts from ethtool that sysfs does not give: the permanent (burned-in) MAC address, which
// survives bonding, teaming and MAC spoofing, and the link settings as the driver reports them.
// Both need the interface names, so the collectors are built from the list the nics collector found.
import type { CollectorReport } from "../../schema/inventory.ts";
import type { Probe, Runner } from "../exec.ts";
import { cleanString, normalizeMac } from "../normalize.ts";
import { USB_NET_DRIVERS } from "./net.ts";
import {
  binaryProblem,
  type Collect,
  isBlank,
  mapLimit,
  type Parsed,
  reportParsed,
  usableOutput,
} from "./types.ts";

/** Linux interface names (IFNAMSIZ 16, so at most 15 characters); nothing a shell or ethtool could misread. */
export const IFNAME_PATTERN = /^[A-Za-z0-9_.:@-]{1,15}$/;

export function isSafeIfname(name: string): boolean {
  return IFNAME_PATTERN.test(name) && !/^\.+$/.test(name) && !name.startsWith("-");
}

export const ETHTOOL_TIMEOUT_MS = 5_000;
export const ETHTOOL_PARALLEL = 4;

/**
 * Parses `ethtool -P <ifname>`. Real input (ethtool 6.1: an e1000 NIC, then the loopback):
 *
 *     Permanent address: 52:54:00:12:34:56
 *     Permanent address: not set
 *
 * Older ethtool prints `00:00:00:00:00:00` where 6.x says `not set`; both are null, as is
 * anything that is not a MAC (InfiniBand's 20-byte addresses are kept).
 */
export function parsePermanentMac(text: string): string | null {
  const match = /^\s*Permanent address:[ \t]*(\S*)/m.exec(text);
  return normalizeMac(match?.[1] ?? null);
}

/**
 * Text that a tool which ran and said nothing prints (empty) is valid; other text without a
 * line `pattern` matches, or with binary bytes, is a problem (what was read is kept).
 */
function readLines<T>(text: string, value: T, pattern: RegExp, expected: string): Parsed<T> {
  if (isBlank(text)) return { value, problem: null };
  const binary = binaryProblem(text);
  if (binary !== null) return { value, problem: binary };
  if (!pattern.test(text))
    return { value, problem: `no ${expected} line in ${text.length} characters` };
  return { value, problem: null };
}

/**
 * `parsePermanentMac`, and a problem when the text has no "Permanent address:" line, or one whose
 * value is neither an address, `not set`, nor the all-zero address of older ethtool.
 */
export function readPermanentMac(text: string): Parsed<string | null> {
  const value = parsePermanentMac(text);
  const parsed = readLines(text, value, /^\s*Permanent address:/m, '"Permanent address:"');
  const raw = /^\s*Permanent address:[ \t]*(\S*)/m.exec(text)?.[1];
  if (parsed.problem !== null || value !== null || raw === undefined) return parsed;
  // `\S*` stops at the space of "not set".
  if (raw === "not" || /^00(?::00)+$/.test(raw)) return parsed;
  return { value, problem: `unreadable permanent address "${raw.slice(0, 40)}"` };
}

export interface EthtoolLink {
  /** Negotiated speed; null when ethtool says `Unknown!` (no link, or a virtual NIC). */
  speedMbps: number | null;
  linkDetected: boolean | null;
  duplex: "full" | "half" | null;
}

export function emptyEthtoolLink(): EthtoolLink {
  return { speedMbps: null, linkDetected: null, duplex: null };
}

/**
 * Parses `ethtool <ifname>`. Real input (ethtool 6.1, an e1000 NIC, trimmed):
 *
 *     Settings for eth0:
 *     	Speed: 1000Mb/s
 *     	Duplex: Full
 *     	Auto-negotiation: on
 *     	Port: Twisted Pair
 *     	Link detected: yes
 *
 * A virtio NIC says `Speed: Unknown!` and `Duplex: Unknown! (255)`; the loopback prints only
 * `Link detected: yes`. Lines are matched anywhere in the block, first occurrence wins.
 */
export function parseEthtoolLink(text: string): EthtoolLink {
  const field = (name: string) => {
    const match = new RegExp(`^[ \\t]*${name}:[ \\t]*(.*?)[ \\t\\r]*$`, "m").exec(text);
    return match?.[1] ?? null;
  };
  const speed = /^(\d{1,9})\s*Mb\/s$/i.exec(field("Speed") ?? "");
  const speedMbps = speed?.[1] ? Number(speed[1]) : null;
  const duplex = (field("Duplex") ?? "").toLowerCase();
  const link = (field("Link detected") ?? "").toLowerCase();
  return {
    speedMbps: speedMbps !== null && speedMbps > 0 ? speedMbps : null,
    linkDetected: link === "yes" ? true : link === "no" ? false : null,
    duplex: duplex === "full" ? "full" : duplex === "half" ? "half" : null,
  };
}

/**
 * `parseEthtoolLink`, and a problem when the text has neither "Settings for" nor "Link
 * detected:". `No data available` (ethtool 6.1 on an ifb device, real capture) is the tool saying
 * it has nothing: valid and empty.
 */
export function readEthtoolLink(text: string): Parsed<EthtoolLink> {
  return readLines(
    text,
    parseEthtoolLink(text),
    /^(?:Settings for |\s*Link detected:|No data available\s*$)/m,
    '"Settings for" or "Link detected:"',
  );
}

export interface EthtoolDriverInfo {
  driver: string | null;
  /** null when the driver reports none: empty (virtio_net, hv_netvsc) or `N/A`. */
  firmwareVersion: string | null;
  /** The PCI address for PCI NICs; other buses print their own forms (a VMBus GUID, `usb-...`). */
  busInfo: string | null;
}

/**
 * Parses `ethtool -i <ifname>`. Real input (an e1000e, from node_exporter's test fixtures):
 *
 *     driver: e1000e
 *     version: 5.11.0-22-generic
 *     firmware-version: 0.5-4
 *     expansion-rom-version:
 *     bus-info: 0000:00:1f.6
 *
 * Firmware strings are kept whole: mlx5 prints `14.27.1016 (MT_2420110034)`, i40e
 * `5.02 0x80002248 1.33.0`. virtio_net prints `firmware-version: ` (this machine): null.
 * The USB class drivers print their own description there (usbnet's get_drvinfo copies
 * driver_info->description: `firmware-version: CDC Ethernet Device` for cdc_ether in the QEMU
 * capture): no firmware, so null.
 */
export function parseDriverInfo(text: string): EthtoolDriverInfo {
  const field = (name: string) => {
    if (typeof text !== "string") return null;
    const match = new RegExp(`^${name}:[ \\t]*(.*?)[ \\t\\r]*$`, "m").exec(text);
    return cleanString(match?.[1]);
  };
  const driver = field("driver");
  return {
    driver,
    firmwareVersion:
      driver !== null && USB_NET_DRIVERS.has(driver) ? null : field("firmware-version"),
    busInfo: field("bus-info"),
  };
}

/**
 * `parseDriverInfo`, and a problem when the text has no "driver:" line (every `ethtool -i` answer
 * starts with one; a device without driver info makes ethtool fail, not print).
 */
export function readDriverInfo(text: string): Parsed<EthtoolDriverInfo> {
  return readLines(text, parseDriverInfo(text), /^driver:/m, '"driver:"');
}

export function driverInfoProbe(ifname: string): Probe {
  return {
    file: `ethtool-i-${ifname}.txt`,
    source: { kind: "command", argv: ["ethtool", "-i", ifname], versionArgv: ["--version"] },
    timeoutMs: ETHTOOL_TIMEOUT_MS,
  };
}

export function permanentMacProbe(ifname: string): Probe {
  return {
    file: `ethtool-P-${ifname}.txt`,
    source: { kind: "command", argv: ["ethtool", "-P", ifname], versionArgv: ["--version"] },
    timeoutMs: ETHTOOL_TIMEOUT_MS,
  };
}

export function ethtoolLinkProbe(ifname: string): Probe {
  return {
    file: `ethtool-${ifname}.txt`,
    source: { kind: "command", argv: ["ethtool", ifname], versionArgv: ["--version"] },
    timeoutMs: ETHTOOL_TIMEOUT_MS,
  };
}

/** Runs one probe per safe, distinct name; unsafe names get a skipped report and no entry. */
async function perInterface<T>(
  names: readonly string[],
  reportName: string,
  probeOf: (ifname: string) => Probe,
  parse: (text: string) => Parsed<T>,
  runner: Runner,
  signal: AbortSignal | undefined,
) {
  const reports: CollectorReport[] = [];
  const safe: string[] = [];
  for (const name of new Set(names)) {
    if (isSafeIfname(name)) {
      safe.push(name);
      continue;
    }
    reports.push({
      name: reportName,
      status: "skipped",
      durationMs: 0,
      command: null,
      exitCode: null,
      message: `unsafe interface name, not queried: ${JSON.stringify(name).slice(0, 40)}`,
    });
  }
  const results = await mapLimit(safe, ETHTOOL_PARALLEL, (n) => runner.run(probeOf(n), signal));
  const entries: [string, T | null][] = [];
  results.forEach((result, i) => {
    const output = usableOutput(result);
    const parsed = output === null ? null : parse(output);
    reports.push(reportParsed(reportName, result, parsed?.problem ?? null));
    entries.push([safe[i] as string, parsed === null ? null : parsed.value]);
  });
  // fromEntries defines own properties: an interface called __proto__ stays a plain key.
  return { entries: Object.fromEntries(entries) as Record<string, T | null>, reports };
}

/**
 * Permanent MACs of the given interfaces (names from the nics collector). Every safe name gets
 * an entry, null when ethtool failed, is missing, or reports no permanent address.
 */
export function permanentMacCollector(names: string[]): Collect<Record<string, string | null>> {
  return async (runner, signal) => {
    const { entries, reports } = await perInterface(
      names,
      "ethtool-permaddr",
      permanentMacProbe,
      readPermanentMac,
      runner,
      signal,
    );
    return { value: entries, reports };
  };
}

/**
 * Firmware versions (`ethtool -i`) of the given interfaces; null when ethtool failed, is missing,
 * or the driver reports none.
 */
export function firmwareVersionCollector(names: string[]): Collect<Record<string, string | null>> {
  return async (runner, signal) => {
    const { entries, reports } = await perInterface(
      names,
      "ethtool-driver",
      driverInfoProbe,
      readDriverInfo,
      runner,
      signal,
    );
    const value = Object.fromEntries(
      Object.entries(entries).map(([name, info]) => [name, info?.firmwareVersion ?? null]),
    );
    return { value, reports };
  };
}

/** Link settings of the given interfaces; an interface ethtool could not read maps to all-null. */
export function ethtoolLinkCollector(names: string[]): Collect<Record<string, EthtoolLink>> {
  return async (runner, signal) => {
    const { entries, reports } = await perInterface(
      names,
      "ethtool-link",
      ethtoolLinkProbe,
      readEthtoolLink,
      runner,
      signal,
    );
    const value = Object.fromEntries(
      Object.entries(entries).map(([name, link]) => [name, link ?? emptyEthtoolLink()]),
    );
    return { value, reports };
  };
}
