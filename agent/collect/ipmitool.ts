// The BMC and its FRU inventory, through ipmitool: `mc info` (firmware, IPMI version, vendor),
// `lan print <channel>` (the BMC's own MAC and IPv4 settings), `lan6 print` and `user list` on
// that channel (IPv6 addresses, user names: ipmi-access.ts), `fru print` (board, product and
// chassis serials), `sdr elist` and `dcmi power reading` (sensors, power: ipmi-sensors.ts).
// In-band by default (/dev/ipmi0, loading the IPMI kernel modules when the device is missing and
// the firmware may have a BMC); `ipmiCollector({ ipmiArgs })` talks to a BMC out-of-band instead
// (tests against OpenIPMI's ipmi_sim, e.g. ["-I","lanplus","-H","127.0.0.1","-p","9001",...]).
//
// A machine without a BMC is normal (desktops, VMs): bmc is null and every ipmitool entry in
// collectors[] is "skipped" with message "no BMC device". A BMC without a LAN channel (QEMU's
// ipmi-bmc-sim) still yields a bmc object, with null LAN fields.
import { existsSync } from "node:fs";
import type { Bmc, CollectorReport, Fru, PowerReading, Sensor } from "../../schema/inventory.ts";
import type { Probe, ProbeResult, Runner } from "../exec.ts";
import { cleanString, normalizeIpv4, normalizeMac, parseCount } from "../normalize.ts";
import { type BmcUser, readLan6Print, readUserList } from "./ipmi-access.ts";
import { readDcmiPowerReading, readSdrElist } from "./ipmi-sensors.ts";
import {
  binaryProblem,
  type Collect,
  type CollectorOutput,
  isBlank,
  type Parsed,
  parseOutput,
  reportOf,
  reportParsed,
  usableOutput,
} from "./types.ts";

export interface McInfo {
  firmwareVersion: string | null;
  ipmiVersion: string | null;
  manufacturerId: number | null;
  manufacturerName: string | null;
  productId: number | null;
}

export interface LanInfo {
  macAddress: string | null;
  ipv4Address: string | null;
  ipv4Source: string | null;
  netmask: string | null;
  gateway: string | null;
  vlanId: number | null;
}

/** `Key   : value` lines; the key is trimmed, the value keeps inner colons (MAC addresses). */
function keyValues(text: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const line of String(text ?? "").split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const key = line.slice(0, colon).replace(/\s+/g, " ").trim();
    if (!key) continue;
    pairs.push([key, line.slice(colon + 1).trim()]);
  }
  return pairs;
}

/** First value of each key (ipmitool repeats continuation lines with an empty key). */
function firstValues(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const [key, value] of keyValues(text)) {
    if (!values.has(key)) values.set(key, value);
  }
  return values;
}

/** cleanString, plus ipmitool's own "Unknown (0x2A7C)" for ids it has no name for. */
function cleanName(value: string | undefined): string | null {
  const cleaned = cleanString(value);
  if (cleaned === null || /^unknown\s*\(0x[0-9a-f]+\)$/i.test(cleaned)) return null;
  return cleaned;
}

/**
 * Parses `ipmitool mc info`; never throws. Real input (OpenIPMI ipmi_sim):
 *   Firmware Revision         : 9.08
 *   IPMI Version              : 2.0
 *   Manufacturer ID           : 4753
 *   Manufacturer Name         : MontaVista Software, Inc.
 *   Product ID                : 3842 (0x0f02)
 */
export function parseMcInfo(text: string): McInfo {
  const values = firstValues(text);
  return {
    firmwareVersion: cleanString(values.get("Firmware Revision")),
    ipmiVersion: cleanString(values.get("IPMI Version")),
    manufacturerId: parseCount(values.get("Manufacturer ID")),
    manufacturerName: cleanName(values.get("Manufacturer Name")),
    productId: parseCount(values.get("Product ID")),
  };
}

/** Key-value text of ipmitool: valid unless it holds binary bytes or none of `keys`. */
function readKeyValues<T>(text: string, value: T, found: boolean, expected: string): Parsed<T> {
  if (isBlank(text)) return { value, problem: null };
  const binary = binaryProblem(text);
  if (binary !== null) return { value, problem: binary };
  if (!found) return { value, problem: `no ${expected} found in ${text.length} characters` };
  return { value, problem: null };
}

