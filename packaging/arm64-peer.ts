// `npm run build:arm64`: what a master serves an arm64 (Ampere, Kunpeng) peer, built without
// running any arm64 code, into dist/aarch64/:
//
//   linux          Debian 12's arm64 kernel (linux-image-arm64's versioned package)
//   initrd         gzip'd newc cpio: busybox (static), dash, the kernel modules of the peer's
//                  NIC, disk and BMC drivers, the tools the agent runs with their libraries,
//                  glibc and libstdc++ for the agent binary, curl/tar/xz for post.tgz,
//                  packaging/recon-role.sh, and the lab's test/lab/init.sh as /init (the x86
//                  lab initramfs' init: DHCP on the BOOTIF NIC, then recon-role.sh as a peer)
//   grubaa64.efi   Debian's signed network GRUB (grub-efi-arm64-signed: grubnetaa64.efi.signed)
//   manifest.json  the packages and versions, the modules, the sizes
//
// This is the fallback the issue allows for the arm64 live image: KIWI's aarch64 build of
// kiwi/debian-12 needs arm64 programs run in its chroot (binfmt_misc + qemu-user), see
// packaging/README.md. The initrd is the whole peer: it has no squashfs root, and the agent
// itself comes from the master's post-aarch64.tgz (post.tgz on older masters), as on every peer.
//
// The packages come from the machine's own apt sources through a private apt configuration
// (its own state, cache and architecture: arm64), so the machine's dpkg architectures and apt
// lists are never touched. Debian's packages are cached, keyed by their versions (the file
// names), in <cache>/debs; the payload in <cache>/boot-<hash> (hash of every input).
//
// Usage: node packaging/arm64-peer.ts [--out-dir DIR] [--cache DIR] [--no-update]
import { createHash } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import {
  cpioArchive,
  moduleClosure,
  put,
  RECON_ROLE_SH,
  stageEntries,
} from "../test/lab/initramfs.ts";
import { run } from "../test/lab/proc.ts";

const ROOT = resolve(import.meta.dirname, "..");
const INIT_SH = join(ROOT, "test/lab/init.sh");
export const MULTIARCH_AARCH64 = "aarch64-linux-gnu";

/** Debian packages whose programs and libraries go into the initrd (their Depends come too). */
export const USERLAND_PACKAGES: readonly string[] = [
  "busybox-static",
  "dash",
  "libc6",
  "libstdc++6",
  "libgcc-s1",
  "dmidecode",
  "pciutils",
  "pci.ids",
  "lshw",
  "ipmitool",
  "ethtool",
  "smartmontools",
  "nvme-cli",
  "util-linux",
  "iproute2",
  "udev",
  "curl",
  "tar",
  "xz-utils",
  "zstd",
  "gzip",
];

/**
 * Kernel modules of an arm64 peer: QEMU virt's virtio devices and a server's usual NICs and
 * disks; ipmi_si finds a PCI KCS BMC (QEMU's pci-ipmi-kcs, a server's on-board BMC) or an
 * ACPI/DT one. Names that Debian's arm64 kernel builds in are skipped (moduleClosure knows
 * modules.builtin); a name that is neither is an error.
 */
export const ARM64_MODULES: readonly string[] = [
  "virtio_pci",
  "virtio_mmio",
  "virtio_net",
  "virtio_blk",
  "virtio_scsi",
  "nvme",
  "ahci",
  "sd_mod",
  "igb",
  "ixgbe",
  "mlx5_core",
  "ipmi_msghandler",
  "ipmi_devintf",
  "ipmi_si",
  "af_packet",
  "evdev",
  // Debian builds efivarfs as a module: without it there are no EFI variables (Secure Boot
  // state, boot entries) for the agent. /init mounts it before loading modules, so the kernel
  // loads it on demand through /sbin/modprobe (linked below).
  "efivarfs",
];

/** A program from the extracted packages and where it goes in the initrd (merged /usr). */
interface ToolFile {
  /** Path in the extracted tree, first existing wins. */
  paths: string[];
  target: string;
}

