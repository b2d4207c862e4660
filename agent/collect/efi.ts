// Boot firmware and Secure Boot (boot.firmware, boot.secureBoot), from /sys/firmware/efi and the
// SecureBoot and SetupMode EFI variables. The sysfs part is read in-process and captured as JSON
// (sys-firmware-efi.json), so a replay sees exactly what the agent saw.
//
// An efivarfs file is the variable's 4 attribute bytes (little-endian UINT32, 0x06 = BOOTSERVICE
// | RUNTIME) followed by its data; SecureBoot and SetupMode hold one byte, 0 or 1 (UEFI 2.10,
// section 3.3 "Globally Defined Variables"). A real SecureBoot file with Secure Boot off is
// `06 00 00 00 00` (5 bytes); this module captures it as the hex string "0600000000".
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Boot } from "../../schema/inventory.ts";
import type { Probe } from "../exec.ts";
import { jsonRecord } from "./sysfs.ts";
import {
  type Collect,
  isBlank,
  type Parsed,
  parseOutput,
  readJson,
  reportParsed,
  usableOutput,
} from "./types.ts";

/** The EFI global-variable vendor GUID (EFI_GLOBAL_VARIABLE). */
export const EFI_GLOBAL_GUID = "8be4df61-93ca-11d2-aa0d-00e098032b8c";
export const SECURE_BOOT_VAR = `SecureBoot-${EFI_GLOBAL_GUID}`;
export const SETUP_MODE_VAR = `SetupMode-${EFI_GLOBAL_GUID}`;

/** What sys-firmware-efi.json holds. */
export interface SysFirmwareEfi {
  /** /sys/firmware/efi exists: the kernel was booted by UEFI firmware. */
  efi: boolean;
  /** Entries in /sys/firmware/efi/efivars; null when the directory could not be listed. */
  efivarCount: number | null;
  /** Variable name -> its file as lowercase hex; null when the variable does not exist. */
  variables: Record<string, string | null>;
  /** Variable name -> why it could not be read (errno code), for variables that exist. */
  errors: Record<string, string>;
}

export type BootFirmwareFacts = Pick<Boot, "firmware" | "secureBoot">;

export const emptyBootFirmware = (): BootFirmwareFacts => ({ firmware: null, secureBoot: null });

const HEX = /^(?:[0-9a-f]{2})*$/;

/**
 * The value byte of a one-byte boolean variable file (attributes + data), or why there is none.
 * undefined when the variable does not exist.
 */
function flagOf(
  capture: SysFirmwareEfi,
  name: string,
): { value: 0 | 1 | null | undefined; problem: string | null } {
  const error = capture.errors[name];
  if (error !== undefined) return { value: null, problem: `${name}: unreadable (${error})` };
  const hex = capture.variables[name];
  if (hex === undefined || hex === null) return { value: undefined, problem: null };
  if (!HEX.test(hex) || hex.length < 10) {
    return { value: null, problem: `${name}: not an EFI variable file (${hex.length / 2} bytes)` };
  }
  const byte = Number.parseInt(hex.slice(8, 10), 16);
  if (byte !== 0 && byte !== 1) {
    return { value: null, problem: `${name}: value 0x${hex.slice(8, 10)} is neither 0 nor 1` };
  }
  return { value: byte, problem: null };
}

/**
 * boot.firmware and boot.secureBoot from a sys-firmware-efi.json capture; never throws.
 *
 * Real input (fixtures/qemu-storage, a SeaBIOS guest: no /sys/firmware/efi):
 *     {"efi":false,"efivarCount":null,"variables":{},"errors":{}}
 * and fixtures/qemu-uefi-secureboot (OVMF with the snakeoil keys enrolled, Secure Boot on):
 *     {"efi":true,"efivarCount":32,"variables":{"SecureBoot-8be4df61-...":"0600000001",
 *      "SetupMode-8be4df61-...":"0600000000"},"errors":{}}
 *
 * - BIOS: firmware "bios", secureBoot null (there is no such thing).
 * - UEFI: secureBoot true only when SecureBoot is 1 and SetupMode is 0 (a platform in setup mode
 *   has no platform key and verifies nothing); false when SecureBoot is 0, or when the variable
 *   does not exist (UEFI before 2.3.1 has no Secure Boot); null when SecureBoot is 1 and SetupMode
 *   is missing or unreadable.
 * - UEFI with an empty or unlistable efivars directory (efivarfs not mounted): secureBoot null and
 *   a problem: the input was not there to read.
 * Empty text is an honest empty (nothing known); text that is not the capture's JSON is a problem.
 */
