// Broadcom MegaRAID controllers (and Dell's PERC, whose perccli is the same program) through
// StorCLI's JSON output: `storcli /call show all J` (each controller's model, serial, firmware
// and PCI address) and `storcli /call/vall show all J` (each virtual drive: RAID level, the
// kernel block device it is, and its member drives' device ids, which are smartctl's
// `-d megaraid,N` numbers). The tool is proprietary: the parsers are tested on recorded real
// outputs (samples/storcli-*).
import type { Probe, ProbeResult, Runner } from "../exec.ts";
import { cleanString } from "../normalize.ts";
import { isBlank, type Parsed, readJson } from "./types.ts";

export interface StorcliController {
  /** StorCLI's controller index (/c0). */
  index: number | null;
  model: string | null;
  serialNumber: string | null;
  firmwareVersion: string | null;
  driver: string | null;
  /** dddd:bb:dd.f */
  pciAddress: string | null;
}

export interface StorcliVirtualDrive {
  controller: number | null;
  id: number;
  /** raid0, raid1, raid10, ... */
  raidLevel: string | null;
  /** The kernel block device (sda) from "OS Drive Name"; null when not exposed or not said. */
  kernelName: string | null;
  /** Member drives' device ids (DID): smartctl reaches each as `-d megaraid,<DID>`. */
  memberDeviceIds: number[];
}

type Json = Record<string, unknown>;

function record(value: unknown): Json | null {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Json)
    : null;
}

function text(value: unknown): string | null {
  return typeof value === "string" ? cleanString(value) : null;
}

function int(value: unknown): number | null {
  if (typeof value === "number") return Number.isSafeInteger(value) && value >= 0 ? value : null;
  if (typeof value === "string" && /^\s*\d{1,9}\s*$/.test(value)) return Number(value);
  return null;
}

/** "RAID1" -> raid1, "RAID10" -> raid10; anything else unknown. */
export function storcliRaidLevel(value: unknown): string | null {
  const match = typeof value === "string" ? /^\s*RAID(\d{1,2})\s*$/i.exec(value) : null;
  return match ? `raid${match[1]}` : null;
}

/**
 * The per-controller objects of a StorCLI JSON document: {"Controllers": [{"Command Status":
 * {...}, "Response Data": {...}}]}. A controller whose Command Status is "Failure" may still
 * carry complete Response Data (a foreign configuration, say): it is read.
 */
function controllers(input: string): Parsed<{ index: number | null; data: Json }[]> {
  if (typeof input !== "string" || isBlank(input)) return { value: [], problem: null };
  const { document, problem } = readJson(input);
  if (problem !== null) return { value: [], problem };
  const list = record(document)?.Controllers;
  if (!Array.isArray(list)) return { value: [], problem: 'no "Controllers" array' };
  const value: { index: number | null; data: Json }[] = [];
  for (const item of list) {
    const entry = record(item);
    const data = record(entry?.["Response Data"]);
    if (!entry || !data) continue;
    value.push({ index: int(record(entry["Command Status"])?.Controller), data });
  }
  return { value, problem: null };
}

/** A key in the Response Data or in one of its sections (`show all` groups them). */
function lookup(data: Json, sections: readonly string[], keys: readonly string[]): unknown {
  for (const place of [data, ...sections.map((s) => record(data[s]))]) {
    if (!place) continue;
    for (const key of keys) if (place[key] !== undefined) return place[key];
  }
  return undefined;
}

function pciAddressOf(data: Json): string | null {
  const sections = ["Bus", "Basics"];
  const domain = int(lookup(data, sections, ["Domain ID"]));
  const bus = int(lookup(data, sections, ["Bus Number"]));
  const device = int(lookup(data, sections, ["Device Number"]));
  const fn = int(lookup(data, sections, ["Function Number"]));
  const hex = (n: number, digits: number) => n.toString(16).padStart(digits, "0");
  if (domain !== null && bus !== null && device !== null && fn !== null) {
    if (domain > 0xffff || bus > 0xff || device > 0x1f || fn > 7) return null;
    return `${hex(domain, 4)}:${hex(bus, 2)}:${hex(device, 2)}.${fn}`;
  }
  // "PCI Address" : "00:3b:00:00" is bus:device:function with a leading 00.
  const raw = text(lookup(data, sections, ["PCI Address"]));
  const match = raw ? /^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/i.exec(raw) : null;
  if (!match) return null;
  const [, , b = "", d = "", f = ""] = match;
  const functionNumber = Number.parseInt(f, 16);
  return functionNumber > 7 ? null : `0000:${b}:${d}.${functionNumber}`.toLowerCase();
}

