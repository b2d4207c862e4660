// The virtual data center: `npm run lab` (test/lab/run.ts) and test/lab/lab.test.ts both call
// runLab(). It creates the provisioning LAN (a network namespace with a bridge), runs the master
// there (dnsmasq + the built `recon-agent serve`), boots QEMU peers from the network, waits until
// each one has reported and switched itself off, and returns what the master received together
// with what every peer was given, so callers can compare them (checkPeer).
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Hall } from "../../agent/master/hall.ts";
import { NodeStore } from "../../agent/master/store.ts";
import { Inventory } from "../../schema/inventory.ts";
import { startIpmiSim, unprivileged } from "./bmc.ts";
import { type DhcpOnlyPeer, startDhcpOnlyPeer } from "./dhcp-only.ts";
import {
  DATA_LABEL,
  IMAGE_LAB_HOST_IP,
  IMAGE_MASTER_IP,
  IMAGE_PREFIX_LENGTH,
  ImageMaster,
  isoSignedForSecureBoot,
} from "./image-master.ts";
import { type BootAssets, buildBootAssets, defaultCacheDir, resolveInputs } from "./initramfs.ts";
import { Master } from "./master.ts";
import { Lan, removeStaleNamespaces } from "./netns.ts";
import {
  defaultPeers,
  type Firmware,
  labServerHardware,
  makeDisks,
  type OffMethod,
  type PeerSpec,
  PeerVm,
  qemuArgs,
  romFor,
  withSecureBootTwin,
} from "./peer.ts";
import {
  bytesPerPeer,
  type FetchedBytes,
  leasesFromEvents,
  type PeerBytes,
  sumHttpBytes,
} from "./peer-bytes.ts";
import { Cleanup, cleanEnv, closeOnSignals, run, sleep, startDaemon } from "./proc.ts";

export const REPO = resolve(import.meta.dirname, "../..");
const UNPRIVILEGED_UID = 65534;

export type Scenario = "normal" | "outage" | "no-bmc";

export interface LabPeer {
  spec: PeerSpec;
  scenario: Scenario;
}

export interface LabOptions {
  /** Normal peers (default 3). */
  peers?: number;
  /** Also run the failure paths: a peer whose upload meets a stopped master, a peer without BMC. */
  failurePaths?: boolean;
  /** recon.poweroff= for the menu (default: none given, the agent's default, soft). */
  poweroff?: "soft" | "hard";
  /** More kernel arguments for menu.ipxe. */
  menuArgs?: string[];
  /** Per-phase limit (default 10 min). */
  phaseTimeoutMs?: number;
  /** Keep the run directory (logs, master data) instead of deleting it. */
  keep?: boolean;
  cacheDir?: string;
  /** Progress lines. */
  log?: (line: string) => void;
  /**
   * The live ISO (kiwi/make-recipe-target <recipe> target): the master is then a QEMU machine
   * booting it from a USB stick, and the peers boot it over the network (livenet) instead of the
   * lab's initramfs. Not with failurePaths (the outage needs a master the lab can stop).
   */
  image?: string;
  /**
   * Image mode: the master's firmware. Default ovmf-secureboot when the ISO's UEFI boot loader is
   * signed (isoSignedForSecureBoot), else seabios.
   */
  masterFirmware?: Firmware;
  /**
   * Image mode: peer1 gets a twin with the same hardware that PXE-boots under this firmware
   * (withSecureBootTwin); "none" for no twin. Default ovmf-secureboot when the ISO is signed.
   */
  twinFirmware?: Exclude<Firmware, "seabios"> | "none";
}

export interface PeerResult {
  spec: PeerSpec;
  scenario: Scenario;
  nodeId: string | null;
  inventoryPath: string | null;
  evidencePath: string | null;
  /** Parsed inventory.json (null when missing or not JSON). */
  document: unknown;
  /** Host ms when the master stored the inventory / evidence (serve log; file mtime otherwise). */
  inventoryStoredAt: number | null;
  evidenceStoredAt: number | null;
  offMethod: OffMethod | "timeout" | null;
  /** Host ms of the BMC's action (POWERDOWN for soft, SHUTDOWN for hard) or of the OS power-off. */
  offRequestedAt: number | null;
  offAt: number | null;
  startedAt: number;
  /** Agent log events seen on the console, by name (upload.retry, upload.acknowledged, ...). */
  agentEvents: string[];
  /** The node's state as the master's data says it (events/events.jsonl), e.g. powered-off. */
  masterState: string | null;
  notes: string[];
  serialTail: string;
  serialLog: string;
}

