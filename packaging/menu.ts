// The peers' boot menus, from one source (kernelArgs):
// - menu.ipxe: the iPXE script the master serves at http://<master>/menu.ipxe. dnsmasq hands it
//   to iPXE (BIOS clients; see packaging/dnsmasq.ts); iPXE fetches the live image's kernel and
//   initrd over HTTP and boots them with the kernel arguments of the original design, so that
//   dracut's livenet module downloads the live root (the medium's squashfs, or the whole ISO)
//   from the master and the peer finds the master again through pxeaddr= (iPXE fills in
//   ${next-server} and ${mac:hexhyp} at boot time).
// - grub.cfg: what Debian's signed network GRUB reads from the master's TFTP root (grub/grub.cfg,
//   its built-in prefix) after the Microsoft-signed shim loaded it: UEFI x86_64 clients, Secure
//   Boot or not, and grubaa64.efi on arm64 (chosen by $grub_cpu). The same kernel arguments;
//   GRUB's own variables stand in for iPXE's (renderGrubCfg).
//
// Differences from the original's arguments, and why (packaging/README.md has the long form):
// - no rd.live.ram=1: livenet already downloads the ISO into RAM (/run/initramfs/live); the
//   flag copies its squashfs a second time, doubling the RAM the image takes.
// - no rd.live.overlay.persistent / rd.live.overlay.cowfs=ext4: a network-booted peer has no
//   writable medium for a persistent overlay (they matter for the USB-booted master, whose
//   boot loader configuration comes from the image, not from this menu).
// - no ksdevice=bootif (anaconda's, unused by dracut) and no stray "extra".
// Any of them can be put back through extraArgs.

export interface MenuOptions {
  /** The master as peers reach it: an IPv4 address, a host name, or either with ":port". */
  master: string;
  /** Live image name: the directory under /install/ (e.g. "recon"). */
  imageName: string;
  /** Live image version (e.g. "1.4.2"); names the ISO unless isoPath is given. */
  imageVersion: string;
  /** ISO path on the master's HTTP server. Default: install/<imageName>/<imageName>-<imageVersion>.iso */
  isoPath?: string;
  /**
   * Path of the live image's squashfs on the master's HTTP server (the medium's
   * LiveOS/squashfs.img, e.g. install/recon/squashfs.img): the peers' root instead of the ISO
   * (dracut's livenet hands a squashfs file to dmsquash-live-root as it is). Wins over isoPath.
   */
  squashfsPath?: string;
  /** Kernel: a file in install/<imageName>/, or a path from the HTTP root if it has a "/". */
  kernel: string;
  /** Initrd: same rules as kernel. */
  initrd: string;
  /** console= values, in order (the last one is /dev/console). Default: tty0, ttyS1, ttyS0. */
  console?: string[];
  /** More kernel arguments, appended as given (e.g. "rd.live.ram=1", "rd.shell"). */
  extraArgs?: string[];
}

export const DEFAULT_CONSOLES: readonly string[] = ["tty0", "ttyS1,115200n8", "ttyS0,115200n8"];
/** arm64 servers' serial console is a PL011 (ttyAMA0) or a 16550 (ttyS0); the last is /dev/console. */
export const DEFAULT_AARCH64_CONSOLES: readonly string[] = [
  "tty0",
  "ttyS0,115200n8",
  "ttyAMA0,115200n8",
];

/** The fixed part of the command line, from the original design (see the header). */
export const LIVE_ARGS: readonly string[] = ["rd.live.image", "iomem=relaxed"];
/** The boot loader that runs the command line: it fills in the boot NIC and the master. */
export type BootLoader = "ipxe" | "grub";
/**
 * BOOTIF= and pxeaddr= as each loader expands them. iPXE: its own settings. GRUB: ${bootif}
 * (set by renderGrubCfg's script from $net_default_mac, which has colons, to "01-aa-bb-..")
 * and $net_default_server (the TFTP server it was loaded from: next-server, as for iPXE).
 */
export const LOADER_VARIABLES: Record<BootLoader, { bootif: string; pxeaddr: string }> = {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: iPXE expands it at boot
  ipxe: { bootif: "01-${mac:hexhyp}", pxeaddr: "${next-server}" },
  // biome-ignore lint/suspicious/noTemplateCurlyInString: GRUB expands it at boot
  grub: { bootif: "${bootif}", pxeaddr: "${net_default_server}" },
};
export const TAIL_ARGS: readonly string[] = [
  "postaction=liveboot",
  "nomodeset",
  "noquiet",
  "splash=off",
];

const HOST_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;
const PATH_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,254}$/;
/** Characters a kernel argument may contain here: no space, quote, $, ;, #, \ or control. */
const KERNEL_ARG = /^[A-Za-z0-9][A-Za-z0-9._,:=/@+%-]{0,255}$/;
const CONSOLE = /^[A-Za-z0-9][A-Za-z0-9._,-]{0,63}$/;

