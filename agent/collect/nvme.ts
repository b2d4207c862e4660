// NVMe from nvme-cli: `nvme list -o json` (every namespace with its controller's serial, model
// and firmware, and its size) and `nvme id-ctrl -o json /dev/nvmeN` (the controller's identity,
// including the subsystem NQN). sysfs (/sys/class/nvme, read by sysfs-storage.ts) says the same
// for controllers and which namespaces belong to which controller; the tool fills what sysfs
// lacks and gives the namespace sizes.
import type { Probe } from "../exec.ts";
import { cleanString } from "../normalize.ts";
import { isBlank, type Parsed, readJson } from "./types.ts";

export interface NvmeNamespace {
  /** Kernel block device, e.g. nvme0n1. */
  name: string;
  /** Controller kernel name when the tool says it (nvme-cli 2.x verbose form), else null. */
  controller: string | null;
  sizeBytes: number | null;
  model: string | null;
  /** The controller's serial (nvme list prints the controller's identity per namespace). */
  serialNumber: string | null;
  firmwareVersion: string | null;
  nqn: string | null;
}

export interface NvmeIdentity {
  serialNumber: string | null;
  model: string | null;
  firmwareVersion: string | null;
  nqn: string | null;
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

function bytes(value: unknown): number | null {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0 ? value : null;
}

const NAMESPACE = /^(?:\/dev\/)?(nvme\d{1,5}n\d{1,5})$/;
const CONTROLLER = /^(?:\/dev\/)?(nvme\d{1,5})$/;

function namespaceName(value: unknown): string | null {
  return typeof value === "string" ? (NAMESPACE.exec(value.trim())?.[1] ?? null) : null;
}

/** nvme-cli 1.x and 2.x flat entry: {"DevicePath": "/dev/nvme0n1", "SerialNumber": ...}. */
function flatEntry(entry: Json): NvmeNamespace | null {
  const name = namespaceName(entry.DevicePath);
  if (name === null) return null;
  return {
    name,
    controller: null,
    sizeBytes: bytes(entry.PhysicalSize),
    model: text(entry.ModelNumber),
    serialNumber: text(entry.SerialNumber),
    firmwareVersion: text(entry.Firmware),
    nqn: null,
  };
}

/**
 * nvme-cli 2.x verbose form: Devices[].Subsystems[] {SubsystemNQN, Controllers[] {Controller,
 * SerialNumber, ModelNumber, Firmware, Namespaces[] {NameSpace, PhysicalSize}}, Namespaces[]}.
 * Namespaces listed on the subsystem (multipath heads) take the first controller's identity.
 */
function nestedEntries(subsystem: Json, out: NvmeNamespace[]): void {
  const nqn = text(subsystem.SubsystemNQN);
  const controllers = Array.isArray(subsystem.Controllers) ? subsystem.Controllers : [];
  let first: NvmeNamespace | null = null;
  for (const item of controllers) {
    const controller = record(item);
    if (!controller) continue;
    const identity: NvmeNamespace = {
      name: "",
      controller: text(controller.Controller)?.match(CONTROLLER)?.[1] ?? null,
      sizeBytes: null,
      model: text(controller.ModelNumber),
      serialNumber: text(controller.SerialNumber),
      firmwareVersion: text(controller.Firmware),
      nqn,
    };
    first ??= identity;
    for (const ns of Array.isArray(controller.Namespaces) ? controller.Namespaces : []) {
      const namespace = record(ns);
      const name = namespaceName(namespace?.NameSpace);
      if (namespace && name)
        out.push({ ...identity, name, sizeBytes: bytes(namespace.PhysicalSize) });
    }
  }
  for (const ns of Array.isArray(subsystem.Namespaces) ? subsystem.Namespaces : []) {
    const namespace = record(ns);
    const name = namespaceName(namespace?.NameSpace);
    if (!namespace || !name) continue;
    const base = first ?? {
      controller: null,
      model: null,
      serialNumber: null,
      firmwareVersion: null,
    };
    out.push({ ...base, nqn, name, sizeBytes: bytes(namespace.PhysicalSize) });
  }
}

/**
 * Parses `nvme list -o json`. Real input (nvme-cli 1.x, samples/nvme-list-toshiba-netbox):
 *
 *     "Devices" : [
 *       {
 *         "DevicePath" : "/dev/nvme0n1",
 *         "Firmware" : "10604103",
 *         "Index" : 0,
 *         "ModelNumber" : "KXG60ZNV1T02 NVMe TOSHIBA 1024GB",
 *         "SerialNumber" : "19FA109SK07N",
 *         "PhysicalSize" : 1024209543168,
 *
 * nvme-cli 2.x (2.3, Debian 12, fixtures/qemu-storage) prints the same flat entries, here with
 * "NameSpace" first and no "Index":
 *
 *     {
 *       "NameSpace":2,
 *       "DevicePath":"/dev/nvme0n2",
 *       "Firmware":"7.2.22",
 *       "ModelNumber":"QEMU NVMe Ctrl",
 *       "SerialNumber":"RLNVME000001",
 *       "PhysicalSize":536870912,
 *
 * Its `-v`
 * form nests Subsystems > Controllers > Namespaces, also read here. No NVMe device at all gives
 * `{"Devices":[]}` or nothing: valid and empty. Text that is not a JSON object is a problem.
 * One entry per namespace; a namespace seen twice keeps its first entry.
 */
export function readNvmeList(input: string): Parsed<NvmeNamespace[]> {
  if (typeof input !== "string" || isBlank(input)) return { value: [], problem: null };
  const { document, problem } = readJson(input);
  if (problem !== null) return { value: [], problem };
  const root = record(document);
  if (root === null) return { value: [], problem: "JSON but not an object" };
  if (root.Devices !== undefined && !Array.isArray(root.Devices)) {
    return { value: [], problem: '"Devices" is not an array' };
  }
  const found: NvmeNamespace[] = [];
  for (const item of Array.isArray(root.Devices) ? root.Devices : []) {
    const entry = record(item);
    if (!entry) continue;
    const flat = flatEntry(entry);
    if (flat) found.push(flat);
    for (const subsystem of Array.isArray(entry.Subsystems) ? entry.Subsystems : []) {
      const s = record(subsystem);
      if (s) nestedEntries(s, found);
    }
  }
  const seen = new Set<string>();
  const value: NvmeNamespace[] = [];
  for (const ns of found) {
    if (seen.has(ns.name)) continue;
    seen.add(ns.name);
    value.push(ns);
  }
  return { value, problem: null };
}

export function parseNvmeList(input: string): NvmeNamespace[] {
  return readNvmeList(input).value;
}

/**
 * Parses `nvme id-ctrl -o json /dev/nvmeN`: the Identify Controller fields `sn`, `mn`, `fr` and
 * `subnqn` (the same names in nvme-cli 1.x and 2.x; the strings are space-padded, which
 * cleanString trims). Real input (nvme-cli 2.3, QEMU 7.2, fixtures/qemu-storage, trimmed):
 *
 *     "sn":"RLNVME000001        ",
 *     "mn":"QEMU NVMe Ctrl                          ",
 *     "fr":"7.2.22  ",
 *     ...
 *     "subnqn":"nqn.2019-08.org.qemu:nqn.2026-12.lab.recon:subsys-capture",
 *
 * Empty output is valid and empty; text that is not a JSON object is a problem.
 */
export function readNvmeIdCtrl(input: string): Parsed<NvmeIdentity> {
  const empty: NvmeIdentity = { serialNumber: null, model: null, firmwareVersion: null, nqn: null };
  if (typeof input !== "string" || isBlank(input)) return { value: empty, problem: null };
  const { document, problem } = readJson(input);
  if (problem !== null) return { value: empty, problem };
  const root = record(document);
  if (root === null) return { value: empty, problem: "JSON but not an object" };
  return {
    value: {
      serialNumber: text(root.sn),
      model: text(root.mn),
      firmwareVersion: text(root.fr),
      nqn: text(root.subnqn),
    },
    problem: null,
  };
}

export function parseNvmeIdCtrl(input: string): NvmeIdentity {
  return readNvmeIdCtrl(input).value;
}

export const NVME_LIST_PROBE: Probe = {
  file: "nvme-list.json",
  source: { kind: "command", argv: ["nvme", "list", "-o", "json"], versionArgv: ["version"] },
  timeoutMs: 20_000,
  needsRoot: true,
};

/** `nvme id-ctrl` for one controller; the name is checked (nvme0..nvme99999) before use. */
export function nvmeIdCtrlProbe(controller: string): Probe | null {
  if (!/^nvme\d{1,5}$/.test(controller)) return null;
  return {
    file: `nvme-id-ctrl-${controller}.json`,
    source: {
      kind: "command",
      argv: ["nvme", "id-ctrl", "-o", "json", `/dev/${controller}`],
      versionArgv: ["version"],
    },
    timeoutMs: 10_000,
    needsRoot: true,
  };
}
