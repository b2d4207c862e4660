// Which id a node gets. Pure: the assembled document's hardware facts in, { nodeId, nodeIdSource }
// out. Every step names the field its id came from, so an importer can check it (schema/README,
// "Identity"). Two different machines must never share an id silently: a value firmware ships on
// every board, a MAC the OS made up, or a host name is not an identity. When nothing stable is
// left, the id is random (`anon-<uuid v4>`): a new node every run, but never somebody else's.
import { createHash, randomUUID } from "node:crypto";
import type { Inventory, Nic, NodeIdSource } from "../../schema/inventory.ts";
import { isBmcUsbNic } from "./net.ts";

/**
 * The hardware part of the document: everything but the id, the run (agent, time, host name)
 * and collectors[]. `bios` is carried but never hashed (a firmware update is not a new machine).
 */
export type IdentityFacts = Pick<
  Inventory,
  | "boot"
  | "system"
  | "baseboard"
  | "chassis"
  | "bios"
  | "cpu"
  | "processors"
  | "memory"
  | "powerSupplies"
  | "disks"
  | "nics"
  | "pciDevices"
  | "bmc"
  | "fru"
>;

export interface NodeIdentity {
  nodeId: string;
  nodeIdSource: NodeIdSource;
}

/** UUIDs that firmware vendors ship on every board (seen in real captures): not an identity. */
const SHARED_UUIDS = new Set([
  "03000200-0400-0500-0006-000700080009", // AMI boards, "To Be Filled By O.E.M." era
  "00020003-0004-0005-0006-000700080009", // the same, byte-swapped (SMBIOS < 2.6 order)
  "12345678-1234-5678-90ab-cddeefaabbcc", // Online Labs / Scaleway, every machine
  "4c4c4544-0000-2010-8020-80c04f202020", // Dell with an empty service tag (tag = 7 spaces)
]);

/**
 * Shorter serials are slot numbers or anonymised values ("42" in NetBox exports), not unit
 * serials: no vendor numbers its production with three characters.
 */
const MIN_SERIAL_LENGTH = 4;

/**
 * Interface names of links the OS creates: bonds, bridges, VLANs (eth0.100, eth0@eth1), veths,
 * tunnels, container and overlay networks. Their MAC is borrowed or made up.
 */
const VIRTUAL_NIC_NAME =
  /^(lo|bond|team|br|virbr|docker|veth|vlan|vnet|tap|tun|macvtap|macvlan|vxlan|geneve|dummy|ifb|wg|cni|flannel|cali|kube|ovs|gre|ipip|sit|ip6tnl|nlmon|podman|lxc|lxd|incusbr)/;

/** Drivers of such links (when sysfs names one); USB NICs are net.ts's isBmcUsbNic. */
const NON_IDENTITY_DRIVERS = new Set([
  "bonding",
  "bridge",
  "8021q",
  "veth",
  "tun",
  "macvlan",
  "macvtap",
  "vxlan",
  "geneve",
  "dummy",
  "ifb",
  "team",
  "openvswitch",
  "wireguard",
]);

/** Turns an identifier into a file-name-safe node id token (see NODE_ID_PATTERN). */
export function toNodeIdToken(value: string): string | null {
  const token = value
    .replace(/[^A-Za-z0-9._-]+/g, "-")
    .replace(/^[^A-Za-z0-9]+/, "")
    .replace(/-+$/, "")
    .slice(0, 128);
  return token.length > 0 ? token : null;
}

/**
 * A system UUID that names one machine: canonical, not one of SHARED_UUIDS, and not a filler
 * (fewer than three distinct hex digits, e.g. 00000000-0000-0000-0000-000000000001).
 */
export function isIdentityUuid(uuid: string | null): uuid is string {
  if (!uuid || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(uuid))
    return false;
  if (SHARED_UUIDS.has(uuid)) return false;
  return new Set(uuid.replace(/-/g, "")).size >= 3;
}

/**
 * A serial number (already cleaned of placeholders by normalize.ts) as an id token, or null when
 * it is too short to name a unit.
 */
export function identitySerial(serial: string | null): string | null {
  const token = serial ? toNodeIdToken(serial) : null;
  return token && token.length >= MIN_SERIAL_LENGTH ? token : null;
}

