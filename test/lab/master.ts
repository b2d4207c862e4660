// The master side of the lab, inside the provisioning namespace: dnsmasq configured by
// packaging/dnsmasq.ts (DHCP, TFTP with Debian's undionly.kpxe, iPXE sent on to menu.ipxe) and the
// built binary's `recon-agent serve` on port 80, serving menu.ipxe (packaging/menu.ts, pointing at
// the lab's kernel+initramfs instead of the live ISO), post.tgz, and the kernel and initrd under
// /install/lab/. Both logs are followed to report progress (leases, downloads, stored documents).
import {
  closeSync,
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  openSync,
  readSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { type DnsmasqOptions, renderDnsmasqConf } from "../../packaging/dnsmasq.ts";
import { renderMenuIpxe } from "../../packaging/menu.ts";
import { unprivileged } from "./bmc.ts";
import type { Lan } from "./netns.ts";
import { type Daemon, run, sleep, startDaemon } from "./proc.ts";

export const IMAGE_NAME = "lab";
/** Where Debian's ipxe package puts the BIOS chain loader (for firmware without iPXE). */
const UNDIONLY = ["/usr/lib/ipxe/undionly.kpxe", "/usr/share/ipxe/undionly.kpxe"];

export interface MasterOptions {
  lan: Lan;
  dir: string;
  /** dist/recon-agent (the built single binary). */
  agentBinary: string;
  postTgz: string;
  vmlinuz: string;
  initrd: string;
  kernelVersion: string;
  /** Kernel arguments appended to the menu's (renderMenuIpxe extraArgs). */
  menuArgs: string[];
  /** Unprivileged uid for `serve` (null: run it as the caller). */
  uid: number | null;
  /** UEFI loader files in the TFTP root for dnsmasq (test/lab/arm64.ts: grubaa64.efi). */
  dnsmasq?: Pick<DnsmasqOptions, "efiFile" | "efiAarch64File">;
  log: (line: string) => void;
}

export interface StoredEvent {
  nodeId: string;
  kind: string;
  at: number;
  storedAt: string | null;
}

/** Tails a log file line by line (polling; the writers are other processes). */
export class LogTail {
  private offset = 0;
  private partial = "";
  readonly path: string;
  private readonly onLine: (line: string) => void;
  constructor(path: string, onLine: (line: string) => void) {
    this.path = path;
    this.onLine = onLine;
  }
  poll(): void {
    if (!existsSync(this.path)) return;
    const size = statSync(this.path).size;
    if (size <= this.offset) return;
    const fd = openSync(this.path, "r");
    try {
      const buf = Buffer.alloc(size - this.offset);
      readSync(fd, buf, 0, buf.length, this.offset);
      this.offset = size;
      const lines = (this.partial + buf.toString("utf8")).split("\n");
      this.partial = lines.pop() ?? "";
      for (const l of lines) this.onLine(l);
    } finally {
      closeSync(fd);
    }
  }
}

function hardlinkOrCopy(src: string, dst: string): void {
  try {
    linkSync(src, dst);
  } catch {
    copyFileSync(src, dst);
  }
}

type MasterEventKind = "lease" | "fetch" | "stored";

/**
 * What a master did, as its logs tell it: leases handed out (dnsmasq), files fetched and
 * documents stored (`recon-agent serve`'s JSON lines). The host-side master follows its two log
 * files; the live image's master (image-master.ts) its serial console.
 */
export class MasterEvents {
  /** MAC -> leased IP, from dnsmasq's log. */
  readonly leases = new Map<string, string>();
  /** IP -> paths fetched (menu.ipxe, kernel, initrd, post.tgz). */
  readonly fetched = new Map<string, string[]>();
  readonly stored: StoredEvent[] = [];
  /** Times serve was (re)started and stopped, for the outage scenario. */
  readonly serveHistory: { event: "start" | "stop"; at: number }[] = [];
  private listeners: ((what: MasterEventKind, detail: Record<string, string>) => void)[] = [];
  /**
   * Whether serve's own timestamps (storedAt) are on the host's clock. A QEMU master's clock is
   * its guest's: then the host time the line arrived is used, to compare with QMP's host times.
   */
  protected readonly serveClockIsHost: boolean = true;

  onEvent(listener: (what: MasterEventKind, detail: Record<string, string>) => void): void {
    this.listeners.push(listener);
  }

  protected emit(what: MasterEventKind, detail: Record<string, string>): void {
    for (const l of this.listeners) l(what, detail);
  }

  /** One line of serve's log; the JSON object may follow other text (a console's prefix). */
  protected serveLine(line: string): void {
    const start = line.indexOf('{"');
    if (start < 0) return;
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(line.slice(start)) as Record<string, unknown>;
    } catch {
      return;
    }
    if (e.event === "stored" && typeof e.nodeId === "string") {
      const ev = {
        nodeId: e.nodeId,
        kind: String(e.kind),
        at: Date.now(),
        storedAt: this.serveClockIsHost && typeof e.storedAt === "string" ? e.storedAt : null,
      };
      this.stored.push(ev);
      this.emit("stored", { nodeId: ev.nodeId, kind: ev.kind });
    } else if (
      e.event === "http" &&
      e.method === "GET" &&
      e.status === 200 &&
      typeof e.remote === "string"
    ) {
      const remote = e.remote.replace(/^::ffff:/, "");
      const path = String(e.path);
      const list = this.fetched.get(remote) ?? [];
      list.push(path);
      this.fetched.set(remote, list);
      this.emit("fetch", { ip: remote, path });
    }
  }

  protected dnsmasqLine(line: string): void {
    const m = /DHCPACK\(\S+\) (\d+\.\d+\.\d+\.\d+) ([0-9a-f:]{17})/.exec(line);
    if (m?.[1] && m[2]) {
      if (this.leases.get(m[2]) !== m[1]) {
        this.leases.set(m[2], m[1]);
        this.emit("lease", { mac: m[2], ip: m[1] });
      }
    }
  }
}

