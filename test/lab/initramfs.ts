// Builds the lab's boot payload: a Debian kernel (vmlinuz from the linux-image .deb) and an
// initramfs holding busybox, the kernel modules a QEMU peer needs, the tools the agent runs (with
// their shared libraries, ldd-resolved), glibc for the agent binary, and test/lab/init.sh.
// The result is cached outside the repo, keyed by a hash of every input:
//   <cache>/boot-<hash>/{vmlinuz,initrd.gz,manifest.json}
// Nothing here needs root: apt-get download, dpkg-deb -x, depmod -b and the cpio writer run as
// any user (the cpio writer makes /dev/console itself, so no mknod is needed).
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
import { tmpdir } from "node:os";
import { basename, dirname, join, relative } from "node:path";
import { gzipSync } from "node:zlib";
import { run } from "./proc.ts";

const HERE = import.meta.dirname;
/** The live image's role script; the lab's init runs it as the live image's recon.service does. */
export const RECON_ROLE_SH = join(HERE, "../../packaging/recon-role.sh");

/** Kernel modules the peers' QEMU hardware needs (dependencies are added from modules.dep). */
export const LAB_MODULES = [
  // NICs
  "e1000",
  "e1000e",
  "virtio_pci",
  "virtio_net",
  "8139too",
  "8139cp", // QEMU's rtl8139 is a C+ chip: 8139too hands it to 8139cp
  // disks
  "virtio_blk",
  "virtio_scsi",
  "ahci",
  "ata_piix",
  "sd_mod",
  "nvme",
  "megaraid_sas", // the lab's server peer has a MegaRAID HBA (PeerSpec.extra)
  // BMC (KCS interface)
  "ipmi_msghandler",
  "ipmi_devintf",
  "ipmi_si",
  // misc a live image has
  "af_packet",
  // the ACPI power button (a BMC's soft power-off) reaches busybox acpid through evdev
  "button",
  "evdev",
] as const;

interface ToolSpec {
  /** Name for messages. */
  name: string;
  /** Candidate absolute paths on the build host, first existing wins. */
  paths: string[];
  /** Where to put it in the initramfs (default: same path). */
  target?: string;
  required: boolean;
  /** Debian package that ships it (for the error message and docs). */
  pkg: string;
}

/** Dynamically linked tools copied with their libraries. */
export const LAB_TOOLS: ToolSpec[] = [
  // /bin/sh: busybox-static's ash prefers its applets over PATH (`ip` would be busybox's), so the
  // shell is dash, as on a Debian live system; busybox only fills in commands nothing else has.
  {
    name: "dash",
    paths: ["/usr/bin/dash", "/bin/dash"],
    target: "/usr/bin/dash",
    required: true,
    pkg: "dash",
  },
  { name: "dmidecode", paths: ["/usr/sbin/dmidecode"], required: true, pkg: "dmidecode" },
  { name: "lspci", paths: ["/usr/bin/lspci"], required: true, pkg: "pciutils" },
  { name: "lsblk", paths: ["/usr/bin/lsblk", "/bin/lsblk"], required: true, pkg: "util-linux" },
  { name: "lscpu", paths: ["/usr/bin/lscpu"], required: false, pkg: "util-linux" },
  { name: "ipmitool", paths: ["/usr/bin/ipmitool"], required: true, pkg: "ipmitool" },
  { name: "lshw", paths: ["/usr/bin/lshw"], required: false, pkg: "lshw" },
  {
    name: "ip",
    paths: ["/usr/sbin/ip", "/sbin/ip", "/bin/ip"],
    target: "/usr/sbin/ip",
    required: true,
    pkg: "iproute2",
  },
  {
    name: "ethtool",
    paths: ["/usr/sbin/ethtool", "/sbin/ethtool"],
    required: false,
    pkg: "ethtool",
  },
  { name: "smartctl", paths: ["/usr/sbin/smartctl"], required: false, pkg: "smartmontools" },
  { name: "nvme", paths: ["/usr/sbin/nvme"], required: false, pkg: "nvme-cli" },
  // recon-role.sh fetches post.tgz with curl and unpacks it with GNU tar (xz/zstd/gzip).
  { name: "curl", paths: ["/usr/bin/curl"], required: true, pkg: "curl" },
  {
    name: "tar",
    paths: ["/usr/bin/tar", "/bin/tar"],
    target: "/usr/bin/tar",
    required: true,
    pkg: "tar",
  },
  { name: "xz", paths: ["/usr/bin/xz"], required: true, pkg: "xz-utils" },
  { name: "zstd", paths: ["/usr/bin/zstd"], required: false, pkg: "zstd" },
  {
    name: "gzip",
    paths: ["/usr/bin/gzip", "/bin/gzip"],
    target: "/usr/bin/gzip",
    required: true,
    pkg: "gzip",
  },
  {
    name: "udevadm",
    paths: ["/usr/bin/udevadm", "/bin/udevadm"],
    target: "/usr/bin/udevadm",
    required: false,
    pkg: "udev",
  },
  {
    name: "ata_id",
    paths: ["/usr/lib/udev/ata_id", "/lib/udev/ata_id"],
    target: "/usr/lib/udev/ata_id",
    required: false,
    pkg: "udev",
  },
  {
    name: "scsi_id",
    paths: ["/usr/lib/udev/scsi_id", "/lib/udev/scsi_id"],
    target: "/usr/lib/udev/scsi_id",
    required: false,
    pkg: "udev",
  },
];