const MC_KEYS = ["Device ID", "Firmware Revision", "IPMI Version", "Manufacturer ID"];

/** `parseMcInfo`, and a problem when the text has none of mc info's fields (or binary bytes). */
export function readMcInfo(text: string): Parsed<McInfo> {
  const values = firstValues(text);
  const found = MC_KEYS.some((key) => values.has(key));
  return readKeyValues(text, parseMcInfo(text), found, "mc info field");
}

const LAN_KEYS = ["IP Address Source", "IP Address", "Subnet Mask", "MAC Address"];

function ipv4Source(value: string | undefined): string | null {
  if (value === undefined) return null;
  const lower = value.trim().toLowerCase();
  if (lower.startsWith("static")) return "static";
  if (lower.startsWith("dhcp")) return "dhcp";
  if (lower.startsWith("bios")) return "bios";
  return "other";
}

/**
 * Parses `ipmitool lan print <channel>`; null when the text is not a LAN channel's (ipmitool
 * prints "Channel 2 is not a LAN channel" or nothing). Never throws. Real input (Supermicro):
 *   IP Address Source       : Static Address
 *   IP Address              : 10.151.68.13
 *   Subnet Mask             : 255.255.255.0
 *   MAC Address             : 00:30:48:f4:4d:83
 *   Default Gateway IP      : 10.151.68.3
 *   802.1q VLAN ID          : Disabled
 */
export function parseLanPrint(text: string): LanInfo | null {
  const values = firstValues(text);
  if (!LAN_KEYS.some((key) => values.has(key))) return null;
  const vlan = values.get("802.1q VLAN ID");
  const vlanId = vlan === undefined || /disabled/i.test(vlan) ? null : parseCount(vlan);
  return {
    macAddress: normalizeMac(values.get("MAC Address")),
    ipv4Address: normalizeIpv4(values.get("IP Address")),
    ipv4Source: ipv4Source(values.get("IP Address Source")),
    netmask: normalizeIpv4(values.get("Subnet Mask")),
    gateway: normalizeIpv4(values.get("Default Gateway IP")),
    vlanId: vlanId !== null && vlanId <= 4095 ? vlanId : null,
  };
}

const FRU_FIELDS = {
  "Board Mfg": "boardManufacturer",
  "Board Product": "boardProduct",
  "Board Serial": "boardSerial",
  "Board Part Number": "boardPartNumber",
  "Product Manufacturer": "productManufacturer",
  "Product Name": "productName",
  "Product Serial": "productSerial",
  "Product Part Number": "productPartNumber",
  "Chassis Serial": "chassisSerial",
  "Chassis Part Number": "chassisPartNumber",
} as const satisfies Record<string, keyof Fru>;

const FRU_HEADER = /^FRU Device Description\s*:\s*(.*)$/;

function emptyFru(description: string): Fru {
  const match = /^(.*?)\s*\(ID\s*(\d+)\)\s*$/i.exec(description);
  return {
    id: match ? parseCount(match[2]) : null,
    name: cleanString(match ? match[1] : description),
    boardManufacturer: null,
    boardProduct: null,
    boardSerial: null,
    boardPartNumber: null,
    productManufacturer: null,
    productName: null,
    productSerial: null,
    productPartNumber: null,
    chassisSerial: null,
    chassisPartNumber: null,
  };
}

/**
 * Parses `ipmitool fru print` into one entry per FRU device, in output order. A device that
 * printed none of the known fields ("Device not present", unreadable) is left out. Never
 * throws. Real input (OpenIPMI ipmi_sim):
 *   FRU Device Description : Builtin FRU Device (ID 0)
 *    Chassis Type          : Rack Mount Chassis
 *    Chassis Serial        : CSN0001
 *    Board Mfg Date        : Mon Jan  1 00:00:00 2024 UTC
 *    Board Mfg             : Recon Test Boards
 *    Product Serial        : PSN0001
 *
 *   FRU Device Description : PSU1 (ID 1)
 *    Product Manufacturer  : Recon Power
 */
/** `parseFruPrint`, and a problem when the text has no FRU header line (or binary bytes). */
export function readFruPrint(text: string): Parsed<Fru[]> {
  const found = String(text ?? "")
    .split(/\r?\n/)
    .some((line) => FRU_HEADER.test(line.trim()));
  return readKeyValues(text, parseFruPrint(text), found, '"FRU Device Description" line');
}