/**
 * Parses `storcli /call show all J` (or `/c0 show J`). Real input (StorCLI 007.2309, Intel
 * RS3DC080, samples/storcli-controller-pystorcli2, trimmed):
 *
 *     "Response Data": {
 *       "Product Name": "Intel(R) RAID Controller RS3DC080",
 *       "Serial Number": "SK75074929",
 *       "FW Package Build": "24.15.0-0034",
 *       "FW Version": "4.650.00-8128",
 *       "Driver Name": "megaraid_sas",
 *       "Bus Number": 59,
 *       "Device Number": 0,
 *       "Function Number": 0,
 *       "Domain ID": 0,
 *
 * `show all` puts the same keys in sections ("Basics", "Version", "Bus"; "Model" for the product
 * name, "Firmware Package Build"); both are read. The firmware is the package build (what Dell
 * and Broadcom publish as the controller's firmware version), else "FW Version". Empty output is
 * valid and empty; anything without a "Controllers" array is a problem.
 */
export function readStorcliControllers(input: string): Parsed<StorcliController[]> {
  const { value: list, problem } = controllers(input);
  const sections = ["Basics", "Version", "Bus"];
  const value = list
    .map(({ index, data }) => ({
      index: int(lookup(data, ["Basics"], ["Controller"])) ?? index,
      model: text(lookup(data, sections, ["Product Name", "Model"])),
      serialNumber: text(lookup(data, sections, ["Serial Number"])),
      firmwareVersion: text(
        lookup(data, sections, [
          "FW Package Build",
          "Firmware Package Build",
          "FW Version",
          "Firmware Version",
        ]),
      ),
      driver: text(lookup(data, sections, ["Driver Name"])),
      pciAddress: pciAddressOf(data),
    }))
    .filter((c) => c.model !== null || c.serialNumber !== null);
  return { value, problem };
}

/**
 * Parses `storcli /call/vall show all J`. Real input (StorCLI 007.1907, seven VDs,
 * samples/storcli-vall-cloudpods, trimmed):
 *
 *     "/c0/v0" : [ { "DG/VD" : "0/0", "TYPE" : "RAID1", "State" : "Optl", ... } ],
 *     "PDs for VD 0" : [ { "EID:Slt" : "8:0", "DID" : 16, "State" : "Onln", ... } ],
 *     "VD0 Properties" : { ..., "Exposed to OS" : "Yes", "OS Drive Name" : "/dev/sda", ... }
 *
 * One entry per "/cN/vM" key; members from "PDs for VD M", the block device from
 * "VDM Properties". Empty output is valid and empty; no "Controllers" array is a problem.
 */
export function readStorcliVirtualDrives(input: string): Parsed<StorcliVirtualDrive[]> {
  const { value: list, problem } = controllers(input);
  const value: StorcliVirtualDrive[] = [];
  for (const { data } of list) {
    for (const [key, rows] of Object.entries(data)) {
      const match = /^\/c(\d{1,4})\/v(\d{1,5})$/.exec(key);
      if (!match || !Array.isArray(rows)) continue;
      const id = Number(match[2]);
      const row = record(rows[0]);
      const members = data[`PDs for VD ${id}`];
      const properties = record(data[`VD${id} Properties`]);
      const osName = text(properties?.["OS Drive Name"]);
      const kernelName = osName
        ? (/^\/dev\/([a-z][a-z0-9]{0,31})$/.exec(osName)?.[1] ?? null)
        : null;
      value.push({
        controller: Number(match[1]),
        id,
        raidLevel: storcliRaidLevel(row?.TYPE),
        kernelName,
        memberDeviceIds: (Array.isArray(members) ? members : [])
          .map((m) => int(record(m)?.DID))
          .filter((n): n is number => n !== null),
      });
    }
  }
  return { value, problem };
}

/** Names StorCLI ships under (perccli is Dell's build of the same tool). */
export const STORCLI_BINARIES = ["storcli64", "storcli", "perccli64", "perccli"] as const;

function storcliProbe(binary: string, file: string, path: string): Probe {
  return {
    file,
    source: { kind: "command", argv: [binary, path, "show", "all", "J"], versionArgv: ["-v"] },
    timeoutMs: 60_000,
    needsRoot: true,
  };
}

export const STORCLI_CONTROLLERS_FILE = "storcli-call-show-all.json";
export const STORCLI_VIRTUAL_DRIVES_FILE = "storcli-call-vall-show-all.json";

/**
 * Runs one StorCLI command under the first binary name that is installed: an absent binary is
 * skipped at once (ENOENT), so a machine without StorCLI costs four failed execs, not a wait.
 * Replay reads the capture file whatever binary wrote it.
 */
export async function runStorcli(
  runner: Runner,
  file: string,
  path: string,
  signal?: AbortSignal,
): Promise<ProbeResult> {
  let result: ProbeResult | null = null;
  for (const binary of STORCLI_BINARIES) {
    result = await runner.run(storcliProbe(binary, file, path), signal);
    if (result.status !== "skipped" || result.message === "requires root") return result;
  }
  return result as ProbeResult;
}

export function parseStorcliControllers(input: string): StorcliController[] {
  return readStorcliControllers(input).value;
}

export function parseStorcliVirtualDrives(input: string): StorcliVirtualDrive[] {
  return readStorcliVirtualDrives(input).value;
}
