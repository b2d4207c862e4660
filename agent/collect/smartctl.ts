// Disk health from smartmontools: `smartctl --scan-open -j` lists the devices (including disks
// behind MegaRAID and similar controllers, which lsblk cannot see), then `smartctl -j -a -d <type>
// <name>` per device. The facts are merged into disks[] by collect/index.ts (serial number first,
// then kernel name).
import type { CollectorReport } from "../../schema/inventory.ts";
import type { Probe, ProbeResult } from "../exec.ts";
import { cleanString } from "../normalize.ts";
import {
  type Collect,
  isBlank,
  mapLimit,
  type Parsed,
  readJson,
  reportOf,
  reportParsed,
} from "./types.ts";

export interface SmartFacts {
  /** The device as smartctl names it: /dev/sda, /dev/nvme0, /dev/bus/0 (MegaRAID). */
  deviceName: string | null;
  /** Kernel block device name (sda, nvme0n1); null for disks behind a RAID controller. */
  kernelName: string | null;
  serialNumber: string | null;
  model: string | null;
  firmwareVersion: string | null;
  /** SMART overall health self-assessment; null when the disk does not report one. */
  smartPassed: boolean | null;
  powerOnHours: number | null;
  temperatureCelsius: number | null;
  /** Capacity in bytes (user_capacity.bytes). */
  sizeBytes: number | null;
  /** World wide name as lsblk prints it (0x5000c500a1b2c3d0). */
  wwn: string | null;
  /** false for SSDs (rotation_rate 0), true for spinning disks; null when not reported. */
  rotational: boolean | null;
  /** sata, sas or nvme, from the protocol smartctl spoke. */
  transport: string | null;
  vendor: string | null;
  /**
   * For a drive behind a RAID controller: the controller part of its device type
   * (megaraid,4, cciss,0, aacraid,0,0,1), which is how smartctl reached it.
   */
  controllerType: string | null;
}

export interface SmartDevice {
  /** Device path from the scan, e.g. /dev/sda or /dev/bus/0. */
  name: string;
  /** smartctl device type from the scan, e.g. sat, nvme, megaraid,0. */
  type: string;
}

export function emptySmartFacts(): SmartFacts {
  return {
    deviceName: null,
    kernelName: null,
    serialNumber: null,
    model: null,
    firmwareVersion: null,
    smartPassed: null,
    powerOnHours: null,
    temperatureCelsius: null,
    sizeBytes: null,
    wwn: null,
    rotational: null,
    transport: null,
    vendor: null,
    controllerType: null,
  };
}

export const SMARTCTL_SCAN_PROBE: Probe = {
  file: "smartctl-scan.json",
  source: { kind: "command", argv: ["smartctl", "--scan-open", "-j"], versionArgv: ["--version"] },
  timeoutMs: 30_000,
  needsRoot: true,
};

/** Per-device timeout: a disk that is spinning up or a slow RAID pass-through. */
export const SMARTCTL_DEVICE_TIMEOUT_MS = 20_000;
/** Devices queried at the same time. */
export const SMARTCTL_PARALLEL = 4;
/** Upper bound on devices queried (a JBOD shelf has ~100; a corrupt scan must not run forever). */
export const SMARTCTL_MAX_DEVICES = 512;

/** /dev paths only: no "..", no spaces, no option-looking arguments, at most four levels deep. */
const DEVICE_NAME =
  /^\/dev\/[A-Za-z0-9_][A-Za-z0-9_-]{0,63}(\/[A-Za-z0-9_][A-Za-z0-9_-]{0,63}){0,3}$/;