const tool = (target: string, ...more: string[]): ToolFile => ({
  paths: [target, ...more],
  target,
});

/** The programs copied into the initrd; their libraries are found from their ELF headers. */
export const ARM64_TOOLS: readonly ToolFile[] = [
  tool("/usr/bin/dash", "/bin/dash"),
  tool("/usr/sbin/dmidecode"),
  tool("/usr/bin/lspci"),
  tool("/usr/bin/lsblk", "/bin/lsblk"),
  tool("/usr/bin/lscpu"),
  tool("/usr/bin/ipmitool"),
  tool("/usr/bin/lshw"),
  { paths: ["/usr/sbin/ip", "/sbin/ip", "/bin/ip"], target: "/usr/sbin/ip" },
  { paths: ["/usr/sbin/ethtool", "/sbin/ethtool"], target: "/usr/sbin/ethtool" },
  tool("/usr/sbin/smartctl"),
  tool("/usr/sbin/nvme"),
  tool("/usr/bin/curl"),
  { paths: ["/usr/bin/tar", "/bin/tar"], target: "/usr/bin/tar" },
  tool("/usr/bin/xz"),
  tool("/usr/bin/zstd"),
  { paths: ["/usr/bin/gzip", "/bin/gzip"], target: "/usr/bin/gzip" },
  { paths: ["/usr/bin/udevadm", "/bin/udevadm"], target: "/usr/bin/udevadm" },
  { paths: ["/usr/lib/udev/ata_id", "/lib/udev/ata_id"], target: "/usr/lib/udev/ata_id" },
  { paths: ["/usr/lib/udev/scsi_id", "/lib/udev/scsi_id"], target: "/usr/lib/udev/scsi_id" },
];

/** Libraries the agent (a Node single executable) loads, besides what the tools need. */
export const AGENT_NEEDED: readonly string[] = [
  "libc.so.6",
  "libm.so.6",
  "libdl.so.2",
  "libpthread.so.0",
  "libstdc++.so.6",
  "libgcc_s.so.1",
];

const UDEV_RULES = [
  "50-udev-default.rules",
  "60-block.rules",
  "60-persistent-storage.rules",
  "80-drivers.rules",
];

// --- pure parts -------------------------------------------------------------------------------

/**
 * apt options for a private arm64 view of the machine's own sources: state, cache, sources and
 * preferences under `dir`, an empty dpkg status (nothing counts as installed), architecture
 * arm64. Nothing of the machine's apt or dpkg configuration is changed.
 */
export function privateAptOptions(dir: string): string[] {
  const o = (kv: string) => ["-o", kv];
  return [
    ...o("APT::Architecture=arm64"),
    ...o("APT::Architectures=arm64"),
    ...o(`Dir::State=${join(dir, "state")}`),
    ...o(`Dir::State::status=${join(dir, "state", "status")}`),
    ...o(`Dir::Cache=${join(dir, "cache")}`),
    ...o("Dir::Etc::SourceList=/dev/null"),
    ...o(`Dir::Etc::SourceParts=${join(dir, "sources.list.d")}`),
    ...o("Dir::Etc::Preferences=/dev/null"),
    ...o(`Dir::Etc::PreferencesParts=${join(dir, "preferences.d")}`),
    ...o("APT::Install-Recommends=false"),
  ];
}

/** A package apt would install: name, version and architecture. */
export interface AptPackage {
  name: string;
  version: string;
  arch: string;
}

/**
 * The packages of `apt-get -s install`'s plan, from its "Inst" lines, e.g.
 *   Inst libssl3 (3.0.22-1~deb12u2 Debian-Security:12/oldstable-security [arm64])
 *   Inst libdevmapper1.02.1 (2:1.02.185-2 Debian:12.15/oldstable [arm64]) []
 *   Inst pci.ids (0.0~2023.04.11-1 Debian:12.15/oldstable [all])
 * Other lines (Conf, notes) are skipped.
 */