/**
 * A MAC that a manufacturer burnt in: 6 bytes, unicast, universally administered. A locally
 * administered MAC (second bit of the first byte: 02:.., 52:54:00:.. of QEMU, bond and bridge
 * defaults, randomised Wi-Fi) is chosen by software and repeats across machines.
 */
export function isIdentityMac(mac: string | null): mac is string {
  if (!mac || !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac)) return false;
  if (/^(00:){5}00$|^(ff:){5}ff$/.test(mac)) return false;
  const first = Number.parseInt(mac.slice(0, 2), 16);
  return (first & 0b11) === 0;
}

/** A NIC that is hardware of this machine: not a virtual link, not a USB NIC (BMC, dongle). */
export function isIdentityNic(nic: Pick<Nic, "name" | "driver">): boolean {
  if (VIRTUAL_NIC_NAME.test(nic.name) || /[.@:]/.test(nic.name)) return false;
  // USB NICs: `usb0` (the BMC host interface), `enx<mac>` (systemd's name for USB adapters).
  if (/^(usb\d|enx|idrac)/.test(nic.name)) return false;
  // USB network functions (the BMC's host NIC, dongles): net.ts decides, nics[].bmcUsb says so.
  if (isBmcUsbNic(nic)) return false;
  return !(nic.driver && NON_IDENTITY_DRIVERS.has(nic.driver));
}

const macId = (mac: string) => `mac-${mac.replace(/:/g, "")}`;

/** The lowest qualifying MAC: NIC names change between kernels (eth0/eno1), the set does not. */
function lowestMac(macs: Array<string | null>): string | null {
  const qualifying = macs.filter(isIdentityMac).sort();
  return qualifying[0] ?? null;
}

/**
 * The canonical list of stable facts the fingerprint hashes, one `key=JSON value` line each, in
 * a fixed order, multi-valued groups sorted. Only facts that stay the same across reboots and
 * OS reinstalls: models, part numbers, component serials, sizes, PCI ids at their addresses,
 * the BMC's burnt-in MAC. Never the time, host name, IPs, link state, temperatures, SMART
 * counters, firmware versions (an update is not a new machine), NICs' current MACs.
 * Removable disks (a USB stick left in) are left out.
 */
export function fingerprintFacts(doc: IdentityFacts): string[] {
  const lines: string[] = [];
  const add = (key: string, value: unknown) => {
    if (value === null || value === undefined) return;
    if (Array.isArray(value) && value.every((v) => v === null)) return;
    lines.push(`${key}=${JSON.stringify(value)}`);
  };
  const addSorted = (key: string, values: unknown[][]) => {
    const rendered = values
      .filter((v) => v.some((x) => x !== null && x !== undefined))
      .map((v) => JSON.stringify(v))
      .sort();
    for (const value of rendered) lines.push(`${key}=${value}`);
  };
  const { system, baseboard, chassis, cpu, memory } = doc;
  add("system", [system.manufacturer, system.productName, system.version, system.sku]);
  add("system.family", system.family);
  add("system.uuid", system.uuid);
  add("system.serial", system.serialNumber);
  add("baseboard", [baseboard.manufacturer, baseboard.productName, baseboard.version]);
  add("baseboard.serial", baseboard.serialNumber);
  add("chassis", [chassis.manufacturer, chassis.type]);
  add("chassis.serial", chassis.serialNumber);
  add("cpu", [cpu.architecture, cpu.model, cpu.sockets, cpu.coresPerSocket]);
  addSorted(
    "processor",
    doc.processors.map((p) => [p.socket, p.manufacturer, p.model, p.cores]),
  );
  add("memory.slots", memory.slots);
  addSorted(
    "dimm",
    memory.dimms.map((d) => [d.locator, d.sizeBytes, d.manufacturer, d.partNumber, d.serialNumber]),
  );
  addSorted(
    "psu",
    doc.powerSupplies.map((p) => [p.manufacturer, p.modelPartNumber, p.serialNumber]),
  );
  addSorted(
    "disk",
    doc.disks
      .filter((d) => d.removable !== true && d.transport !== "usb")
      .map((d) => [d.model, d.sizeBytes, d.serialNumber, d.wwn]),
  );
  addSorted(
    "pci",
    doc.pciDevices.map((p) => [
      p.address,
      p.vendorId,
      p.deviceId,
      p.subsystemVendorId,
      p.subsystemId,
    ]),
  );
  if (doc.bmc) {
    add("bmc", [doc.bmc.manufacturerId, doc.bmc.productId]);
    add("bmc.mac", isIdentityMac(doc.bmc.macAddress) ? doc.bmc.macAddress : null);
  }
  addSorted(
    "fru",
    doc.fru.map((f) => [
      f.boardProduct,
      f.boardSerial,
      f.boardPartNumber,
      f.productName,
      f.productSerial,
      f.productPartNumber,
      f.chassisSerial,
      f.chassisPartNumber,
    ]),
  );
  return lines;
}

