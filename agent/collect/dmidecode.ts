// dmidecode: system, board, chassis, BIOS, processors, memory modules, power supplies, system
// slots, the Redfish host interface and the presence of an IPMI interface, from the SMBIOS table
// as `dmidecode` prints it (2.x to 3.6).

import { readFileSync } from "node:fs";
import type {
  Baseboard,
  Bios,
  Chassis,
  Dimm,
  PowerSupply,
  Processor,
  RedfishHostInterface,
  Slot,
  System,
} from "../../schema/inventory.ts";
import type { Probe } from "../exec.ts";
import { cleanString, normalizeUuid, parseBinarySize, parseCount } from "../normalize.ts";
import {
  binaryProblem,
  type Collect,
  isBlank,
  type Parsed,
  parseOutput,
  readJson,
  reportParsed,
  usableOutput,
} from "./types.ts";

export interface DmidecodeFacts {
  system: System;
  baseboard: Baseboard;
  chassis: Chassis;
  bios: Bios;
  /** Installed CPUs only ("Populated, Enabled" or "Populated, Idle"). */
  processors: Processor[];
  /** Installed modules only (a real Size), in main-memory arrays (see isMainMemoryArray). */
  dimms: Dimm[];
  /** Memory Device (type 17) records in main-memory arrays, installed or not; null when none. */
  slots: number | null;
  /**
   * The slot count the main-memory arrays (type 16) declare ("Number Of Devices"), summed; null
   * when no such array states one. What populated modules are checked against (warnings.ts).
   */
  memoryArrayDevices: number | null;
  /** Power supplies that are present (records saying "Not Present" are empty bays). */
  powerSupplies: PowerSupply[];
  /** An IPMI Device Information (type 38) record exists. */
  ipmiDevicePresent: boolean;
  /** System Slot (type 9) records, in table order (the document's slots[]). */
  systemSlots: Slot[];
  /** The first type 42 record that carries a Redfish over IP protocol record; null when none. */
  redfishHostInterface: RedfishHostInterface | null;
}

export const dmidecodeProbe: Probe = {
  file: "dmidecode.txt",
  source: { kind: "command", argv: ["dmidecode"], versionArgv: ["--version"] },
  timeoutMs: 30_000,
  needsRoot: true,
};

/** One `Key: Value` line of a record, with the deeper-indented lines that follow it. */
interface DmiField {
  value: string;
  items: string[];
}

/** One decoded structure: `Handle 0x0400, DMI type 4, 48 bytes` and what follows. */
interface DmiRecord {
  handle: number | null;
  type: number | null;
  title: string | null;
  /** Keyed by the lower-cased key (dmidecode changed the case of some keys over versions). */
  fields: Map<string, DmiField>;
}

// `Handle 0x0400, DMI type 4, 48 bytes` (2.8+; 2.7 adds a final period) or a bare
// `Handle 0x0004` followed by `\tDMI type 4, 35 bytes.` on the next line (2.x before 2.8).
const HANDLE_LINE = /^Handle 0x([0-9A-Fa-f]{1,8})(?:, DMI type (\d{1,5}),)?/;
const TYPE_LINE = /^\s*DMI type (\d{1,5}),/;

/** Width of the leading whitespace, a tab counting as 8 columns. */
function indentOf(line: string): number {
  let width = 0;
  for (let i = 0; i < line.length; i++) {
    const code = line.charCodeAt(i);
    if (code === 9) width = width - (width % 8) + 8;
    else if (code === 32) width += 1;
    else break;
  }
  return width;
}

