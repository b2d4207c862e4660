import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { z } from "zod";
import { collectInventory, mergeNics } from "../../agent/collect/index.ts";
import { emptyLshwFacts } from "../../agent/collect/lshw.ts";
import { parseLspci } from "../../agent/collect/lspci.ts";
import { buildNics } from "../../agent/collect/net.ts";
import {
  collectPciSysfs,
  mergePciSysfs,
  parseSysBusPci,
  readSysBusPci,
  readSysBusPciCapture,
} from "../../agent/collect/pci-sysfs.ts";
import { replayRunner } from "../../agent/exec.ts";
import { Inventory, Nic, PciDevice } from "../../schema/inventory.ts";
import { assertHonestParser, assertSurvivesMutations } from "../support/properties.ts";
import { unpackTtar } from "../support/ttar.ts";

const SAMPLES = new URL("../../samples/", import.meta.url);
const THIS_MACHINE = new URL("sys-bus-pci-this-machine/sys-bus-pci.json", SAMPLES);
const AMDGPU_TTAR = new URL("sysfs-procfs/class-drm-card0-amdgpu.ttar", SAMPLES).pathname;
const thisMachine = () => readFileSync(THIS_MACHINE, "utf8");

const Facts = z.record(
  z.string(),
  z.strictObject({
    classId: PciDevice.shape.classId,
    vendorId: PciDevice.shape.vendorId,
    deviceId: PciDevice.shape.deviceId,
    driver: z.string().nullable(),
    numaNode: PciDevice.shape.numaNode,
    sriovTotalVfs: PciDevice.shape.sriovTotalVfs,
    sriovEnabledVfs: PciDevice.shape.sriovEnabledVfs,
    vramBytes: z.number().int().nonnegative().nullable(),
  }),
);

test("sys-bus-pci.json of this machine: six functions, numa_node -1 is null, no SR-IOV", () => {
  const facts = parseSysBusPci(thisMachine());
  assert.deepEqual(Object.keys(facts), [
    "0000:00:00.0",
    "0000:00:01.0",
    "0000:00:02.0",
    "0000:00:03.0",
    "0000:00:04.0",
    "0000:00:05.0",
  ]);
  assert.deepEqual(facts["0000:00:03.0"], {
    classId: "0200",
    vendorId: "1af4",
    deviceId: "1041",
    driver: "virtio-pci",
    numaNode: null,
    sriovTotalVfs: null,
    sriovEnabledVfs: null,
    vramBytes: null,
  });
  assert.equal(facts["0000:00:00.0"]?.driver, null, "the host bridge has no driver");
  assert.equal(facts["0000:00:00.0"]?.classId, "0600");
  assert.equal(readSysBusPciCapture(thisMachine()).problem, null);
});

