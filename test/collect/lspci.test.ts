import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import fc from "fast-check";
import { z } from "zod";
import { collectLspci, LSPCI_PROBE, parseLspci } from "../../agent/collect/lspci.ts";
import { replayRunner } from "../../agent/exec.ts";
import { PciDevice } from "../../schema/inventory.ts";
import { fakeRunner } from "../support/fake-runner.ts";

const FIXTURES = new URL("../../fixtures/", import.meta.url);
const read = (path: string) => readFileSync(new URL(path, FIXTURES), "utf8");
const Devices = z.array(PciDevice);

const THIS = "this-machine-debian12/";
const JC = "vmware-vm-ubuntu2010-lspci-jc/";

test("this machine: lspci -vmm -nn -D -k, every record", () => {
  assert.deepEqual(parseLspci(read(`${THIS}lspci.txt`)), [
    {
      address: "0000:00:00.0",
      classId: "0600",
      className: "Host bridge",
      vendorId: "8086",
      vendorName: "Intel Corporation",
      deviceId: "0d57",
      deviceName: null, // "Device [0d57]": no name in pci.ids
      subsystemVendorId: null,
      subsystemId: null,
      revision: null,
      driver: null,
      numaNode: null,
      sriovTotalVfs: null,
      sriovEnabledVfs: null,
    },
    {
      address: "0000:00:01.0",
      classId: "ffff",
      className: "Unassigned class",
      vendorId: "1af4",
      vendorName: "Red Hat, Inc.",
      deviceId: "1045",
      deviceName: "Virtio 1.0 memory balloon",
      subsystemVendorId: "1af4",
      subsystemId: "1045",
      revision: "01",
      driver: "virtio-pci",
      numaNode: null,
      sriovTotalVfs: null,
      sriovEnabledVfs: null,
    },
    {
      address: "0000:00:02.0",
      classId: "0180",
      className: "Mass storage controller",
      vendorId: "1af4",
      vendorName: "Red Hat, Inc.",
      deviceId: "1042",
      deviceName: "Virtio 1.0 block device",
      subsystemVendorId: "1af4",
      subsystemId: "1042",
      revision: "01",
      driver: "virtio-pci",
      numaNode: null,
      sriovTotalVfs: null,
      sriovEnabledVfs: null,
    },
    {
      address: "0000:00:03.0",
      classId: "0200",
      className: "Ethernet controller",
      vendorId: "1af4",
      vendorName: "Red Hat, Inc.",
      deviceId: "1041",
      deviceName: "Virtio 1.0 network device",
      subsystemVendorId: "1af4",
      subsystemId: "1041",
      revision: "01",
      driver: "virtio-pci",
      numaNode: null,
      sriovTotalVfs: null,
      sriovEnabledVfs: null,
    },
    {
      address: "0000:00:04.0",
      classId: "ffff",
      className: "Unassigned class",
      vendorId: "1af4",
      vendorName: "Red Hat, Inc.",
      deviceId: "1053",
      deviceName: "Virtio 1.0 socket",
      subsystemVendorId: "1af4",
      subsystemId: "1053",
      revision: "01",
      driver: "virtio-pci",
      numaNode: null,
      sriovTotalVfs: null,
      sriovEnabledVfs: null,
    },
    {
      address: "0000:00:05.0",
      classId: "ffff",
      className: "Unassigned class",
      vendorId: "1af4",
      vendorName: "Red Hat, Inc.",
      deviceId: "1044",
      deviceName: "Virtio 1.0 RNG",
      subsystemVendorId: "1af4",
      subsystemId: "1044",
      revision: "01",
      driver: "virtio-pci",
      numaNode: null,
      sriovTotalVfs: null,
      sriovEnabledVfs: null,
    },
  ]);
});

test("this machine: -vmm (names only, no domain, no driver)", () => {
  const devices = parseLspci(read(`${THIS}lspci-vmm.txt`));
  assert.equal(devices.length, 6);
  assert.deepEqual(devices[0], {
    address: "0000:00:00.0",
    classId: null,
    className: "Host bridge",
    vendorId: null,
    vendorName: "Intel Corporation",
    deviceId: "0d57", // "Device 0d57": the unknown-name form carries the id
    deviceName: null,
    subsystemVendorId: null,
    subsystemId: null,
    revision: null,
    driver: null,
    numaNode: null,
    sriovTotalVfs: null,
    sriovEnabledVfs: null,
  });
  // "Class: Unassigned class [ffff]" keeps its id even without -nn.
  assert.deepEqual(
    {
      classId: devices[1]?.classId,
      className: devices[1]?.className,
      vendorId: devices[1]?.vendorId,
    },
    { classId: "ffff", className: "Unassigned class", vendorId: null },
  );
  assert.equal(devices[3]?.deviceName, "Virtio 1.0 network device");
  assert.equal(devices[3]?.driver, null);
});