/** Splits dmidecode text into records; tolerant of CRLF, truncation and trailing junk. */
function readRecords(text: string): DmiRecord[] {
  const records: DmiRecord[] = [];
  let current: DmiRecord | null = null;
  // "type": waiting for the old-style `DMI type` line; "title": waiting for the record title;
  // "body": reading fields; "closed": something that is not part of a record ended it.
  let phase: "type" | "title" | "body" | "closed" = "closed";
  let baseIndent: number | null = null;
  let lastField: DmiField | null = null;

  for (const line of text.split(/\r\n|\r|\n/)) {
    const handle = HANDLE_LINE.exec(line);
    if (handle) {
      current = {
        handle: Number.parseInt(handle[1] ?? "", 16),
        type: handle[2] === undefined ? null : Number(handle[2]),
        title: null,
        fields: new Map(),
      };
      records.push(current);
      phase = current.type === null ? "type" : "title";
      baseIndent = null;
      lastField = null;
      continue;
    }
    if (current === null || phase === "closed") continue;
    const content = line.trim();
    if (content === "") continue;
    const indent = indentOf(line);

    if (phase === "type") {
      const type = TYPE_LINE.exec(line);
      if (type) {
        current.type = Number(type[1]);
        phase = "title";
      } else {
        phase = "closed";
      }
      continue;
    }
    if (phase === "title") {
      // New dmidecode prints the title at column 0, old ones (and type 25 in 3.x) indent it.
      current.title = content;
      phase = "body";
      continue;
    }
    // An unindented line inside a record is not a field: `Invalid entry length (0). DMI table is
    // broken! Stop.`, `Wrong DMI structures count`, or whatever followed a pasted dump.
    if (indent === 0) {
      phase = "closed";
      continue;
    }
    if (baseIndent === null) baseIndent = indent;
    if (indent > baseIndent) {
      lastField?.items.push(content);
      continue;
    }
    const colon = content.indexOf(":");
    const key = (colon < 0 ? content : content.slice(0, colon)).trim().toLowerCase();
    const value = colon < 0 ? "" : content.slice(colon + 1).trim();
    const existing = current.fields.get(key);
    if (existing) {
      lastField = existing; // first occurrence wins; its continuation lines still attach to it
    } else {
      lastField = { value, items: [] };
      current.fields.set(key, lastField);
    }
  }
  return records.filter(isUsable);
}

/** Inactive (type 126), OEM-specific (128+) and undecodable records carry nothing we read. */
function isUsable(record: DmiRecord): boolean {
  if (record.type === null || !Number.isSafeInteger(record.type)) return false;
  if (record.type === 126 || record.type >= 128) return false;
  const title = record.title?.toLowerCase() ?? "";
  return title !== "inactive" && !title.startsWith("oem-specific");
}

function raw(record: DmiRecord | undefined, key: string): string | null {
  return record?.fields.get(key.toLowerCase())?.value ?? null;
}

function text(record: DmiRecord | undefined, key: string): string | null {
  return cleanString(raw(record, key));
}

/** A count where 0 means "not reported" (0 cores, 0 MHz, 0 W are firmware fillers). */
function positive(value: string | null): number | null {
  const n = parseCount(value);
  return n === null || n === 0 ? null : n;
}

/**
 * Sizes through parseBinarySize; dmidecode before 2.3 spelled units "Mbyte"/"kbyte", which
 * are mapped to the short form first ("256 Mbyte" -> "256 MB").
 */
function size(value: string | null): number | null {
  if (value === null) return null;
  return parseBinarySize(value.replace(/^(\s*\d+(?:\.\d+)?\s*[kmgtp])byte\s*$/i, "$1B"));
}

function handleOf(value: string | null): number | null {
  const match = value === null ? null : /^0x([0-9a-f]{1,8})$/i.exec(value.trim());
  return match?.[1] ? Number.parseInt(match[1], 16) : null;
}

function systemOf(r: DmiRecord | undefined): System {
  return {
    manufacturer: text(r, "Manufacturer"),
    productName: text(r, "Product Name"),
    version: text(r, "Version"),
    serialNumber: text(r, "Serial Number"),
    uuid: normalizeUuid(raw(r, "UUID")),
    sku: text(r, "SKU Number"),
    family: text(r, "Family"),
  };
}

function baseboardOf(r: DmiRecord | undefined): Baseboard {
  return {
    manufacturer: text(r, "Manufacturer"),
    productName: text(r, "Product Name"),
    version: text(r, "Version"),
    serialNumber: text(r, "Serial Number"),
    assetTag: text(r, "Asset Tag"),
  };
}

function chassisOf(r: DmiRecord | undefined): Chassis {
  return {
    manufacturer: text(r, "Manufacturer"),
    type: text(r, "Type"),
    serialNumber: text(r, "Serial Number"),
    assetTag: text(r, "Asset Tag"),
  };
}

/**
 * SMBIOS 2.3+ requires "mm/dd/yyyy" (older firmware writes "mm/dd/yy", meaning 19yy); anything
 * else, or a date that does not exist, has no ISO form.
 */