export function parseFruPrint(text: string): Fru[] {
  const frus: Fru[] = [];
  let current: { fru: Fru; seen: Set<string> } | null = null;
  const flush = () => {
    if (current && current.seen.size > 0) frus.push(current.fru);
    current = null;
  };
  for (const line of String(text ?? "").split(/\r?\n/)) {
    const header = FRU_HEADER.exec(line.trim());
    if (header) {
      flush();
      current = { fru: emptyFru(header[1] ?? ""), seen: new Set() };
      continue;
    }
    if (!current) continue;
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const key = line.slice(0, colon).replace(/\s+/g, " ").trim();
    if (!Object.hasOwn(FRU_FIELDS, key)) continue;
    const field = FRU_FIELDS[key as keyof typeof FRU_FIELDS];
    const state: { fru: Fru; seen: Set<string> } = current;
    if (state.seen.has(field)) continue;
    state.seen.add(field);
    state.fru[field] = cleanString(line.slice(colon + 1));
  }
  flush();
  return frus;
}

// --- probes ---

/** Where the kernel's IPMI device interface (ipmi_devintf) shows up, by distribution/udev. */
export const IPMI_DEVICE_PATHS = ["/dev/ipmi0", "/dev/ipmi/0", "/dev/ipmidev/0"] as const;

/**
 * Where firmware announces a BMC to the OS: SMBIOS type 38 (IPMI Device Information), the ACPI
 * SPMI table and the ACPI IPMI device. ipmi_si finds its interface through these; where the
 * SMBIOS entries are readable and none of them exists, loading the modules cannot find a BMC.
 */
export const IPMI_FIRMWARE_PATHS = {
  smbiosEntries: "/sys/firmware/dmi/entries",
  hints: [
    "/sys/firmware/dmi/entries/38-0",
    "/sys/firmware/acpi/tables/SPMI",
    "/sys/bus/acpi/devices/IPI0001:00",
  ],
} as const;

/** LAN channels to try, in order: most BMCs use 1, some 2, 3 or 8; 11 is the last valid. */
export const LAN_CHANNELS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11] as const;

/**
 * mc info: one request; a BMC that has not answered it by then is taken as not answering, and
 * nothing else is asked. In-band requests without an interrupt are driven by kipmid, a nice-19
 * kernel thread, which a node busy with the other collectors can starve: in the image lab (five TCG
 * guests on two cores) two of four live BMCs took 12.1 and 12.9 s to answer it, and 10 s lost
 * their whole BMC. 30 s costs a dead BMC one wait, and keeps a live one on a slow node.
 */
const TIMEOUT_MS = 30_000;
/**
 * The commands after mc info run four at a time against one in-band interface that serves one
 * request at a time (KCS), so each waits behind the others' requests: `lan print` alone is some
 * twenty requests. Under TCG the image lab saw lan print, fru print and dcmi each pass 10 s
 * while the BMC answered everything (the facts were lost as timeouts). They get 20 s; a dead
 * BMC is caught by mc info before any of them starts.
 */
const LANE_TIMEOUT_MS = 20_000;
/**
 * `sdr elist` and `fru print` read every sensor record or every FRU EEPROM in small pieces:
 * seconds on a real BMC, tens of seconds over KCS on one with many FRU devices.
 */
const SDR_TIMEOUT_MS = 30_000;

/** One line per candidate path ("present /dev/ipmi0" / "absent /dev/ipmi/0"): never empty. */
function listDevices(paths: readonly string[]): string {
  const lines: string[] = [];
  for (const path of paths) lines.push(`${existsSync(path) ? "present" : "absent"} ${path}`);
  return `${lines.join("\n")}\n`;
}

/** Device paths the listing says are present. */
export function presentDevices(listing: string): string[] {
  return String(listing ?? "")
    .split("\n")
    .map((line) => /^present\s+(\S+)/.exec(line.trim())?.[1])
    .filter((path): path is string => Boolean(path));
}

/**
 * What a firmware listing (`ipmi-firmware.txt`, the same present/absent lines) says: "yes" when
 * a hint exists, "no" when the SMBIOS entries are readable and no hint exists, else "unknown"
 * (no sysfs DMI: containers, old kernels), where only loading the modules can tell.
 */
