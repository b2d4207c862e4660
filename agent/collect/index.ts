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
  type NodeIdSource,
  SCHEMA_VERSION,
} from "../../schema/inventory.ts";
import type { Probe, Runner } from "../exec.ts";
import { cleanString } from "../normalize.ts";
import { AGENT_NAME, AGENT_VERSION } from "../version.ts";
import { collectCmdline, emptyBoot } from "./cmdline.ts";
import { collectDmidecode, type DmidecodeFacts, emptyDmidecodeFacts } from "./dmidecode.ts";
import { permanentMacCollector } from "./ethtool.ts";
import { collectIpmi } from "./ipmitool.ts";
import { collectLldp } from "./lldpctl.ts";
import { collectLsblk } from "./lsblk.ts";
import { collectLscpu, emptyCpu } from "./lscpu.ts";
import { collectLshw, emptyLshwFacts, type LshwFacts } from "./lshw.ts";
import { collectLspci } from "./lspci.ts";
import { collectMeminfo } from "./meminfo.ts";
import { collectNics } from "./net.ts";
import { collectSmart, type SmartFacts } from "./smartctl.ts";
import { type Collect, type CollectorOutput, reportOf, usableOutput } from "./types.ts";

/** Overall budget for one inventory run; lshw alone may take minutes on big machines. */
export const DEFAULT_BUDGET_MS = 300_000;

/** UUIDs that firmware vendors ship on every board: not an identity. */
const SHARED_UUIDS = new Set([
  "03000200-0400-0500-0006-000700080009",
  "00020003-0004-0005-0006-000700080009",
  "12345678-1234-5678-90ab-cddeefaabbcc",
]);

/** Turns an identifier into a file-name-safe node id (see NODE_ID_PATTERN). */
export function toNodeIdToken(value: string): string | null {
  const token = value
    .replace(/[^A-Za-z0-9._-]+/g, "-")
    .replace(/^[^A-Za-z0-9]+/, "")
    .replace(/-+$/, "")
    .slice(0, 128);
  return token.length > 0 ? token : null;
}

/**
 * nodeId: stable across reboots, readable, safe as a file name. The system UUID when it is
 * valid and not a vendor-shared one; else the system serial; else the boot MAC; else the first
 * NIC's MAC; else the host name.
 */
export function deriveNodeId(facts: {
  uuid: string | null;
  serial: string | null;
  bootMac: string | null;
  nicMacs: Array<string | null>;
  hostname: string | null;
}): { nodeId: string; nodeIdSource: NodeIdSource } {
  if (facts.uuid && !SHARED_UUIDS.has(facts.uuid))
    return { nodeId: facts.uuid, nodeIdSource: "uuid" };
  const serial = facts.serial ? toNodeIdToken(facts.serial) : null;
  if (serial) return { nodeId: serial, nodeIdSource: "serial" };
  const macId = (mac: string) => `mac-${mac.replace(/:/g, "")}`;
  if (facts.bootMac) return { nodeId: macId(facts.bootMac), nodeIdSource: "bootMac" };
  const nicMac = facts.nicMacs.find((m): m is string => Boolean(m));
  if (nicMac) return { nodeId: macId(nicMac), nodeIdSource: "nicMac" };
  const host = facts.hostname ? toNodeIdToken(facts.hostname) : null;
  return { nodeId: host ?? "unknown-node", nodeIdSource: "hostname" };
}

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

/** NICs from ip/sysfs, gaps filled from lshw; permanent MACs (ethtool) and LLDP neighbours. */
export function mergeNics(
  nics: Nic[],
  lshw: LshwFacts,
  permanentMacs: Record<string, string | null>,
  lldp: Record<string, LldpNeighbor>,
): Nic[] {
  return nics.map((nic) => {
    const hw = lshw.nics.find((n) => n.name === nic.name);
    return {
      ...nic,
      permanentMacAddress: nic.permanentMacAddress ?? permanentMacs[nic.name] ?? null,
      driver: nic.driver ?? hw?.driver ?? null,
      pciAddress: nic.pciAddress ?? hw?.pciAddress ?? null,
      speedMbps: nic.speedMbps ?? hw?.speedMbps ?? null,
      lldp: nic.lldp ?? lldp[nic.name] ?? null,
    };
  });
}

/**
 * Disks from lsblk, gaps filled from lshw, health from smartctl. A SMART entry matches by serial
 * first; by kernel name only when the serials do not contradict each other.
 */
export function mergeDisks(disks: Disk[], lshw: LshwFacts, smart: SmartFacts[]): Disk[] {
  return disks.map((disk) => {
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
        disk.firmwareVersion ?? hw?.firmwareVersion ?? health?.firmwareVersion ?? null,
      smartPassed: health?.smartPassed ?? null,
      powerOnHours: health?.powerOnHours ?? null,
      temperatureCelsius: health?.temperatureCelsius ?? null,
    };
  });
}

export interface CollectOptions {
  runner: Runner;
  budgetMs?: number;
  /** Fixed clock for reproducible documents (tests, replays of old captures). */
  now?: () => Date;
}

/** Collects everything and returns the inventory document (schema v1). */
export async function collectInventory(options: CollectOptions): Promise<Inventory> {
  const { runner } = options;
  const signal = AbortSignal.timeout(options.budgetMs ?? DEFAULT_BUDGET_MS);
  // ethtool needs the NIC names; it starts as soon as they are known, beside the rest.
  const nicsThenPermanent = guarded("nics", collectNics, [], runner, signal).then(async (nics) => ({
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
      guarded("lshw", collectLshw, emptyLshwFacts(), runner, signal),
      guarded("lscpu", collectLscpu, emptyCpu(), runner, signal),
      guarded("meminfo", collectMeminfo, { memTotalBytes: null }, runner, signal),
      nicsThenPermanent,
      guarded("ipmitool", collectIpmi, { bmc: null, fru: [] }, runner, signal),
      guarded("smartctl", collectSmart, [], runner, signal),
      guarded("lldpctl", collectLldp, {}, runner, signal),
    ]);
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
  const diskList = mergeDisks(disks.value, lshw.value, smart.value);
  const nicList = mergeNics(nics.value, lshw.value, permanent.value, lldp.value);
  const identity = deriveNodeId({
    uuid: system.uuid,
    serial: system.serialNumber,
    bootMac: boot.value.bootMac,
    nicMacs: nicList.map((n) => n.macAddress),
    hostname: host.value,
  });
  return {
    schemaVersion: SCHEMA_VERSION,
    agent: { name: AGENT_NAME, version: AGENT_VERSION },
    collectedAt: (options.now?.() ?? new Date()).toISOString(),
    ...identity,
    hostname: host.value,
    boot: boot.value,
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
    pciDevices: pci.value,
    bmc: ipmi.value.bmc,
    fru: ipmi.value.fru,
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
    ].flatMap((c) => c.reports),
  };
}