export interface LabResult {
  runDir: string;
  /** The master's data: its --root, or (image) a copy of the stick's RECON-DATA partition. */
  masterRoot: string;
  /** The lab's kernel and initramfs (null when the peers boot the live image). */
  boot: BootAssets | null;
  /** Image mode: how the master went down and where its data was. */
  imageMaster: {
    powerDown: "acpi" | "killed";
    /** e.g. "p3"; null when the stick has no RECON-DATA partition. */
    dataPartition: string | null;
    dataMountedOnMaster: boolean;
    notes: string[];
    firmware: Firmware;
    /** The master kernel's `secureboot: Secure boot ...` word, and its lockdown reason. */
    secureBoot: "enabled" | "disabled" | null;
    lockdown: string | null;
    /** What the stick holds at the top of RECON-DATA afterwards (report.html, nodes.csv, ...). */
    stickFiles: string[];
  } | null;
  /** Bytes each peer fetched (serve's http log by remote address, mapped through the leases). */
  bytes: { peers: PeerBytes[]; unknown: Map<string, FetchedBytes>; unmeasured: number };
  /** [BIOS peer, its OVMF twin] with the same hardware, when the run had them. */
  twins: [string, string] | null;
  peers: PeerResult[];
  startedAt: number;
  durationMs: number;
  /** Failure paths: the peer that fetched its boot files but never ran the agent, and its state. */
  dhcpOnly: (DhcpOnlyPeer & { state: string | null }) | null;
  /** serve stop/start times (outage scenario). */
  serveHistory: { event: "start" | "stop"; at: number }[];
  kept: boolean;
}

/** Each node's state from a master's data root, as its status page would show it. */
async function statesOf(root: string): Promise<Map<string, string>> {
  const store = new NodeStore(root);
  await store.open();
  const hall = await Hall.open({ root, log: () => undefined });
  try {
    return new Map(
      hall
        .nodes(store.list())
        // A node known only by its MAC (no agent ran) under its key, "mac-<12 hex>".
        .map((node) => [node.nodeId ?? node.key, node.state] as const),
    );
  } finally {
    await hall.close();
  }
}

/**
 * The host's load and the QEMU processes on it (before the lab starts any, all of them another
 * job's). A lab that times out on a host shared with other guests says so in its log: CI once lost
 * every peer of the image lab to the phase timeout, with nothing in the log to tell why.
 */
function hostLoad(): string {
  let qemu = 0;
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/comm`, "utf8").startsWith("qemu-system")) qemu++;
    } catch {}
  }
  const [one = Number.NaN, five = Number.NaN] = loadavg();
  return `load ${one.toFixed(1)} (1 min), ${five.toFixed(1)} (5 min) on ${availableParallelism()} cores, ${qemu} qemu-system processes`;
}

/** What the lab needs; returns the reason it cannot run, or null. */
export function labPrerequisites(): string | null {
  if (process.platform !== "linux") return "the lab needs Linux (network namespaces, QEMU)";
  if (process.geteuid?.() !== 0) return "the lab needs root (network namespaces, taps, dnsmasq)";
  const missing: string[] = [];
  const need: [string, string][] = [
    ["ip", "iproute2"],
    ["qemu-system-x86_64", "qemu-system-x86"],
    ["dnsmasq", "dnsmasq"],
    ["ipmi_sim", "openipmi"],
    ["ipmitool", "ipmitool"],
    ["setpriv", "util-linux"],
    ["dpkg-deb", "dpkg"],
    ["depmod", "kmod"],
    ["ldconfig", "libc-bin"],
    ["truncate", "coreutils"],
  ];
  for (const [cmd, pkg] of need) {
    if (spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status !== 0)
      missing.push(`${cmd} (${pkg})`);
  }
  if (!existsSync(romFor("e1000"))) missing.push(`${romFor("e1000")} (ipxe-qemu)`);
  if (!existsSync("/usr/lib/ipxe/undionly.kpxe"))
    missing.push("/usr/lib/ipxe/undionly.kpxe (ipxe)");
  for (const tool of resolveInputs().missingRequired) missing.push(`${tool.name} (${tool.pkg})`);
  if (missing.length > 0) return `missing: ${missing.join(", ")}`;
  return null;
}

/**
 * dist/recon-agent and dist/post.tgz, made with `npm run package` when missing.
 * RECON_LAB_DIST=<dir> uses that directory's recon-agent and post.tgz instead (made with
 * `node packaging/package.ts --out-dir <dir>`), e.g. a faster gzip package while developing.
 */
export function ensureDist(log: (line: string) => void): { agent: string; postTgz: string } {
  const distDir = process.env.RECON_LAB_DIST
    ? resolve(process.env.RECON_LAB_DIST)
    : join(REPO, "dist");
  const agent = join(distDir, "recon-agent");
  const postTgz = join(distDir, "post.tgz");
  if (process.env.RECON_LAB_DIST) {
    for (const f of [agent, postTgz])
      if (!existsSync(f)) throw new Error(`RECON_LAB_DIST: ${f} missing`);
    return { agent, postTgz };
  }
  const stale = staleDist(postTgz);
  if (!existsSync(agent) || !existsSync(postTgz) || stale) {
    log(
      stale
        ? `dist/post.tgz is older than ${stale}: running \`npm run package\` (a few minutes)`
        : "dist/recon-agent or dist/post.tgz missing: running `npm run package` (a few minutes)",
    );
    const r = spawnSync(process.execPath, [join(REPO, "packaging", "package.ts")], {
      cwd: REPO,
      env: cleanEnv(),
      stdio: ["ignore", "inherit", "inherit"],
    });
    if (r.status !== 0) throw new Error(`npm run package failed (exit ${r.status})`);
  }
  for (const f of [agent, postTgz])
    if (!existsSync(f)) throw new Error(`${f} missing after npm run package`);
  return { agent, postTgz };
}

