// Storage facts the kernel keeps in sysfs: where each block device hangs (its PCI function and
// SCSI host, hence its NUMA node and controller), the SCSI hosts' driver and firmware, and the
// NVMe controllers' identity. Read in-process and captured as one JSON file, so a replay sees
// exactly what the agent saw.
//
// Real input, sys-storage.json (written by this module; paths from a QEMU 7.2 guest with a
// megasas-gen2, see fixtures/this-machine-extra-tools/qemu-megasas-lsi/sample-sysinfo.txt):
//   {"block":{"sda":{"devicePath":"/sys/devices/pci0000:00/0000:00:02.0/host6/target6:2:1/6:2:1:0",
//     "numaNode":"-1"}},
//    "scsiHost":{"host6":{"procName":"megaraid_sas","fwVersion":"...",
//     "devicePath":"/sys/devices/pci0000:00/0000:00:02.0/host6"}},
//    "nvme":{"nvme0":{"serial":"RECONNVME0","model":"QEMU NVMe Ctrl","firmwareRev":"7.2.22",
//     "subsysnqn":"nqn.2026-12.io.recon:subsys0","numaNode":"-1",
//     "devicePath":"/sys/devices/pci0000:00/0000:00:05.0","namespaces":["nvme0n1","nvme0n2"]}}}
import { readdirSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Probe } from "../exec.ts";
import { cleanString } from "../normalize.ts";
import { pciAddressFromDevicePath } from "./net.ts";
import { readSysfsAttr } from "./sysfs.ts";
import { isBlank, type Parsed, readJson } from "./types.ts";

export interface SysBlock {
  /** Kernel device name -> where it sits. */
  [name: string]: { devicePath: string | null; numaNode: number | null };
}

export interface SysScsiHost {
  /** host6 -> its driver (proc_name), firmware and PCI function. */
  [host: string]: {
    procName: string | null;
    firmwareVersion: string | null;
    pciAddress: string | null;
    numaNode: number | null;
  };
}

export interface SysNvme {
  [controller: string]: {
    serial: string | null;
    model: string | null;
    firmwareVersion: string | null;
    nqn: string | null;
    pciAddress: string | null;
    numaNode: number | null;
    /** Block devices of its namespaces (nvme0n1), also when reached through nvme0c0n1 paths. */
    namespaces: string[];
  };
}

export interface SysStorage {
  block: SysBlock;
  scsiHost: SysScsiHost;
  nvme: SysNvme;
}

export function emptySysStorage(): SysStorage {
  return { block: {}, scsiHost: {}, nvme: {} };
}

const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$/;
/** Firmware attribute names by driver: megaraid_sas, mpt3sas, hpsa, aacraid. */
const FIRMWARE_ATTRIBUTES = ["fw_version", "version_fw", "firmware_revision", "firmware_version"];

type Json = Record<string, unknown>;

function record(value: unknown): Json | null {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Json)
    : null;
}

function text(value: unknown): string | null {
  return typeof value === "string" ? cleanString(value) : null;
}

/** The kernel's numa_node: -1 (or anything not a node number) is unknown. */
export function numaNodeOf(value: unknown): number | null {
  const raw = typeof value === "number" ? String(value) : typeof value === "string" ? value : "";
  if (!/^\s*\d{1,4}\s*$/.test(raw)) return null;
  return Number(raw);
}

/** nvme0c0n1 (a path of a multipath namespace) is the block device nvme0n1. */
export function namespaceBlockName(entry: string): string | null {
  const match = /^nvme(\d+)(?:c\d+)?n(\d+)$/.exec(entry);
  return match ? `nvme${match[1]}n${match[2]}` : null;
}

/**
 * Reads the sys-storage.json capture; never throws. Empty text is valid and empty; text that is
 * not a JSON object is a problem. Entries with unsafe names or of the wrong shape are dropped.
 */
export function readSysStorage(input: string): Parsed<SysStorage> {
  const out = emptySysStorage();
  if (typeof input !== "string" || isBlank(input)) return { value: out, problem: null };
  const { document, problem } = readJson(input);
  if (problem !== null) return { value: out, problem };
  const root = record(document);
  if (root === null) return { value: out, problem: "JSON but not an object" };
  for (const [name, value] of Object.entries(record(root.block) ?? {})) {
    const entry = record(value);
    if (!entry || !SAFE_NAME.test(name)) continue;
    out.block[name] = { devicePath: text(entry.devicePath), numaNode: numaNodeOf(entry.numaNode) };
  }
  for (const [host, value] of Object.entries(record(root.scsiHost) ?? {})) {
    const entry = record(value);
    if (!entry || !/^host\d{1,5}$/.test(host)) continue;
    const devicePath = text(entry.devicePath);
    out.scsiHost[host] = {
      procName: text(entry.procName),
      firmwareVersion: text(entry.fwVersion),
      pciAddress: pciAddressFromDevicePath(devicePath),
      numaNode: numaNodeOf(entry.numaNode),
    };
  }
  for (const [name, value] of Object.entries(record(root.nvme) ?? {})) {
    const entry = record(value);
    if (!entry || !/^nvme\d{1,5}$/.test(name)) continue;
    const namespaces = Array.isArray(entry.namespaces) ? entry.namespaces : [];
    out.nvme[name] = {
      serial: text(entry.serial),
      model: text(entry.model),
      firmwareVersion: text(entry.firmwareRev),
      nqn: text(entry.subsysnqn),
      pciAddress: pciAddressFromDevicePath(text(entry.devicePath)),
      numaNode: numaNodeOf(entry.numaNode),
      namespaces: [
        ...new Set(
          namespaces
            .map((n) => (typeof n === "string" ? namespaceBlockName(n) : null))
            .filter((n): n is string => n !== null),
        ),
      ].sort(),
    };
  }
  return { value: out, problem: null };
}

