// Runs every collector in parallel through one Runner and assembles the inventory document.
// A collector that fails, times out or is missing leaves its collectors[] entries and null or
// empty fields; the document is produced regardless.
import { hostname as osHostname } from "node:os";
import {
  type CollectorReport,
  type Disk,
  type Inventory,
  type LldpNeighbor,
  type Nic,
  SCHEMA_VERSION,
} from "../../schema/inventory.ts";
import type { Probe, Runner } from "../exec.ts";
import { cleanString } from "../normalize.ts";
import { AGENT_NAME, AGENT_VERSION } from "../version.ts";
import { collectCmdline, emptyBoot } from "./cmdline.ts";
import { collectDmidecode, type DmidecodeFacts, emptyDmidecodeFacts } from "./dmidecode.ts";
import { collectBootFirmware, emptyBootFirmware } from "./efi.ts";
import { firmwareVersionCollector, permanentMacCollector } from "./ethtool.ts";
import { buildGpus, hasNvidiaGpu, nvidiaSmiCollector } from "./gpu.ts";
import { type DeriveOptions, deriveNodeId, type IdentityFacts } from "./identity.ts";
import { collectInfiniband } from "./infiniband.ts";
import { collectIpmi, emptyIpmiFacts } from "./ipmitool.ts";
import { collectLldp } from "./lldpctl.ts";
import { collectLsblk } from "./lsblk.ts";
import { collectLscpu, emptyCpu } from "./lscpu.ts";
import { collectLshw, emptyLshwFacts, type LshwFacts } from "./lshw.ts";
import { collectLspci } from "./lspci.ts";
import { collectMeminfo } from "./meminfo.ts";
import { collectNics, isBmcUsbNic } from "./net.ts";
import { collectNuma } from "./numa.ts";
import { collectPciSysfs, mergePciSysfs, type PciSysfs, pciSysfsAt } from "./pci-sysfs.ts";
import { collectSmart, type SmartFacts } from "./smartctl.ts";
import {
  applyStorage,
  buildNvmeControllers,
  buildStorageControllers,
  collectStorage,
  emptyStorageFacts,
  type StorageFacts,
} from "./storage.ts";
import { collectTpm } from "./tpm.ts";
import { type Collect, type CollectorOutput, reportOf, usableOutput } from "./types.ts";
import { inventoryWarnings } from "./warnings.ts";

/** Overall budget for one inventory run; lshw alone may take minutes on big machines. */
export const DEFAULT_BUDGET_MS = 300_000;

const hostnameProbe: Probe = {
  file: "hostname.txt",
  source: { kind: "internal", describe: "os.hostname()", read: async () => `${osHostname()}\n` },
  timeoutMs: 1000,
};

const collectHostname: Collect<string | null> = async (runner, signal) => {
  const result = await runner.run(hostnameProbe, signal);
  const output = usableOutput(result);
  return {
    value: output === null ? null : cleanString(output),
    reports: [reportOf("hostname", result)],
  };
};

/** Runs one collector; a bug inside it becomes a failed entry instead of a lost document. */
async function guarded<T>(
  name: string,
  collect: Collect<T>,
  empty: T,
  runner: Runner,
  signal: AbortSignal,
): Promise<CollectorOutput<T>> {
  const started = performance.now();
  try {
    return await collect(runner, signal);
  } catch (error) {
    // A refused exec (tests) is a programming error, not a hardware fact: let it surface.
    if ((error as { code?: string }).code === "E_EXEC_REFUSED") throw error;
    const report: CollectorReport = {
      name,
      status: "failed",
      durationMs: Math.round(performance.now() - started),
      command: null,
      exitCode: null,
      message: `collector error: ${error instanceof Error ? error.message : String(error)}`,
    };
    return { value: empty, reports: [report] };
  }
}

/** What ethtool -i and sysfs add to the NICs (both optional: older callers and replays lack them). */
export interface NicExtras {
  /** ethtool -i firmware-version by interface name. */
  firmwareVersions?: Record<string, string | null>;
  /** sys-bus-pci.json: the NUMA node of the NIC's PCI function. */
  pciSysfs?: PciSysfs;
}

/** A map's own entry only: an interface called `constructor` must not read Object.prototype. */
const own = <T>(map: Record<string, T>, key: string): T | undefined =>
  Object.hasOwn(map, key) ? map[key] : undefined;

/**
 * NICs from ip/sysfs, gaps filled from lshw; permanent MACs and firmware (ethtool), LLDP
 * neighbours, the NUMA node of the PCI function; bmcUsb decided again on the merged driver.
 */