export function isoReleaseDate(value: string | null): string | null {
  const match = /^(\d{2})\/(\d{2})\/(\d{2}|\d{4})$/.exec(value ?? "");
  if (!match) return null;
  const [, mm, dd, yy] = match as unknown as [string, string, string, string];
  const year = yy.length === 2 ? `19${yy}` : yy;
  const iso = `${year}-${mm}-${dd}`;
  const date = new Date(`${iso}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(iso) ? iso : null;
}

function biosOf(r: DmiRecord | undefined): Bios {
  const releaseDate = text(r, "Release Date");
  return {
    vendor: text(r, "Vendor"),
    version: text(r, "Version"),
    releaseDate,
    releaseDateIso: isoReleaseDate(releaseDate),
  };
}

/** Installed and in use. "Populated, Disabled By BIOS" is how VMware lists phantom sockets. */
const INSTALLED_CPU = /^populated,\s*(enabled|idle)$/i;
/** Processor records of these types are not CPUs. */
const NOT_A_CPU = new Set(["math processor", "dsp processor", "video processor"]);

function processorOf(r: DmiRecord): Processor | null {
  const status = text(r, "Status");
  if (status === null || !INSTALLED_CPU.test(status)) return null;
  if (NOT_A_CPU.has(text(r, "Type")?.toLowerCase() ?? "")) return null;
  return {
    socket: text(r, "Socket Designation"),
    manufacturer: text(r, "Manufacturer"),
    model: text(r, "Version"),
    cores: positive(raw(r, "Core Count")),
    threads: positive(raw(r, "Thread Count")),
    maxSpeedMhz: positive(raw(r, "Max Speed")),
    currentSpeedMhz: positive(raw(r, "Current Speed")),
    status,
  };
}

/**
 * Persistent-memory modules (Optane PMem, NVDIMM). dmidecode 3.2+ says so in "Memory
 * Technology" ("Intel Optane DC persistent memory", "Intel persistent memory", "NVDIMM-N") and
 * in "Type: Logical non-volatile device"; failing those, a capability that is persistent but not
 * volatile, or a Non-Volatile Size with no Volatile Size, identifies one. Optane in Memory Mode
 * reports "Volatile Size: 253 GB" and still counts as persistent: the module is Optane.
 */
function isPersistent(r: DmiRecord): boolean {
  const technology = (text(r, "Memory Technology") ?? "").toLowerCase();
  if (/optane|nvdimm|persistent|non-volatile/.test(technology)) return true;
  if ((text(r, "Type") ?? "").toLowerCase().includes("non-volatile")) return true;
  const modeField = r.fields.get("memory operating mode capability");
  const mode = modeField ? [modeField.value, ...modeField.items].join(" ").toLowerCase() : "";
  if (
    /persistent|byte-accessible|block-accessible/.test(mode) &&
    !mode.includes("volatile memory")
  ) {
    return true;
  }
  const nonVolatile = size(raw(r, "Non-Volatile Size"));
  const volatile = size(raw(r, "Volatile Size"));
  return nonVolatile !== null && nonVolatile > 0 && (volatile === null || volatile === 0);
}

function dimmOf(r: DmiRecord): Dimm | null {
  // "Size" is authoritative; "Volatile Size" is not (some AMD firmware reports "32 kB" there
  // for a 32 GB module, see the lenovo-thinksystem-sr645 fixture).
  const sizeBytes = size(raw(r, "Size"));
  if (sizeBytes === null || sizeBytes <= 0) return null; // No Module Installed, Unknown, 0 MB
  return {
    locator: text(r, "Locator"),
    bankLocator: text(r, "Bank Locator"),
    sizeBytes,
    type: text(r, "Type"),
    formFactor: text(r, "Form Factor"),
    // "2933 MT/s" (3.x) or "2933 MHz" / "667 MHz (1.5 ns)" (2.x): the same number.
    speedMts: positive(raw(r, "Speed")),
    configuredSpeedMts: positive(
      raw(r, "Configured Memory Speed") ?? raw(r, "Configured Clock Speed"),
    ),
    manufacturer: text(r, "Manufacturer"),
    serialNumber: text(r, "Serial Number"),
    partNumber: text(r, "Part Number"),
    technology: text(r, "Memory Technology"),
    persistent: isPersistent(r),
  };
}

function powerSupplyOf(r: DmiRecord): PowerSupply | null {
  const status = raw(r, "Status");
  // dmidecode prints "Present, OK" etc. for a fitted supply and "Not Present" for an empty bay
  // (laptops also list an "OEM Define 1" template that way). Empty bays are not power supplies.
  if (status !== null && /^not present$/i.test(status.trim())) return null;
  return {
    name: text(r, "Name"),
    location: text(r, "Location"),
    manufacturer: text(r, "Manufacturer"),
    serialNumber: text(r, "Serial Number"),
    modelPartNumber: text(r, "Model Part Number"),
    maxPowerWatts: positive(raw(r, "Max Power Capacity")), // "750 W"; "Unknown" and "0 W" -> null
    status: cleanString(status),
  };
}

// dmidecode prints a slot's address as `%04x:%02x:%02x.%x` (segment, bus, device, function).
const BUS_ADDRESS = /^([0-9a-f]{4}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/i;

/**
 * A slot's "Bus Address" in the lowercase dddd:bb:dd.f form of pciDevices[].address. SMBIOS
 * (DSP0134, 7.10.8) fills bus and device/function with 0xFF when they do not apply, which
 * dmidecode prints as `0000:ff:1f.7` or `00ff:ff:1f.7` (the lenovo-thinksystem-sr645 fixture
 * has 12 of them, all on empty slots): that is no address, so null. dmidecode itself leaves the
 * line out for segment 0xffff (the Dell R740's empty slots).
 */
export function slotBusAddress(value: string | null): string | null {
  const match = BUS_ADDRESS.exec(value?.trim() ?? "");
  if (!match) return null;
  const [, segment, bus, device, fn] = match as unknown as [string, string, string, string, string];
  if (bus.toLowerCase() === "ff" && device.toLowerCase() === "1f" && fn === "7") return null;
  return `${segment}:${bus}:${device}.${fn}`.toLowerCase();
}

function systemSlotOf(r: DmiRecord): Slot {
  return {
    designation: text(r, "Designation"),
    type: text(r, "Type"),
    currentUsage: text(r, "Current Usage"),
    busAddress: slotBusAddress(raw(r, "Bus Address")),
  };
}

/**
 * Every `Key: Value` of a record in print order, nested lines included, keys lower-cased.
 * Type 42 nests differently across dmidecode versions: 3.2 prints idVendor and the protocol
 * records under "Device Type", 3.4 next to it (the gigabyte-e252-p30 and dell-poweredge-r7525
 * fixtures), so the fields are read flat.
 */
function pairsOf(r: DmiRecord): [string, string][] {
  const pairs: [string, string][] = [];
  const split = (line: string): [string, string] => {
    const colon = line.indexOf(":");
    return colon < 0
      ? [line.trim().toLowerCase(), ""]
      : [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
  };
  for (const [key, field] of r.fields) {
    pairs.push([key, field.value]);
    for (const item of field.items) pairs.push(split(item));
  }
  return pairs;
}

function hexId4(value: string | undefined): string | null {
  const match = /^0x([0-9a-f]{4})$/i.exec(value?.trim() ?? "");
  return match?.[1]?.toLowerCase() ?? null;
}

/**
 * The Redfish host interface (DSP0270) from the type 42 records: the first one with a
 * `Protocol ID: 04 (Redfish over IP)` record. KCS/OEM interfaces and network interfaces whose
 * protocol record is Reserved (lenovo-thinksystem-sr645) or undecoded (fujitsu-primergy-rx2540-m4,
 * dmidecode 3.0 prints only "Interface Type: Network") are not Redfish host interfaces: null.
 * Real input (dell-poweredge-r7525-linuxhw fixture, dmidecode 3.4):
 *
 * ```
 * Management Controller Host Interface
 * 	Host Interface Type: Network
 * 	Device Type: USB
 * 	idVendor: 0x413c
 * 	idProduct: 0xa102
 * 	Protocol ID: 04 (Redfish over IP)
 * 		Service UUID: --
 * 		Host IP Assignment Type: DHCP
 * 		...
 * 		IPv4 Redfish Service Address: 169.254.1.1
 * 		Redfish Service Hostname: idrac.local
 * ```
 */
function redfishHostInterfaceOf(records: DmiRecord[]): RedfishHostInterface | null {
  for (const r of records) {
    const pairs = pairsOf(r);
    const at = pairs.findIndex(([k, v]) => k === "protocol id" && /\(redfish over ip\)/i.test(v));
    if (at < 0) continue;
    const before = pairs.slice(0, at);
    const after = pairs.slice(at + 1);
    // The protocol's own fields end where the next protocol record starts.
    const next = after.findIndex(([k]) => k === "protocol id");
    const own = next < 0 ? after : after.slice(0, next);
    const first = (list: [string, string][], ...keys: string[]) =>
      list.find(([k]) => keys.includes(k))?.[1];
    return {
      interfaceType: cleanString(first(before, "host interface type", "interface type")),
      protocol: "Redfish over IP",
      serviceAddress: cleanString(
        first(own, "ipv4 redfish service address", "ipv6 redfish service address"),
      ),
      serviceHostname: cleanString(first(own, "redfish service hostname")),
      deviceVendorId: hexId4(first(before, "idvendor", "vendorid")),
      deviceProductId: hexId4(first(before, "idproduct", "deviceid")),
    };
  }
  return null;
}

/**
 * Memory arrays (type 16) whose devices are main-memory slots. Arrays that say "Video Memory",
 * "Flash Memory", "Cache Memory" or "Non-volatile RAM" describe firmware flash, graphics or cache
 * chips (an HP nc6000 lists its 1 MB BIOS flash chip as a type-17 device of a "Flash Memory"
 * array): counting them would report a 1 MB "DIMM" and an extra slot. Persistent-memory modules
 * sit in "System Memory" arrays. When the array is missing, unresolvable (VMware points every
 * device at a processor handle) or says Other/Unknown, the device counts.
 */
function isMainMemoryArray(use: string | null): boolean {
  if (use === null) return true;
  const lower = use.toLowerCase();
  return lower === "system memory" || lower === "other";
}

/** The facts of a machine whose dmidecode did not run or printed nothing: all null or empty. */
export function emptyDmidecodeFacts(): DmidecodeFacts {
  return {
    system: systemOf(undefined),
    baseboard: baseboardOf(undefined),
    chassis: chassisOf(undefined),
    bios: biosOf(undefined),
    processors: [],
    dimms: [],
    slots: null,
    memoryArrayDevices: null,
    powerSupplies: [],
    ipmiDevicePresent: false,
    systemSlots: [],
    redfishHostInterface: null,
  };
}

/**
 * Parses `dmidecode` text output (versions 2.x to 3.6). Never throws; what it cannot read is null
 * or absent. Input looks like this (dell-poweredge-r740-linuxhw fixture, dmidecode 3.4):
 *
 * ```
 * Handle 0x0100, DMI type 1, 27 bytes
 * System Information
 * 	Manufacturer: Dell Inc.
 * 	Product Name: PowerEdge R740
 * 	Version: Not Specified
 * 	Serial Number: --
 * ...
 * Handle 0x1100, DMI type 17, 84 bytes
 * Memory Device
 * 	Array Handle: 0x1000
 * 	Error Information Handle: Not Provided
 * 	Total Width: 72 bits
 * 	Data Width: 64 bits
 * 	Size: 16 GB
 * 	Form Factor: DIMM
 * 	Set: 1
 * 	Locator: A1
 * ```
 *
 * Multi-line fields ("Flags:", "Characteristics:") continue on deeper-indented lines. A broken
 * table ends with `Invalid entry length (0). DMI table is broken! Stop.` (quanta-s210-x12ms
 * fixture, dmidecode 3.6): the records before that line are kept, and so are the records before
 * a cut (a capture truncated mid-record).
 *
 * Honest empty: no output, or `# No SMBIOS nor DMI entry point found, sorry.` (a machine, often a
 * VM or an ARM board, whose firmware has no SMBIOS table): the firmware says nothing, so all null
 * and no problem. Text without a single `Handle 0x...` record, or with binary bytes, is a problem;
 * the records it did hold are still returned.
 */
export function readDmidecode(input: string): Parsed<DmidecodeFacts> {
  if (typeof input !== "string" || isBlank(input)) {
    return { value: emptyDmidecodeFacts(), problem: null };
  }
  const records = readRecords(input.replace(/^\uFEFF/, ""));
  const binary = binaryProblem(input);
  const value = factsOf(records);
  if (binary !== null) return { value, problem: binary };
  if (records.length === 0 && !NO_SMBIOS.test(input)) {
    return { value, problem: `no SMBIOS record found in ${input.length} characters` };
  }
  return { value, problem: null };
}

/** dmidecode's own words for a firmware without an SMBIOS or DMI table. */
const NO_SMBIOS = /^# No SMBIOS nor DMI entry point found/m;

/** The facts of `readDmidecode`, problem or not. */
export function parseDmidecode(input: string): DmidecodeFacts {
  return readDmidecode(input).value;
}

function factsOf(records: DmiRecord[]): DmidecodeFacts {
  const first = (type: number) => records.find((r) => r.type === type);

  const arrayUse = new Map<number, string | null>();
  let arrayDevices: number | null = null;
  for (const r of records) {
    if (r.type !== 16) continue;
    if (r.handle !== null) arrayUse.set(r.handle, text(r, "Use"));
    const devices = parseCount(raw(r, "Number Of Devices"));
    if (devices !== null && isMainMemoryArray(text(r, "Use"))) {
      arrayDevices = (arrayDevices ?? 0) + devices;
    }
  }

  let memoryDevices = 0;
  const dimms: Dimm[] = [];
  for (const r of records) {
    if (r.type !== 17) continue;
    const array = handleOf(raw(r, "Array Handle"));
    const use = array === null ? null : (arrayUse.get(array) ?? null);
    if (!isMainMemoryArray(use)) continue;
    memoryDevices += 1;
    const dimm = dimmOf(r);
    if (dimm) dimms.push(dimm);
  }

  const processors: Processor[] = [];
  const powerSupplies: PowerSupply[] = [];
  for (const r of records) {
    if (r.type === 4) {
      const cpu = processorOf(r);
      if (cpu) processors.push(cpu);
    } else if (r.type === 39) {
      const psu = powerSupplyOf(r);
      if (psu) powerSupplies.push(psu);
    }
  }

  return {
    system: systemOf(first(1)),
    baseboard: baseboardOf(first(2)),
    chassis: chassisOf(first(3)),
    bios: biosOf(first(0)),
    processors,
    dimms,
    slots: memoryDevices > 0 ? memoryDevices : null,
    memoryArrayDevices: arrayDevices,
    powerSupplies,
    ipmiDevicePresent: records.some((r) => r.type === 38),
    systemSlots: records.filter((r) => r.type === 9).map(systemSlotOf),
    redfishHostInterface: redfishHostInterfaceOf(records.filter((r) => r.type === 42)),
  };
}

const ipv6Text = (b: Buffer) => {
  const groups = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2).toString(16));
  // The longest run of two or more zero groups becomes "::" (RFC 5952).
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLength) [best, bestLength] = [i, j - i];
  }
  if (best < 0) return groups.join(":");
  return `${groups.slice(0, best).join(":")}::${groups.slice(best + bestLength).join(":")}`;
};

