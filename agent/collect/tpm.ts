// The TPM (tpm): /sys/class/tpm/tpm0, read in-process and captured as sys-class-tpm.json, and for
// a TPM 2.0 one TPM2_GetCapability command to /dev/tpmrm0, captured as tpm2-properties-fixed.hex.
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
// A TPM 2.0 has no manufacturer and no firmware version in sysfs at all: they are TPM properties
// (TPM_PT_MANUFACTURER 0x105, TPM_PT_FIRMWARE_VERSION_1/2 0x10B/0x10C) that only a command reads.
// tpm2-tools' `tpm2_getcap properties-fixed` is one, and the image does not ship it; so when sysfs
// says 2.0 the agent sends the one command itself (TPM2_GetCapability, TPM_CAP_TPM_PROPERTIES,
// 8 properties from 0x105: read-only, no session, no authorization) to /dev/tpmrm0, the kernel's
// resource manager, so that no other TPM user's sessions or loaded objects are disturbed. No
// /dev/tpmrm0 (kernels before 4.12, no TPM driver): skipped; /dev/tpm0 is never used instead.
// The response is kept as hex, so a replay parses the very bytes the TPM sent. A TPM 1.2 keeps
// what caps says and gets no command.
import { readdirSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import type { Tpm } from "../../schema/inventory.ts";
import type { Probe } from "../exec.ts";
import { jsonRecord, jsonText, readSysfsAttr } from "./sysfs.ts";
import {
  type Collect,
  type CollectorOutput,
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

// ---------------------------------------------------------------------------------------------
// TPM 2.0 properties: one TPM2_GetCapability (TPM 2.0 Library, Part 3, "TPM2_GetCapability";
// Part 2 for TPM_PT, TPMS_CAPABILITY_DATA, TPML_TAGGED_TPM_PROPERTY). All integers big-endian.

const TPM_ST_NO_SESSIONS = 0x8001;
const TPM_CC_GET_CAPABILITY = 0x0000017a;
const TPM_CAP_TPM_PROPERTIES = 6;
const TPM_PT_MANUFACTURER = 0x105;
const TPM_PT_VENDOR_STRING_1 = 0x106;
const TPM_PT_FIRMWARE_VERSION_1 = 0x10b;
const TPM_PT_FIRMWARE_VERSION_2 = 0x10c;
/** 0x105 (manufacturer) through 0x10C (firmware version 2). */
const PROPERTY_COUNT = TPM_PT_FIRMWARE_VERSION_2 - TPM_PT_MANUFACTURER + 1;

/**
 * The command, 22 bytes: tag TPM_ST_NO_SESSIONS, commandSize 22, TPM_CC_GetCapability,
 * capability TPM_CAP_TPM_PROPERTIES, property TPM_PT_MANUFACTURER, propertyCount 8.
 *     8001 00000016 0000017a 00000006 00000105 00000008
 */
export const TPM2_GETCAP_PROPERTIES: Buffer = (() => {
  const command = Buffer.alloc(22);
  command.writeUInt16BE(TPM_ST_NO_SESSIONS, 0);
  command.writeUInt32BE(command.length, 2);
  command.writeUInt32BE(TPM_CC_GET_CAPABILITY, 6);
  command.writeUInt32BE(TPM_CAP_TPM_PROPERTIES, 10);
  command.writeUInt32BE(TPM_PT_MANUFACTURER, 14);
  command.writeUInt32BE(PROPERTY_COUNT, 18);
  return command;
})();

/**
 * The most a response may be: the kernel's TPM_BUFSIZE (4096). The answer to this command is 83
 * bytes (10 header, 1 moreData, 4 capability, 4 count, 8 properties of 8).
 */
export const TPM2_MAX_RESPONSE_BYTES = 4096;

/**
 * One command/response exchange with a TPM: the command's bytes out, the response's bytes back
 * (at most `maxBytes`). /dev/tpmrm0 in the agent (tpmDeviceTransport); a socket to swtpm in tests.
 */
export type TpmTransport = (command: Buffer, maxBytes: number) => Promise<Buffer>;

/**
 * A TPM character device. On a blocking descriptor the kernel runs the whole command inside
 * write() (drivers/char/tpm/tpm-dev-common.c) and read() then returns the buffered response, so
 * one write and one read are the exchange. Both run on libuv's thread pool: a TPM that does not
 * answer holds one pool thread until the kernel's own command timeout ends the write; only then
 * is the descriptor closed (closing it under a pending write is not safe).
 */
export function tpmDeviceTransport(path: string): TpmTransport {
  return async (command, maxBytes) => {
    const handle = await open(path, "r+");
    try {
      const { bytesWritten } = await handle.write(command, 0, command.length, null);
      if (bytesWritten !== command.length) {
        throw new Error(`${path}: wrote ${bytesWritten} of ${command.length} command bytes`);
      }
      const buffer = Buffer.alloc(maxBytes);
      const { bytesRead } = await handle.read(buffer, 0, maxBytes, null);
      return buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  };
}

/**
 * Sends TPM2_GETCAP_PROPERTIES through `transport` and returns the response as the capture holds
 * it: lowercase hex and a newline. Rejects with the transport's error (ENOENT: no such device).
 * A TPM that never answers is bounded by the probe's `timeoutMs` in the runner (agent/exec.ts),
 * which reports it as a `timeout`.
 */
export async function queryTpm2Properties(transport: TpmTransport): Promise<string> {
  const response = await transport(TPM2_GETCAP_PROPERTIES, TPM2_MAX_RESPONSE_BYTES);
  return `${response.toString("hex")}\n`;
}

export const tpm2PropertiesProbe: Probe = {
  file: "tpm2-properties-fixed.hex",
  source: {
    kind: "internal",
    describe: "TPM2_GetCapability(TPM_CAP_TPM_PROPERTIES, 0x105, 8) on /dev/tpmrm0",
    read: () => queryTpm2Properties(tpmDeviceTransport("/dev/tpmrm0")),
  },
  timeoutMs: 5_000,
  // /dev/tpmrm0 is root:tss 0660.
  needsRoot: true,
};

/** What a TPM 2.0's fixed properties say; null for each one the response does not carry. */
export interface Tpm2Properties {
  /** TPM_PT_MANUFACTURER as text ("IBM", "IFX"), see tpmVendorOf. */
  manufacturer: string | null;
  /** TPM_PT_VENDOR_STRING_1..4 joined, NULs dropped, trimmed ("SW   TPM" is swtpm's). */
  vendorString: string | null;
  /** TPM_PT_FIRMWARE_VERSION_1 and _2, see tpm2FirmwareVersion. */
  firmwareVersion: string | null;
}

const NO_PROPERTIES: Tpm2Properties = {
  manufacturer: null,
  vendorString: null,
  firmwareVersion: null,
};

/**
 * TPM_PT_FIRMWARE_VERSION_1 and _2 as the vendors print them. The TCG leaves both words
 * vendor-defined, so there is no one true form; tpm2_getcap prints the raw words in hex
 * ("raw: 0x7003D"), which matches nothing a vendor publishes. What vendors and firmware tools
 * print is decimal:
 * - in general the four 16-bit halves, word 1 high.low then word 2 high.low: fwupd's tpm plugin
 *   (FWUPD_VERSION_FORMAT_QUAD of word1 << 32 | word2), OpenBMC's TPM code for Nuvoton, whose
 *   NPCT75x firmware "7.2.2.0" is 0x00070002, 0x00020000;
 * - Infineon ("IFX") names its firmware major.minor.build.patch with word 2 split 24/8 bits:
 *   SLB9670 firmware 7.61.2785.0 is 0x0007003D, 0x000AE100 (0xAE1 = 2785), where the four
 *   halves would say 7.61.10.57600, which is not how Infineon names it.
 * Without word 2 it is "major.minor" of word 1 alone (what TPM 1.2's sysfs caps says too).
 */
export function tpm2FirmwareVersion(
  manufacturer: string | null,
  word1: number | null,
  word2: number | null,
): string | null {
  if (word1 === null) return null;
  const first = `${word1 >>> 16}.${word1 & 0xffff}`;
  if (word2 === null) return first;
  if (manufacturer === "IFX") return `${first}.${word2 >>> 8}.${word2 & 0xff}`;
  return `${first}.${word2 >>> 16}.${word2 & 0xffff}`;
}

/** Response codes worth a name in a message (TPM 2.0 Library, Part 2, "TPM_RC"). */
const RESPONSE_CODE_NAMES: Record<number, string> = {
  30: "TPM_RC_BAD_TAG",
  256: "TPM_RC_INITIALIZE",
  257: "TPM_RC_FAILURE",
  323: "TPM_RC_COMMAND_CODE",
  2312: "TPM_RC_YIELDED",
  2313: "TPM_RC_CANCELED",
  2314: "TPM_RC_TESTING",
  2338: "TPM_RC_RETRY",
};

/**
 * " (TPM_RC_...)" for a code worth naming, "" otherwise. Format 1 (bit 7): the error in bits 0-5,
 * bit 6 set for a parameter (number in bits 8-11), else a handle or session.
 */
function responseCodeName(code: number): string {
  const name = RESPONSE_CODE_NAMES[code];
  if (name !== undefined) return ` (${name})`;
  if ((code & 0xfffff000) !== 0 || (code & 0x80) === 0) return "";
  const error = FORMAT1_NAMES[code & 0x3f] ?? `format-1 error ${hex(code & 0x3f, 2)}`;
  const n = (code >> 8) & 0xf;
  if (code & 0x40) return ` (${error} of parameter ${n})`;
  return ` (${error} of ${n & 0x8 ? "session" : "handle"} ${n & 0x7})`;
}

/** Format-1 errors (TPM_RC_FMT1 + n) a GetCapability can get. */
const FORMAT1_NAMES: Record<number, string> = {
  4: "TPM_RC_VALUE",
  21: "TPM_RC_SIZE",
};

const hex = (n: number, digits: number) => `0x${n.toString(16).padStart(digits, "0")}`;

/** The 4 bytes of a property value as text: NULs dropped, only when all are printable. */
function propertyText(values: (number | undefined)[]): string | null {
  const bytes = Buffer.alloc(values.length * 4);
  for (const [i, value] of values.entries()) {
    if (value === undefined) return null;
    bytes.writeUInt32BE(value, i * 4);
  }
  if (![...bytes].every((b) => b === 0 || (b >= 0x20 && b < 0x7f))) return null;
  const text = bytes.toString("latin1").replaceAll("\0", "").trim();
  return text.length > 0 ? text : null;
}

/**
 * A TPM2_GetCapability(TPM_CAP_TPM_PROPERTIES) response, bytes in; never throws. Checked: the
 * header (tag TPM_ST_NO_SESSIONS, responseSize equal to the bytes there are, at most
 * TPM2_MAX_RESPONSE_BYTES), the response code (non-zero: the TPM refused, a problem naming the
 * code), the capability (TPM_CAP_TPM_PROPERTIES) and the list's count against its bytes. Whole
 * properties before a cut still count. A property not in the list stays null.
 *
 * Real response (swtpm 0.7.1 on libtpms 0.9.2, samples/tpm2-getcap-swtpm/), spaced here:
 *     8001 00000053 00000000 01 00000006 00000008
 *     00000105 49424d00  00000106 53572020  00000107 2054504d  00000108 00000000
 *     00000109 00000000  0000010a 00000001  0000010b 20191023  0000010c 00163636
 *   tag, size 83, TPM_RC_SUCCESS, moreData YES (properties after 0x10C exist), capability 6,
 *   8 properties: 0x105 "IBM\0", vendor strings "SW  " " TPM" "" "", 0x10A type 1, firmware
 *   words 0x20191023 and 0x00163636 -> "8217.4131.22.13878". Refused (capability 0xFF):
 *     8001 0000000a 000001c4   (TPM_RC_VALUE of parameter 1)
 */
export function parseTpm2PropertiesResponse(bytes: Uint8Array): Parsed<Tpm2Properties> {
  const fail = (problem: string) => ({ value: NO_PROPERTIES, problem });
  if (!(bytes instanceof Uint8Array)) return fail("not bytes");
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (data.length === 0) return fail("empty response");
  if (data.length > TPM2_MAX_RESPONSE_BYTES) {
    return fail(`${data.length} bytes, more than a TPM response (${TPM2_MAX_RESPONSE_BYTES})`);
  }
  if (data.length < 10) return fail(`truncated: ${data.length} bytes, the header alone is 10`);
  const tag = data.readUInt16BE(0);
  const size = data.readUInt32BE(2);
  const code = data.readUInt32BE(6);
  if (tag !== TPM_ST_NO_SESSIONS) {
    return fail(`tag ${hex(tag, 4)}, not TPM_ST_NO_SESSIONS (0x8001)`);
  }
  if (code !== 0) return fail(`TPM response code ${hex(code, 8)}${responseCodeName(code)}`);
  let problem: string | null = null;
  if (size > data.length) problem = `truncated: ${data.length} of ${size} bytes`;
  else if (size < data.length) problem = `${data.length - size} bytes after the response's ${size}`;
  const body = data.subarray(0, Math.min(size, data.length));
  if (body.length < 19) return fail(problem ?? `${size} bytes, too short for capability data`);
  const capability = body.readUInt32BE(11);
  if (capability !== TPM_CAP_TPM_PROPERTIES) {
    return fail(`capability ${hex(capability, 8)}, not TPM_CAP_TPM_PROPERTIES (6)`);
  }
  const count = body.readUInt32BE(15);
  const whole = Math.floor((body.length - 19) / 8);
  if (count > whole) problem ??= `truncated: ${count} properties announced, ${whole} there`;
  else if (body.length - 19 > count * 8) {
    problem ??= `${body.length - 19 - count * 8} bytes after the ${count} properties`;
  }
  const properties = new Map<number, number>();
  for (let i = 0; i < Math.min(count, whole); i++) {
    const at = 19 + i * 8;
    properties.set(body.readUInt32BE(at), body.readUInt32BE(at + 4));
  }
  const vendorId = properties.get(TPM_PT_MANUFACTURER);
  const manufacturer = vendorId === undefined ? null : tpmVendorOf(hex(vendorId, 8));
  const vendorString = propertyText(
    [0, 1, 2, 3].map((i) => properties.get(TPM_PT_VENDOR_STRING_1 + i)),
  );
  const firmwareVersion = tpm2FirmwareVersion(
    manufacturer,
    properties.get(TPM_PT_FIRMWARE_VERSION_1) ?? null,
    properties.get(TPM_PT_FIRMWARE_VERSION_2) ?? null,
  );
  return { value: { manufacturer, vendorString, firmwareVersion }, problem };
}

/**
 * `parseTpm2PropertiesResponse` of a tpm2-properties-fixed.hex capture: the response as hex,
 * whitespace anywhere ignored (xxd -p's lines too); never throws.
 */
export function readTpm2PropertiesCapture(text: string): Parsed<Tpm2Properties> {
  if (typeof text !== "string") return { value: NO_PROPERTIES, problem: "not text" };
  const digits = text.replace(/\s+/g, "");
  if (!/^[0-9a-f]*$/i.test(digits)) return { value: NO_PROPERTIES, problem: "not hex" };
  if (digits.length % 2 !== 0) {
    return { value: NO_PROPERTIES, problem: `odd number of hex digits (${digits.length})` };
  }
  if (digits.length > TPM2_MAX_RESPONSE_BYTES * 2) {
    return {
      value: NO_PROPERTIES,
      problem: `${digits.length / 2} bytes, more than a TPM response (${TPM2_MAX_RESPONSE_BYTES})`,
    };
  }
  return parseTpm2PropertiesResponse(Buffer.from(digits, "hex"));
}

/** The facts of `readTpm2PropertiesCapture`, problem or not. */
export function parseTpm2Properties(text: string): Tpm2Properties {
  return readTpm2PropertiesCapture(text).value;
}

/**
 * `tpm`: sysfs first; for a TPM 2.0 the GetCapability fills manufacturer and firmwareVersion.
 * Two reports: "tpm" (sysfs) and "tpm2-getcap" (skipped unless sysfs says 2.0).
 */
export const collectTpm: Collect<Tpm | null> = async (
  runner,
  signal,
): Promise<CollectorOutput<Tpm | null>> => {
  const result = await runner.run(sysClassTpmProbe, signal);
  const { value, problem } = parseOutput(usableOutput(result), readSysClassTpmCapture, null);
  const sysfs = reportParsed("tpm", result, problem);
  if (value?.version !== "2.0") {
    const getcap = {
      name: "tpm2-getcap",
      status: "skipped" as const,
      durationMs: 0,
      command: null,
      exitCode: null,
      message: value === null ? "no TPM in /sys/class/tpm" : "not a TPM 2.0",
    };
    return { value, reports: [sysfs, getcap] };
  }
  const getcap = await runner.run(tpm2PropertiesProbe, signal);
  const properties = parseOutput(usableOutput(getcap), readTpm2PropertiesCapture, NO_PROPERTIES);
  return {
    value: {
      ...value,
      manufacturer: properties.value.manufacturer ?? value.manufacturer,
      firmwareVersion: properties.value.firmwareVersion ?? value.firmwareVersion,
    },
    reports: [sysfs, reportParsed("tpm2-getcap", getcap, properties.problem)],
  };
};