export function firmwareAnnouncesBmc(
  listing: string,
  paths: IpmiFirmwarePaths = IPMI_FIRMWARE_PATHS,
): "yes" | "no" | "unknown" {
  const present = new Set(presentDevices(listing));
  if (paths.hints.some((path) => present.has(path))) return "yes";
  return present.has(paths.smbiosEntries) ? "no" : "unknown";
}

export interface IpmiFirmwarePaths {
  smbiosEntries: string;
  hints: readonly string[];
}

export interface IpmiCollectorOptions {
  /** Extra ipmitool arguments (interface, host, credentials) for an out-of-band BMC. */
  ipmiArgs?: readonly string[];
  /** Device nodes to look for (in-band only). */
  devicePaths?: readonly string[];
  /** Firmware tables that announce a BMC (in-band only). */
  firmwarePaths?: IpmiFirmwarePaths;
  /** How long to wait for a device node to appear after modprobe (in-band, real runs). */
  deviceSettleMs?: number;
}

export interface IpmiProbes {
  devices: Probe;
  firmware: Probe;
  devicesAfterModprobe: Probe;
  modprobe: Probe[];
  mcInfo: Probe;
  lanPrint: (channel: number) => Probe;
  lan6Print: (channel: number) => Probe;
  userList: (channel: number) => Probe;
  fruPrint: Probe;
  sdrElist: Probe;
  dcmiPowerReading: Probe;
}

export function ipmiProbes(options: IpmiCollectorOptions = {}): IpmiProbes {
  const extra = [...(options.ipmiArgs ?? [])];
  const inBand = extra.length === 0;
  const paths = options.devicePaths ?? IPMI_DEVICE_PATHS;
  const firmware = options.firmwarePaths ?? IPMI_FIRMWARE_PATHS;
  // ipmi_si probing a KCS took about 6.5 s from "ipmi_platform" to "Found new BMC" on a busy
  // TCG peer (image lab), so 3 s lost the BMC (qemu-sim peer2 in CI). The wait ends as soon as
  // the device node is there.
  const settleMs = options.deviceSettleMs ?? 10_000;
  const ipmitool = (file: string, args: string[], timeoutMs = TIMEOUT_MS): Probe => ({
    file,
    source: { kind: "command", argv: ["ipmitool", ...extra, ...args], versionArgv: ["-V"] },
    timeoutMs,
    // In-band opens /dev/ipmi0 (root only); out-of-band needs no privilege.
    needsRoot: inBand,
    // mc info, then the lanes: the longest serial chain of a run, so first in the start queue.
    urgent: true,
  });
  const modprobe = (module: string): Probe => ({
    file: `modprobe-${module}.txt`,
    source: { kind: "command", argv: ["modprobe", module] },
    timeoutMs: TIMEOUT_MS,
    needsRoot: true,
  });
  const firmwarePaths = [firmware.smbiosEntries, ...firmware.hints];
  return {
    devices: {
      file: "ipmi-devices.txt",
      source: {
        kind: "internal",
        describe: `look for ${paths.join(", ")}`,
        read: () => listDevices(paths),
      },
      timeoutMs: 1000,
    },
    firmware: {
      file: "ipmi-firmware.txt",
      source: {
        kind: "internal",
        describe: `look for ${firmwarePaths.join(", ")}`,
        read: () => listDevices(firmwarePaths),
      },
      timeoutMs: 1000,
    },
    devicesAfterModprobe: {
      file: "ipmi-devices-after-modprobe.txt",
      source: {
        kind: "internal",
        describe: `look again for ${paths.join(", ")} after modprobe`,
        read: async () => {
          // udev/devtmpfs may need a moment after ipmi_si registers the interface.
          const deadline = Date.now() + settleMs;
          let listing = await listDevices(paths);
          while (presentDevices(listing).length === 0 && Date.now() < deadline) {
            await new Promise((resolve) => setTimeout(resolve, 250));
            listing = await listDevices(paths);
          }
          return listing;
        },
      },
      timeoutMs: settleMs + 2000,
    },
    modprobe: [modprobe("ipmi_devintf"), modprobe("ipmi_si")],
    mcInfo: ipmitool("ipmitool-mc-info.txt", ["mc", "info"]),
    lanPrint: (channel) =>
      ipmitool(
        `ipmitool-lan-print-${channel}.txt`,
        ["lan", "print", String(channel)],
        LANE_TIMEOUT_MS,
      ),
    lan6Print: (channel) =>
      ipmitool(
        `ipmitool-lan6-print-${channel}.txt`,
        ["lan6", "print", String(channel)],
        LANE_TIMEOUT_MS,
      ),
    userList: (channel) =>
      ipmitool(
        `ipmitool-user-list-${channel}.txt`,
        ["user", "list", String(channel)],
        LANE_TIMEOUT_MS,
      ),
    fruPrint: ipmitool("ipmitool-fru-print.txt", ["fru", "print"], SDR_TIMEOUT_MS),
    sdrElist: ipmitool("ipmitool-sdr-elist.txt", ["sdr", "elist"], SDR_TIMEOUT_MS),
    dcmiPowerReading: ipmitool(
      "ipmitool-dcmi-power-reading.txt",
      ["dcmi", "power", "reading"],
      LANE_TIMEOUT_MS,
    ),
  };
}