/** smartctl -d types: sat, nvme, scsi, megaraid,0, sat+megaraid,0, aacraid,0,0,1, hpt,1/1/1. */
const DEVICE_TYPE = /^[a-z][a-z0-9]{0,31}([+,][a-z0-9][a-z0-9,/+]{0,63})?$/;
/** Types that address a physical disk behind a controller: no kernel block device of its own. */
const CONTROLLER_TYPE = /(^|\+)(megaraid|cciss|areca|3ware|hpt|aacraid|sssraid|jmb39x)\b/;
/** The controller part of a device type: "megaraid,0" out of "sat+megaraid,0". */
const CONTROLLER_PART =
  /(?:^|\+)((?:megaraid|cciss|areca|3ware|hpt|aacraid|sssraid|jmb39x)(?:,[0-9/,]+)?)$/;

export function isSafeDeviceName(name: string): boolean {
  return DEVICE_NAME.test(name);
}

export function isSafeDeviceType(type: string): boolean {
  return DEVICE_TYPE.test(type);
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The JSON object smartctl prints, or why the text is not one. */
function readObject(text: string): { document: Json | null; problem: string | null } {
  const { document, problem } = readJson(text);
  if (problem !== null) return { document: null, problem };
  return isObject(document)
    ? { document, problem: null }
    : { document: null, problem: "JSON but not an object" };
}

function parseObject(text: string): Json | null {
  return readObject(text).document;
}

function str(value: unknown): string | null {
  return typeof value === "string" ? cleanString(value) : null;
}

function count(value: unknown): number | null {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0 ? value : null;
}

function child(value: unknown, key: string): unknown {
  return isObject(value) ? value[key] : undefined;
}

/**
 * Parses `smartctl --scan-open -j`. Real input (smartctl 7.1, behind a MegaRAID):
 *
 *     "devices": [
 *       {
 *         "name": "/dev/bus/0",
 *         "info_name": "/dev/bus/0 [megaraid_disk_00]",
 *         "type": "megaraid,0",
 *         "protocol": "SCSI"
 *       },
 *
 * With no disk at all (a virtio-only VM) smartctl 7.3 omits "devices". Entries whose name or
 * type fail the strict patterns are returned in `rejected` (never passed to a command); exact
 * duplicates are dropped. Empty output and an object without "devices" are valid and empty;
 * text that is not a JSON object is a problem.
 */
export function readSmartctlScan(
  text: string,
): Parsed<{ devices: SmartDevice[]; rejected: string[] }> {
  const devices: SmartDevice[] = [];
  const rejected: string[] = [];
  if (isBlank(text)) return { value: { devices, rejected }, problem: null };
  const { document, problem } = readObject(text);
  const list = document?.devices;
  if (!Array.isArray(list)) return { value: { devices, rejected }, problem };
  const seen = new Set<string>();
  for (const entry of list) {
    if (!isObject(entry)) continue;
    const { name, type } = entry;
    if (typeof name !== "string" || typeof type !== "string") {
      rejected.push(JSON.stringify(entry).slice(0, 80));
      continue;
    }
    if (!isSafeDeviceName(name) || !isSafeDeviceType(type)) {
      rejected.push(`${name} -d ${type}`.slice(0, 80));
      continue;
    }
    const key = `${name}\n${type}`;
    if (seen.has(key)) continue;
    seen.add(key);
    devices.push({ name, type });
  }
  return { value: { devices, rejected }, problem: null };
}

/** The devices of `readSmartctlScan`, problem or not. */
export function parseSmartctlScan(text: string): { devices: SmartDevice[]; rejected: string[] } {
  return readSmartctlScan(text).value;
}

function sanitise(value: string): string {
  return value.replace(/[^A-Za-z0-9_]+/g, "-").replace(/^-+|-+$/g, "");
}

/**
 * Capture file names for the scanned devices, in order: `smartctl-sda.json`,
 * `smartctl-nvme0.json`, `smartctl-bus-0-megaraid-0.json`. The type is part of the name when it
 * addresses a disk behind a controller (it contains a comma) or when the same path is listed
 * more than once; a clash after sanitising gets a numeric suffix.
 */
export function smartctlFileNames(devices: readonly SmartDevice[]): string[] {
  const perName = new Map<string, number>();
  for (const d of devices) perName.set(d.name, (perName.get(d.name) ?? 0) + 1);
  const used = new Set<string>([SMARTCTL_SCAN_PROBE.file]);
  return devices.map((d) => {
    let base = sanitise(d.name.replace(/^\/dev\//, "")) || "device";
    if (d.type.includes(",") || (perName.get(d.name) ?? 0) > 1) base += `-${sanitise(d.type)}`;
    let file = `smartctl-${base}.json`;
    for (let i = 2; used.has(file); i++) file = `smartctl-${base}-${i}.json`;
    used.add(file);
    return file;
  });
}

export function smartctlDeviceProbe(device: SmartDevice, file: string): Probe {
  return {
    file,
    source: {
      kind: "command",
      argv: ["smartctl", "-j", "-a", "-d", device.type, device.name],
      versionArgv: ["--version"],
    },
    timeoutMs: SMARTCTL_DEVICE_TIMEOUT_MS,
    needsRoot: true,
  };
}

/** nvme0 (a controller) to its namespace's block device when there is exactly one namespace. */
function nvmeNamespace(controller: string, document: Json): string | null {
  const namespaces = document.nvme_namespaces;
  if (Array.isArray(namespaces)) {
    if (namespaces.length !== 1) return null;
    const id = count(child(namespaces[0], "id"));
    return id !== null && id > 0 ? `${controller}n${id}` : null;
  }
  return document.nvme_number_of_namespaces === 1 ? `${controller}n1` : null;
}

function kernelNameOf(deviceName: string | null, type: string | null, document: Json) {
  if (deviceName === null) return null;
  if (type !== null && CONTROLLER_TYPE.test(type)) return null;
  const match = /^\/dev\/([A-Za-z0-9_-]{1,64})$/.exec(deviceName);
  const name = match?.[1];
  if (!name || /^sg\d+$/.test(name)) return null; // SCSI generic nodes are not block devices
  if (/^nvme\d+$/.test(name)) return nvmeNamespace(name, document);
  return name;
}

/** smartctl's wwn object ({naa: 5, oui: 5358, id: 10217451239}) as lsblk prints it. */
function wwnOf(value: unknown): string | null {
  const naa = count(child(value, "naa"));
  const oui = count(child(value, "oui"));
  const id = count(child(value, "id"));
  if (naa === null || oui === null || id === null || naa > 0xf || oui > 0xffffff) return null;
  if (id > 0xfffffffff) return null;
  const hex = (n: number, digits: number) => n.toString(16).padStart(digits, "0");
  return `0x${hex(naa, 1)}${hex(oui, 6)}${hex(id, 9)}`;
}

/** smartctl's logical_unit_id ("0x5000c500a1b2c301"): an NAA name of 64 or 128 bits. */
function naaOf(value: unknown): string | null {
  const id = str(value)?.toLowerCase() ?? null;
  return id !== null && /^0x[0-9a-f]{16}(?:[0-9a-f]{16})?$/.test(id) ? id : null;
}

/** ATA is SATA here (PATA disks are gone from servers); SCSI says SAS only when it says so. */
function transportOf(document: Json): string | null {
  const protocol = str(child(document.device, "protocol"))?.toLowerCase();
  if (protocol === "ata") return "sata";
  if (protocol === "nvme") return "nvme";
  const scsi = str(child(document.scsi_transport_protocol, "name"));
  return scsi !== null && /^SAS\b/.test(scsi) ? "sas" : null;
}

function joined(...parts: unknown[]): string | null {
  const words = parts.map(str).filter((p): p is string => p !== null);
  return words.length === 0 ? null : words.join(" ");
}

/**
 * Parses `smartctl -j -a -d <type> <device>` (any smartctl 7.x JSON). Real input (smartctl 7.3,
 * an NVMe controller, trimmed):
 *
 *     "device": {
 *       "name": "/dev/nvme0",
 *       "info_name": "/dev/nvme0",
 *       "type": "nvme",
 *       "protocol": "NVMe"
 *     },
 *     "model_name": "QEMU NVMe Ctrl",
 *     "serial_number": "RECONN0001",
 *     "firmware_version": "7.2.22",
 *     "nvme_number_of_namespaces": 256,
 *     "smart_status": {
 *       "passed": true,
 *     "temperature": {
 *       "current": 50
 *     },
 *     "power_on_time": {
 *       "hours": 0
 *
 * SCSI disks say `scsi_model_name`/`scsi_revision` since smartctl 7.3 (`model_name`/`revision`
 * before). A temperature of 0 from a disk without SMART support is "not reported". The JSON
 * body is complete even when smartctl exits non-zero (its exit status is a bit mask; bits 2-7
 * describe the disk, not the run), so the parser ignores `exit_status`.
 */
export function parseSmartctl(text: string): SmartFacts {
  const document = parseObject(text);
  if (document === null) return emptySmartFacts();
  const device = document.device;
  const deviceName = str(child(device, "name"));
  const type = str(child(device, "type"));
  const passed = child(document.smart_status, "passed");
  const nvmeLog = document.nvme_smart_health_information_log;
  const smartAvailable = child(document.smart_support, "available");
  const current = child(document.temperature, "current");
  let temperature: number | null =
    typeof current === "number" && Number.isFinite(current) ? current : null;
  if (temperature === 0 && smartAvailable === false) temperature = null;
  if (temperature === null) {
    const nvme = child(nvmeLog, "temperature");
    temperature = typeof nvme === "number" && Number.isFinite(nvme) ? nvme : null;
  }
  if (temperature !== null && (temperature < -100 || temperature > 300)) temperature = null;
  const rotation = document.rotation_rate;
  return {
    deviceName,
    kernelName: kernelNameOf(deviceName, type, document),
    serialNumber: str(document.serial_number),
    model:
      str(document.model_name) ??
      str(document.scsi_model_name) ??
      joined(document.vendor, document.product) ??
      joined(document.scsi_vendor, document.scsi_product),
    firmwareVersion:
      str(document.firmware_version) ?? str(document.revision) ?? str(document.scsi_revision),
    smartPassed: typeof passed === "boolean" ? passed : null,
    powerOnHours:
      count(child(document.power_on_time, "hours")) ?? count(child(nvmeLog, "power_on_hours")),
    temperatureCelsius: temperature,
    sizeBytes: count(child(document.user_capacity, "bytes")) ?? count(document.nvme_total_capacity),
    // SCSI disks have no wwn object; their logical_unit_id is the NAA designator lsblk prints.
    wwn: wwnOf(document.wwn) ?? naaOf(document.logical_unit_id),
    rotational: typeof rotation === "number" && rotation >= 0 ? rotation > 0 : null,
    transport: transportOf(document),
    vendor: str(document.scsi_vendor) ?? str(document.vendor),
    controllerType: (type === null ? null : CONTROLLER_PART.exec(type)?.[1]) ?? null,
  };
}

function mergeFacts(first: SmartFacts, second: SmartFacts): SmartFacts {
  const merged = { ...first };
  for (const key of Object.keys(merged) as (keyof SmartFacts)[]) {
    if (merged[key] === null) (merged as Record<string, unknown>)[key] = second[key];
  }
  return merged;
}

/** The first number of a controller type (megaraid,4 -> 4); no number sorts last. */
function controllerNumber(facts: SmartFacts): number {
  const match = facts.controllerType ? /,(\d+)/.exec(facts.controllerType) : null;
  return match ? Number(match[1]) : Number.POSITIVE_INFINITY;
}

function hasFacts(facts: SmartFacts): boolean {
  return facts.serialNumber !== null || facts.model !== null || facts.smartPassed !== null;
}

/** The first error message smartctl put in its JSON, e.g. "/dev/vda: Unable to detect device type". */
function smartctlError(document: Json | null): string | null {
  const messages = child(document?.smartctl, "messages");
  if (!Array.isArray(messages)) return null;
  for (const m of messages) {
    if (child(m, "severity") === "error") {
      const s = str(child(m, "string"));
      if (s) return s.slice(0, 300);
    }
  }
  return null;
}

/**
 * One device's report. smartctl's exit status is a bit mask: bit 0 (bad command line) and bit 1
 * (open failed) are failures of the run; bits 2-7 (a SMART command failed, disk failing, errors
 * logged...) describe the disk and come with a complete JSON body, which makes the run "ok"
 * (exitCode keeps the bits; the health verdict is in smartPassed).
 */
function deviceReport(
  result: ProbeResult,
  document: Json | null,
  problem: string | null,
): CollectorReport {
  const report = reportOf("smartctl", result);
  if (result.status !== "ok" && result.status !== "failed") return report;
  if (document === null) {
    if (result.status === "failed") return report;
    return reportParsed("smartctl", result, problem ?? "no output");
  }
  const exitStatus = child(document.smartctl, "exit_status");
  const bits = result.exitCode ?? (typeof exitStatus === "number" ? exitStatus : 0);
  if ((bits & 3) !== 0) {
    return {
      ...report,
      status: "failed",
      exitCode: result.exitCode ?? bits,
      message: smartctlError(document) ?? result.message ?? `smartctl exit status ${bits}`,
    };
  }
  return { ...report, status: "ok", message: null };
}

export const collectSmart: Collect<SmartFacts[]> = async (runner, signal) => {
  const scan = await runner.run(SMARTCTL_SCAN_PROBE, signal);
  const output = scan.status === "ok" || scan.status === "failed" ? scan.output : "";
  const { value: scanned, problem: scanProblem } = readSmartctlScan(output);
  const { devices: found, rejected } = scanned;
  const reports: CollectorReport[] = [reportParsed("smartctl-scan", scan, scanProblem)];
  for (const entry of rejected) {
    reports.push({
      name: "smartctl",
      status: "skipped",
      durationMs: 0,
      command: null,
      exitCode: null,
      message: `unsafe device in scan output, not queried: ${entry}`,
    });
  }
  const devices = found.slice(0, SMARTCTL_MAX_DEVICES);
  const files = smartctlFileNames(devices);
  const results = await mapLimit(
    devices.map((device, i) => smartctlDeviceProbe(device, files[i] as string)),
    SMARTCTL_PARALLEL,
    (probe) => runner.run(probe, signal),
  );
  const value: SmartFacts[] = [];
  const bySerial = new Map<string, number>();
  for (const result of results) {
    const usable = result.status === "ok" || result.status === "failed";
    const { document, problem } = usable
      ? readObject(result.output)
      : { document: null, problem: null };
    reports.push(deviceReport(result, document, problem));
    if (document === null) continue;
    const facts = parseSmartctl(result.output);
    if (!hasFacts(facts)) continue;
    // One disk answering twice the same way: one entry, the first non-null value of each field.
    // A kernel device and a drive behind a controller stay apart even with one serial (a
    // MegaRAID logical drive may report its member's inquiry data): collect/storage.ts decides.
    // Among controller addresses of one drive, the lowest number names it (QEMU's megasas
    // answers megaraid,0, 256 and 512 with the same target).
    const key =
      facts.serialNumber === null
        ? null
        : `${facts.controllerType === null ? "kernel" : "controller"}\n${facts.serialNumber}`;
    const index = key === null ? undefined : bySerial.get(key);
    if (index !== undefined) {
      const known = value[index] as SmartFacts;
      value[index] =
        controllerNumber(facts) < controllerNumber(known)
          ? mergeFacts(facts, known)
          : mergeFacts(known, facts);
      continue;
    }
    if (key !== null) bySerial.set(key, value.length);
    value.push(facts);
  }
  return { value, reports };
};
