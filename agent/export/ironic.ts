// Ironic export: the inspection data ironic-python-agent (IPA) sends to ironic-inspector's
// POST /v1/continue, one document per node, and its sender. `inventory` follows IPA's hardware
// inventory (doc/source/admin/how_it_works.rst, "Hardware Inventory", and hardware.py's
// NetworkInterface, CPU, Memory, BlockDevice, SystemVendorInfo, BootInfo); the other top-level
// keys are those of IPA's inspection collectors (default, pci-devices, lldp, extra-hardware).
// What recon knows beyond IPA's inventory (DIMMs, PSUs, FRU, BMC details, the nodeId) goes into
// `data`, the extra-hardware collector's list of [category, item, key, value] facts, which the
// inspector's `extra_hardware` hook turns into the nested `extra` of the introspection data.
// Units as IPA's: sizes in bytes, memory.physical_mb in MiB, frequency and speed_mbps as IPA
// reads them (MHz, Mbit/s).
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Disk, Inventory, Nic } from "../../schema/inventory.ts";
import { cleanString } from "../normalize.ts";
import { errorText, type Fetch, readBodyLimited } from "./source.ts";
import {
  type ExportSession,
  type ExportTarget,
  type NodeOutcome,
  startFileOrSend,
} from "./target.ts";

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
/** IPA's default smallest root disk (guess_root_disk: 4 GiB). */
const MIN_ROOT_DISK_BYTES = 4 * GIB;
const MAX_ANSWER_BYTES = 256 * 1024;
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAC_PATTERN = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** One LLDP TLV as IPA sends it: [type, value as hex] (the value without the TLV header). */
export type LldpTlv = [number, string];

export interface IpaInterface {
  name: string;
  mac_address: string;
  ipv4_address: string | null;
  ipv6_address: string | null;
  has_carrier: boolean | null;
  lldp: LldpTlv[] | null;
  vendor: string | null;
  product: string | null;
  client_id: string | null;
  biosdevname: string | null;
  speed_mbps: number | null;
}

export interface IpaDisk {
  name: string;
  model: string | null;
  size: number | null;
  rotational: boolean | null;
  wwn: string | null;
  wwn_with_extension: string | null;
  wwn_vendor_extension: string | null;
  serial: string | null;
  vendor: string | null;
  hctl: string | null;
  by_path: string | null;
}

export interface IpaInventory {
  interfaces: IpaInterface[];
  cpu: {
    model_name: string | null;
    frequency: string | null;
    count: number | null;
    /** Left out when unknown: the inspector would store the text "None" as cpu_arch. */
    architecture?: string;
    flags: string[];
    socket_count: number | null;
  };
  memory: { total: number | null; physical_mb: number | null };
  disks: IpaDisk[];
  bmc_address: string | null;
  bmc_v6address: string | null;
  bmc_mac: string | null;
  system_vendor: {
    product_name: string | null;
    serial_number: string | null;
    manufacturer: string | null;
    firmware: { vendor: string | null; version: string | null; build_date: string | null };
  };
  boot: { current_boot_mode: "bios" | "uefi" | null; pxe_interface: string | null };
  hostname: string | null;
}

/** The numa-topology collector's key (IPA: ram, cpus, nics per NUMA node). */
export interface NumaTopology {
  ram: { numa_node: number; size_kb: number }[];
  /** thread_siblings is left out: recon does not record which threads share a core. */
  cpus: { cpu: number; numa_node: number }[];
  nics: { name: string; numa_node: number }[];
}

/** One extra-hardware fact: [category, item, key, value] (the `hardware` library's format). */
export type ExtraFact = [string, string, string, string | number];