export interface IpmiFacts {
  bmc: Bmc | null;
  fru: Fru[];
  sensors: Sensor[];
  powerReading: PowerReading | null;
}

/** What the ipmitool collector gives when it has nothing (also the document's fallback). */
export function emptyIpmiFacts(): IpmiFacts {
  return { bmc: null, fru: [], sensors: [], powerReading: null };
}

/** collectors[] names, in the order the collector reports them. */
export const IPMI_REPORT_NAMES = [
  "ipmitool-mc-info",
  "ipmitool-lan-print",
  "ipmitool-lan6-print",
  "ipmitool-user-list",
  "ipmitool-fru-print",
  "ipmitool-sdr-elist",
  "ipmitool-dcmi-power-reading",
] as const;

const NO_BMC = "no BMC device";

function skippedReport(name: string, probe: Probe, message: string): CollectorReport {
  const { source } = probe;
  return {
    name,
    status: "skipped",
    durationMs: 0,
    command: source.kind === "command" ? source.argv.join(" ") : null,
    exitCode: null,
    message,
  };
}

/**
 * Whether a BMC device node exists. When none does, the IPMI modules are loaded once, unless
 * the firmware tables are readable and announce no BMC (then modprobe would only spend ipmi_si's
 * probing time). "unknown" when the listing itself was not available (a replay of a capture
 * without it).
 */
async function findDevice(
  probes: IpmiProbes,
  firmwarePaths: IpmiFirmwarePaths,
  runner: Runner,
  signal?: AbortSignal,
): Promise<"present" | "absent" | "unknown"> {
  const first = await runner.run(probes.devices, signal);
  if (first.status !== "ok") return "unknown";
  if (presentDevices(first.output).length > 0) return "present";
  const firmware = await runner.run(probes.firmware, signal);
  if (firmware.status === "ok" && firmwareAnnouncesBmc(firmware.output, firmwarePaths) === "no") {
    return "absent";
  }
  const loaded = await Promise.all(probes.modprobe.map((probe) => runner.run(probe, signal)));
  // ipmi_si refuses to load (ENODEV) where no BMC interface exists: no device will appear,
  // so don't wait for one, even when ipmi_devintf loaded (it has no interface of its own).
  if (loaded.find((result) => result.file === "modprobe-ipmi_si.txt")?.status !== "ok") {
    return "absent";
  }
  const again = await runner.run(probes.devicesAfterModprobe, signal);
  if (again.status !== "ok") return "absent";
  return presentDevices(again.output).length > 0 ? "present" : "absent";
}

interface LanFound {
  lan: LanInfo | null;
  channel: number | null;
  report: CollectorReport;
}

/**
 * LAN channels asked at once after channel 1: on a slow BMC (or under TCG) each `lan print` of a
 * channel that is not a LAN channel costs a second or more, and a BMC without a LAN channel (QEMU's
 * ipmi-bmc-sim) would make eleven of them in a row. Four at a time stays within what BMCs allow.
 */
const LAN_SCAN_WIDTH = 4;

/**
 * ipmitool's `lan print N` first asks the BMC Get Channel Info for N; a BMC that does not implement
 * that command (completion code c1, "Invalid command"; QEMU's ipmi-bmc-sim) fails it for every
 * channel alike, so no channel can be found by asking the others. Real stderr (ipmitool 1.8.19):
 *   Get Channel Info command failed: Invalid command
 */
