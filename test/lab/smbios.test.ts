// The SMBIOS structures capture:qemu gives QEMU (test/lab/smbios.ts), read back by the real
// dmidecode from a dump file: an SMBIOS 3.2 entry point (so that dmidecode decodes type 42's
// Redfish record, which it does from 3.2 on) followed by the structures and an end-of-table.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { PROFILES } from "./capture.ts";
import { hostInterfaceStructure, powerSupplyStructure, slotStructure } from "./smbios.ts";

const DMIDECODE = "/usr/sbin/dmidecode";

function dumpFile(structures: Buffer[]): Buffer {
  const end = Buffer.from([127, 4, 0xff, 0xfe, 0, 0]);
  const table = Buffer.concat([...structures, end]);
  const entry = Buffer.alloc(32);
  entry.write("_SM3_", 0, "latin1");
  entry[6] = 0x18; // entry point length
  entry[7] = 3; // SMBIOS 3.2.0
  entry[8] = 2;
  entry[9] = 0;
  entry[10] = 1; // entry point revision
  entry.writeUInt32LE(table.length, 0x0c);
  entry.writeBigUInt64LE(32n, 0x10); // the table follows the entry point in a dump
  let sum = 0;
  for (let i = 0; i < 0x18; i++) sum += entry[i] ?? 0;
  entry[5] = (256 - (sum % 256)) % 256;
  return Buffer.concat([entry, table]);
}

test("dmidecode decodes the capture profiles' slots, power supplies and host interface", {
  skip: existsSync(DMIDECODE) ? false : "dmidecode is not installed",
}, () => {
  const smbios = PROFILES["uefi-secureboot"]?.smbios;
  assert.ok(smbios?.hostInterface);
  const dir = mkdtempSync(join(tmpdir(), "recon-smbios-"));
  try {
    const file = join(dir, "dump.bin");
    writeFileSync(
      file,
      dumpFile([
        ...smbios.slots.map(slotStructure),
        ...smbios.powerSupplies.map(powerSupplyStructure),
        hostInterfaceStructure(smbios.hostInterface),
      ]),
    );
    const r = spawnSync(DMIDECODE, ["--from-dump", file], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, "");
    const out = r.stdout;
    // type 9
    assert.match(
      out,
      /Designation: PCIe Slot 1\n\tType: x16 PCI Express 3 x16\n\tCurrent Usage: In Use\n\tLength: Long\n\tID: 1\n/,
    );
    assert.match(out, /Bus Address: 0000:81:00\.0\n/);
    assert.match(
      out,
      /Designation: PCIe Slot 2\n\tType: x8 PCI Express 3 x8\n\tCurrent Usage: Available\n\tLength: Short\n\tID: 2\n/,
    );
    // type 39
    assert.match(
      out,
      /Location: PSU2\n\tName: PWR SPLY,EPP,RDNT\n\tManufacturer: Recon Lab Power\n\tSerial Number: RLPSU0002\n/,
    );
    assert.match(
      out,
      /Max Power Capacity: 800 W\n\tStatus: Present, OK\n\tType: Switching\n\tInput Voltage Range Switching: Auto-switch\n/,
    );
    assert.match(out, /Hot Replaceable: Yes/);
    // type 42
    assert.match(
      out,
      /Host Interface Type: Network\n\tDevice Type: USB\n\tidVendor: 0x0525\n\tidProduct: 0xa4a2\n/,
    );
    assert.match(
      out,
      /Protocol ID: 04 \(Redfish over IP\)\n\t\tService UUID: 5ec0cafe-0042-4000-8000-00000000002a\n/,
    );
    assert.match(out, /IPv4 Redfish Service Address: 169\.254\.0\.1\n/);
    assert.match(out, /Redfish Service Port: 443\n/);
    assert.match(out, /Redfish Service Hostname: recon-bmc\.local\n/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
