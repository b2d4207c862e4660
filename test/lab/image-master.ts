// The lab's master when it runs the live image (kiwi/): a QEMU machine that boots the built ISO
// as a USB disk, the way an operator boots the stick. Nothing is passed to it: GRUB on the ISO
// boots the live system without pxeaddr=, so recon.service makes it the master (dnsmasq,
// `recon-agent serve` from the post.tgz on the medium), recon-media.service serves the ISO for
// the peers' livenet and recon-data.service adds a RECON-DATA partition to the stick after the
// image. It is followed through its serial console (serve's JSON log lines arrive there), powered
// down like an operator would (ACPI power button), and the inventories are then read from the
// stick's RECON-DATA partition, which is what the operator walks away with.
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { unprivileged } from "./bmc.ts";
import { LogTail, MasterEvents } from "./master.ts";
import type { Lan } from "./netns.ts";
import { TCG_CPU } from "./peer.ts";
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
}

export class ImageMaster extends MasterEvents {
  readonly dir: string;
  readonly stick: string;
  readonly serialLog: string;
  /** The inventories copied from the stick's RECON-DATA partition (after collect()). */
  readonly root: string;
  /** Console milestones, host ms. */
  readonly milestones: { listening?: number; isoServed?: number; dataMounted?: number } = {};
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
    if (/recon-media: serving install\//.test(line)) this.milestones.isoServed ??= now;
    if (/recon-data: inventories go to/.test(line)) this.milestones.dataMounted ??= now;
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
    if (uid !== null) run(["chown", "-R", `${uid}:${uid}`, this.dir]);
    const qmpSocket = join(this.dir, "qmp.sock");
    const argv = [
      "qemu-system-x86_64",
      "-name",
      "master",
      "-machine",
      "q35",
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

  /** Waits until serve listens and the ISO is served (what the peers need), or fails. */
  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.poll();
      const m = this.milestones;
      if (m.listening !== undefined && m.isoServed !== undefined) return;
      if (this.daemon && !this.daemon.running())
        throw new Error(`the master VM exited while booting\n${this.consoleTail()}`);
      if (Date.now() > deadline)
        throw new Error(
          `the master did not ${m.listening === undefined ? "start serve" : "serve the ISO"} within ${timeoutMs / 1000} s\n${this.consoleTail()}`,
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