export function parseSimulatedInstalls(text: string): AptPackage[] {
  const out: AptPackage[] = [];
  for (const line of text.split("\n")) {
    const m = /^Inst (\S+) (?:\[\S+\] )?\((\S+) .*\[([a-z0-9]+)\]\)/.exec(line);
    if (m?.[1] && m[2] && m[3]) out.push({ name: m[1], version: m[2], arch: m[3] });
  }
  return out;
}

/** What an ELF file asks of the dynamic loader. */
export interface ElfDynamic {
  /** ELF e_machine: 183 aarch64, 62 x86_64. */
  machine: number;
  /** PT_INTERP, e.g. /lib/ld-linux-aarch64.so.1; null for a static program or a library. */
  interpreter: string | null;
  /** DT_NEEDED names, e.g. libc.so.6, in file order. */
  needed: string[];
}

/**
 * The interpreter and DT_NEEDED entries of a 64-bit little-endian ELF file (what `readelf -d`
 * shows as "Shared library: [libc.so.6]"); null for anything else or a file cut short. Reads
 * the program headers only (PT_INTERP, PT_DYNAMIC, and PT_LOAD to map DT_STRTAB's address),
 * so it works on binaries of any CPU without running them.
 */
export function elfDynamic(buf: Buffer): ElfDynamic | null {
  try {
    if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46) return null;
    if (buf[4] !== 2 || buf[5] !== 1) return null; // ELFCLASS64, little-endian
    const machine = buf.readUInt16LE(18);
    const phoff = Number(buf.readBigUInt64LE(32));
    const phentsize = buf.readUInt16LE(54);
    const phnum = buf.readUInt16LE(56);
    const loads: { vaddr: number; offset: number; filesz: number }[] = [];
    let interpreter: string | null = null;
    let dynamic: { offset: number; size: number } | null = null;
    for (let i = 0; i < phnum; i++) {
      const p = phoff + i * phentsize;
      const type = buf.readUInt32LE(p);
      const offset = Number(buf.readBigUInt64LE(p + 8));
      const vaddr = Number(buf.readBigUInt64LE(p + 16));
      const filesz = Number(buf.readBigUInt64LE(p + 32));
      if (type === 1) loads.push({ vaddr, offset, filesz });
      else if (type === 2) dynamic = { offset, size: filesz };
      else if (type === 3) {
        const end = buf.indexOf(0, offset);
        if (end < 0 || end > offset + filesz) return null;
        interpreter = buf.toString("latin1", offset, end);
      }
    }
    if (!dynamic) return { machine, interpreter, needed: [] };
    const neededOffsets: number[] = [];
    let strtab: number | null = null;
    for (let d = dynamic.offset; d + 16 <= dynamic.offset + dynamic.size; d += 16) {
      const tag = Number(buf.readBigInt64LE(d));
      const val = Number(buf.readBigUInt64LE(d + 8));
      if (tag === 0) break; // DT_NULL
      if (tag === 1) neededOffsets.push(val); // DT_NEEDED
      if (tag === 5) strtab = val; // DT_STRTAB (an address)
    }
    if (neededOffsets.length === 0) return { machine, interpreter, needed: [] };
    if (strtab === null) return null;
    const address = strtab;
    const seg = loads.find((l) => address >= l.vaddr && address < l.vaddr + l.filesz);
    if (!seg) return null;
    const base = seg.offset + (address - seg.vaddr);
    const needed = neededOffsets.map((n) => {
      const start = base + n;
      const end = buf.indexOf(0, start);
      if (end < 0) throw new RangeError("unterminated string");
      return buf.toString("latin1", start, end);
    });
    return { machine, interpreter, needed };
  } catch {
    return null;
  }
}

/**
 * A path inside an extracted package tree with its symlinks followed inside that tree: an
 * absolute link target (iproute2's /sbin/ip -> /bin/ip) is the tree's file, never the host's.
 */
