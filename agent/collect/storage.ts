// Storage beyond lsblk: NVMe controllers and namespaces, RAID controllers, the drives behind
// them and the virtual disks they make, software RAID. `collectStorage` runs the probes (sysfs
// first: it says which tools are worth starting on this machine), and the pure functions below
// merge what they said into disks[], storageControllers[] and nvmeControllers[].
import type {
  CollectorReport,
  Disk,
  NvmeController,
  PciDevice,
  StorageController,
} from "../../schema/inventory.ts";
import {
  MDSTAT_PROBE,
  type MdArray,
  type MdDetail,
  mdadmDetailProbe,
  mdDataMembers,
  memberDisk,
  readMdadmDetail,
  readMdstat,
} from "./mdadm.ts";
import {
  NVME_LIST_PROBE,
  type NvmeIdentity,
  type NvmeNamespace,
  nvmeIdCtrlProbe,
  readNvmeIdCtrl,
  readNvmeList,
} from "./nvme.ts";
import type { SmartFacts } from "./smartctl.ts";
import { readSsacliConfig, runSsacli, type SsacliController } from "./ssacli.ts";
import {
  readStorcliControllers,
  readStorcliVirtualDrives,
  runStorcli,
  STORCLI_CONTROLLERS_FILE,
  STORCLI_VIRTUAL_DRIVES_FILE,
  type StorcliController,
  type StorcliVirtualDrive,
} from "./storcli.ts";
import {
  emptySysStorage,
  readSysStorage,
  SYS_STORAGE_PROBE,
  type SysStorage,
  scsiAddressOf,
  scsiHostOf,
} from "./sysfs-storage.ts";
import { type Collect, mapLimit, parseOutput, reportParsed, usableOutput } from "./types.ts";

export interface StorageFacts {
  sys: SysStorage;
  nvmeNamespaces: NvmeNamespace[];
  /** `nvme id-ctrl` per controller kernel name. */
  nvmeIdentity: Record<string, NvmeIdentity>;
  storcliControllers: StorcliController[];
  virtualDrives: StorcliVirtualDrive[];
  mdArrays: MdArray[];
  /** `mdadm --detail` per array kernel name (md0), where mdadm ran and said something. */
  mdDetails: Record<string, MdDetail>;
  ssacli: SsacliController[];
}

export function emptyStorageFacts(): StorageFacts {
  return {
    sys: emptySysStorage(),
    nvmeNamespaces: [],
    nvmeIdentity: {},
    storcliControllers: [],
    virtualDrives: [],
    mdArrays: [],
    mdDetails: {},
    ssacli: [],
  };
}

/** Controllers id-ctrl is asked about: a bound on a corrupt capture, not on real machines. */
const MAX_NVME_CONTROLLERS = 256;
/** Arrays `mdadm --detail` is asked about: the same kind of bound. */
const MAX_MD_ARRAYS = 256;

