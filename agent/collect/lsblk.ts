// Disks from `lsblk -J -b -O`: the kernel's own view of whole block devices.
import type { Disk } from "../../schema/inventory.ts";
import type { Probe } from "../exec.ts";
import { cleanString } from "../normalize.ts";
import {
  type Collect,
  isBlank,
  type Parsed,
  parseOutput,
  readJson,
  reportParsed,
  usableOutput,
} from "./types.ts";

export const LSBLK_PROBE: Probe = {
  file: "lsblk.json",
  source: { kind: "command", argv: ["lsblk", "-J", "-b", "-O"], versionArgv: ["--version"] },
  timeoutMs: 60_000,
};

/**
 * Kernel devices that report TYPE "disk" but are not hardware: compressed RAM swap, RAM disks,
 * loop and network block devices, and the eMMC boot/RPMB areas (part of the mmcblkN they sit on;
 * listing them would count the same chip three times).
 */
const NOT_HARDWARE = /^(?:zram\d+|ram\d+|loop\d+|nbd\d+|mmcblk\d+(?:boot\d+|rpmb))$/;

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function field(value: unknown): string | null {
  if (typeof value === "string") return cleanString(value);
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return null;
}

/** true/false (util-linux >= 2.33), "1"/"0" (older), 1/0. Anything else is unknown. */
function flag(value: unknown): boolean | null {
  if (typeof value === "boolean") return value;
  if (value === 1 || value === "1" || value === "true") return true;
  if (value === 0 || value === "0" || value === "false") return false;
  return null;
}

/**
 * Exact byte counts only: a number, or a string of digits (util-linux < 2.33 quotes everything).
 * Without -b lsblk prints rounded sizes ("477G", "14.3G"); those are null rather than a guess.
 */
function bytes(value: unknown): number | null {
  if (typeof value === "number") return Number.isSafeInteger(value) && value >= 0 ? value : null;
  if (typeof value === "string" && /^\s*\d+\s*$/.test(value)) {
    const n = Number(value);
    return Number.isSafeInteger(n) ? n : null;
  }
  return null;
}

function toDisk(entry: Json): Disk | null {
  if (field(entry.type)?.toLowerCase() !== "disk") return null;
  const raw = field(entry.name) ?? field(entry.kname);
  if (raw === null) return null;
  // `lsblk -p` prints full paths as names.
  const name = raw.startsWith("/dev/") ? raw.slice(5) : raw;
  if (name === "" || name.includes("/") || NOT_HARDWARE.test(name)) return null;
  const path = field(entry.path) ?? (raw.startsWith("/dev/") ? raw : `/dev/${name}`);
  const vendor = field(entry.vendor);
  return {
    name,
    path,
    sizeBytes: bytes(entry.size),
    model: field(entry.model),
    // libata answers "ATA" as the SCSI vendor of every SATA disk: not a manufacturer.
    vendor: vendor?.toUpperCase() === "ATA" ? null : vendor,
    serialNumber: field(entry.serial),
    wwn: field(entry.wwn),
    transport: field(entry.tran)?.toLowerCase() ?? null,
    rotational: flag(entry.rota),
    removable: flag(entry.rm),
    firmwareVersion: field(entry.rev),
    // Health comes from smartctl, merged in by collect/index.ts.
    smartPassed: null,
    powerOnHours: null,
    temperatureCelsius: null,
    virtual: null,
    raidLevel: null,
    memberSerials: [],
    reachedThrough: null,
    controllerSerial: null,
    numaNode: null,
  };
}

/**
 * Parses `lsblk -J -b -O`. Only top-level devices of TYPE "disk" count: partitions, loop and rom
 * devices are left out, and so are md RAID and device-mapper (LVM, crypt, multipath) devices:
 * those are built from the disks listed here (lsblk nests them under their member disks). md
 * arrays do enter disks[] as virtual disks, from /proc/mdstat (collect/storage.ts), which names
 * their level and members; device-mapper stays storage configuration. Accepts every
 * util-linux generation seen in the wild: typed JSON (2.33+), all-strings JSON (older),
 * `mountpoint` or `mountpoints`, and no `path` column (before 2.33: "/dev/" + name).
 * Real input (util-linux 2.38.1, Debian 12, trimmed):
 *
 *     {
 *        "blockdevices": [
 *           {
 *              "kname": "vda",
 *              "model": null,
 *              "name": "vda",
 *              "path": "/dev/vda",
 *              "rev": null,
 *              "rm": false,
 *              "rota": true,
 *              "serial": null,
 *              "size": 274877906944,
 *              "tran": null,
 *              "type": "disk",
 *              "vendor": "0x1af4",
 *              "wwn": null,
 *
 * Empty output, or `{"blockdevices": []}` (a machine without block devices), is valid and
 * empty. Anything else that is not JSON with a "blockdevices" array is a problem.
 */
export function readLsblk(text: string): Parsed<Disk[]> {
  if (isBlank(text)) return { value: [], problem: null };
  const { document, problem } = readJson(text);
  if (problem !== null) return { value: [], problem };
  if (!isObject(document) || !Array.isArray(document.blockdevices)) {
    return { value: [], problem: 'no "blockdevices" array' };
  }
  const disks: Disk[] = [];
  const seen = new Set<string>();
  for (const entry of document.blockdevices) {
    if (!isObject(entry)) continue;
    const disk = toDisk(entry);
    if (disk === null || seen.has(disk.name)) continue;
    seen.add(disk.name);
    disks.push(disk);
  }
  return { value: disks, problem: null };
}

/** The disks of `readLsblk`, problem or not. */
export function parseLsblk(text: string): Disk[] {
  return readLsblk(text).value;
}

export const collectLsblk: Collect<Disk[]> = async (runner, signal) => {
  const result = await runner.run(LSBLK_PROBE, signal);
  const { value, problem } = parseOutput(usableOutput(result), readLsblk, []);
  return { value, reports: [reportParsed("lsblk", result, problem)] };
};