test("this machine: -vmm -n (ids only) and -vm -k (slot printed as Device:)", () => {
  const numeric = parseLspci(read(`${THIS}lspci-vmm-n.txt`));
  assert.deepEqual(numeric[3], {
    address: "0000:00:03.0",
    classId: "0200",
    className: null,
    vendorId: "1af4",
    vendorName: null,
    deviceId: "1041",
    deviceName: null,
    subsystemVendorId: "1af4",
    subsystemId: "1041",
    revision: "01",
    driver: null,
    numaNode: null,
    sriovTotalVfs: null,
    sriovEnabledVfs: null,
  });
  const vm = parseLspci(read(`${THIS}lspci-vm-k.txt`));
  assert.deepEqual(
    vm.map((d) => [d.address, d.deviceName, d.driver]),
    [
      ["0000:00:00.0", null, null],
      ["0000:00:01.0", "Virtio 1.0 memory balloon", "virtio-pci"],
      ["0000:00:02.0", "Virtio 1.0 block device", "virtio-pci"],
      ["0000:00:03.0", "Virtio 1.0 network device", "virtio-pci"],
      ["0000:00:04.0", "Virtio 1.0 socket", "virtio-pci"],
      ["0000:00:05.0", "Virtio 1.0 RNG", "virtio-pci"],
    ],
  );
  assert.equal(vm[0]?.deviceId, "0d57");
});

test("VMware VM (jc): -vmm -nn, 46 real records plus one hand-made", () => {
  const devices = parseLspci(read(`${JC}lspci.txt`));
  assert.equal(devices.length, 47);
  assert.equal(devices.filter((d) => d.classId === "0604").length, 34);
  assert.deepEqual(
    devices.find((d) => d.address === "0000:02:01.0"),
    {
      address: "0000:02:01.0",
      classId: "0200",
      className: "Ethernet controller",
      vendorId: "8086",
      vendorName: "Intel Corporation",
      deviceId: "100f",
      deviceName: "82545EM Gigabit Ethernet Controller (Copper)",
      subsystemVendorId: "15ad",
      subsystemId: "0750",
      revision: "01",
      driver: null,
      numaNode: null,
      sriovTotalVfs: null,
      sriovEnabledVfs: null,
    },
  );
  // Only the trailing [id] is an id; inner brackets stay in names.
  const audio = devices.find((d) => d.address === "0000:02:02.0");
  assert.equal(audio?.deviceName, "ES1371/ES1373 / Creative Labs CT2518");
  assert.equal(audio?.deviceId, "1371");
  assert.equal(audio?.subsystemVendorId, "1274");
  assert.equal(audio?.subsystemId, "1371");
  assert.equal(devices.find((d) => d.address === "0000:00:10.0")?.vendorName, "Broadcom / LSI");
  // The hand-added record (spaces, not tabs; slot "ff:02:05.0" read as domain ff).
  assert.deepEqual(devices.at(-1), {
    address: "00ff:02:05.0",
    classId: "0106",
    className: "SATA controller",
    vendorId: "15ad",
    vendorName: "VMware",
    deviceId: "07e0",
    deviceName: "SATA AHCI controller",
    subsystemVendorId: "15ad",
    subsystemId: "07e0",
    revision: null,
    driver: null,
    numaNode: null,
    sriovTotalVfs: null,
    sriovEnabledVfs: null,
  });
});