export function mergeNics(
  nics: Nic[],
  lshw: LshwFacts,
  permanentMacs: Record<string, string | null>,
  lldp: Record<string, LldpNeighbor>,
  extras: NicExtras = {},
): Nic[] {
  return nics.map((nic) => {
    const hw = lshw.nics.find((n) => n.name === nic.name);
    const driver = nic.driver ?? hw?.driver ?? null;
    const pciAddress = nic.pciAddress ?? hw?.pciAddress ?? null;
    return {
      ...nic,
      permanentMacAddress: nic.permanentMacAddress ?? own(permanentMacs, nic.name) ?? null,
      driver,
      pciAddress,
      speedMbps: nic.speedMbps ?? hw?.speedMbps ?? null,
      lldp: nic.lldp ?? own(lldp, nic.name) ?? null,
      firmwareVersion: nic.firmwareVersion ?? own(extras.firmwareVersions ?? {}, nic.name) ?? null,
      numaNode: nic.numaNode ?? pciSysfsAt(extras.pciSysfs ?? {}, pciAddress)?.numaNode ?? null,
      bmcUsb: nic.bmcUsb || isBmcUsbNic({ name: nic.name, driver }),
    };
  });
}

/**
 * Disks from lsblk, gaps filled from lshw, health from smartctl. A SMART entry matches by serial
 * first; by kernel name only when the serials do not contradict each other. smartctl's firmware
 * string wins over lsblk's REV (which the kernel cuts to 4 characters). Then the storage tools
 * (collect/storage.ts) add NUMA nodes, NVMe controllers, RAID facts and the drives the kernel
 * does not expose.
 */
export function mergeDisks(
  disks: Disk[],
  lshw: LshwFacts,
  smart: SmartFacts[],
  storage: StorageFacts = emptyStorageFacts(),
): Disk[] {
  const merged = disks.map((disk) => {
    const hw = lshw.disks.find((d) => d.name === disk.name);
    const serial = disk.serialNumber ?? hw?.serialNumber ?? null;
    const health =
      (serial && smart.find((s) => s.serialNumber === serial)) ||
      smart.find(
        (s) =>
          s.kernelName === disk.name &&
          (s.serialNumber === null || serial === null || s.serialNumber === serial),
      );
    return {
      ...disk,
      serialNumber: serial ?? health?.serialNumber ?? null,
      model: disk.model ?? hw?.model ?? health?.model ?? null,
      vendor: disk.vendor ?? hw?.vendor ?? null,
      firmwareVersion:
        health?.firmwareVersion ?? disk.firmwareVersion ?? hw?.firmwareVersion ?? null,
      smartPassed: health?.smartPassed ?? null,
      powerOnHours: health?.powerOnHours ?? null,
      temperatureCelsius: health?.temperatureCelsius ?? null,
    };
  });
  return applyStorage(merged, smart, storage);
}

export interface CollectOptions {
  runner: Runner;
  budgetMs?: number;
  /** Fixed clock for reproducible documents (tests, replays of old captures). */
  now?: () => Date;
  /** Source of the random part of `anon-` node ids (tests pin it). */
  randomUuid?: DeriveOptions["randomUuid"];
}