export const collectStorage: Collect<StorageFacts> = async (runner, signal) => {
  const value = emptyStorageFacts();
  const reports: CollectorReport[] = [];
  const sysResult = await runner.run(SYS_STORAGE_PROBE, signal);
  const sys = parseOutput(usableOutput(sysResult), readSysStorage, emptySysStorage());
  reports.push(reportParsed("sysfs-storage", sysResult, sys.problem));
  value.sys = sys.value;
  // Without a readable sysfs nothing says which tools are pointless: ask them all.
  const blind = usableOutput(sysResult) === null || sys.problem !== null;
  const hosts = Object.values(value.sys.scsiHost);
  const controllers = Object.keys(value.sys.nvme).sort();
  const megaraid = blind || hosts.some((h) => h.procName === "megaraid_sas");
  const hpsa = blind || hosts.some((h) => h.procName === "hpsa");
  const nvme = blind || controllers.length > 0;

  // /proc/mdstat first: it says which arrays exist; `mdadm --detail` on each then tells what
  // mdstat cannot (an inactive array's level, which members are faulty or spare). Without mdadm
  // (or root) each array's detail is skipped and the mdstat facts stand alone.
  const mdstat = runner.run(MDSTAT_PROBE, signal).then(async (result) => {
    const parsed = parseOutput(usableOutput(result), readMdstat, []);
    value.mdArrays = parsed.value;
    const out = [reportParsed("mdstat", result, parsed.problem)];
    const probes = parsed.value.slice(0, MAX_MD_ARRAYS).flatMap((a) => {
      const probe = mdadmDetailProbe(a.name);
      return probe ? [{ name: a.name, probe }] : [];
    });
    const results = await mapLimit(probes, 2, ({ probe }) => runner.run(probe, signal));
    results.forEach((r, i) => {
      const detail = parseOutput(usableOutput(r), readMdadmDetail, null);
      const name = probes[i]?.name as string;
      // mdadm names the device it was given in its first line: another one is not this array.
      const other = detail.value !== null && detail.value.device !== `/dev/${name}`;
      const problem = other
        ? `describes ${detail.value?.device}, not /dev/${name}`
        : detail.problem;
      // A damaged table may lack rows: its members are not used, mdstat's stand.
      if (detail.value !== null && !other) {
        value.mdDetails[name] =
          detail.problem === null ? detail.value : { ...detail.value, members: [] };
      }
      out.push(reportParsed("mdadm-detail", r, problem));
    });
    return out;
  });
  const nvmeTools = !nvme
    ? Promise.resolve([])
    : runner.run(NVME_LIST_PROBE, signal).then(async (result) => {
        const parsed = parseOutput(usableOutput(result), readNvmeList, []);
        value.nvmeNamespaces = parsed.value;
        const out = [reportParsed("nvme-list", result, parsed.problem)];
        if (result.status === "skipped") return out; // nvme-cli absent, or not root
        const names = controllers.length > 0 ? controllers : controllersOf(parsed.value);
        const probes = names.slice(0, MAX_NVME_CONTROLLERS).flatMap((n) => {
          const probe = nvmeIdCtrlProbe(n);
          return probe ? [{ name: n, probe }] : [];
        });
        const results = await mapLimit(probes, 4, ({ probe }) => runner.run(probe, signal));
        results.forEach((r, i) => {
          const id = parseOutput(usableOutput(r), readNvmeIdCtrl, null);
          const name = probes[i]?.name as string;
          if (id.value !== null) value.nvmeIdentity[name] = id.value;
          out.push(reportParsed("nvme-id-ctrl", r, id.problem));
        });
        return out;
      });
  const storcli = !megaraid
    ? Promise.resolve([])
    : runStorcli(runner, STORCLI_CONTROLLERS_FILE, "/call", signal).then(async (result) => {
        const parsed = parseOutput(usableOutput(result), readStorcliControllers, []);
        value.storcliControllers = parsed.value;
        const out = [reportParsed("storcli", result, parsed.problem)];
        if (result.status === "skipped") return out;
        const vd = await runStorcli(runner, STORCLI_VIRTUAL_DRIVES_FILE, "/call/vall", signal);
        const drives = parseOutput(usableOutput(vd), readStorcliVirtualDrives, []);
        value.virtualDrives = drives.value;
        out.push(reportParsed("storcli", vd, drives.problem));
        return out;
      });
  const ssacli = !hpsa
    ? Promise.resolve([])
    : runSsacli(runner, signal).then((result) => {
        const parsed = parseOutput(usableOutput(result), readSsacliConfig, []);
        value.ssacli = parsed.value;
        return [reportParsed("ssacli", result, parsed.problem)];
      });
  for (const part of await Promise.all([mdstat, nvmeTools, storcli, ssacli])) reports.push(...part);
  return { value, reports };
};

/** nvme0n1 -> nvme0, when sysfs could not say which controller a namespace belongs to. */
function controllersOf(namespaces: NvmeNamespace[]): string[] {
  const names = namespaces.map((ns) => ns.controller ?? /^(nvme\d+)n\d+$/.exec(ns.name)?.[1]);
  return [...new Set(names.filter((n): n is string => !!n))].sort();
}

/** Each NVMe controller: sysfs first, `nvme id-ctrl` and `nvme list` for what sysfs lacks. */
export function buildNvmeControllers(storage: StorageFacts): NvmeController[] {
  const { sys, nvmeIdentity, nvmeNamespaces } = storage;
  const names = new Set([...Object.keys(sys.nvme), ...Object.keys(nvmeIdentity)]);
  if (names.size === 0) for (const n of controllersOf(nvmeNamespaces)) names.add(n);
  const byNumber = (a: string, b: string) => Number(a.slice(4)) - Number(b.slice(4));
  return [...names].sort(byNumber).map((name) => {
    const fs = sys.nvme[name];
    const id = nvmeIdentity[name];
    const namespaces =
      fs?.namespaces ??
      nvmeNamespaces
        .filter((ns) => (ns.controller ?? /^(nvme\d+)n\d+$/.exec(ns.name)?.[1]) === name)
        .map((ns) => ns.name);
    const listed = nvmeNamespaces.find((ns) => namespaces.includes(ns.name));
    return {
      name,
      pciAddress: fs?.pciAddress ?? null,
      model: fs?.model ?? id?.model ?? listed?.model ?? null,
      serialNumber: fs?.serial ?? id?.serialNumber ?? listed?.serialNumber ?? null,
      firmwareVersion:
        fs?.firmwareVersion ?? id?.firmwareVersion ?? listed?.firmwareVersion ?? null,
      nqn: fs?.nqn ?? id?.nqn ?? listed?.nqn ?? null,
      namespaces,
    };
  });
}