/** Data files copied as they are when present. */
const LAB_DATA: { paths: string[]; target: string }[] = [
  {
    paths: ["/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids"],
    target: "/usr/share/misc/pci.ids",
  },
  {
    paths: ["/usr/share/misc/enterprise-numbers.txt"],
    target: "/usr/share/misc/enterprise-numbers.txt",
  },
  {
    paths: ["/etc/ld.so.conf.d/x86_64-linux-gnu.conf"],
    target: "/etc/ld.so.conf.d/x86_64-linux-gnu.conf",
  },
  { paths: ["/etc/ld.so.conf.d/libc.conf"], target: "/etc/ld.so.conf.d/libc.conf" },
];

/** udev rules that give block devices their serial/WWN properties and load drivers. */
const UDEV_RULES = [
  "50-udev-default.rules",
  "60-block.rules",
  "60-persistent-storage.rules",
  "80-drivers.rules",
];

/** Libraries the agent binary (a Node single executable) needs besides what the tools pull in. */
const AGENT_LIBS = [
  "libc.so.6",
  "libm.so.6",
  "libdl.so.2",
  "libpthread.so.0",
  "libstdc++.so.6",
  "libgcc_s.so.1",
];
const MULTIARCH = "/usr/lib/x86_64-linux-gnu";
const BUSYBOX_PATHS = ["/usr/bin/busybox", "/bin/busybox"];

export interface BootAssets {
  /** Kernel release, e.g. 6.1.0-56-amd64. */
  kernelVersion: string;
  vmlinuz: string;
  initrd: string;
  /** The cache directory holding both. */
  dir: string;
  /** Tools that were not found on the build host (optional ones only). */
  missingOptional: string[];
  cached: boolean;
}

export interface BuildOptions {
  cacheDir: string;
  /** A linux-image-*.deb; default: the newest in <cacheDir>/debs, else `apt-get download`. */
  kernelDeb?: string;
  log?: (line: string) => void;
}

/** Default cache: /var/cache/recon/lab as root, else ~/.cache/recon/lab (RECON_LAB_CACHE wins). */
export function defaultCacheDir(): string {
  if (process.env.RECON_LAB_CACHE) return process.env.RECON_LAB_CACHE;
  if (process.geteuid?.() === 0) return "/var/cache/recon/lab";
  const base = process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? tmpdir(), ".cache");
  return join(base, "recon", "lab");
}

function firstExisting(paths: readonly string[]): string | null {
  for (const p of paths) if (existsSync(p)) return p;
  return null;
}

/** Finds (or downloads) the Debian kernel package. */
export function locateKernelDeb(options: BuildOptions): string {
  if (options.kernelDeb) return options.kernelDeb;
  if (process.env.RECON_LAB_KERNEL_DEB) return process.env.RECON_LAB_KERNEL_DEB;
  const debs = join(options.cacheDir, "debs");
  const found = () =>
    existsSync(debs)
      ? readdirSync(debs)
          .filter((f) => /^linux-image-\d.*-amd64_.*_amd64\.deb$/.test(f))
          .sort()
          .map((f) => join(debs, f))
      : [];
  let list = found();
  if (list.length === 0) {
    // linux-image-amd64 is a metapackage: download the versioned image it depends on.
    const dep = run(["apt-cache", "depends", "linux-image-amd64"], { allowFail: true });
    const name = /Depends:\s+(linux-image-\S+-amd64)/.exec(dep.stdout)?.[1];
    if (!name) {
      throw new Error(
        "no Debian kernel package: `apt-cache depends linux-image-amd64` found nothing (run `apt-get update`), " +
          "or set RECON_LAB_KERNEL_DEB=/path/to/linux-image-*.deb",
      );
    }
    mkdirSync(debs, { recursive: true });
    options.log?.(`downloading ${name} (apt-get download) into ${debs}`);
    run(["apt-get", "download", "-q", name], { cwd: debs });
    list = found();
  }
  const deb = list.at(-1);
  if (!deb) throw new Error(`apt-get download left no linux-image .deb in ${debs}`);
  return deb;
}

