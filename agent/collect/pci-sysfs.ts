// What the kernel knows about each PCI function beyond lspci's names: its NUMA node, its SR-IOV
// virtual functions (physical functions only) and, for amdgpu cards, the VRAM size. One
// in-process read of /sys/bus/pci/devices, captured as sys-bus-pci.json so a replay sees exactly
// what the agent saw; merged into pciDevices[], nics[] and gpus[] by PCI address.
//
// Real input, sys-bus-pci.json (written by this module; this machine, a Firecracker-style VM):
//   {"0000:00:03.0":{"class":"0x020000","vendor":"0x1af4","device":"0x1041","numa_node":"-1",
//     "sriov_totalvfs":null,"sriov_numvfs":null,"driver":"virtio-pci","mem_info_vram_total":null}}
// Values are the attribute files' text, trimmed; null when the file is absent (sriov_* exist only
// on SR-IOV capable functions, mem_info_vram_total only under amdgpu).
import { readdirSync, readlinkSync } from "node:fs";
import { basename, join } from "node:path";
import type { PciDevice } from "../../schema/inventory.ts";
import type { Probe } from "../exec.ts";
import { normalizePciAddress } from "./lspci.ts";
import { jsonRecord, readSysfsAttr, sysfsCount } from "./sysfs.ts";
import {
  type Collect,
  isBlank,
  type Parsed,
  parseOutput,
  readJson,
  reportParsed,
  usableOutput,
} from "./types.ts";

/** The attribute files read per function, as they are named in sysfs. */
export const PCI_SYSFS_ATTRIBUTES = [
  "class",
  "vendor",
  "device",
  "numa_node",
  "sriov_totalvfs",
  "sriov_numvfs",
] as const;

type RawEntry = Record<string, string | null>;

export interface PciSysfsFacts {
  /** "0300" form (class and subclass, as lspci prints it); null when unreadable. */
  classId: string | null;
  vendorId: string | null;
  deviceId: string | null;
  driver: string | null;
  /** sysfs numa_node; the kernel's -1 (no affinity known) is null. */
  numaNode: number | null;
  sriovTotalVfs: number | null;
  sriovEnabledVfs: number | null;
  /** amdgpu's mem_info_vram_total, in bytes. */
  vramBytes: number | null;
}

/** Keyed by lowercase dddd:bb:dd.f. */
export type PciSysfs = Record<string, PciSysfsFacts>;

/** A sysfs decimal: digits only ("-1", "", "12 MB" are not counts). */
const HEX_ATTRIBUTE = /^0x([0-9a-f]+)$/i;

/** "0x8086" -> "8086"; exactly `digits` hex digits after the prefix, else null. */
function sysHex(value: unknown, digits: number): string | null {
  if (typeof value !== "string") return null;
  const hex = HEX_ATTRIBUTE.exec(value.trim())?.[1];
  return hex?.length === digits ? hex.toLowerCase() : null;
}

function factsOf(entry: Record<string, unknown>): PciSysfsFacts {
  // sysfs `class` is 0xCCSSPP (class, subclass, prog-if); lspci's id is CCSS.
  const cls = sysHex(entry.class, 6);
  const driver = typeof entry.driver === "string" ? entry.driver.trim() || null : null;
  return {
    classId: cls === null ? null : cls.slice(0, 4),
    vendorId: sysHex(entry.vendor, 4),
    deviceId: sysHex(entry.device, 4),
    driver,
    numaNode: sysfsCount(entry.numa_node),
    sriovTotalVfs: sysfsCount(entry.sriov_totalvfs),
    sriovEnabledVfs: sysfsCount(entry.sriov_numvfs),
    vramBytes: sysfsCount(entry.mem_info_vram_total),
  };
}