export interface IronicInspectionData {
  inventory: IpaInventory;
  /** The disk IPA would deploy to without root device hints; null on a diskless node. */
  root_disk: IpaDisk | null;
  /** BOOTIF as pxelinux passes it ("01-aa-bb-.."); the inspector makes that port PXE-enabled. */
  boot_interface: string | null;
  configuration: { collectors: string[]; managers: { name: string; version: string }[] };
  pci_devices: { vendor_id: string; product_id: string }[];
  /** The lldp collector's raw TLVs per interface name (what newer Ironic reads). */
  lldp_raw: Record<string, LldpTlv[]>;
  /** Only when the document has NUMA nodes. */
  numa_topology?: NumaTopology;
  data: ExtraFact[];
}

const utf8Hex = (text: string) => Buffer.from(text, "utf8").toString("hex");
const macHex = (mac: string) => mac.replaceAll(":", "");

/**
 * The LLDP TLVs of one neighbour, rebuilt from recon's parsed form (lldpd's view): chassis ID
 * (subtype 4 for a MAC, else 7 "locally assigned"), port ID (subtype 3 for a MAC, else 7: recon
 * does not keep lldpd's subtype), port description, system name, and the IEEE 802.1 port VLAN
 * ID. A value too long for its TLV is left out rather than cut.
 */
export function lldpTlvs(lldp: Nic["lldp"]): LldpTlv[] {
  if (lldp === null) return [];
  const tlvs: LldpTlv[] = [];
  const id = (type: number, macSubtype: number, value: string | null) => {
    const clean = cleanString(value);
    if (clean === null) return;
    const lower = clean.toLowerCase();
    const hex = MAC_PATTERN.test(lower) ? `0${macSubtype}${macHex(lower)}` : `07${utf8Hex(clean)}`;
    if (hex.length / 2 <= 256) tlvs.push([type, hex]);
  };
  const text = (type: number, value: string | null) => {
    const clean = cleanString(value);
    if (clean !== null && Buffer.byteLength(clean) <= 255) tlvs.push([type, utf8Hex(clean)]);
  };
  id(1, 4, lldp.chassisId);
  id(2, 3, lldp.portId);
  text(4, lldp.portDescription);
  text(5, lldp.systemName);
  if (lldp.vlanId !== null && lldp.vlanId > 0 && lldp.vlanId < 4095) {
    tlvs.push([127, `0080c201${lldp.vlanId.toString(16).padStart(4, "0")}`]);
  }
  return tlvs;
}

function firstAddress(cidrs: readonly string[], preferGlobal: boolean): string | null {
  const addresses = cidrs.map((c) => c.split("/")[0] ?? c).filter((a) => a !== "");
  if (preferGlobal) {
    const global = addresses.find((a) => !a.toLowerCase().startsWith("fe80:"));
    if (global) return global;
  }
  return addresses[0] ?? null;
}

function ipaDisk(disk: Disk): IpaDisk {
  return {
    name: disk.path ?? `/dev/${disk.name}`,
    model: cleanString(disk.model),
    size: disk.sizeBytes,
    rotational: disk.rotational,
    wwn: cleanString(disk.wwn),
    wwn_with_extension: null,
    wwn_vendor_extension: null,
    serial: cleanString(disk.serialNumber),
    vendor: cleanString(disk.vendor),
    hctl: null,
    by_path: null,
  };
}

/**
 * IPA lists block devices (lsblk): a drive recon read through a RAID controller
 * (`reachedThrough`) is none, so it is only in the extra facts.
 */
export function blockDevices(doc: Inventory): Disk[] {
  return doc.disks.filter((d) => d.reachedThrough === null);
}

/**
 * The disk IPA picks without root device hints (guess_root_disk): the smallest of at least
 * 4 GiB; removable media are not candidates. Null when none qualifies.
 */
export function rootDisk(doc: Inventory): Disk | null {
  const candidates = blockDevices(doc).filter(
    (d) => d.removable !== true && d.sizeBytes !== null && d.sizeBytes >= MIN_ROOT_DISK_BYTES,
  );
  let best: Disk | null = null;
  for (const disk of candidates) {
    if (best === null || (disk.sizeBytes ?? 0) < (best.sizeBytes ?? 0)) best = disk;
  }
  return best;
}

