// The TPM (tpm), from /sys/class/tpm/tpm0, read in-process and captured as sys-class-tpm.json.
//
// What the kernel exposes (Documentation/ABI/stable/sysfs-class-tpm):
// - tpm_version_major: "1" or "2" (kernel 5.5+);
// - caps, for TPM 1.2 only (tpm0/caps, and tpm0/device/caps on older kernels):
//       Manufacturer: 0x53544d20
//       TCG version: 1.2
//       Firmware version: 8.16
//   The manufacturer is the TPM's 4-byte vendor id as hex: 0x53544d20 is "STM ", 0x49465800
//   "IFX\0" (TCG Vendor ID Registry).
// - device/description: the ACPI _STR, e.g. "TPM 2.0 Device" (MSFT0101).
// A TPM 2.0 has no manufacturer and no firmware version in sysfs at all: they are TPM2 properties
// (TPM_PT_MANUFACTURER, TPM_PT_FIRMWARE_VERSION_1/2) that only a command to /dev/tpm0 reads
// (tpm2_getcap properties-fixed, from tpm2-tools, which the image does not ship). For a 2.0 they
// stay null: unknown, not absent.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { Tpm } from "../../schema/inventory.ts";
import type { Probe } from "../exec.ts";
import { jsonRecord, jsonText, readSysfsAttr } from "./sysfs.ts";
import {
  type Collect,
  isBlank,
  type Parsed,
  parseOutput,
  readJson,
  reportParsed,
  usableOutput,
} from "./types.ts";

/** One TPM's sysfs attributes as read (trimmed text), null when the file does not exist. */
export interface SysTpmEntry {
  tpm_version_major: string | null;
  caps: string | null;
  description: string | null;
}
/** sys-class-tpm.json: keyed by the class entry (tpm0, tpm1); {} when there is no TPM. */
export type SysClassTpm = Record<string, SysTpmEntry>;

/** The vendor id as the 1-4 printable characters it encodes ("0x49465800" -> "IFX"). */
export function tpmVendorOf(hex: string): string | null {
  const match = /^0x([0-9a-f]{1,8})$/i.exec(hex.trim());
  if (!match?.[1]) return null;
  const bytes = Buffer.from(match[1].padStart(8, "0"), "hex");
  const textual = [...bytes].every((b) => b === 0 || (b >= 0x20 && b < 0x7f));
  if (!textual) return `0x${match[1].toLowerCase()}`;
  const name = bytes.toString("latin1").replaceAll("\0", "").trim();
  return name.length > 0 ? name : null;
}

function capsField(caps: string | null, key: string): string | null {
  if (caps === null) return null;
  const match = new RegExp(`^${key}:[ \\t]*(\\S[^\\r\\n]*)$`, "mi").exec(caps);
  return match?.[1]?.trim() ?? null;
}

/** The TPM of one class entry; null when the entry says nothing about what it is. */
function tpmOf(entry: SysTpmEntry): { tpm: Tpm | null; problem: string | null } {
  const major = entry.tpm_version_major?.trim() ?? null;
  const tcg = capsField(entry.caps, "TCG version");
  const description = entry.description ?? "";
  let version: Tpm["version"] = null;
  if (major === "2" || /\bTPM 2\.0\b/i.test(description)) version = "2.0";
  else if (major === "1" || tcg === "1.2" || tcg === "1.1") version = "1.2";
  const manufacturerHex = capsField(entry.caps, "Manufacturer");
  const manufacturer = manufacturerHex === null ? null : tpmVendorOf(manufacturerHex);
  const firmwareVersion = capsField(entry.caps, "Firmware version");
  if (major !== null && major !== "1" && major !== "2") {
    return {
      tpm: { version, manufacturer, firmwareVersion },
      problem: `tpm_version_major "${major.slice(0, 20)}"`,
    };
  }
  if (entry.caps !== null && manufacturerHex === null && tcg === null) {
    return {
      tpm: { version, manufacturer, firmwareVersion },
      problem: "caps without Manufacturer or TCG version",
    };
  }
  return { tpm: { version, manufacturer, firmwareVersion }, problem: null };
}

/**
 * `tpm` from a sys-class-tpm.json capture; never throws. The first class entry (tpm0) is the
 * TPM; `{}` (no /sys/class/tpm, or an empty one) is no TPM: null, and no problem. A TPM whose
 * version cannot be told keeps `version: null`.
 *
 * Real input (TPM 1.2, the kernel's documented caps of an STMicroelectronics part, and a 2.0 as
 * the kernel 5.5+ shows it):
 *     {"tpm0":{"tpm_version_major":"1","caps":"Manufacturer: 0x53544d20\nTCG version: 1.2\n
 *       Firmware version: 8.16","description":null}}
 *     {"tpm0":{"tpm_version_major":"2","caps":null,"description":"TPM 2.0 Device"}}
 */
export function readSysClassTpmCapture(text: string): Parsed<Tpm | null> {
  if (typeof text !== "string" || isBlank(text)) return { value: null, problem: null };
  const { document, problem } = readJson(text);
  if (problem !== null) return { value: null, problem };
  const record = jsonRecord(document);
  if (record === null) return { value: null, problem: "JSON but not an object" };
  const names = Object.keys(record).sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  const first = names[0];
  if (first === undefined) return { value: null, problem: null };
  const raw = jsonRecord(record[first]);
  if (raw === null) return { value: null, problem: `${first}: not an object` };
  const { tpm, problem: entryProblem } = tpmOf({
    tpm_version_major: jsonText(raw.tpm_version_major),
    caps: jsonText(raw.caps),
    description: jsonText(raw.description),
  });
  return { value: tpm, problem: entryProblem === null ? null : `${first}: ${entryProblem}` };
}

/** The facts of `readSysClassTpmCapture`, problem or not. */
export function parseSysClassTpm(text: string): Tpm | null {
  return readSysClassTpmCapture(text).value;
}

/** Reads /sys/class/tpm into the sys-class-tpm.json form ({} when there is no TPM). */
export function readSysClassTpm(root = "/sys/class/tpm"): string {
  let names: string[] = [];
  try {
    names = readdirSync(root)
      .filter((n) => /^tpm\d+$/.test(n))
      .sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const out: SysClassTpm = {};
  for (const name of names) {
    const dir = join(root, name);
    out[name] = {
      tpm_version_major: readSysfsAttr(join(dir, "tpm_version_major")),
      caps: readSysfsAttr(join(dir, "caps")) ?? readSysfsAttr(join(dir, "device", "caps")),
      description: readSysfsAttr(join(dir, "device", "description")),
    };
  }
  return `${JSON.stringify(out)}\n`;
}

export const sysClassTpmProbe: Probe = {
  file: "sys-class-tpm.json",
  source: {
    kind: "internal",
    describe: "read /sys/class/tpm",
    read: () => readSysClassTpm(),
  },
  timeoutMs: 5_000,
};

export const collectTpm: Collect<Tpm | null> = async (runner, signal) => {
  const result = await runner.run(sysClassTpmProbe, signal);
  const { value, problem } = parseOutput(usableOutput(result), readSysClassTpmCapture, null);
  return { value, reports: [reportParsed("tpm", result, problem)] };
};