/** Parses the sys-bus-pci.json capture; never throws. Keys that are not PCI addresses are dropped. */
export function parseSysBusPci(text: string): PciSysfs {
  const { document } = readJson(typeof text === "string" ? text : "");
  const out: PciSysfs = {};
  for (const [key, value] of Object.entries(jsonRecord(document) ?? {})) {
    const address = normalizePciAddress(key);
    const entry = jsonRecord(value);
    if (address === null || entry === null || Object.hasOwn(out, address)) continue;
    out[address] = factsOf(entry);
  }
  return out;
}

/**
 * Reads the sys-bus-pci.json capture. Empty output and `{}` (no PCI bus) are valid; text that is
 * not a JSON object, or an object none of whose keys is a PCI address, is a problem.
 */
export function readSysBusPciCapture(text: string): Parsed<PciSysfs> {
  if (typeof text !== "string" || isBlank(text)) return { value: {}, problem: null };
  const { document, problem } = readJson(text);
  if (problem !== null) return { value: {}, problem };
  const record = jsonRecord(document);
  if (record === null) return { value: {}, problem: "JSON but not an object" };
  const value = parseSysBusPci(text);
  const keys = Object.keys(record).length;
  if (keys > 0 && Object.keys(value).length === 0)
    return { value, problem: `none of ${keys} keys is a PCI address` };
  return { value, problem: null };
}

/** Reads /sys/bus/pci/devices into the sys-bus-pci.json form. */
export function readSysBusPci(root = "/sys/bus/pci/devices"): string {
  const addresses = readdirSync(root).sort();
  const entries = addresses.map((address) => {
    const dir = join(root, address);
    const values = PCI_SYSFS_ATTRIBUTES.map((name) => readSysfsAttr(join(dir, name)));
    const entry: RawEntry = Object.fromEntries(
      PCI_SYSFS_ATTRIBUTES.map((n, i) => [n, values[i] ?? null]),
    );
    let driver: string | null = null;
    try {
      driver = basename(readlinkSync(join(dir, "driver")));
    } catch {
      // no driver bound
    }
    entry.driver = driver;
    // Only amdgpu exports the VRAM size here; other drivers are not asked (one read fewer each).
    entry.mem_info_vram_total =
      driver === "amdgpu" ? readSysfsAttr(join(dir, "mem_info_vram_total")) : null;
    return [address, entry] as const;
  });
  // fromEntries keeps the sorted order: the same tree always gives the same file.
  return `${JSON.stringify(Object.fromEntries(entries), null, 2)}\n`;
}

export const sysBusPciProbe: Probe = {
  file: "sys-bus-pci.json",
  source: { kind: "internal", describe: "read /sys/bus/pci/devices", read: () => readSysBusPci() },
  timeoutMs: 10_000,
};

export const collectPciSysfs: Collect<PciSysfs> = async (runner, signal) => {
  const result = await runner.run(sysBusPciProbe, signal);
  const { value, problem } = parseOutput(usableOutput(result), readSysBusPciCapture, {});
  return { value, reports: [reportParsed("sysfs-pci", result, problem)] };
};

/** lspci's devices with the kernel's NUMA node and SR-IOV counts added, joined by address. */
export function mergePciSysfs(devices: PciDevice[], sysfs: PciSysfs): PciDevice[] {
  return devices.map((device) => {
    const facts = Object.hasOwn(sysfs, device.address) ? sysfs[device.address] : undefined;
    if (facts === undefined) return device;
    return {
      ...device,
      driver: device.driver ?? facts.driver,
      numaNode: device.numaNode ?? facts.numaNode,
      sriovTotalVfs: device.sriovTotalVfs ?? facts.sriovTotalVfs,
      sriovEnabledVfs: device.sriovEnabledVfs ?? facts.sriovEnabledVfs,
    };
  });
}

/** The sysfs facts of one address (any spelling lspci or sysfs uses), or undefined. */
export function pciSysfsAt(sysfs: PciSysfs, address: string | null): PciSysfsFacts | undefined {
  const key = address === null ? null : normalizePciAddress(address);
  return key !== null && Object.hasOwn(sysfs, key) ? sysfs[key] : undefined;
}
