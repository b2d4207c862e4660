// The lab's peers: what each virtual machine is (identity and hardware, given to QEMU and later
// compared with what the master received), the QEMU command line for it, and the watcher that
// follows a running peer through its serial console and QMP events.
import { createHash } from "node:crypto";
import {
  appendFileSync,
  closeSync,
  copyFileSync,
  existsSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { type Daemon, run, startDaemon } from "./proc.ts";
import { QmpClient, type QmpEvent } from "./qmp.ts";
import { parseVmLinkLog, type VmCommandRecord } from "./vm-link.ts";

export type NicModel = "e1000" | "e1000e" | "virtio-net-pci" | "rtl8139";
export type DiskBus = "virtio" | "ahci" | "nvme";
export type BmcKind = "ipmi-sim" | "qemu-sim" | "none";
/**
 * The machine's firmware: SeaBIOS (BIOS, the default), OVMF with Secure Boot off (an empty
 * variable store: setup mode), or OVMF with Secure Boot enforced and Microsoft's keys enrolled
 * (OVMF_VARS_4M.ms.fd: the keys a server leaves the factory with, which trust Debian's shim).
 */
export type Firmware = "seabios" | "ovmf" | "ovmf-secureboot";
export const FIRMWARES: readonly Firmware[] = ["seabios", "ovmf", "ovmf-secureboot"];

export interface NicSpec {
  model: NicModel;
  mac: string;
}

export interface DiskSpec {
  bus: DiskBus;
  serial: string;
  sizeBytes: number;
  /** ATA model string (ahci only). */
  model?: string;
}

export interface PeerSpec {
  name: string;
  machine: "q35" | "pc";
  memoryMiB: number;
  cpus: number;
  system: {
    manufacturer: string;
    product: string;
    version: string;
    serial: string;
    uuid: string;
    family: string;
  };
  baseboard: { manufacturer: string; product: string; serial: string };
  /** The first NIC is the boot NIC (the only one with an iPXE ROM). */
  nics: NicSpec[];
  disks: DiskSpec[];
  bmc: BmcKind;
  /** ipmi-sim only: the LAN facts set on the BMC before boot. */
  bmcLan?: { ipv4Address: string; netmask: string; gateway: string; macAddress: string };
  /** Opt-in server hardware (RAID HBA, NVMe subsystem); absent: none. See extraHardwareArgs. */
  extra?: ExtraHardware;
  /** Default seabios. An OVMF peer needs q35 (SMM) and boots its first NIC through OVMF. */
  firmware?: Firmware;
}

/** Debian's ovmf package. */
export const OVMF_DIR = "/usr/share/OVMF";

/** The OVMF variable store a machine starts from (copied: the firmware writes to it). */
export function ovmfVarsTemplate(firmware: Exclude<Firmware, "seabios">): string {
  return join(OVMF_DIR, firmware === "ovmf-secureboot" ? "OVMF_VARS_4M.ms.fd" : "OVMF_VARS_4M.fd");
}

/**
 * QEMU arguments for OVMF: the Secure Boot capable build (it needs SMM, q35's default under TCG)
 * read-only, the machine's own copy of the variable store, and pflash writes only from SMM, so
 * that the OS cannot change the Secure Boot variables behind the firmware's back.
 */
export function ovmfArgs(varsFile: string): string[] {
  return [
    "-drive",
    `if=pflash,format=raw,unit=0,readonly=on,file=${join(OVMF_DIR, "OVMF_CODE_4M.secboot.fd")}`,
    "-drive",
    `if=pflash,format=raw,unit=1,file=${varsFile}`,
    "-global",
    "driver=cfi.pflash01,property=secure,value=on",
  ];
}

/** A SCSI disk behind an HBA: QEMU's scsi-hd with the identity a real drive reports. */
export interface ScsiDriveSpec {
  serial: string;
  sizeBytes: number;
  /** INQUIRY vendor (8 chars) and product (16 chars). */
  vendor?: string;
  product?: string;
  /** INQUIRY revision: the firmware version smartctl and lsblk report. */
  ver?: string;
  /** The drive's WWN (NAA), e.g. 0x5000c500a1b2c3d4. */
  wwn?: string;
}

/** An NVMe subsystem: one controller (serial, NQN) with several namespaces. */
export interface NvmeSubsystemSpec {
  nqn: string;
  serial: string;
  namespaces: { sizeBytes: number }[];
}

/**
 * Hardware QEMU 7.2 emulates that data-center servers carry, beyond the lab's default profiles.
 * Both the lab's peers (PeerSpec.extra) and the capture guests (test/lab/capture.ts) use it.
 */
export interface ExtraHardware {
  /** An LSI MegaRAID SAS 2108 (megasas-gen2, driver megaraid_sas) with these drives. */
  megasas?: { drives: ScsiDriveSpec[] };
  nvmeSubsystem?: NvmeSubsystemSpec;
}

/**
 * Server hardware for one lab peer: a megasas-gen2 with one drive and an NVMe subsystem with two
 * namespaces, identified from the peer's serial. Opt-in: lab.ts sets `spec.extra` with it for the
 * peers that should carry it. The drive behind the megasas shows only when the lab's initramfs
 * loads megaraid_sas (LAB_MODULES in initramfs.ts).
 */
export function labServerHardware(spec: PeerSpec): ExtraHardware {
  const serial = spec.system.serial;
  return {
    megasas: {
      drives: [
        {
          serial: `${serial}R0`,
          sizeBytes: 1 * GiB,
          vendor: "SEAGATE",
          product: "ST600MM0009",
          ver: "N003",
          wwn: `0x5000c500${createHash("sha256").update(serial).digest("hex").slice(0, 8)}`,
        },
      ],
    },
    nvmeSubsystem: {
      nqn: `nqn.2026-12.lab.recon:${spec.name}`,
      serial: `${serial}NS`,
      namespaces: [{ sizeBytes: 512 * MiB }, { sizeBytes: 256 * MiB }],
    },
  };
}

/** The raw image files extraHardwareArgs refers to, with their sizes, in `dir`. */
export function extraDiskFiles(
  hw: ExtraHardware,
  dir: string,
): { file: string; sizeBytes: number }[] {
  const files: { file: string; sizeBytes: number }[] = [];
  hw.megasas?.drives.forEach((d, i) => {
    files.push({ file: join(dir, `megasas${i}.img`), sizeBytes: d.sizeBytes });
  });
  hw.nvmeSubsystem?.namespaces.forEach((ns, i) => {
    files.push({ file: join(dir, `nvme-ns${i + 1}.img`), sizeBytes: ns.sizeBytes });
  });
  return files;
}

/** QEMU arguments for the extra hardware (q35 or pc; images from extraDiskFiles). */
export function extraHardwareArgs(hw: ExtraHardware, dir: string): string[] {
  const args: string[] = [];
  if (hw.megasas) {
    args.push("-device", "megasas-gen2,id=raid0");
    hw.megasas.drives.forEach((d, i) => {
      const id = `sd${i}`;
      args.push("-drive", `file=${join(dir, `megasas${i}.img`)},format=raw,if=none,id=${id}`);
      const opts = [`scsi-hd,drive=${id},bus=raid0.0,scsi-id=${i},lun=0`];
      opts.push(`serial=${escapeOpt(d.serial)}`);
      if (d.vendor) opts.push(`vendor=${escapeOpt(d.vendor)}`);
      if (d.product) opts.push(`product=${escapeOpt(d.product)}`);
      if (d.ver) opts.push(`ver=${escapeOpt(d.ver)}`);
      if (d.wwn) opts.push(`wwn=${d.wwn}`);
      args.push("-device", opts.join(","));
    });
  }
  const sub = hw.nvmeSubsystem;
  if (sub) {
    args.push("-device", `nvme-subsys,id=nvmesubsys0,nqn=${escapeOpt(sub.nqn)}`);
    args.push("-device", `nvme,id=nvmectrl0,serial=${escapeOpt(sub.serial)},subsys=nvmesubsys0`);
    sub.namespaces.forEach((_ns, i) => {
      const nsid = i + 1;
      const file = join(dir, `nvme-ns${nsid}.img`);
      args.push("-drive", `file=${file},format=raw,if=none,id=nvmens${nsid}`);
      args.push("-device", `nvme-ns,drive=nvmens${nsid},bus=nvmectrl0,nsid=${nsid}`);
    });
  }
  return args;
}

/** Debian's ipxe-qemu ROMs (QEMU's own ROM folder has none for NICs). */
export const IPXE_ROM_DIR = "/usr/lib/ipxe/qemu";
const ROMS: Record<NicModel, string> = {
  e1000: "pxe-e1000.rom",
  e1000e: "pxe-e1000e.rom",
  "virtio-net-pci": "pxe-virtio.rom",
  rtl8139: "pxe-rtl8139.rom",
};

export function romFor(model: NicModel): string {
  return join(IPXE_ROM_DIR, ROMS[model]);
}

/** A boot NIC's ROM under OVMF: none for virtio (OVMF's driver), else iPXE's EFI ROM (unsigned). */
function ovmfRomFor(model: NicModel): string {
  return model === "virtio-net-pci" ? "" : join(IPXE_ROM_DIR, ROMS[model].replace(/^pxe-/, "efi-"));
}

/** Where an OVMF peer's own variable store lives (makeDisks copies it there). */
export function ovmfVarsFile(dir: string): string {
  return join(dir, "ovmf-vars.fd");
}

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const hex2 = (n: number) => n.toString(16).padStart(2, "0");

/**
 * N peers with distinct identities, cycling through three hardware profiles:
 *   0: q35, 2 vCPU, 1280 MiB, e1000 (boot) + virtio-net, virtio-blk + AHCI disks, ipmi_sim BMC
 *   1: pc (i440fx), 1 vCPU, 1024 MiB, virtio-net (boot) + rtl8139, NVMe + virtio-blk, QEMU's BMC
 *   2: q35, 1 vCPU, 1536 MiB, rtl8139 (boot) + e1000e, AHCI + NVMe disks, ipmi_sim BMC
 * `runTag` (a few hex digits) makes serials and UUIDs unique per lab run. `profiles[i]`, when
 * given, is peer i's profile instead of i % 3.
 */
export function defaultPeers(count: number, runTag: string, profiles: number[] = []): PeerSpec[] {
  const peers: PeerSpec[] = [];
  const tag = runTag
    .toLowerCase()
    .replace(/[^0-9a-f]/g, "")
    .padStart(4, "0")
    .slice(-4);
  for (let i = 0; i < count; i++) {
    const n = i + 1;
    const profile = profiles[i] ?? i % 3;
    const mac = (nic: number) => `52:54:00:${tag.slice(0, 2)}:${hex2(n)}:${hex2(nic)}`;
    const serial = (what: string) => `LAB${tag.toUpperCase()}${String(n).padStart(2, "0")}${what}`;
    const spec: PeerSpec = {
      name: `peer${n}`,
      machine: profile === 1 ? "pc" : "q35",
      // Enough for the kernel, the initramfs, post.tgz and its unpacked binaries in RAM, and
      // xz's 192 MiB dictionary while unpacking (see packaging/package.ts).
      memoryMiB: [1280, 1024, 1536][profile] ?? 1280,
      cpus: profile === 0 ? 2 : 1,
      system: {
        manufacturer: "Recon Lab",
        product: ["RL-2000 Compute", "RL-1000 Edge", "RL-3000 Storage"][profile] ?? "RL",
        version: `rev${profile + 1}`,
        serial: serial("S"),
        uuid: `5ec0${tag}-1ab0-4000-8000-${n.toString(16).padStart(12, "0")}`,
        family: "recon-lab",
      },
      baseboard: { manufacturer: "Recon Lab", product: `RLB-${profile + 1}`, serial: serial("B") },
      nics:
        profile === 0
          ? [
              { model: "e1000", mac: mac(1) },
              { model: "virtio-net-pci", mac: mac(2) },
            ]
          : profile === 1
            ? [
                { model: "virtio-net-pci", mac: mac(1) },
                { model: "rtl8139", mac: mac(2) },
              ]
            : [
                { model: "rtl8139", mac: mac(1) },
                { model: "e1000e", mac: mac(2) },
              ],
      disks:
        profile === 0
          ? [
              { bus: "virtio", serial: serial("V0"), sizeBytes: 2 * GiB },
              { bus: "ahci", serial: serial("A1"), sizeBytes: 1 * GiB, model: "RECON LAB SSD" },
            ]
          : profile === 1
            ? [
                { bus: "nvme", serial: serial("N0"), sizeBytes: 4 * GiB },
                { bus: "virtio", serial: serial("V1"), sizeBytes: 512 * MiB },
              ]
            : [
                { bus: "ahci", serial: serial("A0"), sizeBytes: 3 * GiB, model: "RECON LAB HDD" },
                { bus: "nvme", serial: serial("N1"), sizeBytes: 1 * GiB },
              ],
      bmc: profile === 1 ? "qemu-sim" : "ipmi-sim",
    };
    if (spec.bmc === "ipmi-sim") {
      spec.bmcLan = {
        ipv4Address: `10.13.38.${10 + n}`,
        netmask: "255.255.255.0",
        gateway: "10.13.38.1",
        macAddress: `52:54:00:${tag.slice(0, 2)}:${hex2(0x80 + n)}:01`,
      };
    }
    peers.push(spec);
  }
  return peers;
}

/**
 * The Secure Boot twin of `peers[0]` (profile 0): one more peer with the same hardware and its
 * own identity, booting under OVMF with Secure Boot enforced where the first boots from SeaBIOS.
 * Both boot from their virtio NIC (listed first), which OVMF drives without an option ROM: an
 * e1000's iPXE ROM is unsigned and Secure Boot refuses it. Comparing the two documents shows
 * what the firmware and the kernel's lockdown change in what the agent collects.
 */
export function withSecureBootTwin(
  peers: PeerSpec[],
  runTag: string,
  firmware: Exclude<Firmware, "seabios"> = "ovmf-secureboot",
): PeerSpec[] {
  const profiles = peers.map((_, i) => i % 3);
  const all = defaultPeers(peers.length + 1, runTag, [...profiles, 0]);
  const first = peers[0];
  const twin = all.at(-1);
  if (!first || !twin || first.machine !== "q35") throw new Error("no q35 peer to twin");
  for (const spec of [first, twin]) {
    spec.nics.sort(
      (a, b) => Number(b.model === "virtio-net-pci") - Number(a.model === "virtio-net-pci"),
    );
  }
  twin.memoryMiB = first.memoryMiB;
  twin.firmware = firmware;
  return [...peers, twin];
}

export interface QemuContext {
  dir: string;
  taps: string[];
  /** ipmi-sim BMC: the port QEMU connects to for it (127.0.0.1 inside the namespace: the lab's
   * vm-link relay in front of ipmi_sim's VM port). */
  bmcVmPort?: number;
  serialLog: string;
  qmpSocket: string;
}

const escapeOpt = (value: string) => value.replace(/,/g, ",,");

/**
 * The guests' CPU: everything TCG emulates, except ERMS and FSRM. With them Linux clears and
 * copies pages with `rep stosb`/`rep movsb`, which TCG runs a byte at a time: a live image that
 * fills a tmpfs with its ISO then spends minutes in clear_page_erms (soft lockups, RCU stalls).
 */
export const TCG_CPU = "max,erms=off,fsrm=off";

export function qemuArgs(spec: PeerSpec, ctx: QemuContext): string[] {
  const firmware = spec.firmware ?? "seabios";
  if (firmware !== "seabios" && spec.machine !== "q35")
    throw new Error(`${spec.name}: OVMF with Secure Boot needs q35 (SMM), not ${spec.machine}`);
  const args = [
    "qemu-system-x86_64",
    "-name",
    spec.name,
    "-machine",
    firmware === "seabios" ? spec.machine : `${spec.machine},smm=on`,
    // Under TCG several vCPUs of one guest in one thread progress evenly: with MTTCG on a busy
    // 2-core host a starved vCPU stalls the guest kernel (RCU stalls) for minutes.
    "-accel",
    spec.cpus > 1 ? "tcg,thread=single" : "tcg",
    "-cpu",
    TCG_CPU,
    "-m",
    String(spec.memoryMiB),
    "-smp",
    String(spec.cpus),
    "-nodefaults",
    "-display",
    "none",
    "-serial",
    `file:${ctx.serialLog}`,
    // SeaBIOS's debug output (boot order, option ROMs) for diagnosing the PXE stage.
    "-chardev",
    `file,id=fw,path=${join(ctx.dir, "firmware.log")}`,
    "-device",
    "isa-debugcon,iobase=0x402,chardev=fw",
    "-qmp",
    `unix:${ctx.qmpSocket},server=on,wait=off`,
    "-boot",
    "n",
    "-smbios",
    `type=1,manufacturer=${escapeOpt(spec.system.manufacturer)},product=${escapeOpt(spec.system.product)},version=${escapeOpt(spec.system.version)},serial=${escapeOpt(spec.system.serial)},uuid=${spec.system.uuid},family=${escapeOpt(spec.system.family)}`,
    "-smbios",
    `type=2,manufacturer=${escapeOpt(spec.baseboard.manufacturer)},product=${escapeOpt(spec.baseboard.product)},serial=${escapeOpt(spec.baseboard.serial)}`,
  ];
  if (firmware !== "seabios") args.push(...ovmfArgs(ovmfVarsFile(ctx.dir)));
  spec.nics.forEach((nic, i) => {
    const tap = ctx.taps[i];
    if (!tap) throw new Error(`${spec.name}: no tap for NIC ${i}`);
    args.push("-netdev", `tap,id=n${i},ifname=${tap},script=no,downscript=no`);
    // OVMF boots a virtio NIC with its own driver (no option ROM: under Secure Boot it would have
    // to be signed, and iPXE's is not); SeaBIOS runs Debian's iPXE ROM.
    const rom = i !== 0 ? "" : firmware === "seabios" ? romFor(nic.model) : ovmfRomFor(nic.model);
    // Debian's pxe-virtio.rom carries the modern virtio-net id (1af4:1041): SeaBIOS runs it only
    // for a modern-only device; the transitional default (1af4:1000) would not PXE-boot.
    const modern = nic.model === "virtio-net-pci" ? ",disable-legacy=on" : "";
    // OVMF takes its boot order from bootindex (SeaBIOS from -boot n).
    const bootIndex = i === 0 && firmware !== "seabios" ? ",bootindex=1" : "";
    args.push(
      "-device",
      `${nic.model},netdev=n${i},mac=${nic.mac},romfile=${rom}${modern}${bootIndex}`,
    );
  });
  let ahci = false;
  spec.disks.forEach((disk, i) => {
    const file = join(ctx.dir, `disk${i}.img`);
    args.push("-drive", `file=${file},format=raw,if=none,id=d${i}`);
    if (disk.bus === "virtio") {
      args.push("-device", `virtio-blk-pci,drive=d${i},serial=${disk.serial}`);
    } else if (disk.bus === "nvme") {
      args.push("-device", `nvme,drive=d${i},serial=${disk.serial}`);
    } else {
      // q35 has an AHCI controller (ide.0..ide.5); i440fx gets one added.
      let bus = `ide.${i}`;
      if (spec.machine === "pc") {
        if (!ahci) args.push("-device", "ahci,id=ahci0");
        ahci = true;
        bus = `ahci0.${i}`;
      }
      const model = disk.model ? `,model=${escapeOpt(disk.model)}` : "";
      args.push("-device", `ide-hd,drive=d${i},bus=${bus},serial=${disk.serial}${model}`);
    }
  });
  if (spec.extra) args.push(...extraHardwareArgs(spec.extra, ctx.dir));
  if (spec.bmc === "qemu-sim") {
    args.push("-device", "ipmi-bmc-sim,id=bmc0", "-device", "isa-ipmi-kcs,bmc=bmc0");
  } else if (spec.bmc === "ipmi-sim") {
    if (!ctx.bmcVmPort) throw new Error(`${spec.name}: ipmi-sim BMC without a port`);
    args.push(
      "-chardev",
      `socket,id=ipmi0,host=127.0.0.1,port=${ctx.bmcVmPort},reconnect=10`,
      "-device",
      "ipmi-bmc-extern,id=bmc0,chardev=ipmi0",
      "-device",
      "isa-ipmi-kcs,bmc=bmc0",
    );
  }
  return args;
}

/**
 * Sparse raw disk images (nothing on them: peers boot from the network), and an OVMF peer's
 * variable store.
 */
export function makeDisks(spec: PeerSpec, dir: string): void {
  const firmware = spec.firmware ?? "seabios";
  if (firmware !== "seabios") copyFileSync(ovmfVarsTemplate(firmware), ovmfVarsFile(dir));
  spec.disks.forEach((disk, i) => {
    const file = join(dir, `disk${i}.img`);
    writeFileSync(file, "");
    run(["truncate", "-s", String(disk.sizeBytes), file]);
  });
  for (const { file, sizeBytes } of spec.extra ? extraDiskFiles(spec.extra, dir) : []) {
    writeFileSync(file, "");
    run(["truncate", "-s", String(sizeBytes), file]);
  }
}

export type PeerPhase =
  | "created"
  | "booting"
  | "kernel"
  | "network"
  | "agent"
  | "uploaded"
  | "off"
  | "failed";

/**
 * How a peer went off. ipmi-hard / ipmi-soft: its BMC sent the VM a power-off / graceful
 * shutdown (recorded on the BMC's VM link, test/lab/vm-link.ts). os: QEMU's guest shutdown with
 * no such command from a BMC. unobserved: the peer has a BMC but its link record cannot be read,
 * so nothing is claimed.
 */
export type OffMethod =
  | "ipmi-hard"
  | "ipmi-soft"
  | "os"
  | "fallback"
  | "killed"
  | "crashed"
  | "unobserved";

export interface PeerTimeline {
  startedAt: number;
  kernelAt?: number;
  dhcpAt?: number;
  agentAt?: number;
  acknowledgedAt?: number;
  powerdownAt?: number;
  offAt?: number;
}

/** A running (or finished) QEMU peer, followed through its serial log and QMP. */
export class PeerVm {
  readonly spec: PeerSpec;
  readonly serialLog: string;
  phase: PeerPhase = "created";
  readonly timeline: PeerTimeline = { startedAt: 0 };
  /** Interesting lines seen on the console (recon-lab markers, agent events, errors). */
  readonly notes: string[] = [];
  /** Agent JSON log events seen on the console (the agent logs one JSON object a line). */
  readonly agentEvents: Record<string, unknown>[] = [];
  qmp: QmpClient | null = null;
  daemon: Daemon | null = null;
  exit: { code: number | null; signal: string | null; at: number } | null = null;
  private offset = 0;
  private partial = "";
  /** The kernel printed "reboot: Power down" (an OS power-off, not a BMC's). */
  kernelPowerDown = false;
  /** The BMC's VM-link record (vm-link.ts --log); null for a peer without a BMC. */
  bmcLinkLog: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly onPhase: (vm: PeerVm, line?: string) => void;

  constructor(spec: PeerSpec, serialLog: string, onPhase: (vm: PeerVm, line?: string) => void) {
    this.spec = spec;
    this.serialLog = serialLog;
    this.onPhase = onPhase;
  }

  async start(argv: string[], qmpSocket: string, logFile: string): Promise<void> {
    this.timeline.startedAt = Date.now();
    this.daemon = startDaemon(`qemu ${this.spec.name}`, argv, logFile);
    this.setPhase("booting");
    void this.daemon.exited.then((e) => {
      this.exit = e;
      this.poll();
      this.timeline.offAt = e.at;
      if (this.timer) clearInterval(this.timer);
      this.timer = null;
      this.setPhase(
        this.offMethod() === "crashed" || this.offMethod() === "killed" ? "failed" : "off",
      );
    });
    this.timer = setInterval(() => this.poll(), 250);
    try {
      this.qmp = await QmpClient.connect(qmpSocket);
      const eventsLog = join(dirname(this.serialLog), "qmp-events.jsonl");
      this.qmp.onEvent((e) => {
        appendFileSync(eventsLog, `${JSON.stringify(e)}\n`);
        if (e.event === "POWERDOWN") this.timeline.powerdownAt ??= e.at;
      });
    } catch (err) {
      if (this.daemon.running()) throw err;
    }
  }

  private setPhase(phase: PeerPhase, line?: string): void {
    if (this.phase === phase) return;
    this.phase = phase;
    this.onPhase(this, line);
  }

  /** Reads what the serial log gained since the last call. */
  poll(): void {
    if (!existsSync(this.serialLog)) return;
    const size = statSync(this.serialLog).size;
    if (size <= this.offset) return;
    const fd = openSync(this.serialLog, "r");
    try {
      const buf = Buffer.alloc(size - this.offset);
      readSync(fd, buf, 0, buf.length, this.offset);
      this.offset = size;
      const text = this.partial + buf.toString("utf8");
      const lines = text.split(/\r?\n/);
      this.partial = lines.pop() ?? "";
      for (const raw of lines) this.line(raw.replace(/\r/g, ""));
    } finally {
      closeSync(fd);
    }
  }

  private line(line: string): void {
    const now = Date.now();
    if (/\breboot: Power down/.test(line)) this.kernelPowerDown = true;
    if (this.timeline.kernelAt === undefined && line.trim()) {
      this.timeline.kernelAt = now;
      this.setPhase("kernel");
    }
    if (
      /recon-role: peer: running post\.sh|recon post\.sh: starting|recon-lab: post-start post\.sh/.test(
        line,
      )
    ) {
      this.timeline.agentAt ??= now;
      this.setPhase("agent");
    }
    const marker = /recon-lab: (.*)$/.exec(line);
    if (marker?.[1]) {
      const text = marker[1];
      this.notes.push(text);
      if (text.startsWith("dhcp ")) {
        this.timeline.dhcpAt ??= now;
        this.setPhase("network", text);
      } else if (/^fallback|^fetch failed/.test(text)) {
        this.onPhase(this, text);
      }
      return;
    }
    const json = line.indexOf('{"');
    if (json >= 0) {
      try {
        const event = JSON.parse(line.slice(json)) as Record<string, unknown>;
        if (typeof event.event === "string") {
          this.agentEvents.push(event);
          if (event.event === "upload.acknowledged" || event.event === "upload.done") {
            this.timeline.acknowledgedAt ??= now;
            this.setPhase("uploaded");
          } else if (event.event === "upload.failed") {
            this.onPhase(this, `upload.failed: ${String(event.error ?? "")}`);
          } else if (event.event === "upload.retry") {
            // Report the first retry of a series, not every attempt.
            const retries = this.agentEvents.filter((e) => e.event === "upload.retry").length;
            if (retries === 1)
              this.onPhase(this, `upload.retry: ${String(event.problem ?? "")} (retrying)`);
          }
        }
      } catch {}
    }
  }

  /**
   * The hardware commands the BMC sent this VM, in order, with host ms; [] without a BMC; null
   * when the record cannot be read.
   */
  bmcCommands(): VmCommandRecord[] | null {
    if (this.bmcLinkLog === null) return [];
    try {
      return parseVmLinkLog(readFileSync(this.bmcLinkLog, "utf8"));
    } catch {
      return null;
    }
  }

  /**
   * How the machine went off: what its BMC did (the commands on its VM link), QEMU's shutdown
   * reason and exit. QEMU reports "guest-shutdown" for an OS power-off and a BMC's chassis power
   * off alike, so only the BMC's own record tells them apart.
   */
  offMethod(): OffMethod | null {
    if (!this.exit) return null;
    const shutdown = this.shutdownEvent();
    const reason = shutdown ? String(shutdown.data.reason ?? "") : "";
    if (this.notes.some((n) => n.startsWith("fallback-poweroff now"))) return "fallback";
    if (reason === "guest-shutdown" && this.spec.bmc === "qemu-sim") {
      // QEMU's own BMC (ipmi-bmc-sim) lives inside QEMU: its chassis soft power-off raises the
      // ACPI power button, which QEMU records as a POWERDOWN event before the guest goes down.
      // Its hard power-off and an OS power-off both end as guest-shutdown with nothing before
      // it, so only the console's "reboot: Power down" says the OS did it; else nothing is claimed.
      if (this.qmp?.events.some((e) => e.event === "POWERDOWN")) return "ipmi-soft";
      return this.kernelPowerDown ? "os" : "unobserved";
    }
    if (reason === "guest-shutdown") {
      const sent = this.bmcCommands();
      if (sent === null) return "unobserved";
      const commands = sent.map((c) => c.command);
      if (commands.includes("poweroff")) return "ipmi-hard";
      if (commands.includes("graceful-shutdown")) return "ipmi-soft";
      return "os";
    }
    if (reason.startsWith("host-") || this.exit.signal) return "killed";
    return "crashed";
  }

  shutdownEvent(): QmpEvent | undefined {
    return this.qmp?.events.find((e) => e.event === "SHUTDOWN");
  }

  /** Power the VM off from outside (cleanup): QMP quit, then the process is killed by PID. */
  async kill(): Promise<void> {
    if (this.daemon?.running()) {
      this.qmp?.send("quit");
      await Promise.race([this.daemon.exited, new Promise((r) => setTimeout(r, 2000))]);
      await this.daemon.stop(2000);
    }
    this.qmp?.close();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
