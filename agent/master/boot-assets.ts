// `recon-agent boot-assets`: writes the master's dnsmasq.conf, menu.ipxe and grub.cfg.
// recon-role.sh runs it when a node becomes the master; the generators are pure functions in
// packaging/ (menu.ipxe and grub.cfg from the same kernelArgs()).
//
//   recon-agent boot-assets --interface IF --address CIDR --tftp-root DIR
//       [--dnsmasq-out FILE] [--lease-file FILE] [--dhcp-script FILE] [--dhcp-range FIRST,LAST] [--lease-time T]
//       [--domain D] [--master-name N] [--http-base URL] [--bios-file F] [--efi-file F]
//       [--efi-aarch64-file F]
//       [--menu-out FILE] [--grub-cfg-out FILE] (either needs the image:)
//       [--image-name N --image-version V --kernel K --initrd I [--squashfs-path P]
//        [--iso-path P] [--aarch64-path DIR] [--master HOST] [--console C]...
//        [--aarch64-console C]... [--extra-arg A]... (alias --kernel-arg)]
import { rename, writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import {
  DnsmasqInputError,
  defaultDhcpRange,
  parseCidr,
  renderDnsmasqConf,
} from "../../packaging/dnsmasq.ts";
import { MenuInputError, renderGrubCfg, renderMenuIpxe } from "../../packaging/menu.ts";
import { ERROR_CODES, ReconError } from "../errors.ts";

const OPTIONS = {
  interface: { type: "string" },
  address: { type: "string" },
  "tftp-root": { type: "string" },
  "dnsmasq-out": { type: "string" },
  "lease-file": { type: "string" },
  "dhcp-script": { type: "string" },
  "dhcp-range": { type: "string" },
  "lease-time": { type: "string" },
  domain: { type: "string" },
  "master-name": { type: "string" },
  "http-base": { type: "string" },
  "bios-file": { type: "string" },
  "efi-file": { type: "string" },
  "efi-aarch64-file": { type: "string" },
  "menu-out": { type: "string" },
  "grub-cfg-out": { type: "string" },
  "image-name": { type: "string" },
  "image-version": { type: "string" },
  kernel: { type: "string" },
  initrd: { type: "string" },
  "iso-path": { type: "string" },
  "squashfs-path": { type: "string" },
  "aarch64-path": { type: "string" },
  master: { type: "string" },
  console: { type: "string", multiple: true },
  "aarch64-console": { type: "string", multiple: true },
  "kernel-arg": { type: "string", multiple: true },
  "extra-arg": { type: "string", multiple: true },
} as const;

export interface BootAssetsOptions {
  /** Provisioning interface and the master's address on it, "10.13.37.1/24". */
  interface: string;
  address: string;
  tftpRoot: string;
  dnsmasqOut?: string;
  leaseFile?: string;
  /** dnsmasq's dhcp-script (packaging/dnsmasq-hook.sh): gives serve each lease's client architecture. */
  dhcpScript?: string;
  /** Default: defaultDhcpRange(address). */
  dhcpRange?: [string, string];
  leaseTime?: string;
  domain?: string;
  masterName?: string;
  /** Default: http://<address without prefix>. */
  httpBase?: string;
  biosFile?: string;
  efiFile?: string;
  efiAarch64File?: string;
  menuOut?: string;
  grubCfgOut?: string;
  /** The image both menus boot (required with menuOut or grubCfgOut). */
  menu?: {
    imageName: string;
    imageVersion: string;
    kernel: string;
    initrd: string;
    isoPath?: string;
    squashfsPath?: string;
    aarch64Path?: string;
    /** Default: the address without prefix. */
    master?: string;
    console?: string[];
    aarch64Console?: string[];
    extraArgs?: string[];
  };
}

function usage(message: string): ReconError {
  return new ReconError(ERROR_CODES.USAGE, `boot-assets: ${message}`);
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, text);
    await rename(tmp, path);
  } catch (error) {
    throw new ReconError(ERROR_CODES.IO, `cannot write ${path}: ${(error as Error).message}`);
  }
}

