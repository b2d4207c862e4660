// The lab's master when it runs the live image (kiwi/): a QEMU machine that boots the built ISO
// as a USB disk, the way an operator boots the stick. Nothing is passed to it: GRUB on the ISO
// boots the live system without pxeaddr=, so recon.service makes it the master (dnsmasq,
// `recon-agent serve` from the post.tgz on the medium), recon-media.service serves the medium's
// LiveOS/squashfs.img for the peers' livenet and recon-data.service adds a RECON-DATA partition
// to the stick after the image. Its firmware is SeaBIOS, or OVMF with Secure Boot enforced and
// Microsoft's keys (the stick then boots through Debian's signed shim, GRUB and kernel). It is followed through its serial console (serve's JSON log lines arrive there), powered
// down like an operator would (ACPI power button), and the inventories are then read from the
// stick's RECON-DATA partition, which is what the operator walks away with.
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { unprivileged } from "./bmc.ts";
import { LogTail, MasterEvents } from "./master.ts";
import type { Lan } from "./netns.ts";
import { type Firmware, ovmfArgs, ovmfVarsTemplate, TCG_CPU } from "./peer.ts";
import { type Daemon, run, sleep, startDaemon } from "./proc.ts";
import { QmpClient } from "./qmp.ts";

/** recon-role.sh's default provisioning address: the master image is booted with no options. */
export const IMAGE_MASTER_IP = "10.13.36.1";
/** The lab's own address on the provisioning bridge when the master is the image. */
export const IMAGE_LAB_HOST_IP = "10.13.36.2";
/** recon-role.sh's default prefix: the hall network, 10.13.36.0/22. */
export const IMAGE_PREFIX_LENGTH = 22;
export const DATA_LABEL = "RECON-DATA";
const MiB = 1024 ** 2;

export interface ImageMasterOptions {
  lan: Lan;
  dir: string;
  /** The built live ISO (kiwi/make-recipe-target <recipe> target). */
  iso: string;
  /** The stick's size: the ISO, then free space for RECON-DATA (default 1 GiB). */
  stickBytes?: number;
  memoryMiB?: number;
  mac: string;
  uid: number | null;
  log: (line: string) => void;
  /** Default seabios (see isoSignedForSecureBoot for when ovmf-secureboot can work). */
  firmware?: Firmware;
}

/**
 * Whether the ISO's UEFI boot loader (/EFI/BOOT/bootx64.efi) carries an Authenticode signature
 * (a PE certificate table, as Debian's signed shim does): without one, OVMF with Secure Boot
 * enforced refuses to start it. Reads the file out of the ISO with xorriso.
 */