export class MenuInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MenuInputError";
  }
}

export function isIpv4(text: string): boolean {
  return IPV4.test(text);
}

/** A DNS host name (RFC 1123 labels, at most 253 characters, not all-numeric). */
export function isHostName(text: string): boolean {
  if (text.length === 0 || text.length > 253) return false;
  const labels = text.replace(/\.$/, "").split(".");
  if (!labels.every((l) => HOST_LABEL.test(l))) return false;
  return !/^[\d.]+$/.test(text);
}

/** Checks "host", "1.2.3.4", "host:8080", "1.2.3.4:8080"; returns it unchanged. */
export function checkMaster(master: string): string {
  const m = /^(.*?)(?::(\d{1,5}))?$/.exec(master);
  const host = m?.[1] ?? "";
  const port = m?.[2];
  if (!(isIpv4(host) || isHostName(host)))
    throw new MenuInputError(`master must be an IPv4 address or a host name, got ${q(master)}`);
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535))
    throw new MenuInputError(`master port must be 1-65535, got ${q(master)}`);
  return master;
}

function q(text: string): string {
  return JSON.stringify(text);
}

function check(value: string, pattern: RegExp, what: string): string {
  if (typeof value !== "string" || !pattern.test(value))
    throw new MenuInputError(`${what} has characters or a form not allowed here: ${q(value)}`);
  return value;
}

/** A relative path: segments of safe characters, no "..", no empty segment. */
function checkPath(value: string, what: string): string {
  const path = value.replace(/^\/+/, "");
  if (!path.split("/").every((s) => PATH_SEGMENT.test(s) && s !== "." && s !== ".."))
    throw new MenuInputError(`${what} must be a plain relative path, got ${q(value)}`);
  return path;
}

/** Path from the HTTP root of a file given as a bare name (in install/<name>/) or a path. */
function filePath(value: string, imageName: string, what: string): string {
  return value.includes("/")
    ? checkPath(value, what)
    : `install/${imageName}/${check(value, PATH_SEGMENT, what)}`;
}

/** earlyprintk for the last serial console (ttyS0,115200n8 -> serial,ttyS0,115200). */
function earlyPrintk(consoles: readonly string[]): string | null {
  for (let i = consoles.length - 1; i >= 0; i--) {
    const m = /^(ttyS\d+)(?:,(\d+))?/.exec(consoles[i] ?? "");
    if (m) return `earlyprintk=serial,${m[1]},${m[2] ?? "115200"}`;
  }
  return null;
}

/** Checks one kernel argument (an extraArgs entry, a line of peer-args); returns it unchanged. */
export function checkKernelArg(arg: string): string {
  return check(arg, KERNEL_ARG, "kernel argument");
}

/**
 * The kernel command line (without the loader's "kernel <url>" in front), for the loader that
 * expands BOOTIF= and pxeaddr=. arch "aarch64" has no earlyprintk (x86 only); its consoles
 * are the caller's (renderGrubCfg passes DEFAULT_AARCH64_CONSOLES).
 */
export function kernelArgs(
  options: MenuOptions,
  loader: BootLoader = "ipxe",
  arch: "x86_64" | "aarch64" = "x86_64",
): string[] {
  const master = checkMaster(options.master);
  const name = check(options.imageName, NAME, "imageName");
  const version = check(options.imageVersion, NAME, "imageVersion");
  const root = options.squashfsPath
    ? checkPath(options.squashfsPath, "squashfsPath")
    : options.isoPath
      ? checkPath(options.isoPath, "isoPath")
      : `install/${name}/${name}-${version}.iso`;
  const initrd = filePath(options.initrd, name, "initrd");
  const consoles = (options.console ?? DEFAULT_CONSOLES).map((c) => check(c, CONSOLE, "console"));
  const extra = (options.extraArgs ?? []).map((a) => check(a, KERNEL_ARG, "extraArgs entry"));
  const early = arch === "x86_64" ? earlyPrintk(consoles) : null;
  const vars = LOADER_VARIABLES[loader];
  return [
    `initrd=${initrd.split("/").pop()}`,
    `root=live:http://${master}/${root}`,
    ...LIVE_ARGS,
    `BOOTIF=${vars.bootif}`,
    `pxeaddr=${vars.pxeaddr}`,
    ...TAIL_ARGS,
    ...consoles.map((c) => `console=${c}`),
    ...(early ? [early] : []),
    ...extra,
  ];
}