test("VMware VM (jc): the -n and plain renderings agree with -nn field by field", () => {
  const mixed = parseLspci(read(`${JC}lspci.txt`)).slice(0, 46);
  const numeric = parseLspci(read(`${JC}lspci-vmm-n.txt`));
  const names = parseLspci(read(`${JC}lspci-vmm.txt`));
  assert.equal(numeric.length, 46);
  assert.equal(names.length, 46);
  assert.deepEqual(
    numeric,
    mixed.map((d) => ({ ...d, className: null, vendorName: null, deviceName: null })),
  );
  assert.deepEqual(
    names,
    mixed.map((d) => ({
      ...d,
      classId: null,
      vendorId: null,
      deviceId: null,
      subsystemVendorId: null,
      subsystemId: null,
    })),
  );
  assert.deepEqual(
    numeric.find((d) => d.address === "0000:02:01.0"),
    {
      address: "0000:02:01.0",
      classId: "0200",
      className: null,
      vendorId: "8086",
      vendorName: null,
      deviceId: "100f",
      deviceName: null,
      subsystemVendorId: "15ad",
      subsystemId: "0750",
      revision: "01",
      driver: null,
      numaNode: null,
      sriovTotalVfs: null,
      sriovEnabledVfs: null,
    },
  );
});

test("lspci text that is not -vmm yields no devices (plain lspci, lspci -vv)", () => {
  assert.deepEqual(parseLspci(read("lattepanda-mu-mudata/lspci.txt")), []);
  assert.deepEqual(parseLspci(read("amazon-ec2-g2-2xlarge-xen-manouchehri/lspci-vv.txt")), []);
  assert.deepEqual(parseLspci(""), []);
});

test("unknown names, 5-digit domains, CRLF, -k modules", () => {
  const text = [
    "Slot:\t10000:e1:00.0",
    "Class:\tClass [ff00]",
    "Vendor:\tVendor [1d0f]",
    "Device:\tDevice [EFA1]",
    "SVendor:\tUnknown vendor 1d0f",
    "Rev:\tZZ",
    "Driver:\tefa",
    "Module:\tefa",
    "",
    "Slot:\t3b:00.1",
    "Class:\tEthernet controller [0200]",
    "Rev:\t1",
  ].join("\r\n");
  assert.deepEqual(parseLspci(text), [
    {
      address: "10000:e1:00.0",
      classId: "ff00",
      className: null,
      vendorId: "1d0f",
      vendorName: null,
      deviceId: "efa1",
      deviceName: null,
      subsystemVendorId: "1d0f",
      subsystemId: null,
      revision: null,
      driver: "efa",
      numaNode: null,
      sriovTotalVfs: null,
      sriovEnabledVfs: null,
    },
    {
      address: "0000:3b:00.1",
      classId: "0200",
      className: "Ethernet controller",
      vendorId: null,
      vendorName: null,
      deviceId: null,
      deviceName: null,
      subsystemVendorId: null,
      subsystemId: null,
      revision: null,
      driver: null,
      numaNode: null,
      sriovTotalVfs: null,
      sriovEnabledVfs: null,
    },
  ]);
});

// --- properties -------------------------------------------------------------------------------

const REAL = [
  read(`${THIS}lspci.txt`),
  read(`${THIS}lspci-vm-k.txt`),
  read(`${JC}lspci.txt`),
  read(`${JC}lspci-vmm-n.txt`),
  read(`${JC}lspci-vmm.txt`),
];

const lspciLine = fc.oneof(
  fc.string(),
  fc
    .tuple(
      fc.constantFrom(
        "Slot",
        "Class",
        "Vendor",
        "Device",
        "SVendor",
        "SDevice",
        "Rev",
        "Driver",
        "Module",
      ),
      fc.constantFrom("\t", ": ", "", "  "),
      fc.oneof(
        fc.string(),
        fc.stringMatching(/^[0-9a-fA-F]{1,8}:[0-9a-f]{1,2}:[0-9a-f]{1,2}\.[0-9]$/),
        fc.stringMatching(/^[ -~]{0,20} \[[0-9a-fA-F]{2,6}\]$/),
      ),
    )
    .map(([k, sep, v]) => `${k}:${sep}${v}`),
);

test("property: any text parses without throwing into schema-valid devices", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.array(lspciLine).map((l) => l.join("\n")),
      ),
      (text) => {
        Devices.parse(parseLspci(text));
      },
    ),
    { numRuns: 500 },
  );
});

test("property: truncated and mutated real captures stay schema-valid", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...REAL),
      fc.nat(),
      fc.nat(),
      fc.string(),
      (text, cut, at, insert) => {
        const truncated = text.slice(0, cut % (text.length + 1));
        const i = at % (text.length + 1);
        const mutated = text.slice(0, i) + insert + text.slice(i + insert.length);
        Devices.parse(parseLspci(truncated));
        Devices.parse(parseLspci(mutated));
        const lines = text.split("\n");
        Devices.parse(parseLspci(lines.filter((_, n) => (n * 7 + cut) % 5 !== 0).join("\n")));
      },
    ),
    { numRuns: 300 },
  );
});