/** `fp-` + the first 32 hex digits (128 bits) of sha256 over fingerprintFacts; null if none. */
export function fingerprintId(doc: IdentityFacts): string | null {
  const lines = fingerprintFacts(doc);
  if (lines.length === 0) return null;
  const hash = createHash("sha256")
    .update(`${lines.join("\n")}\n`)
    .digest("hex");
  return `fp-${hash.slice(0, 32)}`;
}

export interface DeriveOptions {
  /** Source of the random part of `anon-` ids (tests pin it). */
  randomUuid?: () => string;
}

/**
 * nodeId: stable across reboots, readable, safe as a file name; the first step that has a value:
 *  1. uuid            system UUID (isIdentityUuid)                 4c4c4544-0042-3510-8052-b3c04f4d4e32
 *  2. serial          system serial (identitySerial)               CZJ1234X
 *  3. baseboardSerial baseboard serial                             board-.7G6P2Z2.CNIVC0097D00FU
 *  4. chassisSerial   chassis serial                               chassis-C8150LG15NH0008
 *  5. bootMac         BOOTIF, burnt-in MAC (isIdentityMac)         mac-b496913c5e10
 *  6. permanentMac    lowest nics[].permanentMacAddress            mac-0cc47a4b18c0
 *  7. nicMac          lowest nics[].macAddress                     mac-0cc47a4b18c1
 *  8. fingerprint     fingerprintId over fingerprintFacts          fp-3f0c9d6e...
 *  9. random          nothing stable at all                        anon-<uuid v4>
 * Steps 6 and 7 only consider NICs that pass isIdentityNic.
 */
export function deriveNodeId(doc: IdentityFacts, options: DeriveOptions = {}): NodeIdentity {
  if (isIdentityUuid(doc.system.uuid)) return { nodeId: doc.system.uuid, nodeIdSource: "uuid" };
  const systemSerial = identitySerial(doc.system.serialNumber);
  if (systemSerial) return { nodeId: systemSerial, nodeIdSource: "serial" };
  const boardSerial = identitySerial(doc.baseboard.serialNumber);
  if (boardSerial)
    return { nodeId: `board-${boardSerial}`.slice(0, 128), nodeIdSource: "baseboardSerial" };
  const chassisSerial = identitySerial(doc.chassis.serialNumber);
  if (chassisSerial)
    return { nodeId: `chassis-${chassisSerial}`.slice(0, 128), nodeIdSource: "chassisSerial" };
  const bootMac = doc.boot.bootMac;
  // BOOTIF naming the BMC's USB NIC (a misconfigured boot) names no machine of its own.
  const bootsFromBmcUsb = doc.nics.some((n) => n.bmcUsb && n.macAddress === bootMac);
  if (isIdentityMac(bootMac) && !bootsFromBmcUsb)
    return { nodeId: macId(bootMac), nodeIdSource: "bootMac" };
  const nics = doc.nics.filter(isIdentityNic);
  const permanent = lowestMac(nics.map((n) => n.permanentMacAddress));
  if (permanent) return { nodeId: macId(permanent), nodeIdSource: "permanentMac" };
  const current = lowestMac(nics.map((n) => n.macAddress));
  if (current) return { nodeId: macId(current), nodeIdSource: "nicMac" };
  const fingerprint = fingerprintId(doc);
  if (fingerprint) return { nodeId: fingerprint, nodeIdSource: "fingerprint" };
  return { nodeId: `anon-${(options.randomUuid ?? randomUUID)()}`, nodeIdSource: "random" };
}

/**
 * False when the document's id names no machine: `random` (this agent, nothing stable found) or
 * `hostname` (1.0 documents only). The CLI refuses such replays unless told otherwise.
 */
export function hasStableIdentity(doc: Pick<Inventory, "nodeIdSource">): boolean {
  return doc.nodeIdSource !== "random" && doc.nodeIdSource !== "hostname";
}
