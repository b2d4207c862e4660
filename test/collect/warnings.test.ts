// Cross-checks (agent/collect/warnings.ts). Documents come from replaying real fixtures through
// collectInventory; the memory and smartctl checks, which no single fixture carries both sides
// of, combine real parser outputs with the one fact changed that the check is about.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { parseDmidecode } from "../../agent/collect/dmidecode.ts";
import { collectInventory } from "../../agent/collect/index.ts";
import { collectLsblk } from "../../agent/collect/lsblk.ts";
import { collectSmart } from "../../agent/collect/smartctl.ts";
import {
  driveNotInLsblkWarnings,
  duplicateSerialWarnings,
  inventoryWarnings,
  MEMTOTAL_TOLERANCE,
  memoryWarnings,
  sharedSlotAddressWarnings,
  slotCountWarnings,
  type WarningDocument,
} from "../../agent/collect/warnings.ts";
import { replayRunner } from "../../agent/exec.ts";
import { type Disk, Warning } from "../../schema/inventory.ts";

const FIXTURES = join(import.meta.dirname, "../../fixtures");
const GiB = 2 ** 30;

async function documentOf(machine: string) {
  return collectInventory({
    runner: await replayRunner(join(FIXTURES, machine)),
    now: () => new Date(0),
    randomUuid: () => "00000000-0000-4000-8000-000000000000",
  });
}

function memoryDoc(machine: string, osVisibleBytes: number | null): WarningDocument {
  const facts = parseDmidecode(readFileSync(join(FIXTURES, machine, "dmidecode.txt"), "utf8"));
  return {
    memory: {
      totalBytes: null,
      persistentBytes: null,
      osVisibleBytes,
      slots: facts.slots,
      dimms: facts.dimms,
    },
    disks: [],
  };
}

test("shared-slot-address: supermicro-ssg-6028r's four empty slots all print 0000:ff:00.0", async () => {
  const doc = await documentOf("supermicro-ssg-6028r-osd072p-netbox");
  const shared = doc.warnings.filter((w) => w.code === "shared-slot-address");
  assert.deepEqual(shared, [
    {
      code: "shared-slot-address",
      message:
        "4 slots print the bus address 0000:ff:00.0 (CPU2 SLOT4, CPU2 SLOT5, CPU2 SLOT6, CPU2 SLOT7): it identifies none of them",
      fields: [
        "slots[3].busAddress",
        "slots[4].busAddress",
        "slots[5].busAddress",
        "slots[6].busAddress",
      ],
    },
  ]);
  for (const w of doc.warnings) Warning.parse(w);
});

test("shared-slot-address: none on the Dell R740 (distinct addresses, empty slots have none)", async () => {
  const doc = await documentOf("dell-poweredge-r740-linuxhw");
  assert.equal(doc.slots.length, 8);
  assert.deepEqual(sharedSlotAddressWarnings(doc), []);
});

test("shared-slot-address: 'every slot' when all of them share one", () => {
  const slot = (designation: string) => ({
    designation,
    type: "x16 PCI Express",
    currentUsage: "Available",
    busAddress: "0000:00:00.0",
  });
  const [w] = sharedSlotAddressWarnings({
    memory: memoryDoc("dell-poweredge-r740-linuxhw", null).memory,
    disks: [],
    slots: [slot("A"), slot("B")],
  });
  assert.match(w?.message ?? "", /^every slot prints the bus address 0000:00:00\.0 \(A, B\)/);
});

test("duplicate-serial: lattepanda-mu's four modules all report serial 20000000", async () => {
  const doc = await documentOf("lattepanda-mu-mudata");
  const dup = doc.warnings.filter((w) => w.code === "duplicate-serial");
  assert.equal(dup.length, 1);
  assert.deepEqual(dup[0]?.fields, [
    "memory.dimms[0].serialNumber",
    "memory.dimms[1].serialNumber",
    "memory.dimms[2].serialNumber",
    "memory.dimms[3].serialNumber",
  ]);
  assert.match(dup[0]?.message ?? "", /4 memory modules carry the serial "20000000"/);
});

test("duplicate-serial: no warning for the R740 (distinct DIMM serials)", async () => {
  const doc = await documentOf("dell-poweredge-r740-linuxhw");
  assert.deepEqual(duplicateSerialWarnings(doc), []);
});