/** Logical CPUs: lscpu's count, else the sum of the SMBIOS processors' thread counts. */
function logicalCpus(doc: Inventory): number | null {
  if (doc.cpu.logicalCpus !== null) return doc.cpu.logicalCpus;
  if (doc.processors.length === 0 || doc.processors.some((p) => p.threads === null)) return null;
  return doc.processors.reduce((sum, p) => sum + (p.threads ?? 0), 0);
}

/** Extra-hardware facts: the `hardware` library's categories and keys where it has them. */
function extraFacts(doc: Inventory): ExtraFact[] {
  const facts: ExtraFact[] = [];
  const add = (category: string, item: string, key: string, value: string | number | null) => {
    if (value === null) return;
    const clean = typeof value === "string" ? cleanString(value) : value;
    if (clean !== null) facts.push([category, item, key, clean]);
  };
  add("recon", "node", "id", doc.nodeId);
  add("recon", "node", "id_source", doc.nodeIdSource);
  add("recon", "agent", "name", doc.agent.name);
  add("recon", "agent", "version", doc.agent.version);
  add("recon", "document", "schema_version", doc.schemaVersion);
  add("recon", "document", "collected_at", doc.collectedAt);
  // One collector may report several runs (smartctl: one per drive): number them, or the
  // extra_hardware hook would keep only the last.
  const runs = new Map<string, number>();
  for (const c of doc.collectors) runs.set(c.name, (runs.get(c.name) ?? 0) + 1);
  const seen = new Map<string, number>();
  for (const c of doc.collectors) {
    const n = (seen.get(c.name) ?? 0) + 1;
    seen.set(c.name, n);
    const item = (runs.get(c.name) ?? 0) > 1 ? `collector:${c.name}[${n}]` : `collector:${c.name}`;
    add("recon", item, "status", c.status);
  }
  const s = doc.system;
  add("system", "product", "name", s.productName);
  add("system", "product", "vendor", s.manufacturer);
  add("system", "product", "serial", s.serialNumber);
  add("system", "product", "uuid", s.uuid);
  add("system", "product", "version", s.version);
  add("system", "product", "sku", s.sku);
  add("system", "product", "family", s.family);
  const b = doc.baseboard;
  add("system", "motherboard", "name", b.productName);
  add("system", "motherboard", "vendor", b.manufacturer);
  add("system", "motherboard", "serial", b.serialNumber);
  add("system", "motherboard", "version", b.version);
  add("system", "motherboard", "asset_tag", b.assetTag);
  const ch = doc.chassis;
  add("system", "chassis", "type", ch.type);
  add("system", "chassis", "vendor", ch.manufacturer);
  add("system", "chassis", "serial", ch.serialNumber);
  add("system", "chassis", "asset_tag", ch.assetTag);
  add("firmware", "bios", "vendor", doc.bios.vendor);
  add("firmware", "bios", "version", doc.bios.version);
  add("firmware", "bios", "date", doc.bios.releaseDate);
  if (doc.processors.length > 0) add("cpu", "physical", "number", doc.processors.length);
  doc.processors.forEach((p, i) => {
    const item = `physical_${i}`;
    add("cpu", item, "socket", p.socket);
    add("cpu", item, "vendor", p.manufacturer);
    add("cpu", item, "product", p.model);
    add("cpu", item, "cores", p.cores);
    add("cpu", item, "threads", p.threads);
    add("cpu", item, "max_Mhz", p.maxSpeedMhz);
    add("cpu", item, "current_Mhz", p.currentSpeedMhz);
    add("cpu", item, "status", p.status);
  });
  add("cpu", "logical", "number", doc.cpu.logicalCpus);
  add("memory", "total", "size", doc.memory.totalBytes);
  add("memory", "persistent", "size", doc.memory.persistentBytes);
  add("memory", "os_visible", "size", doc.memory.osVisibleBytes);
  add("memory", "slots", "count", doc.memory.slots);
  if (doc.memory.dimms.length > 0) add("memory", "banks", "count", doc.memory.dimms.length);
  doc.memory.dimms.forEach((m, i) => {
    const item = `bank:${i}`;
    add("memory", item, "slot", m.locator);
    add("memory", item, "bank_locator", m.bankLocator);
    add("memory", item, "size", m.sizeBytes);
    add("memory", item, "type", m.type);
    add("memory", item, "form_factor", m.formFactor);
    // lshw's clock: the module's rate in Hz (MT/s x 10^6), as the library reports it.
    add("memory", item, "clock", m.speedMts === null ? null : m.speedMts * 1_000_000);
    add(
      "memory",
      item,
      "configured_clock",
      m.configuredSpeedMts === null ? null : m.configuredSpeedMts * 1_000_000,
    );
    add("memory", item, "vendor", m.manufacturer);
    add("memory", item, "serial", m.serialNumber);
    add("memory", item, "product", m.partNumber);
    add("memory", item, "technology", m.technology);
    add("memory", item, "persistent", m.persistent ? "yes" : "no");
  });
  for (const d of doc.disks) {
    add("disk", d.name, "rev", d.firmwareVersion);
    add("disk", d.name, "transport", d.transport);
    add("disk", d.name, "removable", d.removable === null ? null : d.removable ? "yes" : "no");
    add(
      "disk",
      d.name,
      "smart_passed",
      d.smartPassed === null ? null : d.smartPassed ? "yes" : "no",
    );
    add("disk", d.name, "power_on_hours", d.powerOnHours);
    add("disk", d.name, "temperature_celsius", d.temperatureCelsius);
    add("disk", d.name, "serial", d.reachedThrough === null ? null : d.serialNumber);
    add("disk", d.name, "size", d.reachedThrough === null ? null : d.sizeBytes);
    add("disk", d.name, "model", d.reachedThrough === null ? null : d.model);
    add("disk", d.name, "reached_through", d.reachedThrough);
    add("disk", d.name, "raid_level", d.raidLevel);
  }
  for (const n of doc.nics) {
    add("network", n.name, "serial", n.permanentMacAddress ?? n.macAddress);
    add("network", n.name, "driver", n.driver);
    add("network", n.name, "businfo", n.pciAddress === null ? null : `pci@${n.pciAddress}`);
    add("network", n.name, "mtu", n.mtu);
    add("network", n.name, "link", n.linkUp === null ? null : n.linkUp ? "yes" : "no");
  }
  const bmc = doc.bmc;
  if (bmc !== null) {
    // ipmitool's own labels, lower-cased and dashed, as the library's parse_lan_info does.
    add("ipmi", "lan", "ip-address", bmc.ipv4Address);
    add("ipmi", "lan", "ip-address-source", bmc.ipv4Source);
    add("ipmi", "lan", "subnet-mask", bmc.netmask);
    add("ipmi", "lan", "default-gateway-ip", bmc.gateway);
    add("ipmi", "lan", "mac-address", bmc.macAddress);
    add("ipmi", "lan", "802.1q-vlan-id", bmc.vlanId);
    add("ipmi", "lan", "channel", bmc.channel);
    add("ipmi", "mc", "firmware-revision", bmc.firmwareVersion);
    add("ipmi", "mc", "ipmi-version", bmc.ipmiVersion);
    add("ipmi", "mc", "manufacturer-id", bmc.manufacturerId);
    add("ipmi", "mc", "manufacturer-name", bmc.manufacturerName);
    add("ipmi", "mc", "product-id", bmc.productId);
  }
  doc.powerSupplies.forEach((p, i) => {
    const item = `psu:${i}`;
    add("psu", item, "name", p.name);
    add("psu", item, "location", p.location);
    add("psu", item, "vendor", p.manufacturer);
    add("psu", item, "serial", p.serialNumber);
    add("psu", item, "product", p.modelPartNumber);
    add("psu", item, "max_power_w", p.maxPowerWatts);
    add("psu", item, "status", p.status);
  });
  doc.fru.forEach((f, i) => {
    const item = `fru:${f.id ?? i}`;
    add("fru", item, "name", f.name);
    add("fru", item, "board_vendor", f.boardManufacturer);
    add("fru", item, "board_product", f.boardProduct);
    add("fru", item, "board_serial", f.boardSerial);
    add("fru", item, "board_part_number", f.boardPartNumber);
    add("fru", item, "product_vendor", f.productManufacturer);
    add("fru", item, "product_name", f.productName);
    add("fru", item, "product_serial", f.productSerial);
    add("fru", item, "product_part_number", f.productPartNumber);
    add("fru", item, "chassis_serial", f.chassisSerial);
    add("fru", item, "chassis_part_number", f.chassisPartNumber);
  });
  return facts;
}