/**
 * The Redfish host interface from one raw type 42 structure (DSP0134 7.43, DSP0270 8.5.1), for
 * what dmidecode does not decode: it prints only "Interface Type" when the table announces SMBIOS
 * before 3.2 (QEMU 7.2 announces 2.8 or 3.0; the qemu-uefi-secureboot fixture), whatever the
 * bytes. Layout: interface type (0x40 network), device data length n and data (type 0x02 USB:
 * idVendor, idProduct; 0x03 PCI: VendorID, DeviceID; little-endian), protocol record count, then
 * records {type, length, data}; Redfish over IP (type 0x04) data: service UUID (16), host IP
 * assignment and format, host address and mask (16 + 16), service discovery type (50), format
 * (51), address (52, 16 bytes), mask, port (84), VLAN (86), hostname length (90) and hostname.
 * null for anything else, or bytes too short for what they announce.
 */
export function redfishFromStructure(bytes: Buffer): RedfishHostInterface | null {
  const length = bytes[1] ?? 0;
  if (bytes[0] !== 42 || length < 7 || length > bytes.length || bytes[4] !== 0x40) return null;
  const n = bytes[5] ?? 0;
  if (6 + n + 1 > length) return null;
  const device = bytes.subarray(6, 6 + n);
  const id = (at: number) =>
    n >= at + 2 ? device.readUInt16LE(at).toString(16).padStart(4, "0") : null;
  const usbOrPci = device[0] === 0x02 || device[0] === 0x03;
  const count = bytes[6 + n] ?? 0;
  let at = 7 + n;
  for (let i = 0; i < count && at + 2 <= length; i++) {
    const type = bytes[at];
    const size = bytes[at + 1] ?? 0;
    const data = bytes.subarray(at + 2, at + 2 + size);
    at += 2 + size;
    if (at > length) return null;
    if (type !== 0x04 || size < 91) continue;
    const discovery = data[50];
    const format = data[51];
    const address = data.subarray(52, 68);
    const serviceAddress =
      discovery !== 0x01 && discovery !== 0x03
        ? null
        : format === 0x01
          ? [...address.subarray(0, 4)].join(".")
          : format === 0x02
            ? ipv6Text(address)
            : null;
    const hostnameLength = data[90] ?? 0;
    const hostname = data.subarray(91, 91 + hostnameLength).toString("latin1");
    return {
      interfaceType: "Network",
      protocol: "Redfish over IP",
      serviceAddress,
      serviceHostname: cleanString(hostname.replaceAll("\0", "")),
      deviceVendorId: usbOrPci ? id(1) : null,
      deviceProductId: usbOrPci ? id(3) : null,
    };
  }
  return null;
}

