// Network interfaces: addresses from `ip -j addr`, hardware facts (driver, PCI address, speed,
// carrier) from /sys/class/net. The sysfs part is read in-process and captured as JSON, so a
// replay sees exactly what the agent saw.
//
// Real input, `ip -j addr` (one element):
//   [{"ifindex":2,"ifname":"eth0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,
//     "operstate":"UP","link_type":"ether","address":"52:54:00:12:34:56",
//     "addr_info":[{"family":"inet","local":"10.13.37.50","prefixlen":24,...}]}]
// Real input, sys-class-net.json (written by this module):
//   {"eth0":{"address":"52:54:00:12:34:56","carrier":"1","speed":"1000","mtu":"1500",
//     "driver":"e1000","devicePath":"/sys/devices/pci0000:00/0000:00:03.0","type":"1"}}
import { readdirSync, readlinkSync, realpathSync } from "node:fs";
import { basename, join } from "node:path";
import type { Nic } from "../../schema/inventory.ts";
import type { Probe } from "../exec.ts";
import { normalizeMac, parseCount } from "../normalize.ts";
import { readSysfsAttr } from "./sysfs.ts";
import {
  type Collect,
  isBlank,
  type Parsed,
  parseOutput,
  readJson,
  reportParsed,
  usableOutput,
} from "./types.ts";

interface SysNetEntry {
  address?: string | null;
  carrier?: string | null;
  speed?: string | null;
  mtu?: string | null;
  operstate?: string | null;
  driver?: string | null;
  devicePath?: string | null;
  type?: string | null;
}
export type SysNet = Record<string, SysNetEntry>;

const PCI_ADDRESS = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/i;

function asRecord(value: unknown): Record<string, unknown> | null {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null;
}