function numaTopology(doc: Inventory): NumaTopology {
  return {
    ram: doc.numaNodes.flatMap((n) =>
      n.memoryBytes === null
        ? []
        : [{ numa_node: n.id, size_kb: Math.floor(n.memoryBytes / 1024) }],
    ),
    cpus: doc.numaNodes.flatMap((n) => n.logicalCpus.map((cpu) => ({ cpu, numa_node: n.id }))),
    nics: doc.nics.flatMap((n) =>
      n.numaNode === null ? [] : [{ name: n.name, numa_node: n.numaNode }],
    ),
  };
}

/** The pure mapping: one valid document to the inspection data IPA would send. */
export function toIronic(doc: Inventory): IronicInspectionData {
  const pciByAddress = new Map(doc.pciDevices.map((p) => [p.address, p]));
  const hex = (id: string | null | undefined) => (id ? `0x${id}` : null);
  // IPA reports every interface with its MAC; Ironic's own endpoint requires one per interface.
  const interfaces = doc.nics.flatMap((n): IpaInterface[] => {
    const mac = n.macAddress ?? n.permanentMacAddress;
    if (mac === null) return [];
    const pci = n.pciAddress === null ? undefined : pciByAddress.get(n.pciAddress);
    const tlvs = lldpTlvs(n.lldp);
    return [
      {
        name: n.name,
        mac_address: mac,
        ipv4_address: firstAddress(n.ipv4, false),
        ipv6_address: firstAddress(n.ipv6, true),
        has_carrier: n.linkUp,
        lldp: tlvs.length > 0 ? tlvs : null,
        vendor: hex(pci?.vendorId),
        product: hex(pci?.deviceId),
        client_id: null,
        biosdevname: null,
        speed_mbps: n.speedMbps,
      },
    ];
  });
  const first = doc.processors[0];
  // SMBIOS "Current Speed" (the rated clock at boot) before "Max Speed", which many boards fill
  // with the socket's limit (4000 for a 3.0 GHz Xeon) rather than the CPU's.
  const mhz = first?.currentSpeedMhz ?? first?.maxSpeedMhz ?? null;
  const architecture = cleanString(doc.cpu.architecture);
  const bootInterface =
    doc.boot.bootMac !== null && MAC_PATTERN.test(doc.boot.bootMac)
      ? `01-${doc.boot.bootMac.replaceAll(":", "-")}`
      : null;
  const root = rootDisk(doc);
  const lldpRaw: Record<string, LldpTlv[]> = {};
  for (const i of interfaces) if (i.lldp !== null) lldpRaw[i.name] = i.lldp;
  return {
    inventory: {
      interfaces,
      cpu: {
        model_name: cleanString(doc.cpu.model) ?? cleanString(first?.model),
        frequency: mhz === null ? null : String(mhz),
        count: logicalCpus(doc),
        ...(architecture === null ? {} : { architecture }),
        flags: [],
        socket_count: doc.cpu.sockets ?? (doc.processors.length || null),
      },
      memory: {
        total: doc.memory.osVisibleBytes,
        physical_mb:
          doc.memory.totalBytes === null ? null : Math.round(doc.memory.totalBytes / MIB),
      },
      disks: blockDevices(doc).map(ipaDisk),
      bmc_address: doc.bmc?.ipv4Address ?? null,
      bmc_v6address: doc.bmc?.ipv6Addresses[0]?.split("/")[0] ?? null,
      bmc_mac: doc.bmc?.macAddress ?? null,
      system_vendor: {
        product_name: cleanString(doc.system.productName),
        serial_number: cleanString(doc.system.serialNumber),
        manufacturer: cleanString(doc.system.manufacturer),
        firmware: {
          vendor: cleanString(doc.bios.vendor),
          version: cleanString(doc.bios.version),
          build_date: cleanString(doc.bios.releaseDate),
        },
      },
      boot: { current_boot_mode: doc.boot.firmware, pxe_interface: bootInterface },
      hostname: cleanString(doc.hostname),
    },
    root_disk: root === null ? null : ipaDisk(root),
    boot_interface: bootInterface,
    configuration: {
      collectors: ["recon"],
      managers: [{ name: doc.agent.name, version: doc.agent.version }],
    },
    pci_devices: doc.pciDevices.flatMap((p) =>
      p.vendorId && p.deviceId ? [{ vendor_id: p.vendorId, product_id: p.deviceId }] : [],
    ),
    lldp_raw: lldpRaw,
    ...(doc.numaNodes.length === 0 ? {} : { numa_topology: numaTopology(doc) }),
    data: extraFacts(doc),
  };
}