/** Collects everything and returns the inventory document (schema v1). */
export async function collectInventory(options: CollectOptions): Promise<Inventory> {
  const { runner } = options;
  const signal = AbortSignal.timeout(options.budgetMs ?? DEFAULT_BUDGET_MS);
  // lshw is the longest tool (the critical path): its process starts first, the runner starts
  // the others one by one after it (agent/exec.ts, processStarts).
  const lshwRun = guarded("lshw", collectLshw, emptyLshwFacts(), runner, signal);
  lshwRun.catch(() => {});
  // ethtool needs the NIC names; it starts as soon as they are known, beside the rest.
  const nicsRun = guarded("nics", collectNics, [], runner, signal);
  const firmwareRun = nicsRun.then((nics) =>
    guarded(
      "ethtool-driver",
      firmwareVersionCollector(nics.value.map((n) => n.name)),
      {},
      runner,
      signal,
    ),
  );
  // nvidia-smi only when sysfs shows an NVIDIA GPU, or when sysfs could not say (old captures).
  const pciSysfsThenNvidia = guarded("sysfs-pci", collectPciSysfs, {}, runner, signal).then(
    async (sysfs) => {
      const known = sysfs.reports.every((r) => r.status === "ok");
      const wanted = !known || hasNvidiaGpu([], sysfs.value);
      return {
        sysfs,
        nvidia: await guarded("nvidia-smi", nvidiaSmiCollector(wanted), [], runner, signal),
      };
    },
  );
  const infinibandRun = guarded("sysfs-infiniband", collectInfiniband, [], runner, signal);
  const extrasRun = Promise.all([firmwareRun, pciSysfsThenNvidia, infinibandRun]);
  const storageRun = guarded("storage", collectStorage, emptyStorageFacts(), runner, signal);
  storageRun.catch(() => {});
  // Awaited below; a refused exec that rejects the Promise.all first must not leave this one unhandled.
  extrasRun.catch(() => {});
  const platformRun = Promise.all([
    guarded("efi", collectBootFirmware, emptyBootFirmware(), runner, signal),
    guarded("tpm", collectTpm, null, runner, signal),
    guarded("numa", collectNuma, [], runner, signal),
  ]);
  platformRun.catch(() => {});
  const nicsThenPermanent = nicsRun.then(async (nics) => ({
    nics,
    permanent: await guarded(
      "ethtool-permaddr",
      permanentMacCollector(nics.value.map((n) => n.name)),
      {},
      runner,
      signal,
    ),
  }));
  const [boot, host, dmi, pci, disks, lshw, cpu, meminfo, { nics, permanent }, ipmi, smart, lldp] =
    await Promise.all([
      guarded("cmdline", collectCmdline, emptyBoot, runner, signal),
      guarded("hostname", collectHostname, null, runner, signal),
      guarded("dmidecode", collectDmidecode, emptyDmidecodeFacts(), runner, signal),
      guarded("lspci", collectLspci, [], runner, signal),
      guarded("lsblk", collectLsblk, [], runner, signal),
      lshwRun,
      guarded("lscpu", collectLscpu, emptyCpu(), runner, signal),
      guarded("meminfo", collectMeminfo, { memTotalBytes: null }, runner, signal),
      nicsThenPermanent,
      guarded("ipmitool", collectIpmi, emptyIpmiFacts(), runner, signal),
      guarded("smartctl", collectSmart, [], runner, signal),
      guarded("lldpctl", collectLldp, {}, runner, signal),
    ]);
  const [firmware, { sysfs: pciSysfs, nvidia }, infiniband] = await extrasRun;
  const [bootFirmware, tpm, numa] = await platformRun;
  const storage = await storageRun;
  const pciDevices = mergePciSysfs(pci.value, pciSysfs.value);
  const facts: DmidecodeFacts = dmi.value;
  const lshwSystem = lshw.value.system;
  const system = {
    ...facts.system,
    manufacturer: facts.system.manufacturer ?? lshwSystem.manufacturer ?? null,
    productName: facts.system.productName ?? lshwSystem.productName ?? null,
    serialNumber: facts.system.serialNumber ?? lshwSystem.serialNumber ?? null,
    uuid: facts.system.uuid ?? lshwSystem.uuid ?? null,
  };
  const volatile = facts.dimms.filter((d) => !d.persistent);
  const persistent = facts.dimms.filter((d) => d.persistent);
  const sum = (dimms: typeof facts.dimms) =>
    dimms.length === 0 ? null : dimms.reduce((total, d) => total + (d.sizeBytes ?? 0), 0);
  const diskList = mergeDisks(disks.value, lshw.value, smart.value, storage.value);
  const nvmeControllers = buildNvmeControllers(storage.value);
  const nicList = mergeNics(nics.value, lshw.value, permanent.value, lldp.value, {
    firmwareVersions: firmware.value,
    pciSysfs: pciSysfs.value,
  });
  // In document order: the inventory spreads it between hostname and collectors.
  const hardware: IdentityFacts = {
    boot: {
      ...boot.value,
      firmware: bootFirmware.value.firmware ?? boot.value.firmware,
      secureBoot: bootFirmware.value.secureBoot ?? boot.value.secureBoot,
    },
    system,
    baseboard: facts.baseboard,
    chassis: facts.chassis,
    bios: facts.bios,
    cpu: cpu.value,
    processors: facts.processors,
    memory: {
      totalBytes: sum(volatile) ?? lshw.value.memoryBytes,
      // Known zero when SMBIOS listed modules and none is persistent; unknown without SMBIOS.
      persistentBytes: facts.dimms.length === 0 ? null : (sum(persistent) ?? 0),
      osVisibleBytes: meminfo.value.memTotalBytes,
      slots: facts.slots,
      dimms: facts.dimms,
    },
    powerSupplies: facts.powerSupplies,
    disks: diskList,
    nics: nicList,
    pciDevices,
    bmc: ipmi.value.bmc,
    fru: ipmi.value.fru,
  };
  const inventory: Inventory = {
    schemaVersion: SCHEMA_VERSION,
    agent: { name: AGENT_NAME, version: AGENT_VERSION },
    collectedAt: (options.now?.() ?? new Date()).toISOString(),
    ...deriveNodeId(hardware, { randomUuid: options.randomUuid }),
    hostname: host.value,
    ...hardware,
    tpm: tpm.value,
    storageControllers: buildStorageControllers(pciDevices, storage.value, nvmeControllers),
    nvmeControllers,
    numaNodes: numa.value,
    slots: facts.systemSlots,
    gpus: buildGpus(pciDevices, pciSysfs.value, nvidia.value),
    infiniband: infiniband.value,
    sensors: ipmi.value.sensors,
    powerReading: ipmi.value.powerReading,
    redfishHostInterface: facts.redfishHostInterface,
    warnings: [],
    collectors: [
      boot,
      host,
      dmi,
      pci,
      disks,
      lshw,
      cpu,
      meminfo,
      nics,
      permanent,
      ipmi,
      smart,
      lldp,
      bootFirmware,
      tpm,
      numa,
      firmware,
      pciSysfs,
      nvidia,
      infiniband,
      storage,
    ].flatMap((c) => c.reports),
  };
  // Last: the cross-checks read the assembled document.
  inventory.warnings = inventoryWarnings(inventory, {
    // smartctl's drives are checked against lsblk's only when lsblk's listing is complete.
    smart: disks.reports.every((r) => r.status === "ok") ? smart.value : undefined,
    lshwMemoryBytes: lshw.value.memoryBytes,
    memoryArrayDevices: facts.memoryArrayDevices,
  });
  return inventory;
}
