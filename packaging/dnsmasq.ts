// dnsmasq.conf for the master: one dnsmasq does what dhcpd + dnsmasq did in the original.
// DHCP on the provisioning interface only; TFTP for the network boot loaders (undionly.kpxe for
// BIOS; for x86-64 UEFI, client architectures 7 and 9, efiFile: the signed shimx64.efi when the
// master has it (it loads grubx64.efi and grub/grub.cfg, packaging/menu.ts), else ipxe.efi;
// for arm64 UEFI, architecture 11, efiAarch64File when given); iPXE itself (DHCP option 175 or
// user class "iPXE") is sent on to http://<master>/menu.ipxe; DNS answers only for the
// provisioning domain and the master's name: no upstream servers, nothing forwarded.
import { isHostName, isIpv4 } from "./menu.ts";

export interface DnsmasqOptions {
  /** The provisioning interface (e.g. "eth0"); dnsmasq binds to it alone. */
  interface: string;
  /** The master's IPv4 address on that interface (no prefix). */
  address: string;
  /** First and last address handed out. */
  dhcpRange: [string, string];
  /** Netmask of the range, e.g. "255.255.255.0". Default: dnsmasq takes the interface's. */
  netmask?: string;
  /** Lease time: seconds, or dnsmasq's "45m" / "12h" / "infinite". Default "1h". */
  leaseTime?: string;
  /** Directory served over TFTP; holds undionly.kpxe and ipxe.efi. */
  tftpRoot: string;
  /** The master's HTTP base, "http://<host>[:port]"; iPXE chains to <httpBase>/menu.ipxe. */
  httpBase: string;
  /** DNS domain of the provisioning network. Default "recon.lan". */
  domain?: string;
  /** The master's short name; it and <name>.<domain> and <domain> resolve to address. Default "master". */
  masterName?: string;
  /** BIOS loader file in tftpRoot. Default "undionly.kpxe". */
  biosFile?: string;
  /** x86-64 UEFI loader file in tftpRoot. Default "ipxe.efi" (recon-role.sh: shimx64.efi). */
  efiFile?: string;
  /** arm64 UEFI loader file in tftpRoot (grubaa64.efi). Default: none, arm64 clients get no file. */
  efiAarch64File?: string;
  /** Lease database. Default "/run/recon/dnsmasq.leases" (the live system forgets it anyway). */
  leaseFile?: string;
  /**
   * dnsmasq's --dhcp-script: packaging/dnsmasq-hook.sh, which hands the master each lease's
   * client architecture (dnsmasq-leases.ts: watchHookFile). Default: none.
   */
  dhcpScript?: string;
}

export const DEFAULT_DOMAIN = "recon.lan";
export const DEFAULT_MASTER_NAME = "master";
export const DEFAULT_LEASE_FILE = "/run/recon/dnsmasq.leases";
/** The master's provisioning address when none is given (recon-role.sh's default): a hall. */
export const DEFAULT_MASTER_CIDR = "10.13.36.1/22";

export class DnsmasqInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DnsmasqInputError";
  }
}

const IFNAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,14}$/;
const FILE = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;
const ABS_PATH = /^\/[A-Za-z0-9._+/-]{0,1023}$/;
const LEASE = /^(\d{2,9}|\d{1,7}[mhd]|infinite)$/;
const HTTP_BASE = /^http:\/\/([^/:\s]+)(?::(\d{1,5}))?$/;

function bad(what: string, value: unknown): never {
  throw new DnsmasqInputError(`${what}: not allowed here: ${JSON.stringify(value)}`);
}

function ipv4ToInt(ip: string): number {
  return ip.split(".").reduce((n, o) => n * 256 + Number(o), 0);
}

function intToIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
}

/** "255.255.255.0" for 24. */
export function prefixToNetmask(prefix: number): string {
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) bad("prefix length", prefix);
  return intToIpv4(prefix === 0 ? 0 : (2 ** 32 - 2 ** (32 - prefix)) >>> 0);
}

/** Parses "10.13.37.1/24" into its parts. */
export function parseCidr(cidr: string): { address: string; prefix: number; netmask: string } {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(cidr);
  if (!m || !isIpv4(m[1] ?? "") || Number(m[2]) > 30 || Number(m[2]) < 8)
    bad("address (a.b.c.d/8..30)", cidr);
  const prefix = Number(m[2]);
  return { address: m[1] as string, prefix, netmask: prefixToNetmask(prefix) };
}

/**
 * The DHCP range the master hands out when none is given, leaving the master's own address and
 * a few others alone. A /24 keeps its classic upper part (10.13.37.1/24: 10.13.37.100 -
 * 10.13.37.250, 151 addresses). A larger subnet is a hall: everything from the 16th address to
 * the last but one (the default 10.13.36.1/22: 10.13.36.16 - 10.13.39.254, 1,007 peers).
 */
export function defaultDhcpRange(cidr: string): [string, string] {
  const { address, prefix } = parseCidr(cidr);
  const size = 2 ** (32 - prefix);
  const network = ipv4ToInt(address) - (ipv4ToInt(address) % size);
  const own = ipv4ToInt(address) - network;
  let first: number;
  let last: number;
  if (size === 256) {
    first = network + 100;
    last = network + size - 6;
  } else if (size > 256) {
    first = network + 16;
    last = network + size - 2;
  } else {
    first = network + Math.floor(size / 2);
    last = network + size - 2;
  }
  if (own >= first - network && own <= last - network) {
    // the master sits in the range: take the larger side of it instead
    const below = own - 1;
    const above = last - network - own;
    if (below >= above) {
      first = network + 1;
      last = network + own - 1;
    } else {
      first = network + own + 1;
    }
  }
  if (last < first) bad("address (subnet too small for a DHCP range)", cidr);
  return [intToIpv4(first), intToIpv4(last)];
}