/** The structures of one type in a raw SMBIOS table (/sys/firmware/dmi/tables/DMI). */
export function structuresOfType(table: Buffer, type: number): Buffer[] {
  const found: Buffer[] = [];
  let at = 0;
  while (at + 4 <= table.length) {
    const length = table[at + 1] ?? 0;
    if (length < 4) break; // a broken table: stop, as dmidecode does
    let end = at + length;
    while (end + 1 < table.length && !(table[end] === 0 && table[end + 1] === 0)) end++;
    end += 2;
    if (table[at] === type) found.push(table.subarray(at, Math.min(end, table.length)));
    if (table[at] === 127) break;
    at = end;
  }
  return found;
}

/**
 * Reads the sys-firmware-dmi-42.json capture, `{"structures": ["2a7c00..."]}` (each type 42
 * structure of the SMBIOS table as hex), into the first Redfish host interface; never throws.
 * `{"structures": []}` (no type 42, or no SMBIOS table) is no interface and no problem.
 */
export function readSmbiosType42(text: string): Parsed<RedfishHostInterface | null> {
  if (typeof text !== "string" || isBlank(text)) return { value: null, problem: null };
  const { document, problem } = readJson(text);
  if (problem !== null) return { value: null, problem };
  const list = (document as { structures?: unknown } | null)?.structures;
  if (
    !Array.isArray(list) ||
    list.some((h) => typeof h !== "string" || !/^([0-9a-f]{2})*$/i.test(h))
  ) {
    return { value: null, problem: "JSON but not a list of hex structures" };
  }
  for (const hex of list as string[]) {
    const found = redfishFromStructure(Buffer.from(hex, "hex"));
    if (found) return { value: found, problem: null };
  }
  return { value: null, problem: null };
}