function sha256File(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** The shared libraries (absolute host paths, symlinks kept as seen) ldd resolves for a binary. */
export function lddLibs(binary: string): string[] {
  const r = run(["ldd", binary], { allowFail: true });
  if (r.code !== 0) return []; // static binaries: "not a dynamic executable"
  const libs: string[] = [];
  for (const line of r.stdout.split("\n")) {
    const arrow = /=>\s+(\/\S+)/.exec(line);
    const bare = /^\s+(\/\S+)\s+\(/.exec(line);
    const path = arrow?.[1] ?? bare?.[1];
    if (path) libs.push(path);
    if (/=>\s+not found/.test(line)) throw new Error(`ldd ${binary}: ${line.trim()}`);
  }
  return libs;
}

interface Resolved {
  busybox: string;
  tools: { spec: ToolSpec; path: string }[];
  missingRequired: ToolSpec[];
  missingOptional: ToolSpec[];
  data: { src: string; target: string }[];
  udevRules: string[];
}

export function resolveInputs(): Resolved {
  const tools: Resolved["tools"] = [];
  const missingRequired: ToolSpec[] = [];
  const missingOptional: ToolSpec[] = [];
  for (const spec of LAB_TOOLS) {
    const path = firstExisting(spec.paths);
    if (path) tools.push({ spec, path });
    else (spec.required ? missingRequired : missingOptional).push(spec);
  }
  const busybox = firstExisting(BUSYBOX_PATHS);
  if (!busybox)
    missingRequired.push({
      name: "busybox",
      paths: BUSYBOX_PATHS,
      required: true,
      pkg: "busybox-static",
    });
  else if (run(["ldd", busybox], { allowFail: true }).code === 0) {
    missingRequired.push({
      name: "busybox (static)",
      paths: BUSYBOX_PATHS,
      required: true,
      pkg: "busybox-static",
    });
  }
  const data: Resolved["data"] = [];
  for (const d of LAB_DATA) {
    const src = firstExisting(d.paths);
    if (src) data.push({ src, target: d.target });
  }
  const rulesDir = firstExisting(["/usr/lib/udev/rules.d", "/lib/udev/rules.d"]);
  const udevRules = rulesDir
    ? UDEV_RULES.map((r) => join(rulesDir, r)).filter((p) => existsSync(p))
    : [];
  return { busybox: busybox ?? "", tools, missingRequired, missingOptional, data, udevRules };
}

/** Copies a host file into the staging tree at `target`, creating parents. */
export function put(stage: string, src: string, target: string): void {
  const dst = join(stage, target);
  mkdirSync(dirname(dst), { recursive: true });
  if (existsSync(dst)) return;
  copyFileSync(realpathSync(src), dst);
}

/** Copies a library under its ldd path and, when that path is a symlink, its real file too. */
function putLib(stage: string, lib: string): void {
  // Everything is laid out under /usr (merged-/usr: /lib -> usr/lib, /lib64 -> usr/lib64).
  const target = lib.replace(/^\/(lib|lib64|bin|sbin)\//, "/usr/$1/");
  put(stage, lib, target);
}

/** Topologically ordered module paths (relative to lib/modules/<ver>) for the wanted names. */
export function moduleClosure(modDir: string, wanted: readonly string[]): string[] {
  const dep = new Map<string, string[]>();
  for (const line of readFileSync(join(modDir, "modules.dep"), "utf8").split("\n")) {
    const [mod, rest] = line.split(":");
    if (!mod || rest === undefined) continue;
    dep.set(mod, rest.trim() ? rest.trim().split(/\s+/) : []);
  }
  const builtin = new Set(
    readFileSync(join(modDir, "modules.builtin"), "utf8")
      .split("\n")
      .map((l) => basename(l, ".ko")),
  );
  const byName = new Map<string, string>();
  for (const path of dep.keys())
    byName.set(
      basename(path)
        .replace(/\.ko(\.\w+)?$/, "")
        .replace(/-/g, "_"),
      path,
    );
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (path: string) => {
    if (seen.has(path)) return;
    seen.add(path);
    for (const d of dep.get(path) ?? []) visit(d);
    order.push(path);
  };
  for (const name of wanted) {
    const path = byName.get(name.replace(/-/g, "_"));
    if (path) visit(path);
    else if (!builtin.has(name) && !builtin.has(name.replace(/_/g, "-"))) {
      // Not a module and not built in: this kernel lacks the driver.
      throw new Error(`kernel module ${name} is neither a module nor built in`);
    }
  }
  return order;
}

// --- cpio (newc) writer: deterministic, root-owned, can hold device nodes without mknod. ---

export interface CpioEntry {
  name: string;
  mode: number;
  data?: Buffer;
  rdevMajor?: number;
  rdevMinor?: number;
}

function cpioHeader(e: CpioEntry, ino: number, size: number): Buffer {
  const hex = (n: number) => n.toString(16).padStart(8, "0");
  const nameBuf = Buffer.from(`${e.name}\0`);
  const fields = [
    "070701",
    hex(ino),
    hex(e.mode),
    hex(0), // uid
    hex(0), // gid
    hex(1), // nlink
    hex(0), // mtime: fixed for reproducibility
    hex(size),
    hex(0), // devmajor
    hex(0), // devminor
    hex(e.rdevMajor ?? 0),
    hex(e.rdevMinor ?? 0),
    hex(nameBuf.length),
    hex(0), // check
  ].join("");
  const head = Buffer.concat([Buffer.from(fields, "ascii"), nameBuf]);
  return Buffer.concat([head, Buffer.alloc((4 - (head.length % 4)) % 4)]);
}

export function cpioArchive(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  for (const e of [...entries, { name: "TRAILER!!!", mode: 0 }]) {
    const data = e.data ?? Buffer.alloc(0);
    parts.push(cpioHeader(e, ino++, data.length), data, Buffer.alloc((4 - (data.length % 4)) % 4));
  }
  return Buffer.concat(parts);
}

export function stageEntries(stage: string): CpioEntry[] {
  const entries: CpioEntry[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const abs = join(dir, name);
      const rel = relative(stage, abs);
      const st = lstatSync(abs);
      if (st.isSymbolicLink()) {
        entries.push({ name: rel, mode: 0o120777, data: Buffer.from(readlinkSync(abs)) });
      } else if (st.isDirectory()) {
        entries.push({ name: rel, mode: 0o040755 });
        walk(abs);
      } else if (st.isFile()) {
        const exec = (st.mode & 0o111) !== 0;
        entries.push({
          name: rel,
          mode: 0o100000 | (exec ? 0o755 : 0o644),
          data: readFileSync(abs),
        });
      }
    }
  };
  walk(stage);
  return entries;
}

/** Busybox applets linked into /usr/bin unless a real tool of that name is there. */
function linkBusybox(stage: string): void {
  const list = run([join(stage, "usr/bin/busybox"), "--list"])
    .stdout.split("\n")
    .filter(Boolean);
  for (const applet of list) {
    if (applet === "busybox") continue;
    const sbin = join(stage, "usr/sbin", applet);
    const bin = join(stage, "usr/bin", applet);
    if (existsSync(sbin) || existsSync(bin)) continue;
    symlinkSync("busybox", bin);
  }
}

/** The hash of every input of the payload: changing any of them rebuilds it. */
function inputsHash(deb: string, resolved: Resolved): string {
  const h = createHash("sha256");
  h.update("recon-lab-boot-v1\n");
  h.update(readFileSync(join(HERE, "initramfs.ts")));
  h.update(readFileSync(join(HERE, "init.sh")));
  if (existsSync(RECON_ROLE_SH)) h.update(readFileSync(RECON_ROLE_SH));
  const st = statSync(deb);
  h.update(`${basename(deb)} ${st.size}\n`);
  h.update(`${LAB_MODULES.join(",")}\n`);
  h.update(`${resolved.busybox} ${sha256File(resolved.busybox)}\n`);
  for (const t of resolved.tools) h.update(`${t.spec.name} ${t.path} ${sha256File(t.path)}\n`);
  for (const d of resolved.data) h.update(`${d.target} ${statSync(d.src).size}\n`);
  for (const r of resolved.udevRules) h.update(`${r} ${sha256File(r)}\n`);
  for (const lib of AGENT_LIBS) {
    const p = join(MULTIARCH, lib);
    if (existsSync(p)) h.update(`${lib} ${statSync(realpathSync(p)).size}\n`);
  }
  return h.digest("hex").slice(0, 16);
}

/** Returns the cached kernel+initramfs for the current inputs, building them when missing. */
export function buildBootAssets(options: BuildOptions): BootAssets {
  const log = options.log ?? (() => {});
  const resolved = resolveInputs();
  if (resolved.missingRequired.length > 0) {
    const pkgs = [...new Set(resolved.missingRequired.map((t) => t.pkg))].join(" ");
    throw new Error(
      `initramfs: missing ${resolved.missingRequired.map((t) => t.name).join(", ")} (apt-get install ${pkgs})`,
    );
  }
  const deb = locateKernelDeb(options);
  const hash = inputsHash(deb, resolved);
  const dir = join(options.cacheDir, `boot-${hash}`);
  const manifestPath = join(dir, "manifest.json");
  const missingOptional = resolved.missingOptional.map((t) => `${t.name} (${t.pkg})`);
  if (existsSync(manifestPath)) {
    const m = JSON.parse(readFileSync(manifestPath, "utf8")) as { kernelVersion: string };
    return {
      kernelVersion: m.kernelVersion,
      vmlinuz: join(dir, "vmlinuz"),
      initrd: join(dir, "initrd.gz"),
      dir,
      missingOptional,
      cached: true,
    };
  }
  log(`building kernel+initramfs ${hash} from ${basename(deb)}`);
  mkdirSync(options.cacheDir, { recursive: true });
  // Work directories of builds that were interrupted (a signal skips `finally`).
  for (const name of readdirSync(options.cacheDir)) {
    const p = join(options.cacheDir, name);
    if (name.startsWith(".build-") && Date.now() - statSync(p).mtimeMs > 3_600_000) {
      rmSync(p, { recursive: true, force: true });
    }
  }
  const work = mkdtempSync(join(options.cacheDir, ".build-"));
  try {
    // 1. Kernel package: vmlinuz and the module tree, with modules.dep made by depmod.
    const kroot = join(work, "kernel");
    run(["dpkg-deb", "-x", deb, kroot]);
    const modulesBase = existsSync(join(kroot, "usr/lib/modules"))
      ? "usr/lib/modules"
      : "lib/modules";
    const versions = readdirSync(join(kroot, modulesBase));
    const kver = versions[0];
    if (!kver || versions.length !== 1)
      throw new Error(`${deb}: expected one module tree, got ${versions.join(",")}`);
    const vmlinuzSrc = join(kroot, "boot", `vmlinuz-${kver}`);
    if (!existsSync(vmlinuzSrc)) throw new Error(`${deb}: no boot/vmlinuz-${kver}`);
    if (modulesBase !== "lib/modules") {
      mkdirSync(join(kroot, "lib"), { recursive: true });
      symlinkSync(join("..", modulesBase), join(kroot, "lib/modules"));
    }
    run(["depmod", "-b", kroot, kver]);
    const kmods = join(kroot, "lib/modules", kver);
    const order = moduleClosure(kmods, LAB_MODULES);

    // 2. Staging tree (merged /usr).
    const stage = join(work, "stage");
    for (const d of [
      "usr/bin",
      "usr/sbin",
      "usr/lib/x86_64-linux-gnu",
      "usr/lib64",
      "etc",
      "proc",
      "sys",
      "dev",
      "run",
      "tmp",
      "root",
      "var",
      "mnt",
    ]) {
      mkdirSync(join(stage, d), { recursive: true });
    }
    symlinkSync("usr/bin", join(stage, "bin"));
    symlinkSync("usr/sbin", join(stage, "sbin"));
    symlinkSync("usr/lib", join(stage, "lib"));
    symlinkSync("usr/lib64", join(stage, "lib64"));
    symlinkSync("../run", join(stage, "var/run"));

    put(stage, resolved.busybox, "/usr/bin/busybox");
    const libs = new Set<string>();
    for (const { spec, path } of resolved.tools) {
      put(stage, path, spec.target ?? path.replace(/^\/(bin|sbin)\//, "/usr/$1/"));
      for (const l of lddLibs(path)) libs.add(l);
    }
    for (const name of AGENT_LIBS) {
      const p = join(MULTIARCH, name);
      if (existsSync(p)) libs.add(p);
    }
    for (const l of lddLibs(join(MULTIARCH, "libstdc++.so.6"))) libs.add(l);
    for (const l of libs) putLib(stage, l);
    // udevd is udevadm under another name.
    if (existsSync(join(stage, "usr/bin/udevadm"))) {
      mkdirSync(join(stage, "usr/lib/systemd"), { recursive: true });
      symlinkSync("../../bin/udevadm", join(stage, "usr/lib/systemd/systemd-udevd"));
      for (const r of resolved.udevRules) put(stage, r, `/usr/lib/udev/rules.d/${basename(r)}`);
    }
    for (const d of resolved.data) put(stage, d.src, d.target);
    symlinkSync("dash", join(stage, "usr/bin/sh"));
    linkBusybox(stage);

    // 3. Modules + modules.dep for them, and the load order for init.sh.
    const smods = join(stage, "usr/lib/modules", kver);
    for (const rel of order) put(stage, join(kmods, rel), join("/usr/lib/modules", kver, rel));
    for (const f of ["modules.order", "modules.builtin", "modules.builtin.modinfo"]) {
      if (existsSync(join(kmods, f))) put(stage, join(kmods, f), join("/usr/lib/modules", kver, f));
    }
    run(["depmod", "-b", join(stage, "usr"), kver]);
    if (!existsSync(join(smods, "modules.dep"))) throw new Error("depmod made no modules.dep");
    writeFileSync(
      join(stage, "etc/recon-lab-modules"),
      `${order.map((p) => basename(p).replace(/\.ko(\.\w+)?$/, "")).join("\n")}\n`,
    );

    // 4. Config files and the init script.
    writeFileSync(
      join(stage, "etc/passwd"),
      "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    );
    writeFileSync(join(stage, "etc/group"), "root:x:0:\ndisk:x:6:\nnogroup:x:65534:\n");
    writeFileSync(join(stage, "etc/hostname"), "recon-peer\n");
    writeFileSync(join(stage, "etc/ld.so.conf"), "include /etc/ld.so.conf.d/*.conf\n");
    writeFileSync(
      join(stage, "etc/os-release"),
      'PRETTY_NAME="recon lab initramfs"\nID=recon-lab\n',
    );
    run(["ldconfig", "-r", stage], { allowFail: true });
    put(stage, join(HERE, "init.sh"), "/init");
    if (existsSync(RECON_ROLE_SH)) {
      put(stage, RECON_ROLE_SH, "/usr/share/recon/recon-role.sh");
      chmodSync(join(stage, "usr/share/recon/recon-role.sh"), 0o755);
    }
    chmodSync(join(stage, "init"), 0o755);
    writeFileSync(
      join(stage, "etc/recon-lab-build"),
      `kernel=${kver}\nhash=${hash}\nmissing=${missingOptional.join(",")}\n`,
    );

    // 5. Archive: the staged tree plus /dev/console and /dev/null.
    const entries = stageEntries(stage);
    entries.push(
      { name: "dev/console", mode: 0o020600, rdevMajor: 5, rdevMinor: 1 },
      { name: "dev/null", mode: 0o020666, rdevMajor: 1, rdevMinor: 3 },
    );
    const gz = gzipSync(cpioArchive(entries), { level: 6 });

    const out = join(work, "out");
    mkdirSync(out);
    copyFileSync(vmlinuzSrc, join(out, "vmlinuz"));
    writeFileSync(join(out, "initrd.gz"), gz);
    writeFileSync(
      join(out, "manifest.json"),
      `${JSON.stringify({ kernelVersion: kver, deb: basename(deb), hash, modules: order, missingOptional, initrdBytes: gz.length }, null, 2)}\n`,
    );
    rmSync(dir, { recursive: true, force: true });
    renameSync(out, dir);
    // Keep the three newest payloads (other checkouts may still use theirs).
    const others = readdirSync(options.cacheDir)
      .filter((n) => n.startsWith("boot-") && join(options.cacheDir, n) !== dir)
      .map((n) => ({
        p: join(options.cacheDir, n),
        t: statSync(join(options.cacheDir, n)).mtimeMs,
      }))
      .sort((a, b) => b.t - a.t);
    for (const old of others.slice(2)) rmSync(old.p, { recursive: true, force: true });
    log(`initramfs ${(gz.length / 1e6).toFixed(1)} MB, kernel ${kver}, ${order.length} modules`);
    return {
      kernelVersion: kver,
      vmlinuz: join(dir, "vmlinuz"),
      initrd: join(dir, "initrd.gz"),
      dir,
      missingOptional,
      cached: false,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