const CHANNEL_INFO_UNSUPPORTED = /Get Channel Info command failed: Invalid command\b/;

/**
 * The lowest channel whose `lan print` is a LAN channel's. Channel 1 first, alone: it is the LAN
 * channel of most BMCs. Then the others in rounds of LAN_SCAN_WIDTH; a timeout ends the search,
 * and so does a BMC without Get Channel Info (CHANNEL_INFO_UNSUPPORTED: ten more processes that
 * would each get the same answer).
 */
async function findLanChannel(
  probes: IpmiProbes,
  runner: Runner,
  signal?: AbortSignal,
): Promise<LanFound> {
  let last: ProbeResult | null = null;
  const [first, ...rest] = LAN_CHANNELS;
  const rounds: number[][] = [[first]];
  for (let i = 0; i < rest.length; i += LAN_SCAN_WIDTH)
    rounds.push(rest.slice(i, i + LAN_SCAN_WIDTH));
  for (const round of rounds) {
    if (signal?.aborted) break;
    const results = await Promise.all(
      round.map((candidate) => runner.run(probes.lanPrint(candidate), signal)),
    );
    for (const [i, result] of results.entries()) {
      last = result;
      const text = usableOutput(result);
      const parsed = text === null ? null : parseLanPrint(text);
      if (parsed) {
        const channel = round[i] as number;
        return { lan: parsed, channel, report: reportOf("ipmitool-lan-print", result) };
      }
    }
    if (results.some((result) => result.status === "timeout")) break;
    if (results.some((result) => CHANNEL_INFO_UNSUPPORTED.test(result.message ?? ""))) break;
  }
  return {
    lan: null,
    channel: null,
    report: last
      ? reportOf("ipmitool-lan-print", last)
      : skippedReport("ipmitool-lan-print", probes.lanPrint(1), "overall budget spent"),
  };
}

/** Runs one probe and parses what came back; the report says when the text was not readable. */
async function parsedProbe<T>(
  name: string,
  probe: Probe,
  read: (text: string) => Parsed<T>,
  empty: T,
  runner: Runner,
  signal?: AbortSignal,
): Promise<{ value: T; report: CollectorReport }> {
  const result = await runner.run(probe, signal);
  const parsed = parseOutput(usableOutput(result), read, empty);
  return { value: parsed.value, report: reportParsed(name, result, parsed.problem) };
}

/**
 * DCMI is an optional extension: a BMC without it answers the command with completion code c1
 * ("Invalid command"), which ipmitool prints as "DCMI request failed because: Invalid command
 * (c1)". That is the BMC's honest "not here" (as on ipmi_sim), not a failure to read it.
 */
const DCMI_ABSENT = /Invalid command \(c1\)|Invalid command$/m;

function dcmiReport(report: CollectorReport): CollectorReport {
  if (report.status !== "failed" || !DCMI_ABSENT.test(report.message ?? "")) return report;
  return { ...report, status: "skipped", message: `the BMC has no DCMI: ${report.message}` };
}

/**
 * Builds the ipmitool collector; `collectIpmi` is the in-band default.
 *
 * Order: mc info first (one timeout, not a dozen, on a BMC that does not answer). Then four
 * lanes at once, because `sdr elist` alone can take many seconds and must not hold up the rest:
 * the LAN channel scan followed by lan6 print and user list on the channel it found, fru print,
 * sdr elist, and dcmi power reading. Four concurrent ipmitool processes stay within what BMCs
 * allow (the kernel driver queues in-band requests; RMCP+ BMCs take four or more sessions).
 *
 * A capture without `ipmitool-mc-info.txt` (other tools, older agents) is replayed file by file:
 * a skipped mc info gates nothing, only one that ran without an answer does.
 */