export function resolveInTree(sysroot: string, path: string): string {
  let p = path;
  for (let hops = 0; hops < 40; hops++) {
    let target: string;
    try {
      if (!lstatSync(p).isSymbolicLink()) return p;
      target = readlinkSync(p);
    } catch {
      return p;
    }
    p = target.startsWith("/") ? join(sysroot, target) : join(dirname(p), target);
  }
  throw new Error(`${path}: too many symbolic links`);
}

/** e_machine of aarch64. */
export const EM_AARCH64 = 183;

/**
 * Every library `programs` need, transitively, as paths in `sysroot` (found in the aarch64
 * multiarch directories, as the arm64 loader's default search path would), the interpreter
 * included. Names it cannot find are returned in `missing`.
 */
export function libraryClosure(
  sysroot: string,
  programs: readonly string[],
  extraNeeded: readonly string[] = [],
): { libs: string[]; missing: string[] } {
  const dirs = [`usr/lib/${MULTIARCH_AARCH64}`, `lib/${MULTIARCH_AARCH64}`, "usr/lib", "lib"].map(
    (d) => join(sysroot, d),
  );
  const libs = new Set<string>();
  const missing = new Set<string>();
  const queue: string[] = [];
  const find = (name: string): string | null => {
    for (const d of dirs) if (existsSync(join(d, name))) return join(d, name);
    return null;
  };
  const want = (name: string) => {
    const path = find(name);
    if (!path) missing.add(name);
    else if (!libs.has(path)) {
      libs.add(path);
      queue.push(path);
    }
  };
  const visit = (file: string) => {
    const info = elfDynamic(readFileSync(resolveInTree(sysroot, file)));
    if (!info) return;
    if (info.machine !== EM_AARCH64) throw new Error(`${file} is not an aarch64 program`);
    if (info.interpreter) {
      const interp = join(sysroot, info.interpreter);
      if (existsSync(interp)) libs.add(interp);
      else missing.add(info.interpreter);
    }
    for (const n of info.needed) want(n);
  };
  for (const p of programs) visit(p);
  for (const n of extraNeeded) want(n);
  for (let lib = queue.shift(); lib; lib = queue.shift()) visit(lib);
  return { libs: [...libs].sort(), missing: [...missing].sort() };
}

// --- apt ----------------------------------------------------------------------------------------

/** The machine's own enabled apt sources (*.list, *.sources), copied into the private dir. */
function copyMachineSources(dir: string): void {
  const target = join(dir, "sources.list.d");
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target, { recursive: true });
  mkdirSync(join(dir, "preferences.d"), { recursive: true });
  if (existsSync("/etc/apt/sources.list"))
    copyFileSync("/etc/apt/sources.list", join(target, "machine.list"));
  const parts = "/etc/apt/sources.list.d";
  for (const f of existsSync(parts) ? readdirSync(parts) : []) {
    if (/\.(list|sources)$/.test(f)) copyFileSync(join(parts, f), join(target, f));
  }
}

interface AptContext {
  dir: string;
  log: (line: string) => void;
}

function apt(ctx: AptContext, tool: "apt-get" | "apt-cache", args: string[], cwd?: string) {
  return run([tool, "-q", ...privateAptOptions(ctx.dir), ...args], { cwd });
}

function aptUpdate(ctx: AptContext, always: boolean): void {
  const lists = join(ctx.dir, "state", "lists");
  const fresh =
    existsSync(lists) &&
    readdirSync(lists).some((f) => f.includes("_Packages")) &&
    Date.now() - statSync(lists).mtimeMs < 24 * 3600_000;
  if (fresh && !always) return;
  copyMachineSources(ctx.dir);
  for (const d of ["state/lists/partial", "cache/archives/partial"])
    mkdirSync(join(ctx.dir, d), { recursive: true });
  writeFileSync(join(ctx.dir, "state", "status"), "");
  ctx.log("apt-get update (private arm64 lists)");
  apt(ctx, "apt-get", ["update"]);
}