test("the amdgpu card of procfs's fixtures: VRAM from mem_info_vram_total, read by the real reader", async () => {
  const temp = mkdtempSync(join(tmpdir(), "recon-pci-"));
  try {
    unpackTtar(AMDGPU_TTAR, temp);
    // In sysfs, /sys/class/drm/card0/device is /sys/bus/pci/devices/0000:09:00.0 (its uevent says so).
    const devices = join(temp, "bus");
    mkdirSync(devices);
    symlinkSync(join(temp, "class/drm/card0/device"), join(devices, "0000:09:00.0"));
    const facts = parseSysBusPci(await readSysBusPci(devices));
    assert.deepEqual(facts, {
      "0000:09:00.0": {
        classId: "0300",
        vendorId: "1002",
        deviceId: "687f",
        driver: "amdgpu",
        numaNode: null,
        sriovTotalVfs: null,
        sriovEnabledVfs: null,
        vramBytes: 8573157376,
      },
    });
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
});

test("readSysBusPci: SR-IOV counts of a physical function, NUMA node 1, VRAM only for amdgpu", async () => {
  // A tree laid out as sysfs lays out an SR-IOV PF (no public capture of one was found).
  const temp = mkdtempSync(join(tmpdir(), "recon-pci-"));
  try {
    const pf = join(temp, "0000:81:00.0");
    mkdirSync(pf);
    for (const [name, value] of Object.entries({
      class: "0x020000\n",
      vendor: "0x8086\n",
      device: "0x1572\n",
      numa_node: "1\n",
      sriov_totalvfs: "64\n",
      sriov_numvfs: "8\n",
      mem_info_vram_total: "123\n",
    }))
      writeFileSync(join(pf, name), value);
    symlinkSync("../../../bus/pci/drivers/i40e", join(pf, "driver"));
    const facts = parseSysBusPci(await readSysBusPci(temp))["0000:81:00.0"];
    assert.equal(facts?.numaNode, 1);
    assert.equal(facts?.sriovTotalVfs, 64);
    assert.equal(facts?.sriovEnabledVfs, 8);
    assert.equal(facts?.driver, "i40e");
    assert.equal(facts?.vramBytes, null, "mem_info_vram_total is read for amdgpu only");
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
});

test("mergePciSysfs and mergeNics: NUMA node and SR-IOV join by PCI address", () => {
  const lspci = parseLspci(
    "Slot:\t0000:81:00.0\nClass:\tEthernet controller [0200]\nVendor:\tIntel Corporation [8086]\nDevice:\tEthernet Controller X710 for 10GbE SFP+ [1572]\nDriver:\ti40e\n",
  );
  const sysfs = parseSysBusPci(
    JSON.stringify({
      "0000:81:00.0": { numa_node: "1", sriov_totalvfs: "64", sriov_numvfs: "8" },
      "0000:00:03.0": { numa_node: "-1" },
    }),
  );
  const [device] = mergePciSysfs(lspci, sysfs);
  assert.equal(device?.numaNode, 1);
  assert.equal(device?.sriovTotalVfs, 64);
  assert.equal(device?.sriovEnabledVfs, 8);
  PciDevice.parse(device);
  const nics = buildNics([], {
    ens1f0: { driver: "i40e", devicePath: "/sys/devices/pci0000:80/0000:80:02.0/0000:81:00.0" },
    eth0: { driver: "virtio_net", devicePath: "/sys/devices/pci0000:00/0000:00:03.0/virtio0" },
  });
  const merged = mergeNics(
    nics,
    emptyLshwFacts(),
    {},
    {},
    {
      firmwareVersions: { ens1f0: "5.02 0x80002248 1.33.0", constructor: "not a NIC" },
      pciSysfs: sysfs,
    },
  );
  assert.deepEqual(
    merged.map((n) => [n.name, n.numaNode, n.firmwareVersion, n.bmcUsb]),
    [
      ["ens1f0", 1, "5.02 0x80002248 1.33.0", false],
      ["eth0", null, null, false],
    ],
  );
  for (const nic of merged) Nic.parse(nic);
});

test("mergeNics: an interface named like an Object.prototype key reads no inherited value", () => {
  const [nic] = mergeNics(
    buildNics([], {
      constructor: { driver: "e1000e", devicePath: "/sys/devices/pci0000:00/0000:00:19.0" },
    }),
    emptyLshwFacts(),
    {},
    {},
  );
  assert.equal(nic?.permanentMacAddress, null);
  assert.equal(nic?.lldp, null);
  assert.equal(nic?.firmwareVersion, null);
});

test("readSysBusPciCapture: what is not the capture is a problem; {} and empty are not", () => {
  assert.equal(readSysBusPciCapture("").problem, null);
  assert.equal(readSysBusPciCapture("{}\n").problem, null);
  assert.match(readSysBusPciCapture("[1,2]").problem ?? "", /not an object/);
  assert.match(readSysBusPciCapture('{"eth0":{}}').problem ?? "", /PCI address/);
  assert.match(readSysBusPciCapture(thisMachine().slice(0, 200)).problem ?? "", /not JSON/);
});

test("collectPciSysfs: replay of a capture dir; a missing capture is skipped", async () => {
  const temp = mkdtempSync(join(tmpdir(), "recon-pci-"));
  try {
    const none = await collectPciSysfs(await replayRunner(temp));
    assert.deepEqual(none.value, {});
    assert.equal(none.reports[0]?.status, "skipped");
    writeFileSync(join(temp, "sys-bus-pci.json"), thisMachine());
    const out = await collectPciSysfs(await replayRunner(temp));
    assert.equal(out.reports[0]?.status, "ok");
    assert.equal(Object.keys(out.value).length, 6);
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
});

test("property: the sys-bus-pci.json reader is honest and its values schema-valid", () => {
  assertHonestParser([thisMachine()], readSysBusPciCapture, { json: true });
  assertSurvivesMutations([thisMachine()], (text) => {
    Facts.parse(parseSysBusPci(text));
  });
});

// --- the QEMU capture made here: NUMA node 1 behind a pxb-pcie, the BMC-style USB NIC, a VGA ----

const QEMU_UEFI = new URL("../../fixtures/qemu-uefi/", import.meta.url).pathname;

test("fixtures/qemu-uefi: NIC firmware, NUMA node 1 behind the pxb-pcie, usb0 marked bmcUsb, the VGA in gpus[]", async () => {
  const doc = await collectInventory({
    runner: await replayRunner(QEMU_UEFI),
    now: () => new Date("2026-12-02T02:00:00Z"),
  });
  Inventory.parse(doc);
  // By hand from sys-class-net.json, ethtool-i-*.txt and sys-bus-pci.json of the capture.
  assert.deepEqual(
    doc.nics.map((n) => [n.name, n.driver, n.pciAddress, n.firmwareVersion, n.numaNode, n.bmcUsb]),
    [
      ["eth0", "e1000e", "0000:81:00.0", "2.1-0", 1, false],
      ["eth1", "virtio_net", "0000:00:03.0", null, null, false],
      // cdc_ether's "firmware-version: CDC Ethernet Device" is usbnet's description, not firmware;
      // its device path is under the xHCI at 0000:00:04.0, which is not the NIC's address.
      ["usb0", "cdc_ether", null, null, null, true],
    ],
  );
  const numa = doc.pciDevices
    .filter((d) => d.numaNode !== null)
    .map((d) => [d.address, d.numaNode]);
  assert.deepEqual(numa, [
    ["0000:80:00.0", 1],
    ["0000:81:00.0", 1],
  ]);
  assert.equal(doc.pciDevices.length, 12);
  assert.ok(doc.pciDevices.every((d) => d.sriovTotalVfs === null && d.sriovEnabledVfs === null));
  assert.deepEqual(doc.gpus, [
    {
      pciAddress: "0000:00:05.0",
      vendor: "1234", // QEMU's std VGA: pci.ids has no name for 1234:1111 in this guest
      model: null,
      uuid: null,
      serialNumber: null,
      vbiosVersion: null,
      memoryBytes: null,
      driver: null,
      numaNode: null,
    },
  ]);
  assert.deepEqual(doc.infiniband, []);
  // usb0 (52:54:00:c6:00:03) is never the identity; the UUID is first anyway.
  assert.equal(doc.nodeIdSource, "uuid");
  const mine = doc.collectors.filter((c) =>
    ["ethtool-driver", "sysfs-pci", "nvidia-smi", "sysfs-infiniband"].includes(c.name),
  );
  assert.deepEqual(
    mine.map((c) => `${c.name}:${c.status}`),
    [
      "ethtool-driver:ok",
      "ethtool-driver:ok",
      "ethtool-driver:ok",
      "sysfs-pci:ok",
      "nvidia-smi:skipped",
      "sysfs-infiniband:ok",
    ],
  );
});

// --- the QEMU capture made here with SR-IOV: two NVMe PFs, 0 of 4 and 2 of 3 VFs enabled ---------
// fixtures/qemu-sriov (capture:qemu sriov; FACTS.md is what QEMU was told). QEMU 7.2's nvme is its
// only SR-IOV device (igb, an SR-IOV NIC, arrived in 8.0). Values checked by hand in the raw
// sys-bus-pci.json and lspci.txt, and in the guest's console line
// "sriov 0000:02:00.0 (RLSRIOV00002) sriov_numvfs 2 of sriov_totalvfs 3; VFs: 0000:02:00.1 0000:02:00.2".

const QEMU_SRIOV = new URL("../../fixtures/qemu-sriov/", import.meta.url).pathname;
const NVME = {
  classId: "0108",
  vendorId: "1b36",
  deviceId: "0010",
  numaNode: null,
  vramBytes: null,
};

test("fixtures/qemu-sriov raw sys-bus-pci.json: two PFs (4 and 3 VFs, 0 and 2 enabled), the two VFs", () => {
  const facts = parseSysBusPci(readFileSync(join(QEMU_SRIOV, "sys-bus-pci.json"), "utf8"));
  assert.equal(Object.keys(facts).length, 13);
  const nvme = Object.fromEntries(Object.entries(facts).filter(([, f]) => f.classId === "0108"));
  assert.deepEqual(nvme, {
    // serial RLSRIOV00001, sriov_max_vfs=4, left off: sriov_numvfs "0" is 0, not null
    "0000:01:00.0": { ...NVME, driver: "nvme", sriovTotalVfs: 4, sriovEnabledVfs: 0 },
    // serial RLSRIOV00002, sriov_max_vfs=3, the guest wrote 2 to sriov_numvfs
    "0000:02:00.0": { ...NVME, driver: "nvme", sriovTotalVfs: 3, sriovEnabledVfs: 2 },
    // its VFs (offset 1, stride 1): no sriov_* files of their own; unbound (autoprobe was off)
    "0000:02:00.1": { ...NVME, driver: null, sriovTotalVfs: null, sriovEnabledVfs: null },
    "0000:02:00.2": { ...NVME, driver: null, sriovTotalVfs: null, sriovEnabledVfs: null },
  });
  for (const [address, f] of Object.entries(facts)) {
    if (address in nvme) continue;
    assert.deepEqual([address, f.sriovTotalVfs, f.sriovEnabledVfs], [address, null, null]);
  }
  assert.equal(
    readSysBusPciCapture(readFileSync(join(QEMU_SRIOV, "sys-bus-pci.json"), "utf8")).problem,
    null,
  );
});

test("fixtures/qemu-sriov document: sriovTotalVfs/sriovEnabledVfs on the PFs, the VFs as their own pciDevices", async () => {
  const doc = await collectInventory({
    runner: await replayRunner(QEMU_SRIOV),
    now: () => new Date("2026-12-02T18:30:00Z"),
  });
  Inventory.parse(doc);
  assert.equal(doc.pciDevices.length, 13, "9 platform functions, 2 PFs, 2 VFs");
  assert.deepEqual(
    doc.pciDevices
      .filter((d) => d.classId === "0108")
      .map((d) => [d.address, d.driver, d.sriovTotalVfs, d.sriovEnabledVfs]),
    [
      ["0000:01:00.0", "nvme", 4, 0],
      ["0000:02:00.0", "nvme", 3, 2],
      // A VF is a PCI function of its own (lspci lists it; its device id is the PF's in QEMU):
      // the document has no link from it to its PF (sysfs's physfn is not read).
      ["0000:02:00.1", null, null, null],
      ["0000:02:00.2", null, null, null],
    ],
  );
  const vf = doc.pciDevices.find((d) => d.address === "0000:02:00.1");
  assert.equal(vf?.deviceName, "QEMU NVM Express Controller");
  assert.ok(
    doc.pciDevices
      .filter((d) => d.classId !== "0108")
      .every((d) => d.sriovTotalVfs === null && d.sriovEnabledVfs === null),
  );
  // The PFs are the two NVMe controllers, by serial (FACTS.md); the VFs, offline secondary
  // controllers without a driver, are no controllers and have no namespaces.
  assert.deepEqual(
    doc.nvmeControllers.map((c) => [c.name, c.pciAddress, c.serialNumber, c.namespaces]),
    [
      ["nvme0", "0000:01:00.0", "RLSRIOV00001", ["nvme0n1"]],
      ["nvme1", "0000:02:00.0", "RLSRIOV00002", ["nvme1n1"]],
    ],
  );
  assert.deepEqual(doc.disks.map((d) => [d.name, d.serialNumber, d.sizeBytes]).sort(), [
    ["nvme0n1", "RLSRIOV00001", 268435456],
    ["nvme1n1", "RLSRIOV00002", 268435456],
  ]);
  // nics[] has no SR-IOV fields (QEMU 7.2 has no SR-IOV NIC); the one virtio NIC is unaffected.
  assert.deepEqual(
    doc.nics.map((n) => [n.name, n.pciAddress, n.macAddress]),
    [["eth0", "0000:00:03.0", "52:54:00:c7:00:01"]],
  );
  assert.deepEqual(doc.warnings, []);
  assert.deepEqual(
    doc.collectors.filter((c) => c.name === "sysfs-pci" || c.name === "lspci").map((c) => c.status),
    ["ok", "ok"],
  );
});