test("duplicate-serial on disks: two drives yes; NVMe namespaces of one controller and paths of one LUN no", () => {
  const disk = (name: string, serialNumber: string | null, extra: Partial<Disk> = {}): Disk => ({
    name,
    path: `/dev/${name}`,
    sizeBytes: 1,
    model: null,
    vendor: null,
    serialNumber,
    wwn: null,
    transport: null,
    rotational: null,
    removable: null,
    firmwareVersion: null,
    smartPassed: null,
    powerOnHours: null,
    temperatureCelsius: null,
    virtual: null,
    raidLevel: null,
    memberSerials: [],
    reachedThrough: null,
    controllerSerial: null,
    numaNode: null,
    ...extra,
  });
  const memory = memoryDoc("dell-poweredge-r740-linuxhw", null).memory;
  const check = (disks: Disk[]) => duplicateSerialWarnings({ memory, disks });
  assert.deepEqual(check([disk("sda", "S1"), disk("sdb", " s1 ")])[0]?.fields, [
    "disks[0].serialNumber",
    "disks[1].serialNumber",
  ]);
  assert.deepEqual(check([disk("nvme0n1", "N1"), disk("nvme0n2", "N1")]), []);
  assert.equal(check([disk("nvme0n1", "N1"), disk("nvme1n1", "N1")]).length, 1);
  assert.deepEqual(
    check([disk("sda", "L1", { wwn: "0x5000c5" }), disk("sdb", "L1", { wwn: "0x5000c5" })]),
    [],
  );
  assert.deepEqual(check([disk("sda", null), disk("sdb", null)]), []);
});

test("dimm-sum-mismatch: the R740's 16 x 16 GiB modules against MemTotal", () => {
  const doc = memoryDoc("dell-poweredge-r740-linuxhw", null);
  const sum = doc.memory.dimms.reduce((t, d) => t + (d.sizeBytes ?? 0), 0);
  assert.equal(sum, 256 * GiB);
  // A healthy kernel: 97 % of the installed memory (firmware and struct page keep the rest).
  assert.deepEqual(
    memoryWarnings({ ...doc, memory: { ...doc.memory, osVisibleBytes: Math.floor(sum * 0.97) } }),
    [],
  );
  // More than installed: SMBIOS misses a module.
  const above = memoryWarnings({ ...doc, memory: { ...doc.memory, osVisibleBytes: sum + GiB } });
  assert.equal(above.length, 1);
  assert.match(above[0]?.message ?? "", /SMBIOS does not list every module/);
  assert.deepEqual(above[0]?.fields, [
    "memory.osVisibleBytes",
    "memory.totalBytes",
    "memory.dimms",
  ]);
  // Just past the 10 % tolerance (25.6 GiB of 256 GiB missing).
  const below = memoryWarnings({
    ...doc,
    memory: { ...doc.memory, osVisibleBytes: Math.floor(sum * (1 - MEMTOTAL_TOLERANCE) - 1) },
  });
  assert.match(below[0]?.message ?? "", /more than 10 % is missing/);
  // Without a MemTotal nothing is compared.
  assert.deepEqual(memoryWarnings(doc), []);
  // lshw agreeing, then disagreeing.
  assert.deepEqual(memoryWarnings(doc, sum), []);
  assert.match(memoryWarnings(doc, sum / 2)[0]?.message ?? "", /^lshw reports/);
});

test("dimm-sum-mismatch: no DIMMs (no SMBIOS) compares nothing", async () => {
  const doc = await documentOf("this-machine-debian12");
  assert.ok(doc.memory.osVisibleBytes !== null);
  assert.deepEqual(memoryWarnings(doc, 1), []);
});

test("slot-count-mismatch: populated modules above the arrays' Number Of Devices", () => {
  const facts = parseDmidecode(
    readFileSync(join(FIXTURES, "dell-poweredge-r740-linuxhw", "dmidecode.txt"), "utf8"),
  );
  const doc = memoryDoc("dell-poweredge-r740-linuxhw", null);
  // One System Memory array, "Number Of Devices: 24", 16 modules installed.
  assert.equal(facts.memoryArrayDevices, 24);
  assert.equal(facts.dimms.length, 16);
  assert.deepEqual(slotCountWarnings(doc, facts.memoryArrayDevices), []);
  assert.deepEqual(slotCountWarnings(doc, 15), [
    {
      code: "slot-count-mismatch",
      message: "16 memory modules are installed but the SMBIOS memory arrays declare 15 slots",
      fields: ["memory.dimms", "memory.slots"],
    },
  ]);
  assert.deepEqual(slotCountWarnings(doc, null), []);
});

test("drive-not-in-lsblk: one machine's smartctl drives against another's lsblk", async () => {
  const smart = await collectSmart(
    await replayRunner(join(FIXTURES, "this-machine-extra-tools", "qemu-ahci-nvme-virtio")),
  );
  const lsblk = await collectLsblk(await replayRunner(join(FIXTURES, "this-machine-debian12")));
  const memory = memoryDoc("dell-poweredge-r740-linuxhw", null).memory;
  const none = driveNotInLsblkWarnings({ memory, disks: lsblk.value }, smart.value);
  assert.deepEqual(
    none.map((w) => w.message),
    [
      "smartctl sees a drive that no disks[] entry stands for: /dev/sda, RECON LAB SSD, RECONA0001",
      "smartctl sees a drive that no disks[] entry stands for: /dev/sdb, RECON LABSAS, RECONS0001",
      "smartctl sees a drive that no disks[] entry stands for: /dev/nvme0, QEMU NVMe Ctrl, RECONN0001",
    ],
  );
  // The same drives in disks[] (by serial or by name): nothing to say.
  const disks = lsblk.value.map((d) => d);
  const named = [
    { ...(disks[0] as Disk), name: "sda" },
    { ...(disks[0] as Disk), name: "x", serialNumber: "RECONS0001" },
    { ...(disks[0] as Disk), name: "nvme0n1", serialNumber: "RECONN0001" },
  ];
  assert.deepEqual(driveNotInLsblkWarnings({ memory, disks: named }, smart.value), []);
});

