// SMBIOS structures of the kind a QEMU guest gets through `-smbios file=` (one structure per file),
// for what QEMU does not make itself: system slots (type 9), a power supply (type 39) and a Redfish
// host interface (type 42). The lab's own are built by test/lab/smbios.ts; these are the parser's
// test input. Layouts from DMTF DSP0134 3.x (7.10, 7.40, 7.43) and DSP0270 1.3 (the
// Redfish over IP protocol record). Also writes `smbios-dump.bin`, an SMBIOS 3.2 entry point plus
// these tables in `dmidecode --dump-bin` layout, so `dmidecode --from-dump` decodes them without
// a VM (dmidecode.txt beside this file is that output).
//
// Run: node samples/smbios-platform-tables/make-tables.ts [outdir]   (writes smbios-dump.bin)
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/** A structure: formatted area (type, length, handle, fields) then its strings, double-NUL ended. */
function structure(type: number, handle: number, fields: number[], strings: string[] = []): Buffer {
  const length = 4 + fields.length;
  if (length > 0xff) throw new Error(`type ${type}: formatted area too long (${length})`);
  const head = Buffer.from([type, length, handle & 0xff, handle >> 8, ...fields]);
  const text =
    strings.length === 0
      ? Buffer.from([0, 0])
      : Buffer.concat([...strings.map((s) => Buffer.from(`${s}\0`, "latin1")), Buffer.from([0])]);
  return Buffer.concat([head, text]);
}

const word = (n: number) => [n & 0xff, (n >> 8) & 0xff];
const dword = (n: number) => [...word(n & 0xffff), ...word(n >>> 16)];
const ipv4 = (text: string) => [...text.split(".").map(Number), ...Array(12).fill(0)];

/** Type 9, SMBIOS 2.6 layout (17 bytes): designation, PCIe Gen 3 x16, usage, segment/bus/devfn. */
function systemSlot(
  handle: number,
  designation: string,
  id: number,
  inUse: boolean,
  [segment, bus, device, fn]: [number, number, number, number],
): Buffer {
  return structure(
    9,
    handle,
    [
      1, // Slot Designation: string 1
      0xb6, // Slot Type: PCI Express Gen 3 x16
      0x0d, // Slot Data Bus Width: x16
      inUse ? 0x04 : 0x03, // Current Usage: In Use / Available
      0x04, // Slot Length: Long
      ...word(id), // Slot ID
      0x04, // Characteristics 1: 3.3 V is provided
      0x01, // Characteristics 2: PME signal is supported
      ...word(segment),
      bus,
      (device << 3) | fn,
    ],
    [designation],
  );
}

/** Type 39 (22 bytes): a present, OK, hot-replaceable 800 W switching supply. */
function powerSupply(handle: number): Buffer {
  const characteristics =
    (1 << 0) | // hot-replaceable
    (1 << 1) | // present
    (0b100 << 3) | // input voltage range switching: auto-switch
    (0b011 << 7) | // status: OK
    (0b0100 << 10); // type: switching
  return structure(
    39,
    handle,
    [
      1, // Power Unit Group
      1, // Location: string 1
      2, // Device Name: string 2
      3, // Manufacturer: string 3
      4, // Serial Number: string 4
      5, // Asset Tag Number: string 5
      6, // Model Part Number: string 6
      7, // Revision Level: string 7
      ...word(800), // Max Power Capacity, W
      ...word(characteristics),
      ...word(0xffff), // Input Voltage Probe Handle: none
      ...word(0xffff), // Cooling Device Handle: none
      ...word(0xffff), // Input Current Probe Handle: none
    ],
    ["PSU1", "RL-PSU-800", "Recon Lab Power", "LABPSU0001", "LABPSU0001-AT", "RLP-800-AC", "A01"],
  );
}

/** Type 42: a USB network host interface (AMI's virtual NIC ids) with one Redfish over IP record. */
function redfishHostInterface(handle: number): Buffer {
  const hostname = Buffer.from("bmc.recon.lab", "latin1");
  const usbSerial = [0x02, 0x03]; // an empty USB string descriptor (bLength 2, STRING)
  const device = [0x02, ...word(0x046b), ...word(0xffb0), ...usbSerial]; // USB network interface
  const uuid = Buffer.from("5ec0aaaa1ab040008000000000000fff", "hex");
  const protocol = [
    ...uuid, // Service UUID
    0x01, // Host IP Assignment Type: Static
    0x01, // Host IP Address Format: IPv4
    ...ipv4("169.254.0.18"),
    ...ipv4("255.255.0.0"),
    0x01, // Redfish Service IP Discovery Type: Static
    0x01, // Redfish Service IP Address Format: IPv4
    ...ipv4("169.254.0.17"),
    ...ipv4("255.255.0.0"),
    ...word(443), // Redfish Service Port
    ...dword(0), // Redfish Service VLAN
    hostname.length,
    ...hostname,
  ];
  return structure(42, handle, [
    0x40, // Interface Type: Network Host Interface
    device.length,
    ...device,
    1, // number of protocol records
    0x04, // Protocol Type: Redfish over IP
    protocol.length,
    ...protocol,
  ]);
}

export const TABLES: Record<string, Buffer> = {
  // Slots 2 and 3 print one address, as some boards do for every empty slot (the
  // shared-slot-address warning).
  "platform-type9-slot1.bin": systemSlot(0x0900, "PCIe Slot 1", 1, true, [0, 0, 2, 0]),
  "platform-type9-slot2.bin": systemSlot(0x0901, "PCIe Slot 2", 2, false, [0, 0, 0, 0]),
  "platform-type9-slot3.bin": systemSlot(0x0902, "PCIe Slot 3", 3, false, [0, 0, 0, 0]),
  "platform-type39-psu.bin": powerSupply(0x2700),
  "platform-type42-redfish.bin": redfishHostInterface(0x2a00),
};

/** An SMBIOS 3.2 entry point and the tables (plus end-of-table), laid out as dmidecode dumps. */
export function dumpOf(tables: Buffer[]): Buffer {
  const end = structure(127, 0xfeff, []);
  const table = Buffer.concat([...tables, end]);
  const entry = Buffer.alloc(0x18);
  entry.write("_SM3_", 0, "latin1");
  entry[6] = 0x18; // entry point length
  // 3.2: dmidecode decodes type 42's device and protocol records only from SMBIOS 3.2 on (the
  // layout changed there); QEMU 7.2 announces 2.8 or 3.0, so in a guest dmidecode prints only
  // "Interface Type: Network" for the same bytes.
  entry[7] = 3;
  entry[8] = 2;
  entry[9] = 0; // docrev
  entry[10] = 1; // entry point revision
  entry.writeUInt32LE(table.length, 12); // table maximum size
  entry.writeBigUInt64LE(32n, 16); // table address: right after the 32-byte header
  let sum = 0;
  for (const byte of entry) sum = (sum + byte) & 0xff;
  entry[5] = (0x100 - sum) & 0xff;
  return Buffer.concat([entry, Buffer.alloc(32 - entry.length), table]);
}

if (import.meta.main) {
  const out = process.argv[2] ?? import.meta.dirname;
  writeFileSync(join(out, "smbios-dump.bin"), dumpOf(Object.values(TABLES)));
  console.log(`wrote smbios-dump.bin (${Object.keys(TABLES).length} tables) to ${out}`);
}