test("property: addresses are unique and canonical", () => {
  fc.assert(
    fc.property(
      fc.array(lspciLine).map((l) => l.join("\n")),
      (text) => {
        const devices = parseLspci(text);
        assert.equal(new Set(devices.map((d) => d.address)).size, devices.length);
        for (const d of devices)
          assert.match(d.address, /^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/);
      },
    ),
    { numRuns: 300 },
  );
});

// --- collector --------------------------------------------------------------------------------

test("probe: exact argv, file and timeout", () => {
  assert.deepEqual(LSPCI_PROBE, {
    file: "lspci.txt",
    source: {
      kind: "command",
      argv: ["lspci", "-vmm", "-nn", "-D", "-k"],
      versionArgv: ["--version"],
    },
    timeoutMs: 60_000,
  });
});

test("collectLspci parses ok output and reports the run", async () => {
  const { runner, probes } = fakeRunner({ output: read(`${THIS}lspci.txt`) });
  const out = await collectLspci(runner);
  assert.equal(probes[0], LSPCI_PROBE);
  assert.equal(out.value.length, 6);
  assert.deepEqual(out.reports, [
    {
      name: "lspci",
      status: "ok",
      durationMs: 3,
      command: "lspci -vmm -nn -D -k",
      exitCode: 0,
      message: null,
    },
  ]);
});

test("collectLspci: missing tool gives [] and a skipped report; failed output is still used", async () => {
  const skipped = await collectLspci(
    fakeRunner({ status: "skipped", exitCode: null, message: "lspci: not installed" }).runner,
  );
  assert.deepEqual(skipped.value, []);
  assert.equal(skipped.reports[0]?.status, "skipped");
  assert.equal(skipped.reports[0]?.message, "lspci: not installed");
  const failed = await collectLspci(
    fakeRunner({ status: "failed", exitCode: 1, output: read(`${THIS}lspci.txt`), message: "x" })
      .runner,
  );
  assert.equal(failed.value.length, 6);
  assert.equal(failed.reports[0]?.status, "failed");
});

test("replay of the fixture directory", async () => {
  const out = await collectLspci(await replayRunner(new URL(THIS, FIXTURES).pathname));
  assert.equal(out.value.length, 6);
  assert.equal(out.reports[0]?.command, "replay lspci.txt");
});

test("NUMANode: the node lspci -vmm prints when the kernel knows it", () => {
  // Two records as lspci -vmm printed them: a QEMU host bridge (test data of
  // oamg/leapp-repository, Apache-2.0) and a ConnectX-5 VF quoted in an OpenShift DPDK guide,
  // stderr's libkmod warning interleaved. The third is made here: lspci never prints -1, a
  // parser must still not take it for a node.
  const [bridge, vf, none] = parseLspci(
    [
      "Slot:\t00:00.0\nClass:\tHost bridge\nVendor:\tIntel Corporation\nDevice:\t440FX - 82441FX PMC [Natoma]\nSVendor:\tRed Hat, Inc.\nSDevice:\tQemu virtual machine\nPhySlot:\t3\nRev:\t02\nNUMANode:\t0\n",
      "Slot:\t5e:00.6\nClass:\tEthernet controller [0200]\nVendor:\tMellanox Technologies [15b3]\nDevice:\tMT27800 Family [ConnectX-5 Virtual Function] [1018]\nSVendor:\tMellanox Technologies [15b3]\nSDevice:\tDevice [0091]\nDriver:\tmlx5_core\nlspci: Unable to load libkmod resources: error -12\nNUMANode:\t0\nIOMMUGroup:\t160\n",
      "Slot:\t00:01.0\nClass:\tISA bridge\nVendor:\tIntel Corporation\nNUMANode:\t-1\n",
    ].join("\n"),
  );
  assert.equal(bridge?.numaNode, 0);
  assert.equal(vf?.numaNode, 0);
  assert.equal(vf?.address, "0000:5e:00.6");
  assert.equal(vf?.driver, "mlx5_core");
  assert.equal(none?.numaNode, null);
});