export class Master extends MasterEvents {
  readonly root: string;
  readonly menuFile: string;
  readonly installDir: string;
  readonly tftpRoot: string;
  readonly serveLog: string;
  readonly dnsmasqLog: string;
  dnsmasq: Daemon | null = null;
  serve: Daemon | null = null;
  private readonly options: MasterOptions;
  private readonly agent: string;
  private readonly tails: LogTail[];

  constructor(options: MasterOptions) {
    super();
    this.options = options;
    const d = options.dir;
    this.root = join(d, "data");
    this.installDir = join(d, "install");
    this.tftpRoot = join(d, "tftp");
    this.menuFile = join(d, "http", "menu.ipxe");
    this.serveLog = join(d, "serve.log");
    this.dnsmasqLog = join(d, "dnsmasq.log");
    for (const sub of [
      this.root,
      join(this.installDir, IMAGE_NAME),
      this.tftpRoot,
      join(d, "http"),
    ]) {
      mkdirSync(sub, { recursive: true });
    }
    hardlinkOrCopy(options.vmlinuz, join(this.installDir, IMAGE_NAME, "vmlinuz"));
    hardlinkOrCopy(options.initrd, join(this.installDir, IMAGE_NAME, "initrd.gz"));
    const undionly = UNDIONLY.find((p) => existsSync(p));
    if (undionly) copyFileSync(undionly, join(this.tftpRoot, "undionly.kpxe"));
    // The agent binary and post.tgz, linked into the run directory so an unprivileged serve can
    // read them wherever the checkout lives.
    this.agent = join(d, "recon-agent");
    hardlinkOrCopy(options.agentBinary, this.agent);
    hardlinkOrCopy(options.postTgz, join(d, "http", "post.tgz"));
    this.writeMenu(options.menuArgs);
    if (options.uid) run(["chown", "-R", `${options.uid}:${options.uid}`, this.root]);
    this.tails = [
      new LogTail(this.serveLog, (l) => this.serveLine(l)),
      new LogTail(this.dnsmasqLog, (l) => this.dnsmasqLine(l)),
    ];
  }