export function isoSignedForSecureBoot(iso: string): boolean {
  const work = mkdtempSync(join(tmpdir(), "recon-lab-efi-"));
  try {
    const out = join(work, "bootx64.efi");
    run(["xorriso", "-osirrox", "on", "-indev", iso, "-extract", "/EFI/BOOT/bootx64.efi", out], {
      allowFail: true,
    });
    return existsSync(out) && peSigned(readFileSync(out));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** A PE image's certificate table (data directory 4) is not empty. */
export function peSigned(pe: Buffer): boolean {
  if (pe.length < 0x40 || pe.toString("latin1", 0, 2) !== "MZ") return false;
  const header = pe.readUInt32LE(0x3c);
  if (header + 24 + 2 > pe.length || pe.toString("latin1", header, header + 4) !== "PE\0\0")
    return false;
  const optional = header + 24;
  const magic = pe.readUInt16LE(optional);
  // The data directories follow the optional header's fixed part: 96 bytes (PE32), 112 (PE32+).
  const directories = optional + (magic === 0x20b ? 112 : 96);
  const security = directories + 4 * 8;
  if (security + 8 > pe.length) return false;
  return pe.readUInt32LE(security + 4) > 0;
}

export class ImageMaster extends MasterEvents {
  readonly dir: string;
  readonly stick: string;
  readonly serialLog: string;
  /** The inventories copied from the stick's RECON-DATA partition (after collect()). */
  readonly root: string;
  /** Console milestones, host ms. */
  readonly milestones: { listening?: number; rootServed?: number; dataMounted?: number } = {};
  /** The kernel's `secureboot: Secure boot enabled|disabled` line (UEFI only), and lockdown. */
  secureBoot: "enabled" | "disabled" | null = null;
  lockdown: string | null = null;
  readonly firmware: Firmware;
  /** recon-* lines and errors seen on the console. */
  readonly notes: string[] = [];
  daemon: Daemon | null = null;
  protected override readonly serveClockIsHost = false;
  private qmp: QmpClient | null = null;
  private readonly tail: LogTail;
  private readonly options: ImageMasterOptions;

  constructor(options: ImageMasterOptions) {
    super();
    this.options = options;
    this.firmware = options.firmware ?? "seabios";
    this.dir = options.dir;
    mkdirSync(this.dir, { recursive: true });
    this.stick = join(this.dir, "stick.img");
    this.serialLog = join(this.dir, "serial.log");
    this.root = join(this.dir, "data");
    writeFileSync(this.serialLog, "");
    this.tail = new LogTail(this.serialLog, (l) => this.consoleLine(l.replace(/\r/g, "")));
  }

  private consoleLine(line: string): void {
    const now = Date.now();
    this.serveLine(line);
    if (line.includes('"event":"listening"')) this.milestones.listening ??= now;
    // The peers' root: the medium's squashfs (recon-media: serving LiveOS/squashfs.img as ...),
    // or, from an image built before that, the whole ISO copied to RAM (serving install/...).
    if (/recon-media: serving (install\/|LiveOS\/squashfs\.img as )/.test(line))
      this.milestones.rootServed ??= now;
    if (/recon-data: inventories go to/.test(line)) this.milestones.dataMounted ??= now;
    const secure = /secureboot: Secure boot (enabled|disabled)/.exec(line)?.[1];
    if (secure === "enabled" || secure === "disabled") this.secureBoot ??= secure;
    const locked = /Kernel is locked down from (.*?);/.exec(line)?.[1];
    if (locked) this.lockdown ??= locked;
    // serve's shutdown (and the report it writes to RECON-DATA then) is followed too.
    const shutdown = /"event":"(stopping|closed|report_written|report_failed)"/;
    if (
      /recon-(role|media|data): |Entering emergency mode|dracut-initqueue.*timeout/.test(line) ||
      shutdown.test(line)
    ) {
      this.notes.push(line.trim());
      this.options.log(`master  ${line.trim()}`);
    }
  }

  poll(): void {
    this.tail.poll();
  }

  /** "Writes the ISO to a USB stick": a sparse disk image with the ISO at its start. */
  makeStick(): void {
    const { iso } = this.options;
    const size = this.options.stickBytes ?? 1024 * MiB;
    if (statSync(iso).size + 128 * MiB > size)
      throw new Error(`${iso} does not leave 128 MiB on a ${size}-byte stick`);
    copyFileSync(iso, this.stick);
    run(["truncate", "-s", String(size), this.stick]);
  }

  async start(): Promise<void> {
    const { lan, uid, mac } = this.options;
    this.makeStick();
    const tap = lan.addTap(uid ?? 0);
    const vars = join(this.dir, "ovmf-vars.fd");
    if (this.firmware !== "seabios") copyFileSync(ovmfVarsTemplate(this.firmware), vars);
    if (uid !== null) run(["chown", "-R", `${uid}:${uid}`, this.dir]);
    const qmpSocket = join(this.dir, "qmp.sock");
    const argv = [
      "qemu-system-x86_64",
      "-name",
      "master",
      "-machine",
      this.firmware === "seabios" ? "q35" : "q35,smm=on",
      ...(this.firmware === "seabios" ? [] : ovmfArgs(vars)),
      "-accel",
      "tcg",
      "-cpu",
      TCG_CPU,
      "-m",
      String(this.options.memoryMiB ?? 2048),
      "-nodefaults",
      "-display",
      "none",
      "-serial",
      `file:${this.serialLog}`,
      "-qmp",
      `unix:${qmpSocket},server=on,wait=off`,
      // The stick: a USB mass-storage device on an xHCI controller, the only boot device.
      "-device",
      "qemu-xhci,id=xhci",
      "-drive",
      `file=${this.stick},format=raw,if=none,id=stick`,
      "-device",
      "usb-storage,bus=xhci.0,drive=stick,bootindex=1",
      "-netdev",
      `tap,id=n0,ifname=${tap},script=no,downscript=no`,
      "-device",
      `virtio-net-pci,netdev=n0,mac=${mac},romfile=`,
    ];
    this.daemon = startDaemon(
      "qemu master",
      lan.exec([...unprivileged(uid), ...argv]),
      join(this.dir, "qemu.log"),
    );
    this.qmp = await QmpClient.connect(qmpSocket);
  }

  /** Waits until serve listens and the peers' root image is served (what they need), or fails. */
  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.poll();
      const m = this.milestones;
      if (m.listening !== undefined && m.rootServed !== undefined) return;
      if (this.daemon && !this.daemon.running())
        throw new Error(`the master VM exited while booting\n${this.consoleTail()}`);
      if (Date.now() > deadline)
        throw new Error(
          `the master did not ${m.listening === undefined ? "start serve" : "serve the peers' root image"} within ${timeoutMs / 1000} s\n${this.consoleTail()}`,
        );
      await sleep(250);
    }
  }

  consoleTail(lines = 40): string {
    try {
      return readFileSync(this.serialLog, "utf8").split(/\r?\n/).slice(-lines).join("\n");
    } catch {
      return "";
    }
  }

  /**
   * Powers the master down as an operator would (ACPI power button: systemd stops serve, then
   * unmounts RECON-DATA). Returns how: "acpi", or "killed" when it did not go down in time.
   */
  async powerDown(timeoutMs: number): Promise<"acpi" | "killed"> {
    const daemon = this.daemon;
    if (!daemon?.running()) return "acpi";
    this.qmp?.send("system_powerdown");
    const done = await Promise.race([
      daemon.exited.then(() => true),
      sleep(timeoutMs).then(() => false),
    ]);
    this.poll();
    if (!done) await this.kill();
    return done ? "acpi" : "killed";
  }

  async kill(): Promise<void> {
    if (this.daemon?.running()) {
      this.qmp?.send("quit");
      await Promise.race([this.daemon.exited, sleep(2000)]);
      await this.daemon.stop(2000);
    }
    this.qmp?.close();
  }

  /**
   * Copies what the stick's RECON-DATA partition (found by its label, as blkid reads it) holds
   * into `root`. Returns the partition's name relative to the stick (e.g. "p3").
   */
  collect(): string {
    const loop = run(["losetup", "--find", "--show", this.stick]).stdout.trim();
    const mnt = join(this.dir, "mnt");
    try {
      // The kernel here may not scan a loop device's partitions on its own.
      run(["partx", "--add", loop], { allowFail: true });
      const parts = run(["lsblk", "-lnpo", "NAME,TYPE", loop])
        .stdout.split("\n")
        .map((l) => l.trim().split(/\s+/))
        .filter((f) => f[1] === "part")
        .map((f) => f[0] ?? "");
      const data = parts.find(
        (p) =>
          run(["blkid", "-c", "/dev/null", "-o", "value", "-s", "LABEL", p], {
            allowFail: true,
          }).stdout.trim() === DATA_LABEL,
      );
      if (!data)
        throw new Error(
          `no ${DATA_LABEL} partition on the stick (partitions: ${parts.join(", ") || "none"})`,
        );
      mkdirSync(mnt, { recursive: true });
      run(["mount", "-o", "ro", data, mnt]);
      try {
        mkdirSync(this.root, { recursive: true });
        run(["cp", "-a", `${mnt}/.`, this.root]);
      } finally {
        run(["umount", mnt], { allowFail: true });
      }
      return data.slice(loop.length);
    } finally {
      run(["partx", "--delete", loop], { allowFail: true });
      run(["losetup", "--detach", loop], { allowFail: true });
    }
  }
}