/** The inspector's base URL from --url: a trailing /v1/continue (IPA's callback URL) is allowed. */
export function inspectorBase(url: string): string {
  return url.replace(/\/+$/, "").replace(/\/v1\/continue$/, "");
}

export interface IronicSendOptions {
  /** The inspector's base URL, e.g. http://10.0.0.2:5050. */
  url: string;
  /** Sent as X-Auth-Token (a Keystone token); noauth inspectors need none. */
  token: string | null;
  fetch: Fetch;
}

async function answerText(response: Response): Promise<string> {
  return (await readBodyLimited(response, MAX_ANSWER_BYTES)).toString("utf8");
}

/** The inspector's error message ({"error":{"message":..}}), else the body's start. */
function inspectorError(text: string): string {
  try {
    const message = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message;
    if (typeof message === "string") return message.replace(/\s+/g, " ").trim();
  } catch {}
  return text.replace(/\s+/g, " ").trim().slice(0, 300);
}

/**
 * POSTs one node's data to <url>/v1/continue. The inspector answers only the node's UUID; its
 * stored processed data (GET /v1/introspection/<uuid>/data, kept with [processing] store_data)
 * says whether the enroll hook created the node (`auto_discovered`). Without stored data the
 * outcome is `sent`. Never throws.
 */