/** Renders and writes the requested files; returns their paths. Throws ReconError. */
export async function writeBootAssets(options: BootAssetsOptions): Promise<string[]> {
  const written: string[] = [];
  let dnsmasqText: string | null = null;
  let menuText: string | null = null;
  let grubText: string | null = null;
  try {
    const { address, netmask } = parseCidr(options.address);
    if (options.dnsmasqOut) {
      dnsmasqText = renderDnsmasqConf({
        interface: options.interface,
        address,
        netmask,
        dhcpRange: options.dhcpRange ?? defaultDhcpRange(options.address),
        leaseTime: options.leaseTime,
        tftpRoot: options.tftpRoot,
        httpBase: options.httpBase ?? `http://${address}`,
        domain: options.domain,
        masterName: options.masterName,
        biosFile: options.biosFile,
        efiFile: options.efiFile,
        efiAarch64File: options.efiAarch64File,
        leaseFile: options.leaseFile,
        dhcpScript: options.dhcpScript,
      });
    }
    if (options.menuOut || options.grubCfgOut) {
      if (!options.menu)
        throw usage("--menu-out and --grub-cfg-out need the image (--image-name ...)");
      const menu = { ...options.menu, master: options.menu.master ?? address };
      if (options.menuOut) menuText = renderMenuIpxe(menu);
      if (options.grubCfgOut) grubText = renderGrubCfg(menu);
    }
  } catch (error) {
    if (error instanceof DnsmasqInputError || error instanceof MenuInputError)
      throw usage(error.message);
    throw error;
  }
  if (options.dnsmasqOut && dnsmasqText !== null) {
    await writeAtomically(options.dnsmasqOut, dnsmasqText);
    written.push(options.dnsmasqOut);
  }
  if (options.menuOut && menuText !== null) {
    await writeAtomically(options.menuOut, menuText);
    written.push(options.menuOut);
  }
  if (options.grubCfgOut && grubText !== null) {
    await writeAtomically(options.grubCfgOut, grubText);
    written.push(options.grubCfgOut);
  }
  return written;
}

/** Parses boot-assets' own arguments (everything after "boot-assets"). Throws ReconError. */
export function parseBootAssetsArgs(argv: readonly string[]): BootAssetsOptions {
  let values: ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>["values"];
  try {
    ({ values } = parseArgs({ args: [...argv], options: OPTIONS, strict: true }));
  } catch (error) {
    throw usage((error as Error).message);
  }
  const need = (name: keyof typeof values): string => {
    const v = values[name];
    if (typeof v !== "string" || v === "") throw usage(`--${name} is required`);
    return v;
  };
  if (!values["dnsmasq-out"] && !values["menu-out"] && !values["grub-cfg-out"])
    throw usage("nothing to write: give --dnsmasq-out, --menu-out and/or --grub-cfg-out");
  let dhcpRange: [string, string] | undefined;
  if (values["dhcp-range"]) {
    const parts = values["dhcp-range"].split(/[,-]/);
    if (parts.length !== 2) throw usage("--dhcp-range is FIRST,LAST");
    dhcpRange = [parts[0] as string, parts[1] as string];
  }
  const options: BootAssetsOptions = {
    interface: need("interface"),
    address: need("address"),
    tftpRoot: need("tftp-root"),
    dnsmasqOut: values["dnsmasq-out"],
    leaseFile: values["lease-file"],
    dhcpScript: values["dhcp-script"],
    dhcpRange,
    leaseTime: values["lease-time"],
    domain: values.domain,
    masterName: values["master-name"],
    httpBase: values["http-base"],
    biosFile: values["bios-file"],
    efiFile: values["efi-file"],
    efiAarch64File: values["efi-aarch64-file"],
    menuOut: values["menu-out"],
    grubCfgOut: values["grub-cfg-out"],
  };
  if (values["menu-out"] || values["grub-cfg-out"]) {
    const extra = [...(values["kernel-arg"] ?? []), ...(values["extra-arg"] ?? [])];
    options.menu = {
      imageName: need("image-name"),
      imageVersion: need("image-version"),
      kernel: need("kernel"),
      initrd: need("initrd"),
      isoPath: values["iso-path"],
      squashfsPath: values["squashfs-path"],
      aarch64Path: values["aarch64-path"],
      master: values.master,
      console: values.console,
      aarch64Console: values["aarch64-console"],
      extraArgs: extra.length > 0 ? extra : undefined,
    };
  }
  return options;
}

/** `recon-agent boot-assets ...`: writes the files and names them on stdout. */
export async function bootAssetsCommand(argv: readonly string[]): Promise<number> {
  const written = await writeBootAssets(parseBootAssetsArgs(argv));
  for (const file of written) process.stdout.write(`boot-assets: wrote ${file}\n`);
  return 0;
}