export function readSysFirmwareEfiCapture(text: string): Parsed<BootFirmwareFacts> {
  if (typeof text !== "string" || isBlank(text))
    return { value: emptyBootFirmware(), problem: null };
  const { document, problem } = readJson(text);
  if (problem !== null) return { value: emptyBootFirmware(), problem };
  const capture = captureOf(document);
  if (capture === null) {
    return { value: emptyBootFirmware(), problem: "JSON but not a sys-firmware-efi capture" };
  }
  if (!capture.efi) return { value: { firmware: "bios", secureBoot: null }, problem: null };
  const uefi = (secureBoot: boolean | null, why: string | null) => ({
    value: { firmware: "uefi" as const, secureBoot },
    problem: why,
  });
  if (capture.efivarCount === null || capture.efivarCount === 0) {
    return uefi(
      null,
      "no EFI variables listed (efivarfs not mounted at /sys/firmware/efi/efivars)",
    );
  }
  const secureBoot = flagOf(capture, SECURE_BOOT_VAR);
  if (secureBoot.problem !== null) return uefi(null, secureBoot.problem);
  if (secureBoot.value === undefined || secureBoot.value === 0) return uefi(false, null);
  const setupMode = flagOf(capture, SETUP_MODE_VAR);
  if (setupMode.problem !== null) return uefi(null, setupMode.problem);
  if (setupMode.value === undefined) return uefi(null, null);
  return uefi(setupMode.value === 0, null);
}

function captureOf(document: unknown): SysFirmwareEfi | null {
  const record = jsonRecord(document);
  if (record === null || typeof record.efi !== "boolean") return null;
  const count = record.efivarCount;
  const variables: Record<string, string | null> = {};
  for (const [name, hex] of Object.entries(jsonRecord(record.variables) ?? {})) {
    variables[name] = typeof hex === "string" ? hex.toLowerCase() : null;
  }
  const errors: Record<string, string> = {};
  for (const [name, code] of Object.entries(jsonRecord(record.errors) ?? {})) {
    errors[name] = String(code);
  }
  return {
    efi: record.efi,
    efivarCount:
      typeof count === "number" && Number.isSafeInteger(count) && count >= 0 ? count : null,
    variables,
    errors,
  };
}

/** The facts of `readSysFirmwareEfiCapture`, problem or not. */
export function parseSysFirmwareEfi(text: string): BootFirmwareFacts {
  return readSysFirmwareEfiCapture(text).value;
}

function errnoOf(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? String(error);
}

/** Reads /sys/firmware/efi into the sys-firmware-efi.json form. */
export function readSysFirmwareEfi(root = "/sys/firmware/efi"): string {
  const capture: SysFirmwareEfi = { efi: false, efivarCount: null, variables: {}, errors: {} };
  try {
    capture.efi = statSync(root).isDirectory();
  } catch (error) {
    if (errnoOf(error) !== "ENOENT") throw error;
  }
  if (capture.efi) {
    const efivars = join(root, "efivars");
    try {
      capture.efivarCount = readdirSync(efivars).length;
    } catch {
      capture.efivarCount = null; // not mounted, or not a directory
    }
    for (const name of [SECURE_BOOT_VAR, SETUP_MODE_VAR]) {
      try {
        capture.variables[name] = readFileSync(join(efivars, name)).toString("hex");
      } catch (error) {
        const code = errnoOf(error);
        if (code === "ENOENT") capture.variables[name] = null;
        else capture.errors[name] = code;
      }
    }
  }
  return `${JSON.stringify(capture)}\n`;
}

export const sysFirmwareEfiProbe: Probe = {
  file: "sys-firmware-efi.json",
  source: {
    kind: "internal",
    describe: "read /sys/firmware/efi",
    read: () => readSysFirmwareEfi(),
  },
  timeoutMs: 5_000,
};

export const collectBootFirmware: Collect<BootFirmwareFacts> = async (runner, signal) => {
  const result = await runner.run(sysFirmwareEfiProbe, signal);
  const { value, problem } = parseOutput(
    usableOutput(result),
    readSysFirmwareEfiCapture,
    emptyBootFirmware(),
  );
  return { value, reports: [reportParsed("efi", result, problem)] };
};