export async function sendIronic(
  data: IronicInspectionData,
  options: IronicSendOptions,
): Promise<NodeOutcome> {
  const base = inspectorBase(options.url);
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (options.token) headers["X-Auth-Token"] = options.token;
  let uuid: string;
  try {
    const response = await options.fetch(`${base}/v1/continue`, {
      method: "POST",
      headers,
      body: JSON.stringify(data),
      signal: AbortSignal.timeout(120_000),
    });
    const text = await answerText(response);
    if (!response.ok) {
      return {
        outcome: "failed",
        detail: `inspector answered HTTP ${response.status}: ${inspectorError(text)}`,
      };
    }
    const answer = JSON.parse(text) as { uuid?: unknown };
    if (typeof answer.uuid !== "string" || !UUID_PATTERN.test(answer.uuid)) {
      return {
        outcome: "failed",
        detail: `inspector answered no node UUID: ${text.slice(0, 200)}`,
      };
    }
    uuid = answer.uuid;
  } catch (error) {
    return { outcome: "failed", detail: `cannot reach ${base}/v1/continue: ${errorText(error)}` };
  }
  try {
    const headers: Record<string, string> = {};
    if (options.token) headers["X-Auth-Token"] = options.token;
    const response = await options.fetch(`${base}/v1/introspection/${uuid}/data`, {
      headers,
      signal: AbortSignal.timeout(30_000),
    });
    const text = await answerText(response);
    if (response.ok) {
      const processed = JSON.parse(text) as { auto_discovered?: unknown };
      return processed.auto_discovered === true
        ? { outcome: "created", detail: `Ironic node ${uuid} (enrolled by the inspector)` }
        : { outcome: "updated", detail: `Ironic node ${uuid} (was being inspected)` };
    }
  } catch {}
  return { outcome: "sent", detail: `Ironic node ${uuid}` };
}