test("inventoryWarnings: smartctl is checked only when given", async () => {
  const doc = await documentOf("this-machine-debian12");
  const smart = await collectSmart(
    await replayRunner(join(FIXTURES, "this-machine-extra-tools", "qemu-ahci-nvme-virtio")),
  );
  assert.deepEqual(inventoryWarnings(doc), []);
  assert.equal(inventoryWarnings(doc, { smart: smart.value }).length, 3);
});

test("property: warnings are schema-valid and name real document paths", () => {
  const doc = memoryDoc("supermicro-ssg-6028r-osd072p-netbox", null);
  fc.assert(
    fc.property(
      fc.option(fc.nat({ max: 2 ** 45 })),
      fc.option(fc.nat({ max: 2 ** 45 })),
      fc.option(fc.nat({ max: 64 })),
      (memTotal, lshwBytes, arrayDevices) => {
        const warnings = inventoryWarnings(
          { ...doc, memory: { ...doc.memory, osVisibleBytes: memTotal } },
          { lshwMemoryBytes: lshwBytes, memoryArrayDevices: arrayDevices },
        );
        for (const w of warnings) {
          Warning.parse(w);
          for (const field of w.fields)
            assert.match(field, /^(memory|disks|slots|powerSupplies)\b/);
        }
      },
    ),
  );
});

test("qemu-storage capture: NVMe namespaces with their own WWNs and one controller serial are no duplicate", async () => {
  const doc = await documentOf("qemu-storage");
  const namespaces = doc.disks.filter((d) => d.name.startsWith("nvme0n"));
  assert.deepEqual(
    namespaces.map((d) => d.serialNumber),
    ["RLNVME000001", "RLNVME000001"],
  );
  assert.notEqual(namespaces[0]?.wwn, namespaces[1]?.wwn);
  assert.deepEqual(doc.warnings, []);
});

test("qemu-uefi-secureboot document: slots join pciDevices, two PSUs with distinct serials, no warning", async () => {
  const doc = await documentOf("qemu-uefi-secureboot");
  assert.deepEqual(doc.slots, [
    {
      designation: "PCIe Slot 1",
      type: "x16 PCI Express 3 x16",
      currentUsage: "In Use",
      busAddress: "0000:81:00.0",
    },
    {
      designation: "PCIe Slot 2",
      type: "x8 PCI Express 3 x8",
      currentUsage: "Available",
      busAddress: null,
    },
  ]);
  // The e1000e behind the pxb-pcie on NUMA node 1 sits in slot 1.
  assert.equal(
    doc.pciDevices.find((p) => p.address === doc.slots[0]?.busAddress)?.deviceName,
    "82574L Gigabit Network Connection",
  );
  assert.deepEqual(
    doc.powerSupplies.map((p) => p.serialNumber),
    ["RLPSU0001", "RLPSU0002"],
  );
  assert.deepEqual(doc.boot.firmware, "uefi");
  assert.equal(doc.boot.secureBoot, true);
  // Manufacturer and firmware from the guest's TPM2_GetCapability (tpm2-properties-fixed.hex).
  assert.deepEqual(doc.tpm, {
    version: "2.0",
    manufacturer: "IBM",
    firmwareVersion: "8217.4131.22.13878",
  });
  assert.equal(doc.numaNodes.length, 2);
  // 2 GiB installed, MemTotal 1978292 kB (94.3 %): within the tolerance.
  assert.equal(doc.memory.osVisibleBytes, 1978292 * 1024);
  assert.deepEqual(doc.warnings, []);
});

test("qemu-uefi document: the platform facts reach the document, and nothing disagrees", async () => {
  const doc = await documentOf("qemu-uefi");
  assert.deepEqual([doc.boot.firmware, doc.boot.secureBoot], ["uefi", false]);
  assert.equal(doc.redfishHostInterface?.serviceAddress, "169.254.0.1");
  assert.deepEqual(
    doc.numaNodes.map((n) => [n.id, n.logicalCpus, n.memoryBytes]),
    [
      [0, [0], 970092 * 1024],
      [1, [1], 1009504 * 1024],
    ],
  );
  assert.equal(doc.slots[0]?.busAddress, "0000:81:00.0");
  assert.deepEqual(
    doc.collectors
      .filter((c) => ["efi", "tpm", "numa", "smbios-type42"].includes(c.name))
      .map((c) => c.status),
    ["ok", "ok", "ok", "ok"],
  );
  assert.deepEqual(doc.warnings, []);
});