  /** (Re)writes menu.ipxe; serve reads the file on every request. */
  writeMenu(extraArgs: string[]): void {
    const { lan } = this.options;
    const text = renderMenuIpxe({
      master: lan.masterIp,
      imageName: IMAGE_NAME,
      imageVersion: this.options.kernelVersion,
      kernel: "vmlinuz",
      initrd: "initrd.gz",
      console: ["ttyS0,115200n8"],
      extraArgs,
    });
    writeFileSync(this.menuFile, text);
  }

  poll(): void {
    for (const t of this.tails) t.poll();
  }

  async startDnsmasq(): Promise<void> {
    const { lan, dir } = this.options;
    const conf = join(dir, "dnsmasq.conf");
    writeFileSync(
      conf,
      renderDnsmasqConf({
        interface: lan.bridge,
        address: lan.masterIp,
        dhcpRange: [lan.masterIp.replace(/\.\d+$/, ".100"), lan.masterIp.replace(/\.\d+$/, ".199")],
        netmask: "255.255.255.0",
        leaseTime: "1h",
        tftpRoot: this.tftpRoot,
        httpBase: `http://${lan.masterIp}`,
        leaseFile: join(dir, "dnsmasq.leases"),
        ...this.options.dnsmasq,
      }),
    );
    this.dnsmasq = startDaemon(
      "dnsmasq",
      lan.exec([
        "dnsmasq",
        "--keep-in-foreground",
        `--conf-file=${conf}`,
        `--pid-file=${join(dir, "dnsmasq.pid")}`,
        "--log-facility=-",
      ]),
      this.dnsmasqLog,
    );
    await sleep(300);
    if (!this.dnsmasq.running()) throw new Error(`dnsmasq did not start; see ${this.dnsmasqLog}`);
  }

  /** Starts `recon-agent serve` and waits until it listens. */
  async startServe(): Promise<void> {
    const { lan, uid } = this.options;
    if (this.serve?.running()) return;
    const argv = lan.exec([
      ...unprivileged(uid),
      this.agent,
      "serve",
      "--root",
      this.root,
      "--host",
      lan.masterIp,
      "--port",
      "80",
      "--menu",
      this.menuFile,
      "--post-tgz",
      join(this.options.dir, "http", "post.tgz"),
      "--install",
      this.installDir,
      // dnsmasq's lease file and range: nodes known from their lease and boot files on.
      "--dnsmasq-conf",
      join(this.options.dir, "dnsmasq.conf"),
    ]);
    const before = this.listeningCount;
    this.serve = startDaemon("recon-agent serve", argv, this.serveLog);
    this.serveHistory.push({ event: "start", at: Date.now() });
    const deadline = Date.now() + 60_000;
    while (this.listeningCount === before) {
      this.poll();
      this.countListening();
      if (!this.serve.running()) throw new Error(`recon-agent serve exited; see ${this.serveLog}`);
      if (Date.now() > deadline)
        throw new Error(`recon-agent serve did not listen within 60 s; see ${this.serveLog}`);
      await sleep(200);
    }
  }

  private listeningCount = 0;
  private listeningTail: LogTail | null = null;
  private countListening(): void {
    this.listeningTail ??= new LogTail(this.serveLog, (l) => {
      if (l.includes('"event":"listening"')) this.listeningCount++;
    });
    this.listeningTail.poll();
  }

  async stopServe(): Promise<void> {
    if (!this.serve?.running()) return;
    await this.serve.stop(5000);
    this.serveHistory.push({ event: "stop", at: Date.now() });
  }

  async stop(): Promise<void> {
    await this.stopServe();
    await this.dnsmasq?.stop(2000);
    this.poll();
  }
}