function describe(data: IronicInspectionData): string {
  const inv = data.inventory;
  const macs = inv.interfaces.map((i) => i.mac_address);
  return `${inv.interfaces.length} interfaces (${macs.join(" ") || "none"}), cpus ${inv.cpu.count ?? "?"}, memory ${inv.memory.physical_mb ?? "?"} MiB, ${inv.disks.length} disks, root ${data.root_disk?.name ?? "none"}, ${data.data.length} extra facts`;
}

export const ironicTarget: ExportTarget = {
  name: "ironic",
  summary: "OpenStack Ironic: ironic-python-agent's inspection data, to ironic-inspector",
  help: `Maps each document to the inspection data ironic-python-agent sends to ironic-inspector:
{"inventory": {interfaces, cpu, memory, disks, bmc_address, bmc_mac, system_vendor, boot,
hostname}, "root_disk", "boot_interface", "pci_devices", "lldp_raw", "data"}. "data" holds, in
the extra-hardware collector's [category, item, key, value] form, what IPA's inventory has no
place for (DIMMs, PSUs, FRU, BMC details, the nodeId); the inspector's extra_hardware hook
turns it into "extra".
  --out DIR     writes <nodeId>.json per node
  --url URL     POSTs each node to ironic-inspector's <URL>/v1/continue (e.g.
                http://10.13.37.2:5050); the inspector enrolls unknown nodes when its
                [processing] node_not_found_hook = enroll
  --token-file F  its first line is sent as X-Auth-Token (Keystone); none for noauth
  --dry-run     prints what would be sent; writes and sends nothing`,
  options: {},
  async start(context): Promise<ExportSession> {
    await startFileOrSend("ironic", context);
    return {
      async node(doc) {
        const data = toIronic(doc);
        const what = describe(data);
        // The inspector enrolls a node before its hooks see there is no MAC, then refuses the
        // data: the node would stay in Ironic, empty. Such a document is not sent.
        const sendable = data.inventory.interfaces.length > 0;
        const unsendable = `no NIC with a MAC address: ironic-inspector refuses it (after enrolling an empty node), so it is not sent`;
        if (context.dryRun) {
          return sendable
            ? { outcome: "planned", detail: `would send ${what}` }
            : { outcome: "failed", detail: unsendable };
        }
        if (context.out !== null) {
          const file = join(context.out, `${doc.nodeId}.json`);
          try {
            await writeFile(file, `${JSON.stringify(data, null, 2)}\n`);
          } catch (error) {
            return { outcome: "failed", detail: `cannot write ${file}: ${errorText(error)}` };
          }
          if (context.url === null) return { outcome: "written", detail: `${file}: ${what}` };
        }
        if (!sendable) return { outcome: "failed", detail: unsendable };
        return sendIronic(data, {
          url: context.url ?? "",
          token: context.token,
          fetch: context.fetch,
        });
      },
      async finish() {},
    };
  },
};