function asString(value: unknown): string | null {
  return typeof value === "string" ? value : typeof value === "number" ? String(value) : null;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** The PCI function a network device hangs off (virtio NICs sit one level below it). */
export function pciAddressFromDevicePath(path: string | null | undefined): string | null {
  if (!path) return null;
  const parts = path.split("/").filter((p) => PCI_ADDRESS.test(p));
  return parts.at(-1)?.toLowerCase() ?? null;
}

/** A device path below a USB bus (`.../0000:00:14.0/usb1/1-3/1-3:1.0`). */
export function isUsbDevicePath(path: string | null | undefined): boolean {
  return typeof path === "string" && path.split("/").some((p) => /^usb\d+$/.test(p));
}

interface IpLink {
  name: string;
  macAddress: string | null;
  mtu: number | null;
  up: boolean | null;
  loopback: boolean;
  ether: boolean;
  ipv4: string[];
  ipv6: string[];
}

/**
 * Reads `ip -j addr` (a JSON array of links); never throws. Empty output is valid and empty; text
 * that is not a JSON array is a problem.
 */
export function readIpAddr(text: string): Parsed<IpLink[]> {
  if (typeof text !== "string" || isBlank(text)) return { value: [], problem: null };
  const { document, problem } = readJson(text);
  if (problem !== null) return { value: [], problem };
  if (!Array.isArray(document)) return { value: [], problem: "JSON but not an array of links" };
  return { value: parseIpAddr(text), problem: null };
}

/** Parses `ip -j addr`; never throws. */
export function parseIpAddr(text: string): IpLink[] {
  const parsed = safeJson(String(text ?? ""));
  if (!Array.isArray(parsed)) return [];
  const links: IpLink[] = [];
  for (const item of parsed) {
    const link = asRecord(item);
    const name = asString(link?.ifname);
    if (!link || !name) continue;
    const flags = Array.isArray(link.flags) ? link.flags.map(String) : [];
    const ipv4: string[] = [];
    const ipv6: string[] = [];
    for (const info of Array.isArray(link.addr_info) ? link.addr_info : []) {
      const addr = asRecord(info);
      const local = asString(addr?.local);
      const prefix = typeof addr?.prefixlen === "number" ? addr.prefixlen : null;
      if (!addr || !local) continue;
      const cidr = prefix === null ? local : `${local}/${prefix}`;
      if (addr.family === "inet") ipv4.push(cidr);
      else if (addr.family === "inet6") ipv6.push(cidr);
    }
    const operstate = asString(link.operstate);
    links.push({
      name,
      macAddress: normalizeMac(asString(link.address)),
      mtu: typeof link.mtu === "number" ? link.mtu : null,
      up: flags.includes("LOWER_UP") ? true : operstate === "DOWN" ? false : null,
      loopback: flags.includes("LOOPBACK") || link.link_type === "loopback",
      ether: link.link_type === "ether",
      ipv4,
      ipv6,
    });
  }
  return links;
}

/**
 * Reads the sys-class-net.json capture (an object keyed by interface name); never throws. Empty
 * output and `{}` are valid; text that is not a JSON object is a problem.
 */
export function readSysNetCapture(text: string): Parsed<SysNet> {
  if (typeof text !== "string" || isBlank(text)) return { value: {}, problem: null };
  const { document, problem } = readJson(text);
  if (problem !== null) return { value: {}, problem };
  if (asRecord(document) === null) return { value: {}, problem: "JSON but not an object" };
  return { value: parseSysNet(text), problem: null };
}

/** Parses the sys-class-net.json capture; never throws. */
export function parseSysNet(text: string): SysNet {
  const parsed = asRecord(safeJson(String(text ?? "")));
  const out: SysNet = {};
  for (const [name, value] of Object.entries(parsed ?? {})) {
    const entry = asRecord(value);
    if (!entry) continue;
    const pick = (key: string) => asString(entry[key]);
    out[name] = {
      address: pick("address"),
      carrier: pick("carrier"),
      speed: pick("speed"),
      mtu: pick("mtu"),
      operstate: pick("operstate"),
      driver: pick("driver"),
      devicePath: pick("devicePath"),
      type: pick("type"),
    };
  }
  return out;
}

/**
 * Drivers of USB network functions (CDC Ethernet, EEM, NCM, RNDIS). The BMC's host interface
 * (iDRAC `idrac`, iLO's virtual NIC, XCC and Supermicro `usb0`, the Redfish host interface)
 * is one of these; PCI NICs never use them.
 */
export const USB_NET_DRIVERS: ReadonlySet<string> = new Set([
  "cdc_ether",
  "cdc_eem",
  "cdc_ncm",
  "cdc_subset",
  "rndis_host",
]);

/**
 * The BMC's USB NIC: bound to a USB network-function driver; without a known driver, named as
 * BMCs name it (`usb0`, `idrac`). Such a NIC is neither a data NIC nor a boot NIC (see
 * identity.ts isIdentityNic). A USB dongle on cdc_ether is marked too: no sysfs fact tells the
 * two apart, and neither is a NIC the machine boots or serves from.
 */
export function isBmcUsbNic(nic: Pick<Nic, "name" | "driver">): boolean {
  if (nic.driver) return USB_NET_DRIVERS.has(nic.driver);
  return /^(usb\d|idrac)/.test(nic.name);
}

/**
 * Physical NICs: interfaces backed by a device (sysfs `device` link) when sysfs was captured;
 * otherwise every non-loopback Ethernet link `ip` reports. Bridges, bonds, VLANs and veths have
 * no device and are left out: they are configuration, not hardware.
 */
export function buildNics(links: IpLink[], sys: SysNet | null): Nic[] {
  const byName = new Map(links.map((l) => [l.name, l]));
  const names = sys
    ? Object.keys(sys).filter((n) => sys[n]?.devicePath)
    : links.filter((l) => !l.loopback && l.ether).map((l) => l.name);
  return names.sort().map((name) => {
    const link = byName.get(name);
    const hw = sys?.[name];
    const driver = hw?.driver ?? null;
    const speed = hw?.speed ? Number.parseInt(hw.speed, 10) : Number.NaN;
    const carrier = hw?.carrier?.trim();
    return {
      name,
      macAddress: link?.macAddress ?? normalizeMac(hw?.address),
      permanentMacAddress: null,
      driver,
      // A USB NIC hangs off the USB host controller's PCI function: that address is not the NIC's.
      pciAddress: isUsbDevicePath(hw?.devicePath) ? null : pciAddressFromDevicePath(hw?.devicePath),
      // sysfs reports -1 (or fails to read) when the speed is unknown, e.g. link down.
      speedMbps: Number.isSafeInteger(speed) && speed > 0 ? speed : null,
      linkUp: carrier === "1" ? true : carrier === "0" ? false : (link?.up ?? null),
      mtu: link?.mtu ?? parseCount(hw?.mtu),
      ipv4: link?.ipv4 ?? [],
      ipv6: link?.ipv6 ?? [],
      lldp: null, // filled from lldpctl by collect/index.ts
      firmwareVersion: null, // ethtool -i, merged by collect/index.ts
      numaNode: null, // sys-bus-pci.json by PCI address, merged by collect/index.ts
      bmcUsb: isBmcUsbNic({ name, driver }),
    };
  });
}

/** Reads /sys/class/net into the sys-class-net.json form. */
export function readSysNet(root = "/sys/class/net"): string {
  const out: SysNet = {};
  for (const name of readdirSync(root).sort()) {
    const dir = join(root, name);
    let devicePath: string | null = null;
    let driver: string | null = null;
    try {
      devicePath = realpathSync(join(dir, "device"));
      driver = basename(readlinkSync(join(dir, "device", "driver")));
    } catch {
      // virtual interface (no device) or a device without a bound driver
    }
    out[name] = {
      address: readSysfsAttr(join(dir, "address")),
      carrier: readSysfsAttr(join(dir, "carrier")),
      speed: readSysfsAttr(join(dir, "speed")),
      mtu: readSysfsAttr(join(dir, "mtu")),
      operstate: readSysfsAttr(join(dir, "operstate")),
      type: readSysfsAttr(join(dir, "type")),
      driver,
      devicePath,
    };
  }
  return `${JSON.stringify(out, null, 2)}\n`;
}

export const ipAddrProbe: Probe = {
  file: "ip-addr.json",
  source: { kind: "command", argv: ["ip", "-j", "addr"], versionArgv: ["-V"] },
  timeoutMs: 60_000,
};

export const sysNetProbe: Probe = {
  file: "sys-class-net.json",
  source: { kind: "internal", describe: "read /sys/class/net", read: () => readSysNet() },
  timeoutMs: 10_000,
};

export const collectNics: Collect<Nic[]> = async (runner, signal) => {
  const [ip, sys] = await Promise.all([
    runner.run(ipAddrProbe, signal),
    runner.run(sysNetProbe, signal),
  ]);
  const ipText = usableOutput(ip);
  const sysText = usableOutput(sys);
  const links = parseOutput(ipText, readIpAddr, []);
  const sysNet = parseOutput(sysText, readSysNetCapture, {});
  // An unreadable sysfs capture says nothing about which links have a device: ip alone decides.
  const sysFacts = sysText === null || sysNet.problem !== null ? null : sysNet.value;
  const nics = ipText === null && sysText === null ? [] : buildNics(links.value, sysFacts);
  return {
    value: nics,
    reports: [
      reportParsed("ip-addr", ip, links.problem),
      reportParsed("sysfs-net", sys, sysNet.problem),
    ],
  };
};