/** Reads the type 42 structures of /sys/firmware/dmi/tables/DMI into sys-firmware-dmi-42.json. */
export function readSmbiosType42Capture(path = "/sys/firmware/dmi/tables/DMI"): string {
  let table = Buffer.alloc(0);
  try {
    table = readFileSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const structures = structuresOfType(table, 42).map((b) => b.toString("hex"));
  return `${JSON.stringify({ structures })}\n`;
}

export const smbiosType42Probe: Probe = {
  file: "sys-firmware-dmi-42.json",
  source: {
    kind: "internal",
    describe: "read /sys/firmware/dmi/tables/DMI (type 42)",
    read: () => readSmbiosType42Capture(),
  },
  timeoutMs: 5_000,
  needsRoot: true,
};

/**
 * Runs dmidecode (root only) and parses whatever usable output came back. The Redfish host
 * interface dmidecode did not decode comes from the raw type 42 structures.
 */
export const collectDmidecode: Collect<DmidecodeFacts> = async (runner, signal) => {
  const [result, raw42] = await Promise.all([
    runner.run(dmidecodeProbe, signal),
    runner.run(smbiosType42Probe, signal),
  ]);
  const { value, problem } = parseOutput(
    usableOutput(result),
    readDmidecode,
    emptyDmidecodeFacts(),
  );
  const host = parseOutput(usableOutput(raw42), readSmbiosType42, null);
  return {
    value: { ...value, redfishHostInterface: value.redfishHostInterface ?? host.value },
    reports: [
      reportParsed("dmidecode", result, problem),
      reportParsed("smbios-type42", raw42, host.problem),
    ],
  };
};
