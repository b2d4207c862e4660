// Binary SMBIOS structures for QEMU's `-smbios file=PATH` (one structure per file: QEMU 7.2 reads
// the file as one table and takes its type from the first header). QEMU makes types 0-4, 11, 16,
// 17, 19, 32 and 127 itself; the ones a server has and QEMU does not are written here:
//   type 9  System Slots (SMBIOS 3.x spec 7.10, the 2.6+ layout with segment/bus/devfn),
//   type 39 System Power Supply (7.40),
//   type 42 Management Controller Host Interface (7.43 with DMTF DSP0270 1.3: a USB network
//           host interface carrying a Redfish-over-IP protocol record).
// Each structure is the formatted area followed by its strings (each NUL-terminated) and a final
// NUL (two NULs when there are no strings), as the spec lays them out.

export interface SlotRecord {
  handle: number;
  designation: string;
  /** Slot type (7.10.1), e.g. 0xb6 = PCI Express Gen 3 x16. */
  type: number;
  /** Data bus width (7.10.2), e.g. 0x0d = 16x. */
  busWidth: number;
  /** Current usage (7.10.3): 3 available, 4 in use. */
  currentUsage: number;
  /** Slot length (7.10.4): 3 short, 4 long. */
  length: number;
  id: number;
  /** Segment, bus, device, function of the card's function 0 (0xffff/0xff/0x1f/7: none). */
  segment: number;
  bus: number;
  device: number;
  function: number;
}

export interface PowerSupplyRecord {
  handle: number;
  group: number;
  location: string;
  deviceName: string;
  manufacturer: string;
  serial: string;
  assetTag: string;
  modelPartNumber: string;
  revision: string;
  /** Watts; 0x8000 unknown. */
  maxPowerWatts: number;
  /** Characteristics word (7.40.1). */
  characteristics: number;
}

export interface HostInterfaceRecord {
  handle: number;
  /** The BMC's USB NIC as the host sees it. */
  usbVendorId: number;
  usbProductId: number;
  usbSerial: string;
  /** Redfish over IP (DSP0270 8.5.1). */
  serviceUuid: string;
  hostIpv4: string;
  hostMask: string;
  serviceIpv4: string;
  serviceMask: string;
  servicePort: number;
  serviceVlan: number;
  serviceHostname: string;
}

/** Formatted area + string set, as one structure. */
function structure(formatted: number[], strings: string[]): Buffer {
  const head = Buffer.from(formatted);
  head[1] = formatted.length;
  const text = strings.length
    ? Buffer.concat([...strings.map((s) => Buffer.from(`${s}\0`, "latin1")), Buffer.from([0])])
    : Buffer.from([0, 0]);
  return Buffer.concat([head, text]);
}

const word = (n: number) => [n & 0xff, (n >> 8) & 0xff];
const dword = (n: number) => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff];
const ipv4 = (addr: string) => {
  const bytes = addr.split(".").map(Number);
  if (bytes.length !== 4 || bytes.some((b) => !(b >= 0 && b <= 255))) {
    throw new Error(`not an IPv4 address: ${addr}`);
  }
  return [...bytes, ...new Array(12).fill(0)];
};

/** SMBIOS UUID byte order: the first three fields little-endian (7.2.1). */
function uuidBytes(uuid: string): number[] {
  const hex = uuid.replace(/-/g, "");
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new Error(`not a UUID: ${uuid}`);
  const b = Array.from({ length: 16 }, (_, i) => Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16));
  return [b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], ...b.slice(8)] as number[];
}

export function slotStructure(s: SlotRecord): Buffer {
  return structure(
    [
      9,
      0,
      ...word(s.handle),
      1, // designation: string 1
      s.type,
      s.busWidth,
      s.currentUsage,
      s.length,
      ...word(s.id),
      0x06, // characteristics 1: 5.0 V and 3.3 V provided (bits 1, 2)
      0x01, // characteristics 2: PME# supported
      ...word(s.segment),
      s.bus,
      ((s.device & 0x1f) << 3) | (s.function & 7),
    ],
    [s.designation],
  );
}

export function powerSupplyStructure(p: PowerSupplyRecord): Buffer {
  return structure(
    [
      39,
      0,
      ...word(p.handle),
      p.group,
      1, // location
      2, // device name
      3, // manufacturer
      4, // serial
      5, // asset tag
      6, // model part number
      7, // revision level
      ...word(p.maxPowerWatts),
      ...word(p.characteristics),
      ...word(0xffff), // input voltage probe: none
      ...word(0xffff), // cooling device: none
      ...word(0xffff), // input current probe: none
    ],
    [p.location, p.deviceName, p.manufacturer, p.serial, p.assetTag, p.modelPartNumber, p.revision],
  );
}

export function hostInterfaceStructure(h: HostInterfaceRecord): Buffer {
  // DSP0270 8.3.1: USB network interface device descriptor (device type 0x02): idVendor,
  // idProduct, then the serial number as a USB string descriptor (bLength, 0x03, UTF-16LE).
  const serial = Buffer.from(h.usbSerial, "utf16le");
  const device = [
    0x02,
    ...word(h.usbVendorId),
    ...word(h.usbProductId),
    serial.length + 2,
    0x03,
    ...serial,
  ];
  const hostname = Buffer.from(h.serviceHostname, "latin1");
  const redfish = [
    ...uuidBytes(h.serviceUuid),
    0x01, // host IP assignment: static
    0x01, // host IP format: IPv4
    ...ipv4(h.hostIpv4),
    ...ipv4(h.hostMask),
    0x01, // service IP discovery: static
    0x01, // service IP format: IPv4
    ...ipv4(h.serviceIpv4),
    ...ipv4(h.serviceMask),
    ...word(h.servicePort),
    ...dword(h.serviceVlan),
    hostname.length,
    ...hostname,
  ];
  return structure(
    [
      42,
      0,
      ...word(h.handle),
      0x40, // interface type: network host interface
      device.length,
      ...device,
      1, // one protocol record
      0x04, // Redfish over IP
      redfish.length,
      ...redfish,
    ],
    [],
  );
}
