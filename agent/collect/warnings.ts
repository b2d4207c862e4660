// Cross-checks between sources (warnings[]). Pure functions of the assembled document, plus the
// few facts that are not in it (smartctl's device list, lshw's memory size, the SMBIOS memory
// arrays' slot count). collect/index.ts calls `inventoryWarnings` last. A warning never changes a
// fact: it says which document paths disagree, and the facts stay as their sources gave them.
import type { Inventory, Warning } from "../../schema/inventory.ts";
import type { SmartFacts } from "./smartctl.ts";

/**
 * The part of the document the checks read; the whole Inventory fits. powerSupplies and slots
 * are optional so that a caller holding only memory and disks can still ask.
 */
export type WarningDocument = Pick<Inventory, "memory" | "disks"> &
  Partial<Pick<Inventory, "powerSupplies" | "slots">>;

/** Facts that are not in the document but that some checks compare with it. */
export interface WarningSources {
  /** Every device smartctl reported (scan + per-device output). */
  smart?: readonly SmartFacts[];
  /** lshw's "System Memory" size, in bytes. */
  lshwMemoryBytes?: number | null;
  /** The SMBIOS memory arrays' declared slot count (type 16 "Number Of Devices"). */
  memoryArrayDevices?: number | null;
}

/**
 * How far MemTotal may fall below the installed DIMMs before it is worth a warning, as a
 * fraction of the DIMM sum. MemTotal never counts what the firmware keeps (E820 reserved:
 * SMM, ACPI tables, memory lost under the 32-bit PCI hole on boards that do not remap it),
 * the kernel's image and its struct page array (64 bytes per 4 KiB page: 1.6 %), nor a
 * crashkernel= reservation; together these stay within a few percent on a server. More than
 * 10 % missing means memory the kernel does not see: a module disabled by the firmware after
 * errors, mem= on the command line, or an iGPU carve-out on a desktop board.
 */
export const MEMTOTAL_TOLERANCE = 0.1;

const GiB = 2 ** 30;
const gib = (bytes: number) => `${(bytes / GiB).toFixed(2)} GiB`;

/**
 * `dimm-sum-mismatch`: the installed DIMMs (memory.totalBytes, their sum) against what the kernel
 * sees (memory.osVisibleBytes, MemTotal) and against lshw. MemTotal above the DIMM sum cannot
 * happen when SMBIOS lists every module (so a module is missing from the table); far below it,
 * see MEMTOTAL_TOLERANCE. lshw reads the same SMBIOS table or the memory block devices, so it
 * should agree with the DIMM sum within the same tolerance. Without DIMMs (no SMBIOS), nothing
 * is compared: memory.totalBytes then is lshw's own figure.
 */
export function memoryWarnings(doc: WarningDocument, lshwMemoryBytes?: number | null): Warning[] {
  const dimms = doc.memory.dimms.filter((d) => !d.persistent && d.sizeBytes !== null);
  if (dimms.length === 0) return [];
  const sum = dimms.reduce((total, d) => total + (d.sizeBytes ?? 0), 0);
  const out: Warning[] = [];
  const memTotal = doc.memory.osVisibleBytes;
  if (memTotal !== null && memTotal > sum) {
    out.push({
      code: "dimm-sum-mismatch",
      message:
        `the kernel sees ${gib(memTotal)} (MemTotal) but the installed modules add up to ` +
        `${gib(sum)}: SMBIOS does not list every module`,
      fields: ["memory.osVisibleBytes", "memory.totalBytes", "memory.dimms"],
    });
  } else if (memTotal !== null && memTotal < sum * (1 - MEMTOTAL_TOLERANCE)) {
    out.push({
      code: "dimm-sum-mismatch",
      message:
        `the kernel sees ${gib(memTotal)} (MemTotal) of ${gib(sum)} installed: more than ` +
        `${MEMTOTAL_TOLERANCE * 100} % is missing (a disabled module, mem=, or a firmware carve-out)`,
      fields: ["memory.osVisibleBytes", "memory.totalBytes", "memory.dimms"],
    });
  }
  if (
    lshwMemoryBytes !== undefined &&
    lshwMemoryBytes !== null &&
    lshwMemoryBytes > 0 &&
    Math.abs(lshwMemoryBytes - sum) > Math.max(lshwMemoryBytes, sum) * MEMTOTAL_TOLERANCE
  ) {
    out.push({
      code: "dimm-sum-mismatch",
      message: `lshw reports ${gib(lshwMemoryBytes)} of system memory, the SMBIOS modules add up to ${gib(sum)}`,
      fields: ["memory.totalBytes", "memory.dimms"],
    });
  }
  return out;
}

/**
 * `slot-count-mismatch`: more populated modules than the memory arrays say they have slots
 * (type 16 "Number Of Devices" against the installed type 17 records).
 */
export function slotCountWarnings(
  doc: WarningDocument,
  memoryArrayDevices?: number | null,
): Warning[] {
  const populated = doc.memory.dimms.length;
  if (memoryArrayDevices === undefined || memoryArrayDevices === null) return [];
  if (populated <= memoryArrayDevices) return [];
  return [
    {
      code: "slot-count-mismatch",
      message: `${populated} memory modules are installed but the SMBIOS memory arrays declare ${memoryArrayDevices} slots`,
      fields: ["memory.dimms", "memory.slots"],
    },
  ];
}