/** The menu.ipxe text. Throws MenuInputError on any input that could break the script. */
export function renderMenuIpxe(options: MenuOptions): string {
  const args = kernelArgs(options);
  const base = `http://${options.master}`;
  const kernel = filePath(options.kernel, options.imageName, "kernel");
  const initrd = filePath(options.initrd, options.imageName, "initrd");
  return [
    "#!ipxe",
    "# recon boot menu, generated by packaging/menu.ts: regenerate it, do not edit it.",
    `# Live image ${options.imageName} ${options.imageVersion} from ${options.master}.`,
    "",
    ":retry",
    `echo recon: booting ${options.imageName} ${options.imageVersion} from ${options.master} on \${mac}`,
    `kernel ${base}/${kernel} ${args.join(" ")} || goto failed`,
    `initrd ${base}/${initrd} || goto failed`,
    "boot || goto failed",
    "",
    ":failed",
    "echo recon: boot failed, trying again in 10 seconds",
    "sleep 10",
    "goto retry",
    "",
  ].join("\n");
}

export interface GrubCfgOptions extends MenuOptions {
  /**
   * Directory on the master's HTTP server with the arm64 image: linux, initrd, squashfs.img
   * (e.g. install/recon/aarch64). Without it an arm64 client is told there is none.
   */
  aarch64Path?: string;
  /** console= values for arm64. Default DEFAULT_AARCH64_CONSOLES. */
  aarch64Console?: string[];
}

/**
 * grub.cfg for Debian's signed network GRUB (grubnetx64.efi.signed behind shim; grubaa64.efi).
 * Its built-in prefix is /grub on the TFTP server it came from; its memdisk config sources
 * $prefix/x86_64-efi/grub.cfg (arm64-efi on arm64) if there, else $prefix/grub.cfg: this file,
 * for both. Kernel and initrd come over TFTP from the master (the signed image has no http
 * module: `linux (http,...)` says "disk not found" and it looks for http.mod on the TFTP
 * server, an unsigned module), so the master's TFTP root holds install/ (recon-role.sh
 * links it). The live root still comes over HTTP (root=live:http://..., dracut). Throws
 * MenuInputError.
 */
export function renderGrubCfg(options: GrubCfgOptions): string {
  const master = checkMaster(options.master);
  const host = master.replace(/:\d+$/, "");
  const name = check(options.imageName, NAME, "imageName");
  const version = check(options.imageVersion, NAME, "imageVersion");
  const tftp = `(tftp,${host})`;
  const x86Args = kernelArgs(options, "grub", "x86_64");
  const x86Kernel = filePath(options.kernel, name, "kernel");
  const x86Initrd = filePath(options.initrd, name, "initrd");
  const arm: string[] = [];
  if (options.aarch64Path) {
    const dir = checkPath(options.aarch64Path, "aarch64Path");
    const armArgs = kernelArgs(
      {
        ...options,
        kernel: `${dir}/linux`,
        initrd: `${dir}/initrd`,
        squashfsPath: `${dir}/squashfs.img`,
        console: options.aarch64Console ?? [...DEFAULT_AARCH64_CONSOLES],
      },
      "grub",
      "aarch64",
    );
    arm.push(`  linux ${tftp}/${dir}/linux ${armArgs.join(" ")}`, `  initrd ${tftp}/${dir}/initrd`);
  } else {
    arm.push(`  echo "recon: this master serves no arm64 image"`, "  sleep 60");
  }
  return [
    "# recon boot menu for GRUB, generated by packaging/menu.ts: regenerate it, do not edit it.",
    `# Live image ${name} ${version} from ${master}. Read by shim + grubx64.efi (UEFI x86_64,`,
    "# Secure Boot or not) and grubaa64.efi (arm64) from the master's TFTP root.",
    "",
    "# BOOTIF as pxelinux and iPXE write it (01-aa-bb-cc-dd-ee-ff); GRUB's MAC has colons, which",
    "# dracut and the agent also accept if the conversion fails.",
    'set bootif="$net_default_mac"',
    "if regexp --set=1:m1 --set=2:m2 --set=3:m3 --set=4:m4 --set=5:m5 --set=6:m6 '^(..):(..):(..):(..):(..):(..)$' \"$net_default_mac\"; then",
    '  set bootif="01-$m1-$m2-$m3-$m4-$m5-$m6"',
    "fi",
    `echo "recon: booting ${name} ${version} from ${master} on $bootif ($grub_cpu)"`,
    'if [ "$grub_cpu" = "arm64" ]; then',
    ...arm,
    "else",
    `  linux ${tftp}/${x86Kernel} ${x86Args.join(" ")}`,
    `  initrd ${tftp}/${x86Initrd}`,
    "fi",
    "boot",
    'echo "recon: boot failed, trying again in 10 seconds"',
    "sleep 10",
    "configfile $prefix/grub.cfg",
    "",
  ].join("\n");
}