/** Downloads (once) the .deb of each package=version into debs/; returns their paths. */
function download(ctx: AptContext, debs: string, pkgs: readonly AptPackage[]): string[] {
  mkdirSync(debs, { recursive: true });
  // apt-get download's file name: the epoch's colon is written %3a.
  const fileOf = (p: AptPackage) => `${p.name}_${p.version.replace(/:/g, "%3a")}_${p.arch}.deb`;
  const missing = pkgs.filter((p) => !existsSync(join(debs, fileOf(p))));
  if (missing.length > 0) {
    ctx.log(`apt-get download: ${missing.length} arm64 packages into ${debs}`);
    apt(
      ctx,
      "apt-get",
      ["download", ...missing.map((p) => `${p.name}:${p.arch}=${p.version}`)],
      debs,
    );
  }
  return pkgs.map((p) => {
    const f = join(debs, fileOf(p));
    if (!existsSync(f)) throw new Error(`apt-get download left no ${basename(f)} in ${debs}`);
    return f;
  });
}

/** What goes into the payload: the kernel, GRUB and the userland closure, with versions. */
function resolvePackages(ctx: AptContext): {
  kernel: AptPackage;
  grub: AptPackage;
  userland: AptPackage[];
} {
  const plan = (names: readonly string[]) =>
    parseSimulatedInstalls(apt(ctx, "apt-get", ["-s", "install", ...names]).stdout);
  // linux-image-arm64 and grub-efi-arm64-signed on their own: their Depends (initramfs-tools,
  // grub-common...) are for installing them, not for serving them.
  const kernel = plan(["linux-image-arm64"]).find((p) => /^linux-image-\d.*-arm64$/.test(p.name));
  const grub = plan(["grub-efi-arm64-signed"]).find((p) => p.name === "grub-efi-arm64-signed");
  if (!kernel || !grub) throw new Error("apt: no linux-image-arm64 or grub-efi-arm64-signed");
  return { kernel, grub, userland: plan(USERLAND_PACKAGES) };
}

// --- the build ---------------------------------------------------------------------------------

export interface Arm64Payload {
  dir: string;
  kernelVersion: string;
  linux: string;
  initrd: string;
  grub: string;
  cached: boolean;
  buildSeconds: number;
  manifest: Record<string, unknown>;
}

export function defaultArm64Cache(): string {
  if (process.env.RECON_ARM64_CACHE) return process.env.RECON_ARM64_CACHE;
  if (process.geteuid?.() === 0) return "/var/cache/recon/arm64";
  return join(process.env.HOME ?? "/tmp", ".cache", "recon", "arm64");
}