/**
 * Storage controllers: every PCI function of class 01xx (lspci), with firmware from sysfs
 * (scsi_host fw_version, NVMe firmware_rev) or StorCLI, and the serial StorCLI or NVMe tells.
 * A StorCLI controller lspci did not list is added from StorCLI alone.
 */
export function buildStorageControllers(
  pci: PciDevice[],
  storage: StorageFacts,
  nvme: NvmeController[] = buildNvmeControllers(storage),
): StorageController[] {
  const hosts = Object.values(storage.sys.scsiHost);
  const out: StorageController[] = [];
  for (const device of pci) {
    if (!device.classId?.startsWith("01")) continue;
    const address = device.address;
    const storcli =
      storage.storcliControllers.find((c) => c.pciAddress === address) ??
      smartArrayAt(device, pci, storage.ssacli);
    const host = hosts.find((h) => h.pciAddress === address && h.firmwareVersion !== null);
    const ctrl = nvme.find((c) => c.pciAddress === address);
    out.push({
      pciAddress: address,
      model: device.deviceName ?? storcli?.model ?? ctrl?.model ?? null,
      vendor: device.vendorName,
      driver: device.driver ?? storcli?.driver ?? null,
      firmwareVersion:
        storcli?.firmwareVersion ?? host?.firmwareVersion ?? ctrl?.firmwareVersion ?? null,
      serialNumber: storcli?.serialNumber ?? ctrl?.serialNumber ?? null,
    });
  }
  for (const c of storage.storcliControllers) {
    if (c.pciAddress !== null && out.some((o) => o.pciAddress === c.pciAddress)) continue;
    out.push({
      pciAddress: c.pciAddress,
      model: c.model,
      vendor: null,
      driver: c.driver,
      firmwareVersion: c.firmwareVersion,
      serialNumber: c.serialNumber,
    });
  }
  return out;
}

/**
 * The Smart Array controller ssacli describes at a PCI function: by its PCI address when ssacli
 * prints one, else the only ssacli controller when this is the only hpsa function.
 */
function smartArrayAt(
  device: PciDevice,
  pci: PciDevice[],
  ssacli: SsacliController[],
): SsacliController | undefined {
  const byAddress = ssacli.find((c) => c.pciAddress === device.address);
  if (byAddress) return byAddress;
  const hpsa = pci.filter((d) => d.driver === "hpsa");
  const unplaced = ssacli.filter((c) => c.pciAddress === null);
  return device.driver === "hpsa" &&
    hpsa.length === 1 &&
    unplaced.length === 1 &&
    ssacli.length === 1
    ? unplaced[0]
    : undefined;
}

