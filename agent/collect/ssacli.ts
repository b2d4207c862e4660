// HPE Smart Array controllers (hpsa) through `ssacli ctrl all show config detail` (the same
// output from its older names hpssacli and hpacucli): each controller's model, serial and
// firmware, each logical drive's RAID level, kernel block device and member bays, and each
// physical drive's serial, model and firmware. The tool is proprietary: the parser is tested on
// a recorded real output (samples/ssacli-proliantutils).
import type { Probe, ProbeResult, Runner } from "../exec.ts";
import { cleanString } from "../normalize.ts";
import { normalizePciAddress } from "./lspci.ts";
import { binaryProblem, isBlank, type Parsed } from "./types.ts";

export interface SsacliLogicalDrive {
  id: number;
  raidLevel: string | null;
  /** sda, from "Disk Name: /dev/sda". */
  kernelName: string | null;
  /** Bays of its members, e.g. 5I:1:1. */
  members: string[];
}

export interface SsacliPhysicalDrive {
  /** Port:box:bay, e.g. 5I:1:1. */
  bay: string;
  serialNumber: string | null;
  vendor: string | null;
  model: string | null;
  firmwareVersion: string | null;
  transport: string | null;
  rotational: boolean | null;
}

export interface SsacliController {
  /** "Smart Array P822" */
  model: string | null;
  slot: string | null;
  serialNumber: string | null;
  firmwareVersion: string | null;
  driver: string | null;
  pciAddress: string | null;
  logicalDrives: SsacliLogicalDrive[];
  physicalDrives: SsacliPhysicalDrive[];
}

const HEADER = /^(\S.*?) in Slot (\S+?)(?: \(Embedded\))?(?:\s+\(sn: [^)]*\))?\s*$/;
const FIELD = /^(\s+)([A-Za-z][^:]*?):\s?(.*)$/;
const BAY = /^[0-9A-Za-z]{1,4}:\d{1,4}:\d{1,4}$/;

/** Fault Tolerance: 0, 1, 1+0, 5, 6, 50, 60, "ADG" (RAID 6), "1ADM"/"1+0ADM" (triple mirror). */
export function ssacliRaidLevel(value: string | null): string | null {
  const v = value?.trim().toUpperCase() ?? "";
  if (v === "ADG") return "raid6";
  const match = /^(\d)(?:\+(\d))?(ADM)?$/.exec(v);
  if (!match) return null;
  return `raid${match[1]}${match[2] ?? ""}${match[3] ? "adm" : ""}`;
}

/** "HP      EF0600FARNA" (SCSI inquiry: 8-character vendor, then product) -> vendor, model. */
function splitModel(value: string | null): { vendor: string | null; model: string | null } {
  if (value === null) return { vendor: null, model: null };
  const match = /^(\S{1,8})\s{2,}(\S.*)$/.exec(value) ?? /^(ATA)\s+(\S.*)$/.exec(value);
  if (!match) return { vendor: null, model: cleanString(value) };
  const vendor = (match[1] as string).toUpperCase() === "ATA" ? null : cleanString(match[1]);
  return { vendor, model: cleanString(match[2]) };
}

function transportOf(value: string | null): string | null {
  const v = value?.toLowerCase() ?? "";
  if (v.includes("nvme")) return "nvme";
  if (v.includes("sata")) return "sata";
  if (v.includes("sas")) return "sas";
  return null;
}

/**
 * Parses `ssacli ctrl all show config detail`. Real input (Smart Array P822, hpsa,
 * samples/ssacli-proliantutils, trimmed):
 *
 *     Smart Array P822 in Slot 2
 *        Serial Number: PDVTF0BRH5T0MO
 *        Firmware Version: 4.68
 *        Driver Name: hpsa
 *        Array: A
 *           Logical Drive: 1
 *              Fault Tolerance: 1
 *              Disk Name: /dev/sda
 *              Mirror Group 0:
 *                 physicaldrive 5I:1:1 (port 5I:box 1:bay 1, SAS, 600 GB, OK)
 *           physicaldrive 5I:1:1
 *              Serial Number: 6SL7G55D0000N4173JLT
 *              Model: HP      EF0600FARNA
 *              Firmware Revision: HPD6
 *
 * Sections are told apart by their first line (controller header at column 0, "Logical Drive:",
 * "physicaldrive <bay>" alone on its line, "SEP ..."); key/value lines belong to the last one
 * opened. Empty output is valid and empty; text with no controller header, or binary bytes, is
 * a problem.
 */