/** The newest source file that post.tgz does not reflect yet, or null. */
function staleDist(postTgz: string): string | null {
  if (!existsSync(postTgz)) return null;
  const built = statSync(postTgz).mtimeMs;
  const walk = (dir: string): string | null => {
    if (!existsSync(dir)) return null;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        const hit = walk(p);
        if (hit) return hit;
      } else if (/\.(ts|sh|json)$/.test(e.name) && statSync(p).mtimeMs > built) {
        return p.slice(REPO.length + 1);
      }
    }
    return null;
  };
  for (const d of ["agent", "schema", "packaging", "bin"]) {
    const hit = walk(join(REPO, d));
    if (hit) return hit;
  }
  for (const f of ["package.json", "package-lock.json"]) {
    if (existsSync(join(REPO, f)) && statSync(join(REPO, f)).mtimeMs > built) return f;
  }
  return null;
}

const PHASE_TEXT: Record<string, string> = {
  kernel: "kernel booting (serial console)",
  network: "network up",
  agent: "post.tgz unpacked, agent running",
  uploaded: "reported: the master acknowledged the inventory",
  failed: "failed",
};

function fmtSecs(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/** The failure-path peers: profile-0 hardware (outage, ipmi_sim BMC) and profile-1 without BMC. */
function failurePeers(runTag: string, first: number): LabPeer[] {
  const specs = defaultPeers(first + 2, runTag).slice(first);
  const [outage, noBmc] = specs;
  if (!outage || !noBmc) throw new Error("failurePeers");
  outage.name = "outage";
  noBmc.name = "no-bmc";
  noBmc.bmc = "none";
  delete noBmc.bmcLan;
  return [
    { spec: outage, scenario: "outage" },
    { spec: noBmc, scenario: "no-bmc" },
  ];
}

export async function runLab(options: LabOptions = {}): Promise<LabResult> {
  const log = options.log ?? (() => {});
  const startedAt = Date.now();
  const t = () => `[${fmtSecs(Date.now() - startedAt).padStart(6)}]`;
  const say = (line: string) => log(`${t()} ${line}`);
  const why = labPrerequisites();
  if (why) throw new Error(why);
  if (options.image && options.failurePaths)
    throw new Error("the failure paths need the host-side master: not with an image");
  if (options.image && (options.poweroff || options.menuArgs?.length))
    throw new Error("with an image the master writes its own menu.ipxe: no poweroff or menuArgs");

  const cleanup = new Cleanup();
  const removeSignals = closeOnSignals(cleanup, (s) => log(`${s}: cleaning up`));
  const stale = await removeStaleNamespaces();
  if (stale.length) say(`removed namespaces of dead lab runs: ${stale.join(", ")}`);
  let runDir = "";
  let ok = false;
  try {
    const image = options.image ? resolveImage(options.image) : null;
    let boot: BootAssets | null = null;
    if (!image) {
      boot = buildBootAssets({ cacheDir: options.cacheDir ?? defaultCacheDir(), log: say });
      say(
        `kernel ${boot.kernelVersion}, initramfs ${boot.cached ? "cached" : "built"}: ${boot.dir}`,
      );
      if (boot.missingOptional.length) say(`initramfs without: ${boot.missingOptional.join(", ")}`);
    }

    runDir = mkdtempSync(join(tmpdir(), "recon-lab-"));
    chmodSync(runDir, 0o755);
    const keep = options.keep ?? false;
    cleanup.add(`remove ${runDir}`, () => {
      if (!keep) rmSync(runDir, { recursive: true, force: true });
    });
    const uid = UNPRIVILEGED_UID;
    const runTag = randomBytes(2).toString("hex");

    const lan = Lan.create(
      cleanup,
      image ? { masterIp: IMAGE_LAB_HOST_IP, prefixLength: IMAGE_PREFIX_LENGTH } : {},
    );
    say(`provisioning LAN: netns ${lan.ns}, ${lan.bridge} ${lan.masterIp}/${lan.prefixLength}`);
    say(`host: ${hostLoad()} (the lab's TCG guests need the cores to themselves)`);

    const menuArgs = [
      // TCG guests on a busy host: no watchdog noise, no RCU stall reports.
      "rcupdate.rcu_cpu_stall_suppress=1",
      "nowatchdog",
      ...(options.poweroff ? [`recon.poweroff=${options.poweroff}`] : []),
      ...(options.menuArgs ?? []),
    ];
    const phaseTimeout = options.phaseTimeoutMs ?? 10 * 60_000;
    let master: Master | ImageMaster;
    const signed = image ? isoSignedForSecureBoot(image) : false;
    const twinFirmware = image
      ? (options.twinFirmware ?? (signed ? "ovmf-secureboot" : "none"))
      : "none";
    if (image) {
      const firmware = options.masterFirmware ?? (signed ? "ovmf-secureboot" : "seabios");
      say(`master: firmware ${firmware} (the ISO's boot loader is ${signed ? "" : "not "}signed)`);
      const imageMaster = new ImageMaster({
        firmware,
        lan,
        dir: join(runDir, "master"),
        iso: image,
        mac: `52:54:00:${runTag.slice(0, 2)}:fe:01`,
        uid,
        log: say,
      });
      master = imageMaster;
      cleanup.add("stop the master VM", () => imageMaster.kill());
      say(`master: booting ${image} from a USB stick (${imageMaster.stick})`);
      await imageMaster.start();
      await imageMaster.waitReady(phaseTimeout);
      say(
        `master: recon-agent serve on http://${IMAGE_MASTER_IP}/ and the peers' root image is served`,
      );
    } else {
      const dist = ensureDist(say);
      if (!boot) throw new Error("no boot assets");
      const hostMaster = new Master({
        lan,
        dir: join(runDir, "master"),
        agentBinary: dist.agent,
        postTgz: dist.postTgz,
        vmlinuz: boot.vmlinuz,
        initrd: boot.initrd,
        kernelVersion: boot.kernelVersion,
        menuArgs,
        uid,
        log: say,
      });
      master = hostMaster;
      cleanup.add("stop master", () => hostMaster.stop());
      await hostMaster.startDnsmasq();
      await hostMaster.startServe();
      say(
        `master: dnsmasq + recon-agent serve on http://${lan.masterIp}/ (data ${hostMaster.root})`,
      );
    }

    const vms = new Map<string, { vm: PeerVm; peer: LabPeer }>();
    const byMac = new Map<string, string>();
    const byIp = new Map<string, string>();
    master.onEvent((what, d) => {
      if (what === "lease" && d.mac && d.ip) {
        const name = byMac.get(d.mac);
        if (!name) return;
        const first = !byIp.has(d.ip);
        byIp.set(d.ip, name);
        if (first) say(`${name.padEnd(7)} DHCP lease ${d.ip} (${d.mac})`);
      } else if (what === "fetch" && d.ip) {
        const name = byIp.get(d.ip) ?? d.ip;
        say(`${name.padEnd(7)} GET ${d.path}`);
      } else if (what === "stored" && d.nodeId) {
        say(`${"master".padEnd(7)} stored ${d.kind} of ${d.nodeId}`);
      }
    });

    const startPeer = async (peer: LabPeer, index: number) => {
      const { spec } = peer;
      const dir = join(runDir, "peers", spec.name);
      mkdirSync(dir, { recursive: true });
      makeDisks(spec, dir);
      const taps = spec.nics.map(() => lan.addTap(uid));
      for (const n of spec.nics) byMac.set(n.mac, spec.name);
      let bmcVmPort: number | undefined;
      let bmcLinkLog: string | null = null;
      if (spec.bmc === "ipmi-sim") {
        bmcVmPort = 9100 + index * 2;
        const bmc = await startIpmiSim({
          lan,
          dir: join(dir, "bmc"),
          name: spec.name,
          vmPort: bmcVmPort,
          lanPort: bmcVmPort + 1,
          uid,
          facts: spec.bmcLan ?? null,
          fru: [
            {
              id: 0,
              chassis: { partNumber: "RLC-1", serial: spec.system.serial },
              board: {
                manufacturer: spec.baseboard.manufacturer,
                product: spec.baseboard.product,
                serial: spec.baseboard.serial,
                partNumber: "RLB-PN",
              },
              product: {
                manufacturer: spec.system.manufacturer,
                name: spec.system.product,
                partNumber: "RL-PN",
                version: spec.system.version,
                serial: spec.system.serial,
                assetTag: `asset-${spec.name}`,
              },
            },
            {
              id: 1,
              name: "PSU1",
              product: {
                manufacturer: "Recon Lab Power",
                name: "RLP-500W",
                partNumber: "RLP500",
                serial: `${spec.system.serial}P1`,
              },
            },
          ],
        });
        cleanup.add(`stop ipmi_sim ${spec.name}`, () => bmc.daemon.stop(2000));
        // QEMU reaches the BMC through a relay that records what the BMC sends it (its power
        // commands): how the peer went off is then the BMC's record, not an inference.
        const linkPort = 9300 + index;
        const linkOut = join(dir, "bmc", "vm-link.log");
        bmcLinkLog = join(dir, "bmc", "vm-link.jsonl");
        const link = startDaemon(
          `vm-link ${spec.name}`,
          lan.exec([
            process.execPath,
            join(REPO, "test/lab/vm-link.ts"),
            "--listen",
            String(linkPort),
            "--to",
            String(bmcVmPort),
            "--log",
            bmcLinkLog,
          ]),
          linkOut,
        );
        cleanup.add(`stop vm-link ${spec.name}`, () => link.stop(2000));
        const deadline = Date.now() + 15_000;
        while (!(existsSync(linkOut) && readFileSync(linkOut, "utf8").includes("listening"))) {
          if (!link.running() || Date.now() > deadline)
            throw new Error(`vm-link ${spec.name} is not listening; see ${linkOut}`);
          await sleep(100);
        }
        bmcVmPort = linkPort;
      }
      run(["chown", "-R", `${uid}:${uid}`, dir]);
      const serialLog = join(dir, "serial.log");
      const qmpSocket = join(dir, "qmp.sock");
      const vm = new PeerVm(spec, serialLog, (v, line) => {
        const detail = line ? `: ${line}` : "";
        if (v.phase === "off") {
          const m = v.offMethod();
          say(
            `${spec.name.padEnd(7)} powered off (${m}) after ${fmtSecs((v.timeline.offAt ?? 0) - v.timeline.startedAt)}`,
          );
        } else if (line && v.phase !== "network") {
          say(`${spec.name.padEnd(7)} ${line}`);
        } else if (v.phase !== "booting") {
          say(`${spec.name.padEnd(7)} ${PHASE_TEXT[v.phase]}${detail}`);
        }
      });
      vm.bmcLinkLog = bmcLinkLog;
      vms.set(spec.name, { vm, peer });
      cleanup.add(`stop qemu ${spec.name}`, () => vm.kill());
      const argv = lan.exec([
        ...unprivileged(uid),
        ...qemuArgs(spec, { dir, taps, bmcVmPort, serialLog, qmpSocket }),
      ]);
      say(
        `${spec.name.padEnd(7)} booting: ${spec.machine}, ${spec.cpus} vCPU, ${spec.memoryMiB} MiB, ` +
          `NICs ${spec.nics.map((n) => `${n.model}=${n.mac}`).join(" ")}, ` +
          `disks ${spec.disks.map((d) => `${d.bus}:${d.serial}`).join(" ")}, BMC ${spec.bmc}, ` +
          `firmware ${spec.firmware ?? "seabios"}`,
      );
      await vm.start(argv, qmpSocket, join(dir, "qemu.log"));
    };

    /** Waits until every VM of the phase exited; `tick` runs every 250 ms. */
    const waitPhase = async (names: string[], tick?: () => Promise<void> | void) => {
      const deadline = Date.now() + phaseTimeout;
      for (;;) {
        master.poll();
        await tick?.();
        const running = names.filter((n) => vms.get(n)?.vm.exit === null);
        if (running.length === 0) return;
        if (Date.now() > deadline) {
          say(
            `timeout: ${running.join(", ")} still running after ${fmtSecs(phaseTimeout)}; powering them off (host: ${hostLoad()})`,
          );
          for (const n of running) {
            const entry = vms.get(n);
            if (entry) {
              timedOut.add(n);
              await entry.vm.kill();
            }
          }
          return;
        }
        await sleep(250);
      }
    };
    const timedOut = new Set<string>();
    let dhcpOnly: DhcpOnlyPeer | null = null;
    // A machine that takes its lease and boot files and never runs the agent: the master must
    // list it as booting, by its MAC.
    const startDhcpOnly = () => {
      const dhcpDir = join(runDir, "peers", "dhcp-only");
      mkdirSync(dhcpDir, { recursive: true });
      const mac = `52:54:00:${runTag.slice(0, 2)}:fd:01`;
      const peer = startDhcpOnlyPeer(lan, cleanup, { mac, dir: dhcpDir });
      say(`dhcp-only lease ${peer.ip} (${mac}), fetched ${peer.fetched.join(" ")}`);
      return peer;
    };

    // Phase 1: the normal peers, all at once.
    const specs = defaultPeers(options.peers ?? 3, runTag);
    const normal: LabPeer[] = (
      twinFirmware === "none" ? specs : withSecureBootTwin(specs, runTag, twinFirmware)
    ).map((spec) => {
      // The live image's peers hold the downloaded ISO (livenet), post.tgz and its unpacked
      // binaries in /run, a tmpfs of half the RAM.
      if (image) spec.memoryMiB += 1024;
      // One peer is a server with a RAID HBA and an NVMe subsystem (schema 1.2 storage facts).
      if (spec.name === "peer3") spec.extra = labServerHardware(spec);
      return { spec, scenario: "normal" };
    });
    let index = 0;
    for (const p of normal) {
      await startPeer(p, index++);
      await sleep(1000);
    }
    await waitPhase(normal.map((p) => p.spec.name));
    // The image's master has no failure paths (it cannot be stopped the way the outage needs),
    // but it has its DHCP-only peer.
    if (image) dhcpOnly = startDhcpOnly();

    // Phase 2: failure paths. The master's upload service goes down once the outage peer runs
    // its agent, and comes back after the agent has had to retry.
    if (options.failurePaths && master instanceof Master) {
      const hostMaster = master;
      const extra = failurePeers(runTag, normal.length);
      say("failure paths: 'outage' meets a stopped master, 'no-bmc' has no BMC");
      hostMaster.writeMenu([
        ...menuArgs.filter((a) => !a.startsWith("recon.poweroff=")),
        "recon.poweroff=hard",
      ]);
      for (const p of extra) {
        await startPeer(p, index++);
        await sleep(1000);
      }
      dhcpOnly = startDhcpOnly();
      const outage = vms.get("outage")?.vm;
      const outageState: { state: "waiting" | "down" | "up" } = { state: "waiting" };
      let downAt = 0;
      await waitPhase(
        extra.map((p) => p.spec.name),
        async () => {
          if (!outage) return;
          // Both peers must have post.tgz before the master goes away (recon-role.sh would wait
          // for it anyway, but then the outage would test the fetch, not the upload).
          const agentsUp = extra.every((p) => {
            const v = vms.get(p.spec.name)?.vm;
            return v && (v.timeline.agentAt !== undefined || v.exit !== null);
          });
          if (outageState.state === "waiting" && agentsUp) {
            say("master: stopping recon-agent serve (outage)");
            await hostMaster.stopServe();
            outageState.state = "down";
            downAt = Date.now();
          } else if (outageState.state === "down") {
            const retried = outage.agentEvents.filter((e) => e.event === "upload.retry").length;
            if (retried >= 2 || Date.now() - downAt > 180_000 || outage.exit !== null) {
              say(`master: starting recon-agent serve again (outage peer retried ${retried}x)`);
              await hostMaster.startServe();
              outageState.state = "up";
            }
          }
        },
      );
      if (outageState.state === "down") await hostMaster.startServe();
    }

    // Results: what the master has, per peer. The image's master is powered down first, as the
    // operator would, and what it has is read from the stick.
    await sleep(500);
    master.poll();
    let imageResult: LabResult["imageMaster"] = null;
    if (master instanceof ImageMaster) {
      say("master: all peers done: pressing the master's power button");
      const how = await master.powerDown(3 * 60_000);
      say(`master: ${how === "acpi" ? "powered down" : "did not power down in 3 min: killed"}`);
      // No RECON-DATA on the stick (recon-data.service failed, say) is a finding, not a crash.
      let partition: string | null = null;
      try {
        partition = master.collect();
        say(`master: inventories read from the stick's ${DATA_LABEL} partition (${partition})`);
      } catch (error) {
        say(`master: ${(error as Error).message}`);
      }
      imageResult = {
        powerDown: how,
        dataPartition: partition,
        dataMountedOnMaster: master.milestones.dataMounted !== undefined,
        notes: master.notes,
        firmware: master.firmware,
        secureBoot: master.secureBoot,
        lockdown: master.lockdown,
        stickFiles: existsSync(master.root) ? readdirSync(master.root).sort() : [],
      };
    }
    const nodesDir = join(master.root, "nodes");
    const documents = new Map<string, { nodeId: string; doc: Record<string, unknown> }>();
    if (existsSync(nodesDir)) {
      for (const nodeId of readdirSync(nodesDir)) {
        const f = join(nodesDir, nodeId, "inventory.json");
        if (!existsSync(f)) continue;
        try {
          const doc = JSON.parse(readFileSync(f, "utf8")) as Record<string, unknown>;
          const uuid = (doc.system as { uuid?: string } | undefined)?.uuid;
          const bootMac = (doc.boot as { bootMac?: string } | undefined)?.bootMac;
          for (const { peer } of vms.values()) {
            if (peer.spec.system.uuid === uuid || peer.spec.nics[0]?.mac === bootMac) {
              documents.set(peer.spec.name, { nodeId, doc });
            }
          }
        } catch {}
      }
    }
    const states = await statesOf(master.root);
    const dhcpOnlyState =
      dhcpOnly && (states.get(`mac-${dhcpOnly.mac.replaceAll(":", "")}`) ?? null);
    if (dhcpOnly) say(`dhcp-only the master lists it as ${dhcpOnlyState}`);
    const peers: PeerResult[] = [];
    for (const { vm, peer } of vms.values()) {
      const found = documents.get(peer.spec.name);
      const nodeId = found?.nodeId ?? null;
      const inv = nodeId ? join(nodesDir, nodeId, "inventory.json") : null;
      const evd = nodeId ? join(nodesDir, nodeId, "evidence.tar.gz") : null;
      const storedAt = (kind: string, file: string | null) => {
        const ev = master.stored.filter((s) => s.nodeId === nodeId && s.kind === kind).at(-1);
        if (ev) return ev.storedAt ? Date.parse(ev.storedAt) : ev.at;
        return file && existsSync(file) ? statSync(file).mtimeMs : null;
      };
      const method = timedOut.has(peer.spec.name) ? "timeout" : vm.offMethod();
      const shutdown = vm.shutdownEvent();
      const offRequestedAt =
        method === "ipmi-soft"
          ? (vm.timeline.powerdownAt ?? null)
          : (shutdown?.at ?? vm.exit?.at ?? null);
      let serialTail = "";
      try {
        serialTail = readFileSync(vm.serialLog, "utf8").split(/\r?\n/).slice(-40).join("\n");
      } catch {}
      peers.push({
        spec: peer.spec,
        scenario: peer.scenario,
        nodeId,
        inventoryPath: inv && existsSync(inv) ? inv : null,
        evidencePath: evd && existsSync(evd) ? evd : null,
        document: found?.doc ?? null,
        inventoryStoredAt: storedAt("inventory", inv),
        evidenceStoredAt: storedAt("evidence", evd),
        offMethod: method,
        offRequestedAt,
        offAt: vm.exit?.at ?? null,
        startedAt: vm.timeline.startedAt,
        agentEvents: vm.agentEvents.map((e) => String(e.event)),
        masterState: nodeId ? (states.get(nodeId) ?? null) : null,
        notes: vm.notes,
        serialTail,
        serialLog: vm.serialLog,
      });
    }
    const http = sumHttpBytes(
      readFileSync(master instanceof ImageMaster ? master.serialLog : master.serveLog, "utf8"),
    );
    const leases = leasesFromEvents(master.root);
    for (const [mac, ip] of master.leases) leases.set(mac, (leases.get(mac) ?? new Set()).add(ip));
    const bytes = {
      ...bytesPerPeer(
        http.byRemote,
        leases,
        peers.map((p) => ({ name: p.spec.name, macs: p.spec.nics.map((n) => n.mac) })),
      ),
      unmeasured: http.unmeasured,
    };
    const twinNames = normal
      .filter((p) => p.spec.firmware !== undefined && p.spec.firmware !== "seabios")
      .map((p): [string, string] => [normal[0]?.spec.name ?? "", p.spec.name]);
    ok = true;
    return {
      runDir,
      masterRoot: master.root,
      boot,
      imageMaster: imageResult,
      bytes,
      twins: twinNames[0] ?? null,
      peers,
      startedAt,
      durationMs: Date.now() - startedAt,
      serveHistory: [...master.serveHistory],
      dhcpOnly: dhcpOnly ? { ...dhcpOnly, state: dhcpOnlyState } : null,
      kept: options.keep ?? false,
    };
  } finally {
    const errors = await cleanup.close();
    for (const e of errors) log(`cleanup: ${e}`);
    removeSignals();
    if (!ok && runDir && options.keep) log(`run directory kept: ${runDir}`);
  }
}

/**
 * The ISO for image mode: `path` itself, or the ISO= that image.env in the directory `path`
 * names (kiwi/builds/<recipe>, where `make-recipe-target <recipe> target` leaves it).
 */
export function resolveImage(path: string): string {
  let iso = resolve(path);
  if (existsSync(iso) && statSync(iso).isDirectory()) {
    const envFile = join(iso, "image.env");
    if (!existsSync(envFile))
      throw new Error(`${path}: no image.env (run kiwi/make-recipe-target <recipe> target)`);
    const named = /^ISO=(.*)$/m.exec(readFileSync(envFile, "utf8"))?.[1];
    if (!named) throw new Error(`${envFile} names no ISO`);
    iso = resolve(path, named);
  }
  if (!existsSync(iso)) throw new Error(`${iso}: no such ISO`);
  return iso;
}

const MiB = 1024 ** 2;

/** Image mode: every way the master differs from what the operator needs; [] when it matches. */
export function checkImageMaster(result: LabResult): string[] {
  const m = result.imageMaster;
  if (!m) return [];
  const problems: string[] = [];
  if (m.powerDown !== "acpi")
    problems.push("the master did not power down from its power button within 3 minutes");
  if (!m.dataMountedOnMaster)
    problems.push("the master never said it mounted RECON-DATA (recon-data.service)");
  if (m.dataPartition === null) problems.push(`the stick has no ${DATA_LABEL} partition`);
  // The report serve writes at shutdown (issue 14): what the operator opens from the stick.
  for (const file of ["report.html", "nodes.csv"])
    if (!m.stickFiles.includes(file))
      problems.push(
        `no ${file} on the stick after the master's shutdown (RECON-DATA holds ${m.stickFiles.join(", ") || "nothing"})`,
      );
  if (m.firmware === "ovmf-secureboot") {
    if (m.secureBoot !== "enabled")
      problems.push(
        `the master booted under enforced Secure Boot but its kernel said ${m.secureBoot === null ? "nothing about it" : `Secure boot ${m.secureBoot}`}`,
      );
    if (m.lockdown === null)
      problems.push("the master's kernel did not say it is locked down (Secure Boot lockdown)");
  }
  return problems;
}

/** Every way a peer's record on the master differs from what the peer was; [] when it matches. */
export function checkPeer(r: PeerResult, serveHistory: LabResult["serveHistory"] = []): string[] {
  const problems: string[] = [];
  const { spec } = r;
  if (!r.inventoryPath || !r.document)
    return [`no inventory stored on the master for ${spec.name}`];
  const parsed = Inventory.safeParse(r.document);
  if (!parsed.success) {
    problems.push(
      `inventory is not schema-valid: ${parsed.error.issues
        .slice(0, 5)
        .map((i) => `${i.path.join(".")}: ${i.message}`)
        .join("; ")}`,
    );
    return problems;
  }
  const doc = parsed.data;
  const eq = (what: string, got: unknown, want: unknown) => {
    if (got !== want)
      problems.push(
        `${what}: master has ${JSON.stringify(got)}, peer was given ${JSON.stringify(want)}`,
      );
  };
  eq("system.serialNumber", doc.system.serialNumber, spec.system.serial);
  eq("system.uuid", doc.system.uuid, spec.system.uuid.toLowerCase());
  eq("system.productName", doc.system.productName, spec.system.product);
  eq("system.manufacturer", doc.system.manufacturer, spec.system.manufacturer);
  const memory = spec.memoryMiB * MiB;
  const dimmSum = doc.memory.dimms.reduce((s, d) => s + (d.sizeBytes ?? 0), 0);
  if (doc.memory.totalBytes !== memory && dimmSum !== memory) {
    problems.push(
      `memory: totalBytes ${doc.memory.totalBytes}, DIMMs ${dimmSum}, peer was given ${memory}`,
    );
  }
  const osv = doc.memory.osVisibleBytes;
  if (osv === null || osv > memory || osv < memory / 2)
    problems.push(`memory.osVisibleBytes ${osv} not within (${memory / 2}, ${memory}]`);
  eq("cpu.logicalCpus", doc.cpu.logicalCpus, spec.cpus);
  const diskSerials = new Set(doc.disks.map((d) => d.serialNumber));
  for (const d of spec.disks) {
    if (!diskSerials.has(d.serial))
      problems.push(
        `disk ${d.bus} serial ${d.serial} missing (master has ${[...diskSerials].join(", ")})`,
      );
  }
  for (const d of spec.extra?.megasas?.drives ?? []) {
    const drive = doc.disks.find((disk) => disk.serialNumber === d.serial);
    if (!drive) problems.push(`megasas drive ${d.serial} missing from disks[]`);
    else if (drive.firmwareVersion !== d.ver)
      problems.push(`megasas drive ${d.serial}: firmware ${drive.firmwareVersion}, given ${d.ver}`);
  }
  const subsystem = spec.extra?.nvmeSubsystem;
  if (subsystem) {
    const controller = doc.nvmeControllers.find((c) => c.serialNumber === subsystem.serial);
    if (!controller) problems.push(`NVMe controller ${subsystem.serial} missing`);
    else if (controller.namespaces.length !== subsystem.namespaces.length)
      problems.push(
        `NVMe ${subsystem.serial}: ${controller.namespaces.length} namespaces, given ${subsystem.namespaces.length}`,
      );
    const namespaces = doc.disks.filter((disk) => disk.controllerSerial === subsystem.serial);
    if (namespaces.length !== subsystem.namespaces.length)
      problems.push(`NVMe ${subsystem.serial}: ${namespaces.length} namespace disks in disks[]`);
  }
  const macs = new Set(doc.nics.flatMap((n) => [n.macAddress, n.permanentMacAddress]));
  for (const n of spec.nics)
    if (!macs.has(n.mac))
      problems.push(
        `NIC ${n.model} ${n.mac} missing (master has ${[...macs].filter(Boolean).join(", ")})`,
      );
  eq("boot.bootMac", doc.boot.bootMac, spec.nics[0]?.mac);
  // What the firmware was, as the agent read it (/sys/firmware/efi and its SecureBoot variable).
  const firmware = spec.firmware ?? "seabios";
  eq("boot.firmware", doc.boot.firmware, firmware === "seabios" ? "bios" : "uefi");
  if (firmware !== "seabios")
    eq("boot.secureBoot", doc.boot.secureBoot, firmware === "ovmf-secureboot");
  if (spec.bmc === "none") {
    if (doc.bmc !== null)
      problems.push(`bmc: expected none, master has ${JSON.stringify(doc.bmc)}`);
  } else if (!doc.bmc) {
    problems.push(`bmc: the peer has a BMC (${spec.bmc}) but the inventory has none`);
  } else if (spec.bmcLan) {
    eq("bmc.ipv4Address", doc.bmc.ipv4Address, spec.bmcLan.ipv4Address);
    eq("bmc.macAddress", doc.bmc.macAddress, spec.bmcLan.macAddress);
  }
  if (!r.evidencePath) problems.push("no evidence stored on the master");

  // Power-off: through the BMC when there is one (soft: the ACPI button it pressed; hard: QEMU's
  // host-ipmi shutdown), through the OS without one; never before the master stored everything.
  const wantMethods = spec.bmc === "none" ? ["os"] : ["ipmi-soft", "ipmi-hard"];
  if (!r.offMethod || !wantMethods.includes(r.offMethod)) {
    problems.push(
      `power-off: ${r.offMethod ?? "still running"}, expected ${wantMethods.join(" or ")}`,
    );
  }
  // The master saw it go: its page shows the node as powered off (the peer's last event).
  if (r.masterState !== "powered-off")
    problems.push(`the master shows the node as ${r.masterState ?? "unknown"}, not powered-off`);
  if (r.offRequestedAt !== null) {
    for (const [what, at] of [
      ["inventory", r.inventoryStoredAt],
      ["evidence", r.evidenceStoredAt],
    ] as const) {
      if (at === null) continue;
      if (at > r.offRequestedAt)
        problems.push(
          `power-off at ${new Date(r.offRequestedAt).toISOString()} before the master stored the ${what} (${new Date(at).toISOString()})`,
        );
    }
  }
  if (r.scenario === "outage") {
    if (!r.agentEvents.includes("upload.retry"))
      problems.push("outage: the agent never retried its upload");
    const restart = serveHistory.filter((h) => h.event === "start").at(-1)?.at;
    if (restart && r.inventoryStoredAt !== null && r.inventoryStoredAt < restart) {
      problems.push("outage: the inventory was stored before the master came back");
    }
  }
  return problems;
}