/** The SCSI host a smartctl device reaches its drive through: /dev/bus/6 -> host6, sda -> its host. */
function hostOfSmart(facts: SmartFacts, sys: SysStorage): string | null {
  const bus = facts.deviceName ? /^\/dev\/bus\/(\d+)$/.exec(facts.deviceName) : null;
  if (bus) return `host${bus[1]}`;
  const name = facts.deviceName?.replace(/^\/dev\//, "") ?? "";
  return scsiHostOf(sys.block[name]?.devicePath ?? null);
}

/**
 * The block device a controller-reached drive is named after: the device smartctl opened when
 * it is one (/dev/sda), else the first block device on the same SCSI host (/dev/bus/6 -> sda),
 * else the path smartctl opened without /dev/ (bus/6).
 */
function throughDevice(facts: SmartFacts, sys: SysStorage): string {
  const opened = facts.deviceName?.replace(/^\/dev\//, "") ?? "unknown";
  if (sys.block[opened]) return opened;
  const host = hostOfSmart(facts, sys);
  const onHost = Object.keys(sys.block)
    .filter((name) => host !== null && scsiHostOf(sys.block[name]?.devicePath ?? null) === host)
    .sort();
  return onHost[0] ?? opened;
}

/** smartctl 7.3's scsi_model_name is "<vendor> <product>"; disks[] keeps them apart, as lsblk. */
function withoutVendor(model: string | null, vendor: string | null): string | null {
  if (model === null || vendor === null || !model.startsWith(`${vendor} `)) return model;
  return model.slice(vendor.length + 1).trim() || model;
}

/** The md personalities a RAID level is (mdstat's and mdadm's words): not "container". */
const MD_LEVEL = /^(raid\d{1,2}|linear|multipath|faulty)$/;

function emptyDisk(name: string): Disk {
  return {
    name,
    path: null,
    sizeBytes: null,
    model: null,
    vendor: null,
    serialNumber: null,
    wwn: null,
    transport: null,
    rotational: null,
    removable: null,
    firmwareVersion: null,
    smartPassed: null,
    powerOnHours: null,
    temperatureCelsius: null,
    virtual: null,
    raidLevel: null,
    memberSerials: [],
    reachedThrough: null,
    controllerSerial: null,
    numaNode: null,
  };
}

/**
 * megaraid_sas puts logical drives on SCSI channels 2 and 3 and the drives it passes through
 * (JBOD, "system PDs") on channels 0 and 1 (MEGASAS_MAX_PD_CHANNELS, MEGASAS_IS_LOGICAL in the
 * kernel driver): a kernel disk on channel >= 2 of a megaraid_sas host is a virtual drive.
 */
function isMegaraidLogicalDrive(name: string, sys: SysStorage): boolean {
  const devicePath = sys.block[name]?.devicePath ?? null;
  const address = scsiAddressOf(devicePath);
  const host = scsiHostOf(devicePath);
  return address !== null && address.channel >= 2 && host !== null
    ? sys.scsiHost[host]?.procName === "megaraid_sas"
    : false;
}

/** The serials of a StorCLI virtual drive's members: smartctl's megaraid,<DID> drives. */
function storcliMemberSerials(
  vd: StorcliVirtualDrive,
  storage: StorageFacts,
  smart: SmartFacts[],
): string[] {
  const controller = storage.storcliControllers.find((c) => c.index === vd.controller);
  const hosts = Object.entries(storage.sys.scsiHost)
    .filter(([, h]) => controller?.pciAddress && h.pciAddress === controller.pciAddress)
    .map(([name]) => name);
  // One controller: its drives need no host check. Several: only the host that is this one.
  const single = storage.storcliControllers.length <= 1;
  const serials: string[] = [];
  for (const id of vd.memberDeviceIds) {
    const drive = smart.find(
      (s) =>
        s.controllerType === `megaraid,${id}` &&
        s.serialNumber !== null &&
        (single || hosts.includes(hostOfSmart(s, storage.sys) ?? "")),
    );
    if (drive?.serialNumber) serials.push(drive.serialNumber);
  }
  return serials;
}

/**
 * disks[] completed with what the storage tools said:
 * - each kernel disk gets its NUMA node, and an NVMe namespace its controller's serial (and
 *   size/model/firmware where lsblk had none); a StorCLI virtual drive is marked virtual with its
 *   RAID level and its members' serials; a disk smartctl read as a drive is virtual: false;
 * - each drive smartctl reached behind a controller whose serial no kernel disk has is added
 *   once, named "<block device>:<type>" (sda:megaraid,4) with path null;
 * - each md array is added as a virtual disk with its members' serials.
 */
export function applyStorage(disks: Disk[], smart: SmartFacts[], storage: StorageFacts): Disk[] {
  const { sys } = storage;
  const nvme = buildNvmeControllers(storage);
  const out = disks.map((disk): Disk => {
    const ctrl = nvme.find((c) => c.namespaces.includes(disk.name));
    const listed = storage.nvmeNamespaces.find((ns) => ns.name === disk.name);
    const vd = storage.virtualDrives.find((v) => v.kernelName === disk.name);
    const smartArray = storage.ssacli.find((c) =>
      c.logicalDrives.some((l) => l.kernelName === disk.name),
    );
    const ld = smartArray?.logicalDrives.find((l) => l.kernelName === disk.name);
    const drive = smart.find(
      (s) =>
        (disk.serialNumber !== null && s.serialNumber === disk.serialNumber) ||
        (s.kernelName === disk.name && (s.serialNumber === null || disk.serialNumber === null)),
    );
    const logical = vd !== undefined || ld !== undefined || isMegaraidLogicalDrive(disk.name, sys);
    const isDrive =
      ctrl !== undefined ||
      listed !== undefined ||
      (drive !== undefined && (drive.controllerType !== null || drive.transport !== null));
    const fsNuma =
      sys.block[disk.name]?.numaNode ?? (ctrl ? (sys.nvme[ctrl.name]?.numaNode ?? null) : null);
    return {
      ...disk,
      sizeBytes: disk.sizeBytes ?? listed?.sizeBytes ?? null,
      model: disk.model ?? listed?.model ?? null,
      firmwareVersion:
        disk.firmwareVersion ?? ctrl?.firmwareVersion ?? listed?.firmwareVersion ?? null,
      controllerSerial: ctrl?.serialNumber ?? listed?.serialNumber ?? disk.controllerSerial,
      numaNode: disk.numaNode ?? fsNuma,
      virtual: logical ? true : isDrive ? false : disk.virtual,
      raidLevel: vd?.raidLevel ?? ld?.raidLevel ?? disk.raidLevel,
      memberSerials: vd
        ? storcliMemberSerials(vd, storage, smart)
        : ld
          ? ld.members.flatMap((bay) => {
              const serial = smartArray?.physicalDrives.find((p) => p.bay === bay)?.serialNumber;
              return serial ? [serial] : [];
            })
          : disk.memberSerials,
    };
  });
  // A drive the kernel exposes itself (JBOD) is not added again; a logical drive that reports
  // its member's serial (QEMU's megasas does) does not hide that member.
  const serials = new Set(
    out.filter((d) => d.virtual !== true).flatMap((d) => (d.serialNumber ? [d.serialNumber] : [])),
  );
  for (const facts of smart) {
    if (facts.controllerType === null || facts.kernelName !== null) continue;
    if (facts.serialNumber !== null && serials.has(facts.serialNumber)) continue;
    const through = throughDevice(facts, sys);
    const host = hostOfSmart(facts, sys);
    const name = `${through}:${facts.controllerType}`;
    if (out.some((d) => d.name === name)) continue;
    if (facts.serialNumber !== null) serials.add(facts.serialNumber);
    out.push({
      ...emptyDisk(name),
      sizeBytes: facts.sizeBytes,
      model: withoutVendor(facts.model, facts.vendor),
      vendor: facts.vendor,
      serialNumber: facts.serialNumber,
      wwn: facts.wwn,
      transport: facts.transport,
      rotational: facts.rotational,
      firmwareVersion: facts.firmwareVersion,
      smartPassed: facts.smartPassed,
      powerOnHours: facts.powerOnHours,
      temperatureCelsius: facts.temperatureCelsius,
      virtual: false,
      reachedThrough: `${through} ${facts.controllerType}`,
      numaNode: host ? (sys.scsiHost[host]?.numaNode ?? null) : null,
    });
  }
  // Smart Array drives hide behind the controller; smartctl reaches them only as cciss,N.
  for (const controller of storage.ssacli) {
    for (const drive of controller.physicalDrives) {
      if (drive.serialNumber !== null && serials.has(drive.serialNumber)) continue;
      const name = `slot${controller.slot ?? "?"}:${drive.bay}`;
      if (out.some((d) => d.name === name)) continue;
      if (drive.serialNumber !== null) serials.add(drive.serialNumber);
      out.push({
        ...emptyDisk(name),
        model: drive.model,
        vendor: drive.vendor,
        serialNumber: drive.serialNumber,
        transport: drive.transport,
        rotational: drive.rotational,
        firmwareVersion: drive.firmwareVersion,
        virtual: false,
        reachedThrough: `ssacli slot=${controller.slot ?? "?"} ${drive.bay}`,
      });
    }
  }
  for (const md of storage.mdArrays) {
    if (out.some((d) => d.name === md.name)) continue;
    // mdadm --detail, where it ran: its level for an inactive array (mdstat prints none), its
    // Array Size, and its members without the faulty ones and the idle spares, which mdstat
    // lists among the members. A container's "level" is no RAID level: unknown.
    const detail = storage.mdDetails[md.name];
    const detailLevel =
      detail?.raidLevel && MD_LEVEL.test(detail.raidLevel) ? detail.raidLevel : null;
    const members = detail && detail.members.length > 0 ? mdDataMembers(detail) : md.members;
    const memberSerials = members
      .map((m) => out.find((d) => d.name === memberDisk(m))?.serialNumber ?? null)
      .filter((s): s is string => s !== null);
    out.push({
      ...emptyDisk(md.name),
      path: `/dev/${md.name}`,
      // An inactive array's mdstat blocks are its members' sizes added up (the kernel has no
      // array size to print): not the array's size.
      sizeBytes: detail?.sizeBytes ?? (md.active ? md.sizeBytes : null),
      virtual: true,
      raidLevel: md.raidLevel ?? detailLevel,
      memberSerials: [...new Set(memberSerials)],
      numaNode: null,
    });
  }
  return out;
}