function sameSubnet(a: string, b: string, netmask: string): boolean {
  const m = ipv4ToInt(netmask);
  return (ipv4ToInt(a) & m) >>> 0 === (ipv4ToInt(b) & m) >>> 0;
}

/** The dnsmasq.conf text. Throws DnsmasqInputError on any input that could break the file. */
export function renderDnsmasqConf(options: DnsmasqOptions): string {
  const iface = IFNAME.test(options.interface)
    ? options.interface
    : bad("interface", options.interface);
  const address = isIpv4(options.address) ? options.address : bad("address", options.address);
  const [start, end] = options.dhcpRange;
  if (!isIpv4(start) || !isIpv4(end) || ipv4ToInt(start) > ipv4ToInt(end))
    bad("dhcpRange", options.dhcpRange);
  const netmask = options.netmask;
  if (netmask !== undefined) {
    const n = ipv4ToInt(isIpv4(netmask) ? netmask : bad("netmask", netmask));
    // a netmask is ones then zeros
    if (((~n >>> 0) & ((~n >>> 0) + 1)) !== 0) bad("netmask", netmask);
    if (!sameSubnet(start, address, netmask) || !sameSubnet(end, address, netmask))
      bad("dhcpRange (not in the master's subnet)", options.dhcpRange);
  }
  const lease = options.leaseTime ?? "1h";
  if (!LEASE.test(lease)) bad("leaseTime", lease);
  const tftpRoot = ABS_PATH.test(options.tftpRoot)
    ? options.tftpRoot
    : bad("tftpRoot", options.tftpRoot);
  const http = HTTP_BASE.exec(options.httpBase);
  const httpHost = http?.[1] ?? "";
  if (!http || !(isIpv4(httpHost) || isHostName(httpHost))) bad("httpBase", options.httpBase);
  const domain = options.domain ?? DEFAULT_DOMAIN;
  if (!isHostName(domain)) bad("domain", domain);
  const name = options.masterName ?? DEFAULT_MASTER_NAME;
  if (!/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(name) || /^\d+$/.test(name))
    bad("masterName", name);
  const biosFile = options.biosFile ?? "undionly.kpxe";
  const efiFile = options.efiFile ?? "ipxe.efi";
  if (!FILE.test(biosFile)) bad("biosFile", biosFile);
  if (!FILE.test(efiFile)) bad("efiFile", efiFile);
  const armFile = options.efiAarch64File;
  if (armFile !== undefined && !FILE.test(armFile)) bad("efiAarch64File", armFile);
  const leaseFile = options.leaseFile ?? DEFAULT_LEASE_FILE;
  if (!ABS_PATH.test(leaseFile)) bad("leaseFile", leaseFile);
  const dhcpScript = options.dhcpScript;
  if (dhcpScript !== undefined && !ABS_PATH.test(dhcpScript)) bad("dhcpScript", dhcpScript);
  const menuUrl = `${options.httpBase}/menu.ipxe`;

  return [
    "# recon master: dnsmasq configuration, generated by packaging/dnsmasq.ts.",
    "# Regenerate it rather than editing it.",
    "",
    "# Only the provisioning interface (and loopback); no upstream DNS at all.",
    `interface=${iface}`,
    "bind-interfaces",
    "no-resolv",
    "no-poll",
    "no-hosts",
    "domain-needed",
    "bogus-priv",
    "",
    "# DNS: the provisioning domain is answered here and never forwarded.",
    `domain=${domain}`,
    `local=/${domain}/`,
    "expand-hosts",
    `host-record=${domain},${name}.${domain},${name},${address}`,
    "",
    "# DHCP: the only server on an isolated network.",
    `dhcp-range=${start},${end},${netmask ? `${netmask},` : ""}${lease}`,
    "# dnsmasq's own default is 1,000 leases: as many as the range holds instead.",
    `dhcp-lease-max=${ipv4ToInt(end) - ipv4ToInt(start) + 1}`,
    "# No ping before an offer: dnsmasq waits for each ping's answer, so a hall booting at once",
    "# saw offers seconds late and clients gave up (test/master/dhcp-hall.test.ts). The network",
    "# is isolated and this is its only DHCP server: nothing else holds its addresses.",
    "no-ping",
    "dhcp-authoritative",
    `dhcp-leasefile=${leaseFile}`,
    // Each lease's vendor class and tags (its client architecture) for the master.
    ...(dhcpScript !== undefined ? [`dhcp-script=${dhcpScript}`] : []),
    "# No default route: nothing is routed out of the provisioning network.",
    "dhcp-option=option:router",
    `dhcp-option=option:dns-server,${address}`,
    "log-dhcp",
    "",
    "# PXE: firmware gets an iPXE loader over TFTP, iPXE gets the menu over HTTP.",
    "dhcp-match=set:ipxe,175",
    "dhcp-userclass=set:ipxe,iPXE",
    "dhcp-match=set:efi-x86_64,option:client-arch,7",
    "dhcp-match=set:efi-x86_64,option:client-arch,9",
    "dhcp-match=set:efi-arm64,option:client-arch,11",
    `dhcp-boot=tag:!ipxe,tag:!efi-x86_64,tag:!efi-arm64,${biosFile},${name},${address}`,
    `dhcp-boot=tag:!ipxe,tag:efi-x86_64,${efiFile},${name},${address}`,
    ...(armFile ? [`dhcp-boot=tag:!ipxe,tag:efi-arm64,${armFile},${name},${address}`] : []),
    `dhcp-boot=tag:ipxe,${menuUrl},${name},${address}`,
    "enable-tftp",
    `tftp-root=${tftpRoot}`,
    "",
  ].join("\n");
}