export function ipmiCollector(options: IpmiCollectorOptions = {}): Collect<IpmiFacts> {
  const probes = ipmiProbes(options);
  const firmwarePaths = options.firmwarePaths ?? IPMI_FIRMWARE_PATHS;
  const inBand = (options.ipmiArgs ?? []).length === 0;
  const skipRest = (message: string): CollectorReport[] => [
    skippedReport("ipmitool-lan-print", probes.lanPrint(1), message),
    skippedReport("ipmitool-lan6-print", probes.lan6Print(1), message),
    skippedReport("ipmitool-user-list", probes.userList(1), message),
    skippedReport("ipmitool-fru-print", probes.fruPrint, message),
    skippedReport("ipmitool-sdr-elist", probes.sdrElist, message),
    skippedReport("ipmitool-dcmi-power-reading", probes.dcmiPowerReading, message),
  ];
  return async (runner, signal): Promise<CollectorOutput<IpmiFacts>> => {
    if (inBand && (await findDevice(probes, firmwarePaths, runner, signal)) === "absent") {
      return {
        value: emptyIpmiFacts(),
        reports: [skippedReport("ipmitool-mc-info", probes.mcInfo, NO_BMC), ...skipRest(NO_BMC)],
      };
    }

    const mcResult = await runner.run(probes.mcInfo, signal);
    const mcText = usableOutput(mcResult);
    const mcParsed = parseOutput(mcText, readMcInfo, null);
    const mcReport = reportParsed("ipmitool-mc-info", mcResult, mcParsed.problem);
    if (mcText === null && mcResult.status !== "skipped") {
      // No answer to the simplest command: do not spend a dozen timeouts on a dead BMC.
      const why = `BMC did not answer mc info (${mcResult.status}${mcResult.message ? `: ${mcResult.message}` : ""})`;
      return { value: emptyIpmiFacts(), reports: [mcReport, ...skipRest(why)] };
    }

    const lanLane = async () => {
      const found = await findLanChannel(probes, runner, signal);
      if (found.channel === null) {
        // Skipped for the same reason as the scan (not root, not captured), else no LAN channel.
        const why =
          found.report.status === "skipped" && found.report.message
            ? found.report.message
            : "no LAN channel";
        return {
          ...found,
          ipv6: {
            value: [] as string[],
            report: skippedReport("ipmitool-lan6-print", probes.lan6Print(1), why),
          },
          users: {
            value: [] as BmcUser[],
            report: skippedReport("ipmitool-user-list", probes.userList(1), why),
          },
        };
      }
      // One after the other: this lane is the fourth ipmitool process, not the fifth and sixth.
      const channel = found.channel;
      const ipv6 = await parsedProbe(
        "ipmitool-lan6-print",
        probes.lan6Print(channel),
        readLan6Print,
        [],
        runner,
        signal,
      );
      const users = await parsedProbe(
        "ipmitool-user-list",
        probes.userList(channel),
        readUserList,
        [],
        runner,
        signal,
      );
      return { ...found, ipv6, users };
    };
    const [lan, fru, sensors, power] = await Promise.all([
      lanLane(),
      parsedProbe("ipmitool-fru-print", probes.fruPrint, readFruPrint, [], runner, signal),
      parsedProbe("ipmitool-sdr-elist", probes.sdrElist, readSdrElist, [], runner, signal),
      parsedProbe(
        "ipmitool-dcmi-power-reading",
        probes.dcmiPowerReading,
        readDcmiPowerReading,
        null,
        runner,
        signal,
      ),
    ]);

    // A BMC object needs something the BMC said about itself: mc info or a LAN channel.
    const mc = mcParsed.value;
    const bmc: Bmc | null =
      mc === null && lan.lan === null
        ? null
        : {
            macAddress: lan.lan?.macAddress ?? null,
            ipv4Address: lan.lan?.ipv4Address ?? null,
            ipv4Source: lan.lan?.ipv4Source ?? null,
            netmask: lan.lan?.netmask ?? null,
            gateway: lan.lan?.gateway ?? null,
            vlanId: lan.lan?.vlanId ?? null,
            channel: lan.channel,
            ...(mc ?? parseMcInfo("")),
            ipv6Addresses: lan.ipv6.value,
            users: lan.users.value,
          };
    return {
      value: { bmc, fru: fru.value, sensors: sensors.value, powerReading: power.value },
      reports: [
        mcReport,
        lan.report,
        lan.ipv6.report,
        lan.users.report,
        fru.report,
        sensors.report,
        dcmiReport(power.report),
      ],
    };
  };
}

/** In-band: the BMC of the machine the agent runs on. */
export const collectIpmi: Collect<IpmiFacts> = ipmiCollector();