/**
 * `drive-not-in-lsblk`: a drive smartctl talked to that no disks[] entry stands for (neither by
 * serial nor by kernel name). Drives smartctl reached through a RAID controller (megaraid,N,
 * cciss,N) are hidden from the kernel by design and are only reported when disks[] does not carry
 * them either; a SMART entry without a serial and without a kernel name identifies nothing.
 */
export function driveNotInLsblkWarnings(
  doc: WarningDocument,
  smart: readonly SmartFacts[],
): Warning[] {
  const serials = new Set(doc.disks.map((d) => d.serialNumber).filter((s) => s !== null));
  const names = new Set(doc.disks.map((d) => d.name));
  const out: Warning[] = [];
  for (const drive of smart) {
    if (drive.serialNumber === null && drive.kernelName === null) continue;
    if (drive.serialNumber !== null && serials.has(drive.serialNumber)) continue;
    if (drive.kernelName !== null && names.has(drive.kernelName)) continue;
    const what = [drive.deviceName ?? drive.kernelName, drive.model, drive.serialNumber]
      .filter((s) => s !== null)
      .join(", ");
    out.push({
      code: "drive-not-in-lsblk",
      message: `smartctl sees a drive that no disks[] entry stands for: ${what}`,
      fields: ["disks"],
    });
  }
  return out;
}

/** The physical device a disks[] entry is: NVMe namespaces of one controller are one device. */
function diskIdentity(disk: Inventory["disks"][number]): string {
  // Namespaces first: each has its own WWN (EUI-64/NGUID) but they share the controller's serial.
  const namespace = /^(nvme\d+)n\d+$/.exec(disk.name);
  if (namespace?.[1]) return `ctrl:${disk.controllerSerial ?? namespace[1]}`;
  if (disk.wwn !== null) return `wwn:${disk.wwn}`; // multipath: two paths, one LUN
  return `name:${disk.name}`;
}

interface Serialed {
  path: string;
  label: string;
  serial: string | null;
  identity: string;
}

function duplicatesIn(kind: string, items: Serialed[]): Warning[] {
  const bySerial = new Map<string, Serialed[]>();
  for (const item of items) {
    if (item.serial === null) continue;
    const key = item.serial.trim().toLowerCase();
    if (key === "") continue;
    const list = bySerial.get(key) ?? [];
    if (!list.some((other) => other.identity === item.identity)) list.push(item);
    bySerial.set(key, list);
  }
  const out: Warning[] = [];
  for (const list of bySerial.values()) {
    if (list.length < 2) continue;
    out.push({
      code: "duplicate-serial",
      message: `${list.length} ${kind} carry the serial "${list[0]?.serial}": ${list.map((i) => i.label).join(", ")}`,
      fields: list.map((i) => `${i.path}.serialNumber`),
    });
  }
  return out;
}

/**
 * `duplicate-serial`: one serial on two disks, two DIMMs or two power supplies (compared within
 * each kind; null serials ignored, case and surrounding blanks ignored). Entries that are one
 * device seen twice are not duplicates: namespaces of one NVMe controller, and paths of one LUN
 * (same WWN).
 */
export function duplicateSerialWarnings(doc: WarningDocument): Warning[] {
  return [
    ...duplicatesIn(
      "disks",
      doc.disks.map((d, i) => ({
        path: `disks[${i}]`,
        label: d.name,
        serial: d.serialNumber,
        identity: diskIdentity(d),
      })),
    ),
    ...duplicatesIn(
      "memory modules",
      doc.memory.dimms.map((d, i) => ({
        path: `memory.dimms[${i}]`,
        label: d.locator ?? `#${i}`,
        serial: d.serialNumber,
        identity: `dimm:${i}`,
      })),
    ),
    ...duplicatesIn(
      "power supplies",
      (doc.powerSupplies ?? []).map((p, i) => ({
        path: `powerSupplies[${i}]`,
        label: p.name ?? p.location ?? `#${i}`,
        serial: p.serialNumber,
        identity: `psu:${i}`,
      })),
    ),
  ];
}

/**
 * `shared-slot-address`: SMBIOS slots printing the same bus address (some boards print one
 * address, often 0000:00:00.0 or 0000:ff:00.0, for every slot), so the address joins none of
 * them to its card reliably. One warning per repeated address.
 */
export function sharedSlotAddressWarnings(doc: WarningDocument): Warning[] {
  const byAddress = new Map<string, number[]>();
  for (const [i, slot] of (doc.slots ?? []).entries()) {
    if (slot.busAddress === null) continue;
    byAddress.set(slot.busAddress, [...(byAddress.get(slot.busAddress) ?? []), i]);
  }
  const out: Warning[] = [];
  for (const [address, indexes] of byAddress) {
    if (indexes.length < 2) continue;
    const names = indexes.map((i) => doc.slots?.[i]?.designation ?? `#${i}`);
    const every =
      indexes.length === doc.slots?.length ? "every slot prints" : `${indexes.length} slots print`;
    out.push({
      code: "shared-slot-address",
      message: `${every} the bus address ${address} (${names.join(", ")}): it identifies none of them`,
      fields: indexes.map((i) => `slots[${i}].busAddress`),
    });
  }
  return out;
}

/** Every cross-check, in a stable order. */
export function inventoryWarnings(doc: WarningDocument, sources: WarningSources = {}): Warning[] {
  return [
    ...memoryWarnings(doc, sources.lshwMemoryBytes),
    ...slotCountWarnings(doc, sources.memoryArrayDevices),
    ...(sources.smart ? driveNotInLsblkWarnings(doc, sources.smart) : []),
    ...duplicateSerialWarnings(doc),
    ...sharedSlotAddressWarnings(doc),
  ];
}