/** SCSI host number of a block device, from its device path (…/host6/target6:2:1/6:2:1:0). */
export function scsiHostOf(devicePath: string | null): string | null {
  const match = devicePath ? /\/(host\d+)\/(?:.*\/)?\d+:\d+:\d+:\d+$/.exec(devicePath) : null;
  return match?.[1] ?? null;
}

/** host:channel:target:lun of a SCSI block device, from its device path (…/6:2:1:0). */
export function scsiAddressOf(
  devicePath: string | null,
): { host: number; channel: number; target: number; lun: number } | null {
  const match = devicePath ? /\/(\d+):(\d+):(\d+):(\d+)$/.exec(devicePath) : null;
  if (!match) return null;
  const [host, channel, target, lun] = match.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
  ];
  return { host, channel, target, lun };
}

function list(path: string): string[] | null {
  try {
    return readdirSync(path).sort();
  } catch {
    return null;
  }
}

/** numa_node of the nearest ancestor that has one (the PCI function a disk hangs off). */
function nearestNumaNode(devicePath: string | null, top: string): string | null {
  for (let dir = devicePath; dir?.startsWith(top); dir = dirname(dir)) {
    const value = readSysfsAttr(join(dir, "numa_node"));
    if (value !== null) return value;
  }
  return null;
}

function resolved(path: string): string | null {
  try {
    return realpathSync(path);
  } catch {
    return null;
  }
}

/** Reads /sys/block, /sys/class/scsi_host and /sys/class/nvme into the sys-storage.json form. */
export function readSysStorageTree(root = "/sys"): string {
  const block: Record<string, unknown> = {};
  const scsiHost: Record<string, unknown> = {};
  const nvme: Record<string, unknown> = {};
  const out = { block, scsiHost, nvme };
  // The walk up to a numa_node file stays inside the device tree.
  const top = `${join(resolved(root) ?? root, "devices")}/`;
  const blocks = list(join(root, "block"));
  for (const name of blocks ?? []) {
    const devicePath = resolved(join(root, "block", name, "device"));
    const self = resolved(join(root, "block", name));
    block[name] = { devicePath, numaNode: nearestNumaNode(devicePath ?? self, top) };
  }
  const hosts = list(join(root, "class", "scsi_host"));
  for (const host of hosts ?? []) {
    const dir = join(root, "class", "scsi_host", host);
    let fwVersion: string | null = null;
    for (const name of FIRMWARE_ATTRIBUTES) {
      fwVersion = readSysfsAttr(join(dir, name));
      if (fwVersion !== null) break;
    }
    const devicePath = resolved(join(dir, "device"));
    scsiHost[host] = {
      procName: readSysfsAttr(join(dir, "proc_name")),
      fwVersion,
      devicePath,
      numaNode: nearestNumaNode(devicePath, top),
    };
  }
  const controllers = list(join(root, "class", "nvme"));
  for (const name of controllers ?? []) {
    const dir = join(root, "class", "nvme", name);
    const entries = list(dir) ?? [];
    // Native multipath: the controller sits in /sys/devices/virtual/nvme-subsystem/nvme-subsysN,
    // whose directory holds the namespaces' block devices; the controller itself has nvme0c0n1.
    const self = resolved(dir);
    const parent = self ? dirname(self) : null;
    const fromSubsystem = parent && /\/nvme-subsys\d+$/.test(parent) ? (list(parent) ?? []) : [];
    const devicePath = resolved(join(dir, "device"));
    nvme[name] = {
      serial: readSysfsAttr(join(dir, "serial")),
      model: readSysfsAttr(join(dir, "model")),
      firmwareRev: readSysfsAttr(join(dir, "firmware_rev")),
      subsysnqn: readSysfsAttr(join(dir, "subsysnqn")),
      numaNode: readSysfsAttr(join(dir, "numa_node")) ?? nearestNumaNode(devicePath, top),
      devicePath,
      namespaces: [...entries, ...fromSubsystem].filter((e) => /^nvme\d+(c\d+)?n\d+$/.test(e)),
    };
  }
  if (blocks === null && hosts === null && controllers === null) {
    throw Object.assign(new Error(`${root}: no block, scsi_host or nvme class`), {
      code: "ENOENT",
    });
  }
  return `${JSON.stringify(out, null, 2)}\n`;
}

export const SYS_STORAGE_PROBE: Probe = {
  file: "sys-storage.json",
  source: {
    kind: "internal",
    describe: "read /sys/block, /sys/class/scsi_host, /sys/class/nvme",
    read: () => readSysStorageTree(),
  },
  timeoutMs: 10_000,
};

/** The facts of `readSysStorage`, problem or not. */
export function parseSysStorage(input: string): SysStorage {
  return readSysStorage(input).value;
}
