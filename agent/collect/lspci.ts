// PCI devices from `lspci -vmm -nn -D -k`: one blank-line separated record per function.
import type { PciDevice } from "../../schema/inventory.ts";
import type { Probe } from "../exec.ts";
import { cleanString } from "../normalize.ts";
import {
  binaryProblem,
  type Collect,
  isBlank,
  type Parsed,
  parseOutput,
  reportParsed,
  usableOutput,
} from "./types.ts";

export const LSPCI_PROBE: Probe = {
  file: "lspci.txt",
  source: {
    kind: "command",
    argv: ["lspci", "-vmm", "-nn", "-D", "-k"],
    versionArgv: ["--version"],
  },
  timeoutMs: 60_000,
};

/** domain:bus:device.function; the domain is optional (lspci prints it with -D or when non-zero). */
const ADDRESS = /^(?:([0-9a-f]{1,8}):)?([0-9a-f]{1,2}):([0-9a-f]{1,2})\.([0-7])$/i;
/** One `Key:<TAB>value` line; keys start at column 0 (so `lspci -vv` text never matches "Slot"). */
const FIELD = /^([A-Za-z][A-Za-z0-9_]*):[ \t]*(.*)$/;
/** What lspci prints when pci.ids/hwdb has no name: "Device [0d57]" (-nn) or "Device 0d57". */
const UNKNOWN_NAME = /^(?:device|vendor|class|unknown vendor|unknown device)(?: ([0-9a-f]+))?$/i;

/** "0000:00:1f.6" form: the domain defaults to 0000, every part padded and lowercased. */
export function normalizePciAddress(value: string): string | null {
  const match = ADDRESS.exec(value.trim());
  if (!match) return null;
  const [, domain = "0", bus = "", device = "", fn = ""] = match;
  return `${domain.padStart(4, "0")}:${bus.padStart(2, "0")}:${device.padStart(2, "0")}.${fn}`.toLowerCase();
}

/**
 * A name with an optional numeric id: "Intel Corporation [8086]" (-nn), "8086" (-n) or
 * "Intel Corporation" (neither). Only a trailing bracket of exactly `digits` hex digits is an id,
 * so "Audio PCI 64V/128/5200 / Creative CT4810/CT5803/CT5806 [Sound Blaster PCI] [1371]" keeps
 * its inner bracket in the name.
 */
function splitNamed(
  value: string | undefined,
  digits: number,
): { name: string | null; id: string | null } {
  if (value === undefined) return { name: null, id: null };
  const text = value.trim();
  const hex = `[0-9a-fA-F]{${digits}}`;
  let name: string | null = text;
  let id: string | null = null;
  const bracketed = new RegExp(`^(.*?)\\s*\\[(${hex})\\]$`).exec(text);
  if (bracketed) {
    name = bracketed[1] ?? "";
    id = (bracketed[2] ?? "").toLowerCase();
  } else if (new RegExp(`^${hex}$`).test(text)) {
    name = null;
    id = text.toLowerCase();
  }
  const unknown = name === null ? null : UNKNOWN_NAME.exec(name.trim());
  if (unknown) {
    name = null;
    const inline = unknown[1];
    if (id === null && inline !== undefined && inline.length === digits) id = inline.toLowerCase();
  }
  return { name: cleanString(name), id };
}

function parseRecord(lines: string[]): PciDevice | null {
  const fields = new Map<string, string>();
  let slot: string | undefined;
  for (const line of lines) {
    const match = FIELD.exec(line);
    if (!match) continue;
    const key = match[1] ?? "";
    const value = (match[2] ?? "").trim();
    if (key === "Slot" && slot === undefined) {
      slot = value;
      continue;
    }
    // `lspci -vm` (one m) names the slot "Device:" too, before Class/Vendor/Device.
    if (key === "Device" && slot === undefined && fields.size === 0 && ADDRESS.test(value)) {
      slot = value;
      continue;
    }
    if (!fields.has(key)) fields.set(key, value);
  }
  const address = slot === undefined ? null : normalizePciAddress(slot);
  if (address === null) return null;
  const cls = splitNamed(fields.get("Class"), 4);
  const vendor = splitNamed(fields.get("Vendor"), 4);
  const device = splitNamed(fields.get("Device"), 4);
  const rev = fields.get("Rev")?.trim().toLowerCase();
  return {
    address,
    classId: cls.id,
    className: cls.name,
    vendorId: vendor.id,
    vendorName: vendor.name,
    deviceId: device.id,
    deviceName: device.name,
    subsystemVendorId: splitNamed(fields.get("SVendor"), 4).id,
    subsystemId: splitNamed(fields.get("SDevice"), 4).id,
    revision: rev !== undefined && /^[0-9a-f]{2}$/.test(rev) ? rev : null,
    driver: cleanString(fields.get("Driver")),
    // `NUMANode:` is printed only when the kernel knows the node (sysfs numa_node is not -1).
    numaNode: /^\d{1,4}$/.test(fields.get("NUMANode") ?? "")
      ? Number(fields.get("NUMANode"))
      : null,
    sriovTotalVfs: null,
    sriovEnabledVfs: null,
  };
}

/**
 * Parses `lspci -vmm -nn -D -k` (also without -nn, with -n instead, without -D or -k, and the
 * `-vm` spelling). Records without a PCI address are dropped, so non-machine-readable lspci text
 * yields []. Real input (pciutils 3.9, Debian 12):
 *
 *     Slot:	0000:00:03.0
 *     Class:	Ethernet controller [0200]
 *     Vendor:	Red Hat, Inc. [1af4]
 *     Device:	Virtio 1.0 network device [1041]
 *     SVendor:	Red Hat, Inc. [1af4]
 *     SDevice:	Virtio 1.0 network device [1041]
 *     Rev:	01
 *     ProgIf:	00
 *     Driver:	virtio-pci
 *
 * Unknown names ("Device:	Device [0d57]") become a null name with the id kept. On machines where
 * the kernel knows a device's NUMA node, lspci adds `NUMANode:	1` (and `IOMMUGroup:`).
 * Empty output (no PCI bus: some ARM boards, containers) is valid and empty; text with no record
 * carrying a PCI address, or with binary bytes, is a problem (the records read are kept).
 */
export function readLspci(text: string): Parsed<PciDevice[]> {
  if (typeof text !== "string" || isBlank(text)) return { value: [], problem: null };
  const value = parseLspci(text);
  const binary = binaryProblem(text);
  if (binary !== null) return { value, problem: binary };
  if (value.length === 0)
    return { value, problem: `no PCI device record found in ${text.length} characters` };
  return { value, problem: null };
}

/** The devices of lspci text; `readLspci` also says whether the text was lspci's. */
export function parseLspci(text: string): PciDevice[] {
  if (typeof text !== "string") return [];
  const devices: PciDevice[] = [];
  const seen = new Set<string>();
  let record: string[] = [];
  const flush = () => {
    if (record.length === 0) return;
    const device = parseRecord(record);
    record = [];
    if (device && !seen.has(device.address)) {
      seen.add(device.address);
      devices.push(device);
    }
  };
  for (const line of text.split(/\r?\n|\r/)) {
    if (line.trim() === "") flush();
    else record.push(line);
  }
  flush();
  return devices;
}

export const collectLspci: Collect<PciDevice[]> = async (runner, signal) => {
  const result = await runner.run(LSPCI_PROBE, signal);
  const { value, problem } = parseOutput(usableOutput(result), readLspci, []);
  return { value, reports: [reportParsed("lspci", result, problem)] };
};