function sha256(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Builds (or finds in the cache) linux, initrd and grubaa64.efi. */
export function buildArm64Payload(options: {
  cacheDir: string;
  update?: boolean;
  log?: (line: string) => void;
}): Arm64Payload {
  const started = Date.now();
  const log = options.log ?? (() => {});
  const ctx: AptContext = { dir: join(options.cacheDir, "apt"), log };
  aptUpdate(ctx, options.update ?? false);
  const pkgs = resolvePackages(ctx);
  const debs = join(options.cacheDir, "debs");
  const [kernelDeb, grubDeb] = download(ctx, debs, [pkgs.kernel, pkgs.grub]);
  const userDebs = download(ctx, debs, pkgs.userland);
  if (!kernelDeb || !grubDeb) throw new Error("no kernel or GRUB package");

  const h = createHash("sha256");
  h.update("recon-arm64-peer-v1\n");
  for (const f of [
    import.meta.filename,
    INIT_SH,
    RECON_ROLE_SH,
    join(ROOT, "test/lab/initramfs.ts"),
  ])
    h.update(sha256(readFileSync(f)));
  for (const d of [kernelDeb, grubDeb, ...userDebs]) h.update(`${basename(d)}\n`);
  h.update(ARM64_MODULES.join(","));
  const hash = h.digest("hex").slice(0, 16);
  const dir = join(options.cacheDir, `boot-${hash}`);
  const manifestPath = join(dir, "manifest.json");
  const result = (cached: boolean): Arm64Payload => {
    const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as Record<string, unknown>;
    return {
      dir,
      kernelVersion: String(manifest.kernelVersion),
      linux: join(dir, "linux"),
      initrd: join(dir, "initrd"),
      grub: join(dir, "grubaa64.efi"),
      cached,
      buildSeconds: (Date.now() - started) / 1000,
      manifest,
    };
  };
  if (existsSync(manifestPath)) return result(true);

  log(`building arm64 kernel+initrd ${hash}`);
  const work = mkdtempSync(join(options.cacheDir, ".build-"));
  try {
    // 1. Kernel and its modules, modules.dep from depmod (it reads arm64 modules as well).
    const kroot = join(work, "kernel");
    run(["dpkg-deb", "-x", kernelDeb, kroot]);
    const modulesBase = existsSync(join(kroot, "usr/lib/modules"))
      ? "usr/lib/modules"
      : "lib/modules";
    const [kver, ...more] = readdirSync(join(kroot, modulesBase));
    if (!kver || more.length > 0) throw new Error(`${kernelDeb}: expected one module tree`);
    const kmods = join(kroot, modulesBase, kver);
    run(["depmod", "-b", modulesBase === "lib/modules" ? kroot : join(kroot, "usr"), kver]);
    const order = moduleClosure(kmods, ARM64_MODULES);
    const builtin = ARM64_MODULES.filter(
      (m) =>
        !order.some(
          (p) =>
            basename(p)
              .replace(/\.ko(\.\w+)?$/, "")
              .replace(/-/g, "_") === m,
        ),
    );

    // 2. GRUB's signed network image.
    const groot = join(work, "grub");
    run(["dpkg-deb", "-x", grubDeb, groot]);
    const grubSrc = join(groot, "usr/lib/grub/arm64-efi-signed/grubnetaa64.efi.signed");
    if (!existsSync(grubSrc)) throw new Error(`${grubDeb}: no grubnetaa64.efi.signed`);

    // 3. The userland, extracted into one tree.
    const sysroot = join(work, "sysroot");
    for (const d of userDebs) run(["dpkg-deb", "-x", d, sysroot]);
    const stage = join(work, "stage");
    for (const d of [
      "usr/bin",
      "usr/sbin",
      `usr/lib/${MULTIARCH_AARCH64}`,
      "etc",
      "proc",
      "sys",
      "dev",
      "run",
      "tmp",
      "root",
      "var",
      "mnt",
    ])
      mkdirSync(join(stage, d), { recursive: true });
    symlinkSync("usr/bin", join(stage, "bin"));
    symlinkSync("usr/sbin", join(stage, "sbin"));
    symlinkSync("usr/lib", join(stage, "lib"));
    symlinkSync("../run", join(stage, "var/run"));
    const inTree = (p: string) => p.replace(/^\/(bin|sbin|lib)\//, "/usr/$1/");
    const programs: string[] = [];
    const missingTools: string[] = [];
    for (const t of ARM64_TOOLS) {
      const src = t.paths.map((p) => join(sysroot, p)).find((p) => existsSync(p));
      if (!src) {
        missingTools.push(t.target);
        continue;
      }
      const file = resolveInTree(sysroot, src);
      put(stage, file, t.target);
      programs.push(file);
    }
    if (missingTools.length > 0) throw new Error(`arm64 packages lack ${missingTools.join(", ")}`);
    const busybox = join(sysroot, "bin/busybox");
    const bbInfo = elfDynamic(readFileSync(busybox));
    if (!bbInfo || bbInfo.machine !== EM_AARCH64 || bbInfo.interpreter)
      throw new Error(`${busybox} is not a static aarch64 program`);
    put(stage, busybox, "/usr/bin/busybox");
    const closure = libraryClosure(sysroot, programs, AGENT_NEEDED);
    if (closure.missing.length > 0)
      throw new Error(`arm64 libraries not in the packages: ${closure.missing.join(", ")}`);
    for (const lib of closure.libs)
      put(stage, resolveInTree(sysroot, lib), inTree(lib.slice(sysroot.length)));
    // The agent's interpreter is /lib/ld-linux-aarch64.so.1 (stage/lib -> usr/lib).
    if (!existsSync(join(stage, "usr/lib/ld-linux-aarch64.so.1")))
      throw new Error("no /lib/ld-linux-aarch64.so.1 in the initrd");
    // udevd is udevadm under another name; the rules that give disks their serials.
    mkdirSync(join(stage, "usr/lib/systemd"), { recursive: true });
    symlinkSync("../../bin/udevadm", join(stage, "usr/lib/systemd/systemd-udevd"));
    for (const r of UDEV_RULES) {
      const src = join(sysroot, "usr/lib/udev/rules.d", r);
      const alt = join(sysroot, "lib/udev/rules.d", r);
      const found = existsSync(src) ? src : existsSync(alt) ? alt : null;
      if (found) put(stage, found, `/usr/lib/udev/rules.d/${r}`);
    }
    for (const data of ["usr/share/misc/pci.ids", "usr/share/misc/enterprise-numbers.txt"]) {
      const src = join(sysroot, data);
      if (existsSync(src)) put(stage, src, `/${data}`);
    }
    writeFileSync(
      join(stage, `etc/ld.so.conf`),
      `/usr/lib/${MULTIARCH_AARCH64}\n/lib/${MULTIARCH_AARCH64}\n`,
    );
    symlinkSync("dash", join(stage, "usr/bin/sh"));
    // busybox applets for whatever the packages do not provide (udhcpc, modprobe, init...).
    const applets = run(["qemu-aarch64-static", busybox, "--list"], { allowFail: true });
    const appletList =
      applets.code === 0 ? applets.stdout.split("\n").filter(Boolean) : BUSYBOX_APPLETS_FALLBACK;
    // The kernel's own module loader (request_module) runs /sbin/modprobe.
    symlinkSync("../bin/busybox", join(stage, "usr/sbin/modprobe"));
    for (const a of appletList) {
      if (a === "busybox" || a === "sh") continue;
      if (existsSync(join(stage, "usr/bin", a)) || existsSync(join(stage, "usr/sbin", a))) continue;
      symlinkSync("busybox", join(stage, "usr/bin", a));
    }

    // 4. Modules (and modules.dep for them), the load order for init.sh.
    for (const rel of order) put(stage, join(kmods, rel), join("/usr/lib/modules", kver, rel));
    for (const f of ["modules.order", "modules.builtin", "modules.builtin.modinfo"])
      if (existsSync(join(kmods, f))) put(stage, join(kmods, f), join("/usr/lib/modules", kver, f));
    run(["depmod", "-b", join(stage, "usr"), kver]);
    writeFileSync(
      join(stage, "etc/recon-lab-modules"),
      `${order.map((p) => basename(p).replace(/\.ko(\.\w+)?$/, "")).join("\n")}\n`,
    );

    // 5. Configuration and the init script.
    writeFileSync(
      join(stage, "etc/passwd"),
      "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    );
    writeFileSync(join(stage, "etc/group"), "root:x:0:\ndisk:x:6:\nnogroup:x:65534:\n");
    writeFileSync(join(stage, "etc/hostname"), "recon-peer\n");
    writeFileSync(
      join(stage, "etc/os-release"),
      'PRETTY_NAME="recon arm64 peer initrd"\nID=recon-arm64-peer\n',
    );
    put(stage, INIT_SH, "/init");
    chmodSync(join(stage, "init"), 0o755);
    put(stage, RECON_ROLE_SH, "/usr/share/recon/recon-role.sh");
    chmodSync(join(stage, "usr/share/recon/recon-role.sh"), 0o755);
    writeFileSync(
      join(stage, "etc/recon-lab-build"),
      `kernel=${kver}\nhash=${hash}\narch=aarch64\n`,
    );

    const entries = stageEntries(stage);
    entries.push(
      { name: "dev/console", mode: 0o020600, rdevMajor: 5, rdevMinor: 1 },
      { name: "dev/null", mode: 0o020666, rdevMajor: 1, rdevMinor: 3 },
    );
    const cpio = cpioArchive(entries);
    const gz = gzipSync(cpio, { level: 6 });

    const out = join(work, "out");
    mkdirSync(out);
    copyFileSync(join(kroot, "boot", `vmlinuz-${kver}`), join(out, "linux"));
    writeFileSync(join(out, "initrd"), gz);
    copyFileSync(grubSrc, join(out, "grubaa64.efi"));
    const manifest = {
      kernelVersion: kver,
      hash,
      packages: {
        kernel: `${pkgs.kernel.name} ${pkgs.kernel.version}`,
        grub: `${pkgs.grub.name} ${pkgs.grub.version}`,
        userland: pkgs.userland.map((p) => `${p.name} ${p.version}`),
      },
      modules: order,
      builtin,
      libraries: closure.libs.map((l) => l.slice(sysroot.length)),
      bytes: {
        linux: statSync(join(out, "linux")).size,
        initrd: gz.length,
        initrdUncompressed: cpio.length,
        grubaa64: statSync(join(out, "grubaa64.efi")).size,
      },
      buildSeconds: (Date.now() - started) / 1000,
    };
    writeFileSync(join(out, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(out, dir);
    // Keep the three newest payloads (another checkout may still use its own).
    const older = readdirSync(options.cacheDir)
      .filter((n) => n.startsWith("boot-") && join(options.cacheDir, n) !== dir)
      .map((n) => join(options.cacheDir, n))
      .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
    for (const old of older.slice(2)) rmSync(old, { recursive: true, force: true });
    return result(false);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Applets init.sh and recon-role.sh use, when busybox cannot be asked (no qemu-user). */
const BUSYBOX_APPLETS_FALLBACK = [
  "acpid",
  "awk",
  "cat",
  "chmod",
  "cp",
  "cut",
  "dirname",
  "echo",
  "grep",
  "hostname",
  "init",
  "ln",
  "ls",
  "mkdir",
  "modprobe",
  "mount",
  "mv",
  "poweroff",
  "reboot",
  "rm",
  "sed",
  "sha256sum",
  "sleep",
  "tr",
  "udhcpc",
  "uname",
  "wc",
  "wget",
];

/** Copies the payload into outDir (dist/aarch64): linux, initrd, grubaa64.efi, manifest.json. */
export function writeDist(payload: Arm64Payload, outDir: string): void {
  mkdirSync(outDir, { recursive: true });
  for (const f of ["linux", "initrd", "grubaa64.efi", "manifest.json"])
    copyFileSync(join(payload.dir, f), join(outDir, f));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      "out-dir": { type: "string", default: join(ROOT, "dist", "aarch64") },
      cache: { type: "string", default: defaultArm64Cache() },
      update: { type: "boolean", default: false },
    },
  });
  const log = (l: string) => process.stderr.write(`build:arm64: ${l}\n`);
  const cacheDir = values.cache ?? defaultArm64Cache();
  mkdirSync(cacheDir, { recursive: true });
  const payload = buildArm64Payload({ cacheDir, update: values.update, log });
  const outDir = values["out-dir"] ?? join(ROOT, "dist", "aarch64");
  writeDist(payload, outDir);
  const bytes = payload.manifest.bytes as Record<string, number>;
  const mb = (n: number | undefined) => `${((n ?? 0) / 1e6).toFixed(1)} MB`;
  log(
    `${payload.cached ? "cached" : "built"} in ${payload.buildSeconds.toFixed(1)} s: kernel ${payload.kernelVersion} ${mb(bytes.linux)}, ` +
      `initrd ${mb(bytes.initrd)} (${mb(bytes.initrdUncompressed)} unpacked), grubaa64.efi ${mb(bytes.grubaa64)} -> ${outDir}`,
  );
}

if (import.meta.filename === realpathSync(process.argv[1] ?? "")) {
  main().catch((err: unknown) => {
    process.stderr.write(`build:arm64: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