export function readSsacliConfig(input: string): Parsed<SsacliController[]> {
  if (typeof input !== "string" || isBlank(input)) return { value: [], problem: null };
  const binary = binaryProblem(input);
  if (binary !== null) return { value: [], problem: binary };
  const controllers: SsacliController[] = [];
  let controller: SsacliController | null = null;
  let section: "controller" | "array" | "ld" | "pd" | "other" = "other";
  let ld: SsacliLogicalDrive | null = null;
  let pd: SsacliPhysicalDrive | null = null;
  let pdModel: string | null = null;
  const closeDrive = () => {
    if (pd && pdModel !== null) Object.assign(pd, splitModel(pdModel));
    pdModel = null;
  };
  for (const raw of input.split("\n")) {
    const line = raw.replace(/\r$/, "");
    if (line.trim() === "") continue;
    const header = HEADER.exec(line);
    if (header) {
      closeDrive();
      controller = {
        model: cleanString(header[1]),
        slot: cleanString(header[2]),
        serialNumber: null,
        firmwareVersion: null,
        driver: null,
        pciAddress: null,
        logicalDrives: [],
        physicalDrives: [],
      };
      controllers.push(controller);
      section = "controller";
      continue;
    }
    if (!controller) continue;
    const text = line.trim();
    const member = /^physicaldrive (\S+)(?: \(.*\))?$/.exec(text);
    if (member && BAY.test(member[1] as string)) {
      const bay = member[1] as string;
      if (section === "ld" && ld && text.includes("(")) {
        ld.members.push(bay);
        continue;
      }
      closeDrive();
      pd = {
        bay,
        serialNumber: null,
        vendor: null,
        model: null,
        firmwareVersion: null,
        transport: null,
        rotational: null,
      };
      controller.physicalDrives.push(pd);
      section = "pd";
      continue;
    }
    const logical = /^Logical Drive: (\d{1,5})$/.exec(text);
    if (logical) {
      closeDrive();
      ld = { id: Number(logical[1]), raidLevel: null, kernelName: null, members: [] };
      controller.logicalDrives.push(ld);
      section = "ld";
      continue;
    }
    if (/^(Array:? \S+|unassigned|SEP \(|Expander \d|Enclosure )/.test(text)) {
      closeDrive();
      section = text.startsWith("Array") ? "array" : "other";
      continue;
    }
    const field = FIELD.exec(line);
    if (!field) continue;
    const key = field[2] as string;
    const value = cleanString(field[3]);
    if (section === "controller") {
      if (key === "Serial Number") controller.serialNumber = value;
      else if (key === "Firmware Version") controller.firmwareVersion = value;
      else if (key === "Driver Name") controller.driver = value;
      else if (key.startsWith("PCI Address") && value) {
        controller.pciAddress = normalizePciAddress(value);
      }
    } else if (section === "ld" && ld) {
      if (key === "Fault Tolerance") ld.raidLevel = ssacliRaidLevel(value);
      else if (key === "Disk Name") {
        ld.kernelName = value ? (/^\/dev\/([a-z][a-z0-9]{0,31})$/.exec(value)?.[1] ?? null) : null;
      }
    } else if (section === "pd" && pd) {
      if (key === "Serial Number") pd.serialNumber = value;
      else if (key === "Model")
        pdModel = (field[3] as string).trim() || null; // keep the inquiry spacing
      else if (key === "Firmware Revision") pd.firmwareVersion = value;
      else if (key === "Interface Type") {
        pd.transport = transportOf(value);
        if (value && /solid state/i.test(value)) pd.rotational = false;
      } else if (key === "Rotational Speed" && value && /^\d+$/.test(value)) {
        pd.rotational = Number(value) > 0;
      }
    }
  }
  closeDrive();
  if (controllers.length === 0) return { value: [], problem: 'no "<model> in Slot <n>" line' };
  return { value: controllers, problem: null };
}

export function parseSsacliConfig(input: string): SsacliController[] {
  return readSsacliConfig(input).value;
}

/** The names HPE shipped the tool under, newest first; all take the same arguments. */
export const SSACLI_BINARIES = ["ssacli", "hpssacli", "hpacucli"] as const;
export const SSACLI_FILE = "ssacli-ctrl-all-show-config-detail.txt";

/** Runs the config dump under the first installed name; absent names are skipped at once. */
export async function runSsacli(runner: Runner, signal?: AbortSignal): Promise<ProbeResult> {
  let result: ProbeResult | null = null;
  for (const binary of SSACLI_BINARIES) {
    const probe: Probe = {
      file: SSACLI_FILE,
      source: {
        kind: "command",
        argv: [binary, "ctrl", "all", "show", "config", "detail"],
        versionArgv: ["version"],
      },
      timeoutMs: 60_000,
      needsRoot: true,
    };
    result = await runner.run(probe, signal);
    if (result.status !== "skipped" || result.message === "requires root") return result;
  }
  return result as ProbeResult;
}
